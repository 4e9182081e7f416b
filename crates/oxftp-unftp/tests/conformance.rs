//! The storage conformance suite our own backends pass, run against
//! libunftp's local-disk back-end (unftp-sbe-fs) through the adapter, on an
//! empty temporary directory per check.

use oxftp_core::test_util::Subject;
use oxftp_unftp::UnftpStorage;
use oxftp_unftp::unftp_core::auth::DefaultUser;
use unftp_sbe_fs::Filesystem;

oxftp_core::storage_conformance!(|| async {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = Filesystem::new(dir.path()).expect("open the temporary directory");
    Some(Subject::new(UnftpStorage::new(fs, DefaultUser)).keeping(dir))
});
