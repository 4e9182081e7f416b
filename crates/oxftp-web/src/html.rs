//! Server-rendered pages: login and directory browsing, usable without JavaScript.
//!
//! Every piece of text that came from a user or the upstream (names, paths,
//! messages) goes through [`escape`]; attribute values are always quoted.

use crate::listing::{Kind, Listing, format_time};
use crate::paths::{breadcrumbs, join, url_encode_path};

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The shared page frame.
fn page(title: &str, body_attrs: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
<script src=\"/static/app.js\" defer></script></head>\
<body{body_attrs}>{body}</body></html>\n",
        escape(title)
    )
}

/// Values shown on the login form.
#[derive(Debug, Default)]
pub struct LoginForm<'a> {
    /// Upstreams the user may pick, default first.
    pub hosts: Vec<&'a str>,
    /// Preselected upstream.
    pub host: &'a str,
    /// Prefilled user name.
    pub user: &'a str,
    /// Directory to open after login.
    pub dir: &'a str,
    /// Error to show above the form.
    pub error: Option<&'a str>,
}

/// The login page.
pub fn login_page(f: &LoginForm<'_>) -> String {
    let mut options = String::new();
    for h in &f.hosts {
        let sel = if *h == f.host { " selected" } else { "" };
        options.push_str(&format!("<option value=\"{0}\"{sel}>{0}</option>", escape(h)));
    }
    let error = f.error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<main class=\"login\"><h1>oxftp web</h1>{error}\
<form method=\"post\" action=\"/login\">\
<label>Server <select name=\"host\">{options}</select></label>\
<label>User <input name=\"user\" value=\"{user}\" autocomplete=\"username\" required autofocus></label>\
<label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
<input type=\"hidden\" name=\"dir\" value=\"{dir}\">\
<button type=\"submit\">Log in</button>\
<p class=\"hint\">Use <code>anonymous</code> for public access when the server allows it.</p>\
</form></main>",
        user = escape(f.user),
        dir = escape(f.dir),
    );
    page("Log in — oxftp web", "", &body)
}

/// A directory page: breadcrumbs, a sortable table with links, and the
/// hooks (`data-*`) the script uses to add file operations.
pub fn browse_page(listing: &Listing, user: &str, upstream: &str, csrf: &str) -> String {
    let path = &listing.path;
    let mut crumbs = String::new();
    for (i, (label, p)) in breadcrumbs(path).iter().enumerate() {
        if i > 1 {
            crumbs.push_str("<span class=\"sep\">/</span>");
        }
        crumbs.push_str(&format!(
            "<a href=\"/browse{}\">{}</a>",
            escape(&dir_href(p)),
            escape(if i == 0 { "Home" } else { label })
        ));
    }
    let mut rows = String::new();
    let mut entries: Vec<_> = listing.entries.iter().collect();
    entries.sort_by(|a, b| (b.kind == Kind::Dir).cmp(&(a.kind == Kind::Dir)).then_with(|| a.name.cmp(&b.name)));
    for e in entries {
        let full = join(path, &e.name);
        let (href, label) = if e.kind == Kind::Dir {
            (format!("/browse{}", dir_href(&full)), format!("{}/", e.name))
        } else {
            (format!("/download{}", url_encode_path(&full)), e.name.clone())
        };
        let size = e.size.map(|s| s.to_string()).unwrap_or_default();
        let mtime = e.mtime.map(format_time).unwrap_or_default();
        let kind = match e.kind {
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Link => "link",
            Kind::Other => "other",
        };
        rows.push_str(&format!(
            "<tr data-name=\"{name}\" data-kind=\"{kind}\" data-size=\"{size}\" data-mtime=\"{mt}\" data-mode=\"{mode}\">\
<td class=\"name\"><a href=\"{href}\">{label}</a></td><td class=\"size\">{size}</td>\
<td class=\"mtime\">{mtime}</td><td class=\"kind\">{kind}</td></tr>",
            name = escape(&e.name),
            mt = e.mtime.map(|t| t.to_string()).unwrap_or_default(),
            mode = escape(e.mode.as_deref().unwrap_or("")),
            href = escape(&href),
            label = escape(&label),
            mtime = escape(&mtime),
        ));
    }
    let truncated = if listing.truncated {
        "<p class=\"error\">This directory has more entries than can be shown.</p>"
    } else {
        ""
    };
    let body = format!(
        "<header><nav class=\"crumbs\" aria-label=\"Path\">{crumbs}</nav>\
<div class=\"who\">{user}@{upstream} \
<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\">Log out</button></form></div></header>\
<main><div id=\"toolbar\" hidden></div><div id=\"status\" role=\"status\" aria-live=\"polite\"></div>{truncated}\
<table id=\"listing\"><thead><tr><th scope=\"col\" data-sort=\"name\">Name</th><th scope=\"col\" data-sort=\"size\">Size</th>\
<th scope=\"col\" data-sort=\"mtime\">Modified (UTC)</th><th scope=\"col\" data-sort=\"kind\">Type</th></tr></thead>\
<tbody>{rows}</tbody></table></main>",
        user = escape(user),
        upstream = escape(upstream),
        csrf = escape(csrf),
    );
    let attrs = format!(" data-path=\"{}\" data-csrf=\"{}\"", escape(path), escape(csrf));
    page(&format!("{path} — oxftp web"), &attrs, &body)
}

/// A small error page for the HTML views.
pub fn error_page(status: u16, message: &str) -> String {
    let body = format!(
        "<main class=\"login\"><h1>Error {status}</h1><p class=\"error\">{}</p><p><a href=\"/browse/\">Back to the file list</a> · <a href=\"/login\">Log in</a></p></main>",
        escape(message)
    );
    page("Error — oxftp web", "", &body)
}

/// `/a/b` → `/a/b/` URL-encoded, root stays `/`.
fn dir_href(path: &str) -> String {
    if path == "/" { "/".to_string() } else { format!("{}/", url_encode_path(path)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Entry;

    #[test]
    fn escapes_everything_dangerous() {
        assert_eq!(
            escape("<img src=x onerror=\"a('1')\">&"),
            "&lt;img src=x onerror=&quot;a(&#39;1&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn browse_page_escapes_names_and_links() {
        let listing = Listing {
            path: "/d".into(),
            entries: vec![
                Entry {
                    name: "<img src=x onerror=alert(1)>".into(),
                    size: Some(3),
                    mtime: Some(0),
                    kind: Kind::File,
                    mode: None,
                },
                Entry { name: "sub dir".into(), size: None, mtime: None, kind: Kind::Dir, mode: None },
            ],
            truncated: false,
        };
        let html = browse_page(&listing, "alice", "127.0.0.1:21", "tok");
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("href=\"/download/d/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\""));
        assert!(html.contains("href=\"/browse/d/sub%20dir/\""));
        assert!(html.contains("1970-01-01 00:00"));
        assert!(!html.contains("<script>"));
    }
}
