//! Compression codecs of the store: the open head chunk (Gorilla bit stream, fast appends)
//! and sealed blocks (column-wise pco with decimal scaling or a dictionary of values,
//! checksummed, each pco chunk's header checked before pco allocates for it), plus the block
//! statistics kept beside each block.

mod bits;
mod block;
mod gorilla;
mod pco_guard;
mod stats;

pub use block::{
    BLOCK_FORMAT_VERSION, MAX_BLOCK_SAMPLES, decode_block, decode_block_into, encode_block,
};
pub use gorilla::{HeadChunk, HeadChunkIter};
pub use stats::BlockStats;
