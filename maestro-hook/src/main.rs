//! `maestro-hook`: being written.
fn main() {}
