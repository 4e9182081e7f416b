//! The JSON users file format: text in, validated accounts out.
//!
//! Validation happens inside deserialisation, so serde_json attaches the
//! line and column of the offending entry to every error, including the
//! checks serde cannot do by itself (base64, CIDR, a name given twice).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oxftp_core::auth::{AccessClass, PublicKey};
use oxftp_core::tls::SessionReuse;
use oxftp_proto::path::VPath;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::error::JsonUsersError;
use crate::ip::IpRanges;
use crate::perms::VfsPerms;
use crate::secret::{MAX_ITERATIONS, MAX_KEY_LEN, Secret};
use crate::user::{ClientCert, JsonUser, Limits};

/// Longest accepted user name, in bytes; FTP's USER line is bounded anyway,
/// and a longer name in the file can only be a mistake.
const MAX_NAME_LEN: usize = 256;

/// Parses and validates a users file's bytes: a JSON array of accounts
/// (invalid UTF-8 is an error with its position, like any other).
pub(crate) fn parse(text: &[u8]) -> Result<Vec<JsonUser>, JsonUsersError> {
    serde_json::from_slice::<UserList>(text).map(|list| list.0).map_err(|e| JsonUsersError::from_json(&e))
}

/// The access class as written (`"user"` or `"guest"`).
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawClass {
    User,
    Guest,
}

/// unFTP's `client_cert` object as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientCert {
    #[serde(default)]
    allowed_cn: Option<String>,
}

/// One account as written. Unknown keys are refused, so a misspelt
/// `alowed_ip_ranges` cannot silently leave an account open. Each field is
/// checked as it is read, so its error points at the value itself; only the
/// checks that span fields wait for the end of the object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    #[serde(deserialize_with = "username")]
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, deserialize_with = "salt")]
    pbkdf2_salt: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "key")]
    pbkdf2_key: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "iterations")]
    pbkdf2_iter: Option<NonZeroU32>,
    #[serde(default, deserialize_with = "root")]
    root: Option<VPath>,
    #[serde(default, deserialize_with = "home")]
    home: Option<VPath>,
    #[serde(default, deserialize_with = "perms")]
    vfs_perms: Option<VfsPerms>,
    #[serde(default, deserialize_with = "ip_ranges")]
    allowed_ip_ranges: Option<IpRanges>,
    #[serde(default)]
    account_enabled: Option<bool>,
    #[serde(default)]
    client_cert: Option<Object<RawClientCert>>,
    #[serde(default)]
    class: Option<RawClass>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    quota_bytes: Option<u64>,
    #[serde(default)]
    quota_files: Option<u64>,
    #[serde(default, deserialize_with = "nonzero")]
    max_sessions: Option<u32>,
    #[serde(default, deserialize_with = "nonzero")]
    bandwidth_up: Option<u64>,
    #[serde(default, deserialize_with = "nonzero")]
    bandwidth_down: Option<u64>,
    #[serde(default, deserialize_with = "authorized_keys")]
    authorized_keys: Vec<PublicKey>,
    #[serde(default, deserialize_with = "session_reuse")]
    tls_session_reuse: Option<SessionReuse>,
}

/// One validated account; the wrapper keeps `Deserialize` off the public type.
struct Entry(JsonUser);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
        let Object(raw) = Object::<RawUser>::deserialize(deserializer)?;
        Entry::try_from(raw).map_err(D::Error::custom)
    }
}

/// A struct read only from a JSON object. serde's derived `Deserialize` also
/// takes an array of the field values in declaration order, so without this
/// `["alice", "secret"]` would define an account without naming a single key.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjectOnly(PhantomData)).map(Object)
    }
}

impl TryFrom<RawUser> for Entry {
    type Error = String;

