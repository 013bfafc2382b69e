//! Development tools for this workspace: a Lambda runtime API emulator that runs the real
//! function binaries on loopback, and what is built on it (benchmarks, event checks).

pub mod runtime_api;

pub use runtime_api::{Function, HarnessError, Outcome, RuntimeApi};

/// Median of `values` (sorted in place); zero for none.
pub fn median<T: Ord + Copy + Default>(values: &mut [T]) -> T {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}
