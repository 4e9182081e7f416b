//! libpam, opened at run time.
//!
//! oxftpd is one binary for everyone: a server that never uses PAM must build
//! without libpam's development files and start on a machine without libpam.
//! So nothing links against libpam; the first PAM authenticator opens
//! `libpam.so.0` (Linux-PAM's stable soname) with `dlopen` and looks up the
//! six functions a login needs. If that fails, the authenticator cannot be
//! built, and the daemon says so at start-up and in `check-config`.
//!
//! This is the crate's only `unsafe` code: the C declarations of Linux-PAM's
//! application API (`<security/pam_appl.h>`, `<security/_pam_types.h>`), a
//! transaction handle that always ends with `pam_end`, and the conversation
//! callback that answers PAM's prompts from the FTP login. The constants are
//! Linux-PAM's ABI, which has not changed since the 1990s.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use libloading::Library;

/// The soname every Linux-PAM since 0.x installs.
pub(crate) const SYSTEM_LIBRARY: &str = "libpam.so.0";

/// PAM return codes (`_pam_types.h`) that the engine tells apart.
pub(crate) mod code {
    use std::ffi::c_int;

    pub(crate) const SUCCESS: c_int = 0;
    pub(crate) const BUF_ERR: c_int = 5;
    pub(crate) const PERM_DENIED: c_int = 6;
    pub(crate) const AUTH_ERR: c_int = 7;
    pub(crate) const CRED_INSUFFICIENT: c_int = 8;
    pub(crate) const USER_UNKNOWN: c_int = 10;
    pub(crate) const MAXTRIES: c_int = 11;
    pub(crate) const NEW_AUTHTOK_REQD: c_int = 12;
    pub(crate) const ACCT_EXPIRED: c_int = 13;
    pub(crate) const CONV_ERR: c_int = 19;
    pub(crate) const AUTHTOK_EXPIRED: c_int = 27;
}

/// `pam_authenticate` / `pam_acct_mgmt` flags.
pub(crate) mod flag {
    use std::ffi::c_int;

    /// Modules print nothing (there is no terminal).
    pub(crate) const SILENT: c_int = 0x8000;
    /// An empty password never authenticates.
    pub(crate) const DISALLOW_NULL_AUTHTOK: c_int = 0x0001;
}

/// `pam_set_item` item types.
mod item {
    use std::ffi::c_int;

    pub(super) const TTY: c_int = 3;
    pub(super) const RHOST: c_int = 4;
}

/// Conversation message styles.
mod style {
    use std::ffi::c_int;

    pub(super) const PROMPT_ECHO_OFF: c_int = 1;
    pub(super) const PROMPT_ECHO_ON: c_int = 2;
    pub(super) const ERROR_MSG: c_int = 3;
    pub(super) const TEXT_INFO: c_int = 4;
}

/// Linux-PAM never sends more messages at once (`PAM_MAX_NUM_MSG`).
const MAX_NUM_MSG: c_int = 32;

/// `pam_handle_t`: opaque.
#[repr(C)]
struct PamHandle {
    _private: [u8; 0],
}

/// `struct pam_message`.
#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

/// `struct pam_response`; PAM frees both the array and `resp` with `free`.
#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

type StartFn = unsafe extern "C" fn(*const c_char, *const c_char, *const PamConv, *mut *mut PamHandle) -> c_int;
type EndFn = unsafe extern "C" fn(*mut PamHandle, c_int) -> c_int;
type StepFn = unsafe extern "C" fn(*mut PamHandle, c_int) -> c_int;
type SetItemFn = unsafe extern "C" fn(*mut PamHandle, c_int, *const c_void) -> c_int;
type StrErrorFn = unsafe extern "C" fn(*mut PamHandle, c_int) -> *const c_char;

/// An opened libpam and the functions a login uses.
pub(crate) struct LibPam {
    start: StartFn,
    end: EndFn,
    authenticate: StepFn,
    acct_mgmt: StepFn,
    set_item: SetItemFn,
    strerror: StrErrorFn,
    /// Keeps the code the pointers above point into mapped.
    _library: Library,
}

impl std::fmt::Debug for LibPam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LibPam")
    }
}

impl LibPam {
    /// Opens `name` (a soname searched as `dlopen` does, or a path) and
    /// resolves the application functions. The error says which step failed.
    pub(crate) fn open(name: &str) -> Result<LibPam, String> {
        // SAFETY: loading a library runs its initialisers. libpam's only set
        // up its own state; the name is the system's PAM library or one an
        // administrator chose, never something from the network.
        let library = unsafe { Library::new(name) }.map_err(|e| e.to_string())?;
        // SAFETY: each type above is the function's C prototype in
        // Linux-PAM's <security/pam_appl.h>.
        unsafe {
            Ok(LibPam {
                start: symbol(&library, b"pam_start\0")?,
                end: symbol(&library, b"pam_end\0")?,
                authenticate: symbol(&library, b"pam_authenticate\0")?,
                acct_mgmt: symbol(&library, b"pam_acct_mgmt\0")?,
                set_item: symbol(&library, b"pam_set_item\0")?,
                strerror: symbol(&library, b"pam_strerror\0")?,
                _library: library,
            })
        }
    }

