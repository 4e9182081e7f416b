//! oxftp's engine serving unftp-sbe-fs through oxftp-unftp to the users of an
//! unFTP JSON users file: the adapter's row in bench/run's `unftp` group.

use std::sync::Arc;
use std::time::Duration;

use oxftp::unftp::unftp_core::auth::{DefaultUser, DefaultUserDetailProvider};
use oxftp::unftp::{UnftpAuthenticator, UnftpStorageFactory};
use oxftp::{Options, Server};
use unftp_auth_jsonfile::JsonFileAuthenticator;
use unftp_peer::Args;
use unftp_sbe_fs::Filesystem;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let auth = UnftpAuthenticator::new(JsonFileAuthenticator::from_file(&args.users)?, DefaultUserDetailProvider);
    let storage =
        UnftpStorageFactory::shared(Filesystem::new(&args.root)?, DefaultUserDetailProvider).checked_as(DefaultUser);
    // As bench/oxftpd.toml sets oxftpd up: no delay after a failed login, long timeouts.
    let mut options = Options::default();
    options.passive_ports = Some(args.passive);
    options.failed_login_delay = Duration::ZERO;
    options.idle_timeout = Duration::from_secs(3600);
    Server::new(Arc::new(storage), Arc::new(auth)).with_options(options).listen(args.listen.as_str()).await?;
    Ok(())
}
