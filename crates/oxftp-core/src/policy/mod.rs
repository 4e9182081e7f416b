//! Access-model policy layers, and the one builder that stacks them.
//!
//! Each layer implements [`Storage`](crate::storage::Storage) by wrapping
//! another `Arc<dyn Storage>`, in the manner of Apache OpenDAL's layers and
//! tower's, so they compose by stacking:
//! [`Rooted`] confines a session to its home in a shared storage,
//! [`ReadOnly`] refuses every write, [`AnonymousPolicy`] applies the
//! anonymous rules (read-only plus an optional upload-only directory),
//! [`PermissionsLayer`] enforces per-directory permissions, [`QuotaLayer`]
//! keeps an account within its byte and file quotas and [`ThrottleLayer`]
//! paces transfers with shared [`RateLimiter`]s.
//!
//! [`Stack`] builds what a logged-in identity calls for; every front end
//! (the FTP session, and later others) gets a user's storage from it and
//! none assembles layers itself. See [`Stack`] for the order.

mod anonymous;
mod permissions;
mod quota;
mod read_only;
mod rooted;
mod shared;
mod stack;
#[cfg(test)]
mod test_support;
mod throttle;

/// Moved to [`crate::auth`]; re-exported here so existing imports keep working.
pub use crate::auth::{ANONYMOUS_USER, AnonymousLogin};
pub use anonymous::{ANONYMOUS_READ_ONLY_MESSAGE, AnonymousPolicy, NO_OVERWRITE_MESSAGE, UPLOAD_ONLY_MESSAGE};
pub use permissions::PermissionsLayer;
pub use quota::{MAX_WALK_DEPTH, QuotaLayer, QuotaLimits, QuotaRegistry, QuotaUsage};
pub use read_only::{READ_ONLY_MESSAGE, ReadOnly};
pub use rooted::Rooted;
pub use shared::SharedStorage;
pub use stack::Stack;
pub use throttle::{RateLimiter, ThrottleLayer};
