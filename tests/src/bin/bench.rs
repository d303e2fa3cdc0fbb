//! Maestro benchmarks (work in progress).

fn main() {
    eprintln!("bench: not yet implemented");
}
