//! The users file format: TOML text in, validated accounts out.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! class = "user"        # "user" (default) or "guest"
//! home = "/alice"       # where the session starts, under the storage root;
//!                       # default: root. A guest is confined to it.
//! root = "/"            # users only: what the session reaches (default "/",
//!                       # the whole served tree); home must be below it
//! read_only = false
//! require_tls = false   # true: the account logs in only over TLS, and
//!                       # its data connections must be protected too
//! tls_session_reuse = "off"   # this account's data connections need not
//!                       # resume a TLS session ("off", "connection",
//!                       # "account"; default: the server's setting)
//! permissions = ["list", "read"]   # default: all of them
//! quota_bytes = 1073741824         # limits, all optional
//! quota_files = 10000
//! upload_rate = 1048576            # bytes per second
//! download_rate = 1048576
//! max_sessions = 4
//! allowed_ips = ["192.0.2.0/24"]   # default: anywhere
//! authorized_keys = ["ssh-ed25519 AAAA... alice@laptop"]  # SFTP public-key logins
//!
//! [[user.dir]]                     # per-directory permissions (most specific wins)
//! path = "/upload"                 # in the user's view
//! permissions = ["list", "read", "upload"]
//! ```
//!
//! An account with `authorized_keys` may leave `password_hash` out: it then
//! logs in over SFTP with a key only, and never with a password.
//!
//! Everything an administrator can get wrong is caught here, at load time,
//! with the line and key: unknown keys, a missing name or hash, an unusable
//! hash or key, a bad class or home, a name given twice.

use std::collections::HashMap;
use std::ops::Range;

use oxftp_core::account::{DirRule, IpNet, IpRules, Limits, Permission, PermissionSet, Permissions};
use oxftp_core::auth::{AccessClass, PublicKey};
use oxftp_core::tls::SessionReuse;
use oxftp_diag::{key_at, line_of, line_of_unplaced_error};
use oxftp_proto::path::VPath;
use serde::Deserialize;
use toml::Spanned;

use crate::error::UsersFileError;
use crate::hash::check_hash;

/// The whole file: a list of `[[user]]` tables (none is allowed: a daemon may
/// serve only anonymous users for now and add accounts later).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    user: Vec<Table<RawUser>>,
}

/// One `[[user]]` table as written. Fields checked after parsing keep their
/// spans so their errors can point at the line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    #[serde(default)]
    password_hash: Option<Spanned<String>>,
    #[serde(default)]
    class: Option<Spanned<String>>,
    #[serde(default)]
    home: Option<Spanned<String>>,
    #[serde(default)]
    root: Option<Spanned<String>>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    require_tls: bool,
    #[serde(default)]
    tls_session_reuse: Option<Spanned<String>>,
    #[serde(default)]
    permissions: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    dir: Vec<Table<RawDir>>,
    #[serde(default)]
    quota_bytes: Option<u64>,
    #[serde(default)]
    quota_files: Option<u64>,
    #[serde(default)]
    upload_rate: Option<Spanned<u64>>,
    #[serde(default)]
    download_rate: Option<Spanned<u64>>,
    #[serde(default)]
    max_sessions: Option<Spanned<u64>>,
    #[serde(default)]
    allowed_ips: Vec<Spanned<String>>,
    #[serde(default)]
    authorized_keys: Vec<Spanned<String>>,
}

/// One `[[user.dir]]` table: permissions for a directory and what is below it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    path: Spanned<String>,
    permissions: Spanned<Vec<Spanned<String>>>,
}

/// A struct read only from a TOML table. serde's derived `Deserialize` also
/// takes an array of the field values in declaration order, so without this
/// `user = [["alice", "$argon2id$..."]]` would define an account without
/// naming a single key (and past every check that a key is known).
struct Table<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableOnly<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for TableOnly<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(TableOnly(std::marker::PhantomData)).map(Table)
    }
}

/// One validated account.
#[derive(Clone)]
pub(crate) struct UserEntry {
    pub name: String,
    /// An argon2id PHC string that [`check_hash`] accepted; `None` for a
    /// key-only account.
    pub hash: Option<String>,
    pub class: AccessClass,
    pub home: VPath,
    /// What a user reaches (a guest's root is its home).
    pub root: VPath,
    pub read_only: bool,
    /// The account's password must never cross in clear: login only over a
    /// TLS control connection, transfers only with PROT P.
    pub require_tls: bool,
    /// The account's own `require_session_reuse`, if any.
    pub tls_session_reuse: Option<SessionReuse>,
    /// What the account may do, per directory.
    pub permissions: Permissions,
    /// Quotas, rates and the session limit.
    pub limits: Limits,
    /// Where the account may log in from.
    pub allowed_ips: IpRules,
    /// SSH keys that log in as this account (SFTP).
    pub authorized_keys: Vec<PublicKey>,
}

