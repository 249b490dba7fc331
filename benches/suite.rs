//! Placeholder replaced by the suite benchmark.
fn main() {}
