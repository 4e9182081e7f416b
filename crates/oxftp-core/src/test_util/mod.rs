//! Test support for backends and embedders (feature `test-util`): a
//! counting storage wrapper.

mod counting;

pub use counting::{Call, Counting, CountingFactory, Counts};
