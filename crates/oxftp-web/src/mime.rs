//! Content types by file extension, for viewing and downloading user files.
//!
//! Only types a browser may render harmlessly inside a sandboxed response are
//! named; HTML, SVG and XML are served as plain text when viewed inline so a
//! stored file can never run as part of the gateway's origin. PDF is never
//! shown inline: browsers' PDF viewers run in the origin that served the
//! file, whatever `Content-Security-Policy: sandbox` says, so a PDF is always
//! saved rather than opened by the gateway.

/// The `Content-Type` for `name` when viewed inline.
pub fn inline_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "ico" => "image/x-icon",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ if is_text(name) => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// How a file the user asked to *view* is served: its `Content-Type` and
/// whether it is shown inline (`false`: saved as an attachment).
pub fn viewed(name: &str) -> (&'static str, bool) {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => ("application/pdf", false),
        _ => (inline_type(name), true),
    }
}

/// Whether `name` looks like a text file the page may open in its editor.
pub fn is_text(name: &str) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    matches!(
        ext.as_str(),
        "txt"
            | "md"
            | "markdown"
            | "log"
            | "csv"
            | "tsv"
            | "json"
            | "xml"
            | "html"
            | "htm"
            | "css"
            | "js"
            | "ts"
            | "svg"
            | "toml"
            | "yaml"
            | "yml"
            | "ini"
            | "conf"
            | "cfg"
            | "sh"
            | "py"
            | "rs"
            | "c"
            | "h"
            | "cpp"
            | "hpp"
            | "java"
            | "go"
            | "rb"
            | "pl"
            | "php"
            | "sql"
            | "tex"
            | "rst"
            | "env"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension() {
        assert_eq!(inline_type("a.PNG"), "image/png");
        assert_eq!(inline_type("page.html"), "text/plain; charset=utf-8");
        assert_eq!(inline_type("x.svg"), "text/plain; charset=utf-8");
        assert_eq!(inline_type("blob"), "application/octet-stream");
        assert!(is_text("notes.md"));
        assert_eq!(viewed("a.png"), ("image/png", true));
        assert_eq!(viewed("Report.PDF"), ("application/pdf", false));
        assert_eq!(inline_type("r.pdf"), "application/octet-stream");
    }
}