    /// The system's libpam, opened once per process. The error is kept too,
    /// so every authenticator built without libpam reports the same reason.
    pub(crate) fn system() -> Result<&'static LibPam, &'static str> {
        static SYSTEM: OnceLock<Result<LibPam, String>> = OnceLock::new();
        SYSTEM.get_or_init(|| LibPam::open(SYSTEM_LIBRARY)).as_ref().map_err(String::as_str)
    }
}

/// Copies a function pointer out of `library`.
///
/// # Safety
/// `T` must be the symbol's real type.
unsafe fn symbol<T: Copy>(library: &Library, name: &[u8]) -> Result<T, String> {
    // SAFETY: forwarded to the caller.
    unsafe { library.get::<T>(name) }.map(|s| *s).map_err(|e| e.to_string())
}

/// What the conversation answers: an echoed prompt gets the user name, a
/// masked one the password.
struct Answers {
    user: CString,
    password: CString,
}

/// One PAM transaction; `pam_end` runs when it is dropped.
pub(crate) struct Transaction<'lib> {
    lib: &'lib LibPam,
    handle: *mut PamHandle,
    /// The status of the last step, handed to `pam_end` as PAM asks.
    last: c_int,
    /// PAM keeps pointers to both until `pam_end`.
    _conv: Box<PamConv>,
    _answers: Box<Answers>,
}

impl<'lib> Transaction<'lib> {
    /// `pam_start(service, user, conv)`. Fails with the PAM code.
    pub(crate) fn start(
        lib: &'lib LibPam,
        service: &CStr,
        user: CString,
        password: CString,
    ) -> Result<Transaction<'lib>, c_int> {
        let user_ptr = user.as_ptr();
        let mut answers = Box::new(Answers { user, password });
        let conv = Box::new(PamConv { conv: converse, appdata_ptr: ptr::from_mut(answers.as_mut()).cast() });
        let mut handle = ptr::null_mut();
        // SAFETY: the strings are NUL-terminated and live in `answers` (the
        // user) or the caller (the service) for the call; `conv` and
        // `answers` are boxed, so their addresses stay valid until `pam_end`.
        let status = unsafe { (lib.start)(service.as_ptr(), user_ptr, conv.as_ref(), &mut handle) };
        if status != code::SUCCESS || handle.is_null() {
            // pam_start frees what it allocated when it fails.
            return Err(if status == code::SUCCESS { code::BUF_ERR } else { status });
        }
        Ok(Transaction { lib, handle, last: status, _conv: conv, _answers: answers })
    }

    /// Sets PAM_RHOST (the client's address); best effort.
    pub(crate) fn set_remote_host(&mut self, host: &CStr) -> c_int {
        self.set_item(item::RHOST, host)
    }

    /// Sets PAM_TTY; best effort.
    pub(crate) fn set_tty(&mut self, tty: &CStr) -> c_int {
        self.set_item(item::TTY, tty)
    }

    fn set_item(&mut self, item: c_int, value: &CStr) -> c_int {
        // SAFETY: the handle is live; PAM copies the string.
        unsafe { (self.lib.set_item)(self.handle, item, value.as_ptr().cast()) }
    }

    /// `pam_authenticate`.
    pub(crate) fn authenticate(&mut self, flags: c_int) -> Result<(), c_int> {
        // SAFETY: the handle is live.
        self.step(unsafe { (self.lib.authenticate)(self.handle, flags) })
    }

    /// `pam_acct_mgmt`.
    pub(crate) fn account_management(&mut self, flags: c_int) -> Result<(), c_int> {
        // SAFETY: the handle is live.
        self.step(unsafe { (self.lib.acct_mgmt)(self.handle, flags) })
    }

    fn step(&mut self, status: c_int) -> Result<(), c_int> {
        self.last = status;
        if status == code::SUCCESS { Ok(()) } else { Err(status) }
    }

    /// PAM's own words for `status`, for the log.
    pub(crate) fn describe(&self, status: c_int) -> String {
        // SAFETY: pam_strerror returns a static string (or NULL).
        let text = unsafe { (self.lib.strerror)(self.handle, status) };
        if text.is_null() {
            return format!("PAM error {status}");
        }
        // SAFETY: non-NULL results are NUL-terminated static strings.
        let text = unsafe { CStr::from_ptr(text) };
        format!("{} (PAM error {status})", text.to_string_lossy())
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle is live and ended exactly once, here.
        unsafe { (self.lib.end)(self.handle, self.last) };
    }
}