    fn try_from(raw: RawUser) -> Result<Entry, String> {
        let name = raw.username;
        let secret = secret(raw.password, raw.pbkdf2_salt, raw.pbkdf2_key, raw.pbkdf2_iter)
            .map_err(|e| format!("user {name:?}: {e}"))?;
        if matches!(secret, Secret::None) && raw.client_cert.is_none() && raw.authorized_keys.is_empty() {
            return Err(format!(
                "user {name:?}: no password, no pbkdf2_key, no client_cert and no authorized_keys: \
                 this account could never log in"
            ));
        }
        let class = match raw.class {
            None | Some(RawClass::User) => AccessClass::User,
            Some(RawClass::Guest) => AccessClass::Guest,
        };
        // unFTP's `root` is what the account reaches; our `home` is where it
        // starts (default: the root). A guest's root is its home.
        let (root, home) = match (class, raw.root, raw.home) {
            (AccessClass::Guest, Some(root), Some(home)) if root != home => {
                return Err(format!("user {name:?}: a guest's root is its home: give root or home, not both"));
            }
            (AccessClass::Guest, root, home) => {
                let home = home.or(root).unwrap_or_else(VPath::root);
                (home.clone(), home)
            }
            (_, root, home) => {
                let root = root.unwrap_or_else(VPath::root);
                let home = home.unwrap_or_else(|| root.clone());
                if !home.starts_with(&root) {
                    return Err(format!("user {name:?}: home {home} is not below root {root}"));
                }
                (root, home)
            }
        };
        Ok(Entry(JsonUser {
            class,
            home,
            root,
            perms: raw.vfs_perms.unwrap_or_default(),
            read_only: raw.read_only,
            enabled: raw.account_enabled.unwrap_or(true),
            allowed_ips: raw.allowed_ip_ranges,
            client_cert: raw.client_cert.map(|Object(c)| ClientCert { allowed_cn: c.allowed_cn }),
            limits: Limits {
                quota_bytes: raw.quota_bytes,
                quota_files: raw.quota_files,
                max_sessions: raw.max_sessions,
                bandwidth_up: raw.bandwidth_up,
                bandwidth_down: raw.bandwidth_down,
            },
            authorized_keys: raw.authorized_keys,
            tls_session_reuse: raw.tls_session_reuse,
            secret,
            name,
        }))
    }
}

/// Exactly one way of proving the password: `password`, or all three
/// `pbkdf2_*` fields, or neither (certificate-only accounts).
fn secret(
    password: Option<String>,
    salt: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    iterations: Option<NonZeroU32>,
) -> Result<Secret, String> {
    match (password, salt, key, iterations) {
        (Some(password), None, None, None) => Ok(Secret::plain(&password)),
        (None, None, None, None) => Ok(Secret::None),
        (None, Some(salt), Some(key), Some(iterations)) => Ok(Secret::Pbkdf2 { salt, key, iterations }),
        (Some(_), ..) => Err("give either password or pbkdf2_salt/pbkdf2_key/pbkdf2_iter, not both".into()),
        (None, ..) => Err("pbkdf2_salt, pbkdf2_key and pbkdf2_iter must be given together".into()),
    }
}

/// Reads a value as written, then validates or converts it with `check`;
/// the error carries the position of the value.
fn checked<'de, D, T, U>(d: D, check: impl FnOnce(T) -> Result<U, String>) -> Result<U, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    check(T::deserialize(d)?).map_err(D::Error::custom)
}

/// An optional field: `null` or absent is `None`, anything else is checked.
fn optional<'de, D, T, U>(d: D, check: impl FnOnce(T) -> Result<U, String>) -> Result<Option<U>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    checked(d, |value: Option<T>| value.map(check).transpose())
}

/// A user name must be something a client can type on the USER line.
fn username<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |name: String| {
        if name.is_empty() {
            Err("username is empty".into())
        } else if name.len() > MAX_NAME_LEN {
            Err(format!("username is longer than {MAX_NAME_LEN} bytes"))
        } else if name.chars().any(char::is_control) {
            Err(format!("username {name:?} contains a control character"))
        } else {
            Ok(name)
        }
    })
}

fn salt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    optional(d, |text: String| {
        STANDARD.decode(text.trim()).map_err(|e| format!("pbkdf2_salt is not valid base64: {e}"))
    })
}

