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
//! **Nothing links against libpam.** The library is opened at run time
//! (`dlopen("libpam.so.0")`) when the first authenticator is built, so the
//! crate builds without libpam's development files and a program that never
//! uses PAM runs where libpam is absent; [`PamAuthenticator::new`] returns
//! [`PamSetupError::LibraryUnavailable`] when it cannot be loaded.

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod authenticator;
mod config;
mod libpam;
mod pam;
mod service;

pub use authenticator::PamAuthenticator;
pub use config::{PamClass, PamConfig};
pub use service::{PAM_DIR, PamSetupError, check_service};
