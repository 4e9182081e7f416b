//! Test support for backends, layers and embedders (feature `test-util`):
//! the storage conformance suite every backend runs ([`conformance`], through
//! [`storage_conformance!`](crate::storage_conformance)), the storage calls
//! tests make over and over ([`helpers`]), and a wrapper that counts the calls
//! reaching a storage ([`Counting`], [`CountingFactory`]).

pub mod conformance;
mod counting;
pub mod helpers;

pub use conformance::Subject;
pub use counting::{Call, Counting, CountingFactory, Counts};