/// Parses a permission list: every name must be known (a typo would
/// otherwise silently take a right away, or worse, leave one).
fn permission_set(
    list: &[Spanned<String>],
    key: &str,
    at: &impl Fn(Range<usize>, &str, String) -> UsersFileError,
) -> Result<PermissionSet, UsersFileError> {
    let mut set = PermissionSet::none();
    for item in list {
        match Permission::from_name(item.get_ref()) {
            Some(p) => set = set.with(p),
            None => {
                let known: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
                return Err(at(
                    item.span(),
                    key,
                    format!("unknown permission {:?}; expected some of {}", item.get_ref(), known.join(", ")),
                ));
            }
        }
    }
    Ok(set)
}

/// A rate in bytes per second: 0 means unlimited, as for the server-wide rates.
fn rate(value: Option<Spanned<u64>>) -> Option<u64> {
    value.map(Spanned::into_inner).filter(|r| *r > 0)
}

/// Parses and validates a users file's text.
pub(crate) fn parse(text: &str) -> Result<Vec<UserEntry>, UsersFileError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let span = e.span();
        let line = span.as_ref().map(|s| line_of(text, s.start));
        let line = line.or_else(|| line_of_unplaced_error(text, e.message()));
        let key = span.and_then(|s| key_at(text, s));
        UsersFileError::invalid(line, key, e.message().trim_end().to_string())
    })?;

    let at = |span: Range<usize>, key: &str, message: String| {
        UsersFileError::invalid(Some(line_of(text, span.start)), Some(key.to_string()), message)
    };

    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut users = Vec::with_capacity(raw.user.len());
    for Table(user) in raw.user {
        let name_span = user.name.span();
        let name = user.name.into_inner();
        if name.is_empty() {
            return Err(at(name_span, "user.name", "expected a non-empty user name".into()));
        }
        if name.chars().any(char::is_control) {
            return Err(at(name_span, "user.name", format!("user name {name:?} contains a control character")));
        }
        let line = line_of(text, name_span.start);
        if let Some(first) = first_line.get(&name) {
            return Err(at(name_span, "user.name", format!("duplicate user {name:?} (first defined on line {first})")));
        }
        first_line.insert(name.clone(), line);

        let mut authorized_keys = Vec::with_capacity(user.authorized_keys.len());
        for key in &user.authorized_keys {
            let parsed = PublicKey::parse(key.get_ref()).map_err(|e| at(key.span(), "user.authorized_keys", e))?;
            authorized_keys.push(parsed);
        }
        let hash = match user.password_hash {
            Some(hash) => {
                let span = hash.span();
                let hash = hash.into_inner();
                check_hash(&hash).map_err(|message| at(span, "user.password_hash", message))?;
                Some(hash)
            }
            None if !authorized_keys.is_empty() => None,
            None => {
                return Err(at(
                    name_span,
                    "user.password_hash",
                    format!("account {name:?} has no password_hash (nor authorized_keys to log in with over SFTP)"),
                ));
            }
        };

        let class = match user.class {
            None => AccessClass::User,
            Some(class) => match class.get_ref().as_str() {
                "user" => AccessClass::User,
                "guest" => AccessClass::Guest,
                other => {
                    return Err(at(
                        class.span(),
                        "user.class",
                        format!("expected \"user\" or \"guest\", found {other:?}"),
                    ));
                }
            },
        };

        let root = match user.root {
            None => None,
            Some(root) if class == AccessClass::Guest => {
                return Err(at(
                    root.span(),
                    "user.root",
                    "a guest's root is its home: set home only (or make the account class = \"user\")".into(),
                ));
            }
            Some(root) => Some((
                VPath::parse(root.get_ref().as_bytes()).map_err(|e| {
                    at(
                        root.span(),
                        "user.root",
                        format!("expected a virtual path like \"/projects\" ({e}), found {:?}", root.get_ref()),
                    )
                })?,
                root.span(),
            )),
        };
        let home = match user.home {
            None => root.as_ref().map_or_else(VPath::root, |(root, _)| root.clone()),
            Some(home) => {
                let span = home.span();
                let home = VPath::parse(home.get_ref().as_bytes()).map_err(|e| {
                    at(
                        span.clone(),
                        "user.home",
                        format!("expected a virtual path like \"/alice\" ({e}), found {:?}", home.get_ref()),
                    )
                })?;
                if let Some((root, _)) = &root
                    && !home.starts_with(root)
                {
                    return Err(at(span, "user.home", format!("home {home} is not below root {root}")));
                }
                home
            }
        };
        let root = root.map_or_else(VPath::root, |(root, _)| root);

        let tls_session_reuse = match user.tls_session_reuse {
            None => None,
            Some(mode) => Some(SessionReuse::from_name(mode.get_ref()).ok_or_else(|| {
                at(
                    mode.span(),
                    "user.tls_session_reuse",
                    format!("expected \"off\", \"connection\" or \"account\", found {:?}", mode.get_ref()),
                )
            })?),
        };

        let default = match &user.permissions {
            Some(list) => permission_set(list.get_ref(), "user.permissions", &at)?,
            None => PermissionSet::all(),
        };
        let mut rules: Vec<DirRule> = Vec::with_capacity(user.dir.len());
        for Table(dir) in user.dir {
            let path = VPath::parse(dir.path.get_ref().as_bytes()).map_err(|e| {
                at(
                    dir.path.span(),
                    "user.dir.path",
                    format!("expected a virtual path like \"/upload\" ({e}), found {:?}", dir.path.get_ref()),
                )
            })?;
            if rules.iter().any(|r| r.dir == path) {
                return Err(at(dir.path.span(), "user.dir.path", format!("directory {path} has two rules")));
            }
            let allow = permission_set(dir.permissions.get_ref(), "user.dir.permissions", &at)?;
            rules.push(DirRule { dir: path, allow });
        }

        let max_sessions = match user.max_sessions {
            None => None,
            Some(max) => match usize::try_from(*max.get_ref()) {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(at(max.span(), "user.max_sessions", "value is too large".into())),
            },
        };
        let limits = Limits {
            quota_bytes: user.quota_bytes,
            quota_files: user.quota_files,
            upload_rate: rate(user.upload_rate),
            download_rate: rate(user.download_rate),
            max_sessions,
        };

        let mut allow = Vec::with_capacity(user.allowed_ips.len());
        for ip in &user.allowed_ips {
            let net: IpNet = ip.get_ref().parse().map_err(|e: String| {
                at(
                    ip.span(),
                    "user.allowed_ips",
                    format!("{e}; expected \"192.0.2.0/24\", \"2001:db8::/32\" or one address"),
                )
            })?;
            allow.push(net);
        }

        users.push(UserEntry {
            name,
            hash,
            class,
            home,
            root,
            read_only: user.read_only,
            require_tls: user.require_tls,
            tls_session_reuse,
            permissions: Permissions { default, rules },
            limits,
            allowed_ips: IpRules { allow, deny: Vec::new() },
            authorized_keys,
        });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::DUMMY_HASH;

    fn user(extra: &str) -> String {
        format!("[[user]]\nname = \"alice\"\npassword_hash = \"{DUMMY_HASH}\"\n{extra}")
    }

    fn error(text: &str) -> UsersFileError {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_too_deep_key_is_reported_at_its_line() {
        // Found by the users_toml fuzz target: toml gives this error no span.
        let e = error(&user(&format!("{}x = 1\n", "a.".repeat(90))));
        assert_eq!(e.line(), Some(4), "{e}");
    }

    #[test]
    fn accounts_are_tables_not_arrays() {
        // serde also reads a struct from an array of its field values, which
        // defined an account by position (the users_json fuzz target found
        // this in the JSON file; the TOML file had the same hole).
        let e = error(&format!("user = [[\"alice\", \"{DUMMY_HASH}\"]]\n"));
        assert_eq!((e.line(), e.key()), (Some(1), Some("user")), "{e}");
        assert!(e.message().contains("expected a table"), "{e}");
        let e = error(&user("dir = [[\"/pub\", [\"list\"]]]\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.dir")), "{e}");
        // The table forms still work, inline ones included.
        let inline = format!("user = [{{ name = \"a\", password_hash = \"{DUMMY_HASH}\" }}]\n");
        assert_eq!(parse(&inline).map(|users| users.len()).ok(), Some(1));
    }

    #[test]
    fn defaults_and_explicit_fields() {
        let text = format!(
            "{}\n[[user]]\nname = \"gina\"\npassword_hash = \"{DUMMY_HASH}\"\nclass = \"guest\"\nhome = \"/guests/gina/\"\nread_only = true\n",
            user("")
        );
        let users = parse(&text).unwrap();
        assert_eq!(users.len(), 2);
        let alice = &users[0];
        assert_eq!((alice.name.as_str(), alice.class, alice.read_only), ("alice", AccessClass::User, false));
        assert_eq!(alice.home, VPath::root());
        assert_eq!(alice.hash.as_deref(), Some(DUMMY_HASH));
        let gina = &users[1];
        assert_eq!((gina.name.as_str(), gina.class, gina.read_only), ("gina", AccessClass::Guest, true));
        assert_eq!(gina.home.as_bytes(), b"/guests/gina");
    }

    #[test]
    fn require_tls_defaults_to_false_and_is_read() {
        let text =
            format!("{}\n[[user]]\nname = \"tina\"\npassword_hash = \"{DUMMY_HASH}\"\nrequire_tls = true\n", user(""));
        let users = parse(&text).unwrap();
        assert!(!users[0].require_tls);
        assert!(users[1].require_tls);
        let e = error(&user("require_tls = 1\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.require_tls")));
        assert_eq!(users[0].tls_session_reuse, None);
        let off = parse(&user("tls_session_reuse = \"off\"\n")).unwrap();
        assert_eq!(off[0].tls_session_reuse, Some(SessionReuse::Off));
        let e = error(&user("tls_session_reuse = \"never\"\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.tls_session_reuse")));
    }

    #[test]
    fn permissions_limits_and_addresses_are_read() {
        let text = user(
            "permissions = [\"list\", \"read\"]\nquota_bytes = 1000\nquota_files = 3\nupload_rate = 0\n\
             download_rate = 2048\nmax_sessions = 2\nallowed_ips = [\"192.0.2.0/24\", \"::1\"]\n\
             [[user.dir]]\npath = \"/upload/\"\npermissions = [\"list\", \"read\", \"upload\"]\n\
             [[user.dir]]\npath = \"/archive\"\npermissions = []\n",
        );
        let users = parse(&text).unwrap();
        let alice = &users[0];
        assert_eq!(alice.permissions.default, PermissionSet::read_only());
        assert_eq!(alice.permissions.rules.len(), 2);
        let upload = VPath::parse(b"/upload/x").unwrap();
        assert!(alice.permissions.at(&upload).contains(Permission::Upload));
        assert!(!alice.permissions.at(&upload).contains(Permission::Delete));
        assert_eq!(alice.permissions.at(&VPath::parse(b"/archive/a").unwrap()), PermissionSet::none());
        assert_eq!(
            alice.limits,
            Limits {
                quota_bytes: Some(1000),
                quota_files: Some(3),
                upload_rate: None,
                download_rate: Some(2048),
                max_sessions: Some(2)
            }
        );
        assert!(alice.allowed_ips.permits("192.0.2.77".parse().unwrap()));
        assert!(alice.allowed_ips.permits("::1".parse().unwrap()));
        assert!(!alice.allowed_ips.permits("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn new_keys_default_to_no_restriction() {
        let alice = &parse(&user("")).unwrap()[0];
        assert!(alice.permissions.is_unrestricted());
        assert_eq!(alice.limits, Limits::default());
        assert_eq!(alice.allowed_ips, IpRules::default());
    }

    #[test]
    fn bad_new_keys_name_line_and_key() {
        let e = error(&user("permissions = [\"list\", \"write\"]\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.permissions")));
        assert!(e.message().contains("\"write\"") && e.message().contains("set_mtime"), "{e}");
        let e = error(&user("\n[[user.dir]]\npath = \"/up\"\npermissions = [\"upload\", \"nope\"]\n"));
        assert_eq!((e.line(), e.key()), (Some(7), Some("user.dir.permissions")));
        let e = error(&user("[[user.dir]]\npath = \"/up\"\n"));
        assert!(e.message().contains("permissions"), "{e}");
        let e = error(&user("allowed_ips = [\"10.0.0.0/33\"]\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.allowed_ips")));
        let e = error(&user("quota_bytes = -1\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.quota_bytes")));
        let e = error(&user(
            "[[user.dir]]\npath = \"/a\"\npermissions = []\n[[user.dir]]\npath = \"/a/\"\npermissions = []\n",
        ));
        assert_eq!((e.line(), e.key()), (Some(8), Some("user.dir.path")));
    }

    #[test]
    fn empty_file_has_no_users() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nobody yet\n").unwrap().is_empty());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = error(&user("homedir = \"/x\"\n"));
        assert_eq!(e.line(), Some(4));
        assert!(e.message().contains("homedir"), "{e}");
        let e = error("[settings]\nx = 1\n");
        assert_eq!(e.line(), Some(1));
        assert!(e.message().contains("settings"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = error(&user("read_only = \"yes\"\n"));
        assert_eq!(e.line(), Some(4));
        assert_eq!(e.key(), Some("user.read_only"));
    }

    #[test]
    fn missing_hash_is_reported() {
        let e = error("\n[[user]]\nname = \"bob\"\n");
        assert!(e.message().contains("password_hash"), "{e}");
        assert_eq!((e.line(), e.key()), (Some(3), Some("user.password_hash")));
    }

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh9azjS/44Yhx8E3l69wI8ClNJKZ+4hkovo/J685NkV alice@laptop";

    #[test]
    fn authorized_keys_are_read_and_make_the_hash_optional() {
        let users = parse(&user(&format!("authorized_keys = [\"{KEY}\"]\n"))).unwrap();
        assert_eq!(users[0].authorized_keys, vec![PublicKey::parse(KEY).unwrap()]);
        let users = parse(&format!("[[user]]\nname = \"k\"\nauthorized_keys = [\"{KEY}\"]\n")).unwrap();
        assert_eq!(users[0].hash, None);
        let e = error(&user("authorized_keys = [\n  \"ssh-ed25519 AAAA\",\n]\n"));
        assert_eq!((e.line(), e.key()), (Some(5), Some("user.authorized_keys")), "{e}");
        assert!(e.message().contains("not an SSH public key"), "{e}");
    }

    #[test]
    fn bad_class_names_line_key_and_expectation() {
        let e = error(&user("class = \"admin\"\n"));
        assert_eq!(e.line(), Some(4));
        assert_eq!(e.key(), Some("user.class"));
        assert!(e.message().contains("expected \"user\" or \"guest\", found \"admin\""), "{e}");
    }

    #[test]
    fn unparsable_hash_is_a_load_error() {
        let e = error("[[user]]\nname = \"alice\"\n\npassword_hash = \"hunter2\"\n");
        assert_eq!(e.line(), Some(4));
        assert_eq!(e.key(), Some("user.password_hash"));
        assert!(e.message().contains("argon2id PHC"), "{e}");
    }

    #[test]
    fn duplicate_names_point_at_the_second_and_the_first() {
        let text = format!("{}\n{}", user(""), user(""));
        let e = error(&text);
        assert_eq!(e.line(), Some(6));
        assert_eq!(e.key(), Some("user.name"));
        assert!(e.message().contains("first defined on line 2"), "{e}");
    }

    #[test]
    fn root_is_for_users_and_holds_the_home() {
        let users = parse(&user("home = \"/p/alice\"\nroot = \"/p\"\n")).unwrap();
        assert_eq!((users[0].home.as_bytes(), users[0].root.as_bytes()), (&b"/p/alice"[..], &b"/p"[..]));
        let users = parse(&user("root = \"/p\"\n")).unwrap();
        assert_eq!(users[0].home.as_bytes(), b"/p", "home defaults to the root");
        let users = parse(&user("home = \"/alice\"\n")).unwrap();
        assert!(users[0].root.is_root(), "a user reaches the whole tree by default");
        let e = error(&user("home = \"/elsewhere\"\nroot = \"/p\"\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.home")));
        assert!(e.message().contains("not below root"), "{e}");
        let e = error(&user("class = \"guest\"\nhome = \"/g\"\nroot = \"/\"\n"));
        assert_eq!((e.line(), e.key()), (Some(6), Some("user.root")));
    }

    #[test]
    fn bad_home_and_bad_names() {
        let e = error(&user("home = \"/a\\u0000b\"\n"));
        assert_eq!((e.line(), e.key()), (Some(4), Some("user.home")));
        let e = error(&format!("[[user]]\nname = \"\"\npassword_hash = \"{DUMMY_HASH}\"\n"));
        assert_eq!((e.line(), e.key()), (Some(2), Some("user.name")));
        let e = error(&format!("[[user]]\nname = \"a\\nb\"\npassword_hash = \"{DUMMY_HASH}\"\n"));
        assert!(e.message().contains("control character"), "{e}");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = error("[[user]]\nname = \"alice\n");
        assert_eq!(e.line(), Some(2));
    }
}