fn key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    optional(d, |text: String| {
        let key = STANDARD.decode(text.trim()).map_err(|e| format!("pbkdf2_key is not valid base64: {e}"))?;
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(format!("pbkdf2_key must decode to 1 to {MAX_KEY_LEN} bytes, not {}", key.len()));
        }
        Ok(key)
    })
}

fn iterations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NonZeroU32>, D::Error> {
    optional(d, |n: u32| {
        NonZeroU32::new(n)
            .filter(|n| n.get() <= MAX_ITERATIONS)
            .ok_or_else(|| format!("pbkdf2_iter must be between 1 and {MAX_ITERATIONS}, not {n}"))
    })
}

/// SSH public keys, one `authorized_keys` entry each (`"ssh-ed25519 AAAA... comment"`).
fn authorized_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PublicKey>, D::Error> {
    checked(d, |lines: Vec<String>| {
        lines.iter().map(|line| PublicKey::parse(line).map_err(|e| format!("authorized_keys: {e}"))).collect()
    })
}

fn root<'de, D: Deserializer<'de>>(d: D) -> Result<Option<VPath>, D::Error> {
    optional(d, |root: String| VPath::parse(root.as_bytes()).map_err(|e| format!("root {root:?}: {e}")))
}

fn session_reuse<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SessionReuse>, D::Error> {
    optional(d, |mode: String| {
        SessionReuse::from_name(&mode).ok_or_else(|| {
            format!("tls_session_reuse: expected \"off\", \"connection\" or \"account\", found {mode:?}")
        })
    })
}

fn home<'de, D: Deserializer<'de>>(d: D) -> Result<Option<VPath>, D::Error> {
    optional(d, |home: String| VPath::parse(home.as_bytes()).map_err(|e| format!("home {home:?}: {e}")))
}

fn perms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<VfsPerms>, D::Error> {
    optional(d, |list: Vec<String>| VfsPerms::parse(&list).map_err(|e| format!("vfs_perms: {e}")))
}

fn ip_ranges<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpRanges>, D::Error> {
    optional(d, |list: Vec<String>| IpRanges::parse(&list).map_err(|e| format!("allowed_ip_ranges: {e}")))
}

/// Zero would mean "nothing at all" for a session or rate cap, which is never
/// what an administrator wants; leaving the field out means "no cap".
fn nonzero<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialEq + Default,
{
    optional(d, |n: T| if n == T::default() { Err("0 is no limit: leave the key out instead".into()) } else { Ok(n) })
}

/// The whole file. Deserialised by hand so that a name given twice is an
/// error at that entry's position.
struct UserList(Vec<JsonUser>);

