//! Access-model policy layers, and the one builder that stacks them.
//!
//! Each layer implements [`Storage`](crate::storage::Storage) by wrapping
//! another `Arc<dyn Storage>`, in the manner of Apache OpenDAL's layers and
//! tower's, so they compose by stacking. There are two kinds:
//!
//! - Guards only allow or refuse: each is a [`Guard`] rule that decides on
//!   every call (an [`Op`]) with one exhaustive `match`, run by the one
//!   storage implementation [`Guarded`]. [`ReadOnly`] refuses every write,
//!   [`Anonymous`] applies the anonymous rules (read-only plus an optional
//!   upload-only directory), [`Permissions`] enforces per-directory
//!   permissions.
//! - Shapers change some calls and pass the rest on: each implements
//!   [`Shaper`] with only the calls it changes. [`Rooted`] confines a session
//!   to its home in a shared storage, [`Quota`] keeps an account within its
//!   byte and file quotas, [`Throttle`] paces transfers with shared
//!   [`RateLimiter`]s.
//! - [`Measured`] counts and times every call for the storage metrics.
//!
//! [`Stack`] builds what a logged-in identity calls for; every front end
//! (the FTP session, and later others) gets a user's storage from it and
//! none assembles layers itself. See [`Stack`] for the order.

mod anonymous;
mod guard;
mod measured;
mod permissions;
mod quota;
mod read_only;
mod rooted;
mod shaper;
mod shared;
mod stack;
mod throttle;

/// Moved to [`crate::auth`]; re-exported here so existing imports keep working.
pub use crate::auth::{ANONYMOUS_USER, AnonymousLogin};
pub use anonymous::{
    ANONYMOUS_READ_ONLY_MESSAGE, Anonymous, NO_OVERWRITE_MESSAGE, NO_TIMES_MESSAGE, UPLOAD_ONLY_MESSAGE,
};
pub use guard::{Guard, Guarded, Op};
pub use measured::Measured;
pub use permissions::Permissions;
pub use quota::{MAX_WALK_DEPTH, Quota, QuotaLimits, QuotaRegistry, QuotaUsage};
pub use read_only::{READ_ONLY_MESSAGE, ReadOnly};
pub use rooted::Rooted;
pub use shaper::Shaper;
pub use shared::SharedStorage;
pub use stack::Stack;
pub use throttle::{RateLimiter, Throttle};
