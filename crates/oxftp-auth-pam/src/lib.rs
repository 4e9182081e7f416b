//! oxftp authenticator backed by PAM.
//!
//! Each login runs `pam_authenticate` and `pam_acct_mgmt` for the configured
//! service on a blocking thread (at most a few at once), so slow modules
//! never stall the async runtime. The home is either the account's passwd
//! home (`home_from_passwd`) or a fixed virtual path (`%u` = user name).
//!
//! **The service file must exist.** Linux-PAM falls back to
//! `/etc/pam.d/other` for an unknown service, and on Debian that is pam_unix:
//! a typo in the service name would open FTP to every system account.
//! [`PamAuthenticator::new`] therefore refuses a service without
//! `/etc/pam.d/<service>`, and names containing `/` or `..`.
//!
//! Building needs libpam's development files (Debian: `libpam0g-dev`; the
//! binding, `nonstick`, needs no libclang).

#![warn(missing_docs)]

mod authenticator;
mod config;
mod pam;
mod service;

pub use authenticator::PamAuthenticator;
pub use config::{PamClass, PamConfig};
pub use service::{PAM_DIR, PamSetupError, check_service};