/// The conversation callback (Linux-PAM's layout: `msg` is an array of
/// pointers). Answers prompts from [`Answers`], drops informational
/// messages, refuses anything else. Never unwinds: it only copies strings.
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if !(1..=MAX_NUM_MSG).contains(&num_msg) || msg.is_null() || resp.is_null() || appdata.is_null() {
        return code::CONV_ERR;
    }
    let count = num_msg as usize;
    // SAFETY: appdata is the boxed `Answers` this transaction registered.
    let answers = unsafe { &*appdata.cast::<Answers>() };
    // SAFETY: calloc of a small count; PAM frees the array with free().
    let replies = unsafe { libc::calloc(count, size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return code::BUF_ERR;
    }
    for i in 0..count {
        // SAFETY: PAM passes `num_msg` valid message pointers.
        let message = unsafe { *msg.add(i) };
        if message.is_null() {
            // SAFETY: `replies` holds `count` entries, each NULL or strdup'ed.
            unsafe { free_replies(replies, count) };
            return code::CONV_ERR;
        }
        // SAFETY: checked non-NULL above.
        let answer = match unsafe { (*message).msg_style } {
            style::PROMPT_ECHO_ON => Some(&answers.user),
            style::PROMPT_ECHO_OFF => Some(&answers.password),
            // An FTP client has nowhere to show these before the 530.
            style::ERROR_MSG | style::TEXT_INFO => None,
            // Binary prompts, radio buttons: not something a login answers.
            _ => {
                // SAFETY: as above.
                unsafe { free_replies(replies, count) };
                return code::CONV_ERR;
            }
        };
        if let Some(answer) = answer {
            // SAFETY: `answer` is NUL-terminated; PAM frees the copy.
            let copy = unsafe { libc::strdup(answer.as_ptr()) };
            if copy.is_null() {
                // SAFETY: as above.
                unsafe { free_replies(replies, count) };
                return code::BUF_ERR;
            }
            // SAFETY: `i < count`.
            unsafe { (*replies.add(i)).resp = copy };
        }
    }
    // SAFETY: `resp` is PAM's out-pointer.
    unsafe { *resp = replies };
    code::SUCCESS
}

/// Frees a reply array built by [`converse`], wiping the answers first
/// (one of them is the password).
///
/// # Safety
/// `replies` holds `count` entries, each NULL or allocated by `strdup`.
unsafe fn free_replies(replies: *mut PamResponse, count: usize) {
    for i in 0..count {
        // SAFETY: per the contract.
        let text = unsafe { (*replies.add(i)).resp };
        if !text.is_null() {
            // SAFETY: a strdup'ed, NUL-terminated string we own.
            unsafe {
                let len = libc::strlen(text);
                for j in 0..len {
                    ptr::write_volatile(text.add(j), 0);
                }
                libc::free(text.cast());
            }
        }
    }
    // SAFETY: allocated by calloc in `converse`.
    unsafe { libc::free(replies.cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_reported_by_name() {
        let e = LibPam::open("libpam-oxftp-no-such-library.so.0").unwrap_err();
        assert!(e.contains("libpam-oxftp-no-such-library.so.0"), "{e}");
    }

    #[test]
    fn the_conversation_answers_prompts_and_refuses_the_rest() {
        let answers = Answers { user: c"alice".into(), password: c"pw".into() };
        let appdata = ptr::from_ref(&answers).cast_mut().cast::<c_void>();
        let ask = |styles: &[c_int]| -> (c_int, Vec<Option<String>>) {
            let messages: Vec<PamMessage> =
                styles.iter().map(|&msg_style| PamMessage { msg_style, msg: c"prompt".as_ptr() }).collect();
            let mut pointers: Vec<*const PamMessage> = messages.iter().map(ptr::from_ref).collect();
            let mut out: *mut PamResponse = ptr::null_mut();
            // SAFETY: valid arrays and answers, as PAM would pass them.
            let status = unsafe { converse(styles.len() as c_int, pointers.as_mut_ptr(), &mut out, appdata) };
            if status != code::SUCCESS {
                assert!(out.is_null());
                return (status, Vec::new());
            }
            let texts = (0..styles.len())
                .map(|i| {
                    // SAFETY: `converse` filled `styles.len()` entries.
                    let p = unsafe { (*out.add(i)).resp };
                    // SAFETY: NULL or a strdup'ed string.
                    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
                })
                .collect();
            // SAFETY: built by `converse`.
            unsafe { free_replies(out, styles.len()) };
            (status, texts)
        };
        let (status, texts) = ask(&[style::PROMPT_ECHO_ON, style::TEXT_INFO, style::PROMPT_ECHO_OFF]);
        assert_eq!(status, code::SUCCESS);
        assert_eq!(texts, vec![Some("alice".to_string()), None, Some("pw".to_string())]);
        assert_eq!(ask(&[style::PROMPT_ECHO_OFF, 7]).0, code::CONV_ERR);
        assert_eq!(ask(&[]).0, code::CONV_ERR);
    }

    #[test]
    fn the_system_library_opens_where_linux_pam_is_installed() {
        // Every Debian system has libpam0g (login needs it); elsewhere the
        // error must name the library.
        match LibPam::system() {
            Ok(_) => {}
            Err(e) => assert!(e.contains(SYSTEM_LIBRARY), "{e}"),
        }
    }
}