impl<'de> Deserialize<'de> for UserList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UserList, D::Error> {
        deserializer.deserialize_seq(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = UserList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of user objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UserList, A::Error> {
        let mut users = Vec::new();
        let mut seen = HashMap::new();
        while let Some(Entry(user)) = seq.next_element::<Entry>()? {
            let number = users.len() + 1;
            if let Some(first) = seen.insert(user.name.clone(), number) {
                // serde_json places this error just after the entry; the
                // entry numbers say which two entries clash.
                return Err(A::Error::custom(format!(
                    "user {:?} is defined twice (entries {first} and {number})",
                    user.name
                )));
            }
            users.push(user);
        }
        Ok(UserList(users))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> JsonUser {
        let mut users = parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(users.len(), 1);
        users.remove(0)
    }

    fn err(json: &str) -> JsonUsersError {
        match parse(json.as_bytes()) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn minimal_plain_user_gets_the_defaults() {
        let u = one(r#"[{"username": "alice", "password": "I am in Wonderland!"}]"#);
        assert_eq!(u.name, "alice");
        assert_eq!(u.class, AccessClass::User);
        assert_eq!(u.home, VPath::root());
        assert_eq!(u.root, VPath::root());
        assert_eq!(u.perms, VfsPerms::all());
        assert!(u.enabled && !u.read_only);
        assert_eq!((u.allowed_ips, u.client_cert, u.limits), (None, None, Limits::default()));
        assert!(u.secret.verify(b"I am in Wonderland!"));
    }

    #[test]
    fn every_field_is_read() {
        let u = one(r#"[{
                "username": "carol",
                "pbkdf2_salt": "c2FsdHNhbHQ=",
                "pbkdf2_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                "pbkdf2_iter": 1000,
                "root": "carol/files",
                "vfs_perms": ["-mkdir", "-rmdir", "-del", "-ren", "-md5"],
                "allowed_ip_ranges": ["192.168.178.0/24", "2001:db8::/32"],
                "account_enabled": false,
                "client_cert": {"allowed_cn": "carol.example"},
                "class": "guest",
                "read_only": true,
                "quota_bytes": 1073741824,
                "quota_files": 1000,
                "max_sessions": 3,
                "bandwidth_up": 100000,
                "bandwidth_down": 200000,
                "tls_session_reuse": "off"
            }]"#);
        assert_eq!(u.tls_session_reuse, Some(oxftp_core::tls::SessionReuse::Off));
        assert_eq!(u.class, AccessClass::Guest);
        assert_eq!(u.home, VPath::parse(b"/carol/files").unwrap());
        assert_eq!(u.perms, VfsPerms::parse(&["-mkdir", "-rmdir", "-del", "-ren", "-md5"]).unwrap());
        assert!(!u.enabled && u.read_only);
        assert_eq!(u.allowed_ips, Some(IpRanges::parse(&["192.168.178.0/24", "2001:db8::/32"]).unwrap()));
        assert_eq!(u.client_cert, Some(ClientCert { allowed_cn: Some("carol.example".into()) }));
        assert_eq!(
            u.limits,
            Limits {
                quota_bytes: Some(1 << 30),
                quota_files: Some(1000),
                max_sessions: Some(3),
                bandwidth_up: Some(100_000),
                bandwidth_down: Some(200_000),
            }
        );
        let Secret::Pbkdf2 { salt, key, iterations } = &u.secret else { panic!("{:?}", u.secret) };
        assert_eq!((salt.as_slice(), key.len(), iterations.get()), (&b"saltsalt"[..], 32, 1000));
    }

    #[test]
    fn certificate_only_accounts_have_no_password() {
        let u = one(r#"[{"username": "freddie", "client_cert": {}}]"#);
        assert_eq!(u.client_cert, Some(ClientCert { allowed_cn: None }));
        assert!(!u.has_password());
    }

    #[test]
    fn accounts_must_be_objects() {
        // Found by the users_json fuzz target: serde also reads a struct from
        // an array of its field values, so `["alice", "pw"]` was an account.
        let e = err(r#"[["alice", "I am in Wonderland!"]]"#);
        assert!(e.line() == Some(1) && e.column().is_some(), "{e}");
        assert!(e.message().contains("expected an object"), "{e}");
        let e = err(r#"[{"username": "dave", "client_cert": []}]"#);
        assert_eq!(e.line(), Some(1), "{e}");
        assert!(e.message().contains("expected an object"), "{e}");
        assert!(one(r#"[{"username": "dave", "client_cert": {}}]"#).client_cert.is_some());
    }

    #[test]
    fn empty_array_is_no_users() {
        assert!(parse(b"[]").unwrap().is_empty());
        assert!(parse(b" [ ] \n").unwrap().is_empty());
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = err("[\n  {\"username\": \"a\", \"password\": \"x\"},\n  {\"username\": \"b\", \"pasword\": \"x\"}\n]");
        assert_eq!(e.line(), Some(3));
        assert!(e.column().is_some());
        assert!(e.message().contains("unknown field `pasword`"), "{e}");

        let e =
            err("[\n  {\"username\": \"a\", \"password\": \"x\"},\n  {\"username\": \"a\", \"password\": \"y\"}\n]");
        // Reported at the first token after the second entry.
        assert_eq!(e.line(), Some(4), "{e}");
        assert!(e.message().contains("\"a\" is defined twice (entries 1 and 2)"), "{e}");

        let e =
            err("[\n {\"username\": \"a\",\n  \"password\": \"x\",\n  \"allowed_ip_ranges\": [\"10.0.0.0/40\"]}\n]");
        assert_eq!(e.line(), Some(4), "{e}");
        assert!(e.message().contains("allowed_ip_ranges: \"10.0.0.0/40\" is not a CIDR range"), "{e}");

        let e = err("[{\"username\": \"a\", \"password\": \"x\",}]");
        assert_eq!(e.line(), Some(1));
        let e = parse(b"[\n{\"username\": \"a\xff\", \"password\": \"x\"}]").unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(e.message().contains("unicode"), "{e}");
        assert!(err("{\"username\": \"a\"}").message().contains("an array of user objects"));
    }

    #[test]
    fn bad_fields_are_refused_with_what_was_expected() {
        let cases = [
            (r#"{"username": "", "password": "x"}"#, "username is empty"),
            (r#"{"username": "a\nb", "password": "x"}"#, "control character"),
            (r#"{"username": "a"}"#, "could never log in"),
            (r#"{"username": "a", "password": "x", "root": "/p", "home": "/q"}"#, "is not below root"),
            (r#"{"username": "a", "password": "x", "class": "guest", "root": "/p", "home": "/q"}"#, "not both"),
            (r#"{"username": "a", "password": "x", "tls_session_reuse": "never"}"#, "tls_session_reuse: expected"),
            (r#"{"username": "a", "password": "x", "pbkdf2_iter": 5}"#, "not both"),
            (r#"{"username": "a", "pbkdf2_salt": "AA==", "pbkdf2_iter": 5}"#, "must be given together"),
            (
                r#"{"username": "a", "pbkdf2_salt": "!!", "pbkdf2_key": "AA==", "pbkdf2_iter": 5}"#,
                "pbkdf2_salt is not valid base64",
            ),
            (r#"{"username": "a", "pbkdf2_salt": "AA==", "pbkdf2_key": "", "pbkdf2_iter": 5}"#, "1 to 32 bytes, not 0"),
            (r#"{"username": "a", "pbkdf2_salt": "AA==", "pbkdf2_key": "AA==", "pbkdf2_iter": 0}"#, "between 1 and"),
            (
                r#"{"username": "a", "pbkdf2_salt": "AA==", "pbkdf2_key": "AA==", "pbkdf2_iter": 4000000000}"#,
                "between 1 and",
            ),
            (r#"{"username": "a", "password": "x", "pbkdf2_iter": -1}"#, "invalid value"),
            (r#"{"username": "a", "password": "x", "class": "root"}"#, "unknown variant `root`"),
            (r#"{"username": "a", "password": "x", "vfs_perms": ["-delete"]}"#, "vfs_perms: unknown permission"),
            (r#"{"username": "a", "password": "x", "root": "a\u0000b"}"#, "root"),
            (r#"{"username": "a", "password": "x", "max_sessions": 0}"#, "0 is no limit"),
            (r#"{"username": "a", "password": "x", "bandwidth_down": 0}"#, "0 is no limit"),
            (r#"{"username": "a", "password": "x", "client_cert": {"cn": "x"}}"#, "unknown field `cn`"),
            (r#"{"username": "a", "password": "x", "account_enabled": "yes"}"#, "invalid type"),
        ];
        for (user, expected) in cases {
            let e = err(&format!("[{user}]"));
            assert!(e.message().contains(expected), "{user}: {e}");
            assert_eq!(e.line(), Some(1), "{user}: {e}");
        }
    }

    #[test]
    fn a_33_byte_key_is_too_long() {
        let key = STANDARD.encode([7u8; 33]);
        let e =
            err(&format!(r#"[{{"username": "a", "pbkdf2_salt": "AA==", "pbkdf2_key": "{key}", "pbkdf2_iter": 5}}]"#));
        assert!(e.message().contains("not 33"), "{e}");
    }
}
