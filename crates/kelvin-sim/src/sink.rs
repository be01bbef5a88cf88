//! Where the room model writes its files: streamed to a directory through buffered writers,
//! or collected in memory (what [`crate::simulate`] returns).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{SimError, io_err};

/// Where the room model writes: files streamed to a directory through buffered writers, or
/// collected in memory.
pub(crate) enum Sink {
    /// In memory, by relative path.
    Mem(BTreeMap<String, Vec<u8>>),
    /// Under a directory; appended files stay open until [`Sink::finish`].
    Dir {
        root: PathBuf,
        open: BTreeMap<String, BufWriter<File>>,
    },
}

impl Sink {
    /// Files under `root` (created if missing).
    pub(crate) fn dir(root: &Path) -> Result<Sink, SimError> {
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        Ok(Sink::Dir {
            root: root.to_path_buf(),
            open: BTreeMap::new(),
        })
    }

    /// Appends to a file that is written over time.
    pub(crate) fn append(&mut self, name: &str, data: &str) -> Result<(), SimError> {
        match self {
            Sink::Mem(m) => {
                m.entry(name.to_string())
                    .or_default()
                    .extend_from_slice(data.as_bytes());
                Ok(())
            }
            Sink::Dir { root, open } => {
                if !open.contains_key(name) {
                    let p = root.join(name);
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                    }
                    let f = File::create(&p).map_err(io_err(&p))?;
                    open.insert(name.to_string(), BufWriter::with_capacity(1 << 16, f));
                }
                let p = root.join(name);
                match open.get_mut(name) {
                    Some(w) => w.write_all(data.as_bytes()).map_err(io_err(&p)),
                    None => Ok(()),
                }
            }
        }
    }

    /// Writes a whole file at once.
    pub(crate) fn put(&mut self, name: &str, data: &str) -> Result<(), SimError> {
        match self {
            Sink::Mem(m) => {
                m.insert(name.to_string(), data.as_bytes().to_vec());
                Ok(())
            }
            Sink::Dir { root, .. } => {
                let p = root.join(name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                std::fs::write(&p, data).map_err(io_err(&p))
            }
        }
    }

    /// Flushes and closes the appended files.
    pub(crate) fn finish(&mut self) -> Result<(), SimError> {
        if let Sink::Dir { root, open } = self {
            for (name, mut w) in std::mem::take(open) {
                let p = root.join(&name);
                w.flush().map_err(io_err(&p))?;
            }
        }
        Ok(())
    }
}
