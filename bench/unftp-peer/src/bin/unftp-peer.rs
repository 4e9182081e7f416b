//! libunftp itself serving unftp-sbe-fs to the users of an unFTP JSON users
//! file: the peer of bench/run's `unftp` group.

use std::sync::Arc;

use libunftp::ServerBuilder;
use unftp_auth_jsonfile::JsonFileAuthenticator;
use unftp_peer::Args;
use unftp_sbe_fs::Filesystem;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let auth = JsonFileAuthenticator::from_file(&args.users)?;
    // Fail now, not in the first session, when the root cannot be opened.
    Filesystem::new(&args.root)?;
    let root = args.root.clone();
    let server = ServerBuilder::with_authenticator(
        Box::new(move || Filesystem::new(&root).expect("the root was opened at start-up")),
        Arc::new(auth),
    )
    .passive_ports(args.passive.0..=args.passive.1)
    .idle_session_timeout(3600)
    .build()?;
    server.listen(args.listen.as_str()).await?;
    Ok(())
}
