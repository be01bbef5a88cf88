//! Counters turned into per-interval deltas and rates: wrap-around, resets and clock steps
//! detected and reported.
