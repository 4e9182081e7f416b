//! Server-rendered pages: login and directory browsing, usable without JavaScript.
//!
//! Every piece of text that came from a user or the upstream (names, paths,
//! messages) goes through [`escape`]; attribute values are always quoted.

use crate::listing::{Kind, Listing, SortKey, arrange, format_time, human_size};
use crate::mime;
use crate::paths::{breadcrumbs, join, url_encode, url_encode_path};

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
pub(crate) fn page(title: &str, body_attrs: &str, body: &str) -> String {
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

/// Entries shown on one page of a listing: big directories are paginated
/// on the server, so a page stays small whatever the directory holds.
pub const PAGE_SIZE: usize = 500;

/// How a directory page is ordered, filtered and paged (from its query).
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Sort key.
    pub sort: SortKey,
    /// Descending order.
    pub desc: bool,
    /// Name filter (substring, any case).
    pub filter: String,
    /// 1-based page number.
    pub page: usize,
}

impl View {
    /// The query string for this view with another sort, order or page.
    fn query(&self, sort: SortKey, desc: bool, page: usize) -> String {
        let mut q = format!("?sort={}&order={}", sort.as_str(), if desc { "desc" } else { "asc" });
        if !self.filter.is_empty() {
            q.push_str(&format!("&q={}", url_encode(&self.filter)));
        }
        if page > 1 {
            q.push_str(&format!("&page={page}"));
        }
        q
    }
}

/// What a directory page shows besides the listing.
#[derive(Debug, Default)]
pub struct BrowseContext<'a> {
    /// The FTP user name.
    pub user: &'a str,
    /// The upstream, in written form.
    pub upstream: &'a str,
    /// The session's CSRF token (put in every form).
    pub csrf: &'a str,
    /// A message chosen by code (never text from the request).
    pub notice: Option<String>,
    /// Whether share links are on (and this account may make them).
    pub shares: bool,
    /// Whether PDFs are shown inline (from the preview origin).
    pub pdf_preview: bool,
}

/// The icon of `name` as inline SVG referring to the sprite.
fn icon_svg(id: &str) -> String {
    format!(
        "<svg class=\"icon icon-{id}\" aria-hidden=\"true\" focusable=\"false\"><use href=\"/static/icons.svg#{id}\"></use></svg>"
    )
}

/// `<time>` for a Unix time: UTC text (the script shows local time, keeping
/// UTC in the tooltip).
fn time_html(unix: Option<i64>) -> String {
    match unix {
        Some(t) => {
            let text = format_time(t);
            format!("<time datetime=\"{iso}Z\" title=\"{text} UTC\">{text} UTC</time>", iso = text.replace(' ', "T"))
        }
        None => String::new(),
    }
}

/// The breadcrumb trail of `path`: one link per level, the last marked current.
pub fn crumbs_html(path: &str, base: &str, home: &str) -> String {
    let all = breadcrumbs(path);
    let mut out = String::from("<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><ol>");
    for (i, (label, p)) in all.iter().enumerate() {
        let current = if i + 1 == all.len() { " aria-current=\"page\"" } else { "" };
        out.push_str(&format!(
            "<li><a href=\"{}\"{current}>{}</a></li>",
            escape(&format!("{base}{}", dir_href(p))),
            escape(if i == 0 { home } else { label })
        ));
    }
    out.push_str("</ol></nav>");
    out
}

/// A directory page: breadcrumbs, a filter, forms for upload and new
/// folder, a selection form around a table with sort links, and pages.
/// Everything works without JavaScript; the script adds to it through the
/// `data-*` hooks.
pub fn browse_page(listing: &Listing, view: &View, cx: &BrowseContext<'_>) -> String {
    let path = &listing.path;
    let csrf = escape(cx.csrf);
    let dir_q = url_encode(path);
    let arranged = arrange(&listing.entries, view.sort, view.desc, &view.filter);
    let total = arranged.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let current = view.page.clamp(1, pages);
    let first = (current - 1) * PAGE_SIZE;
    let mut rows = String::new();
    for e in arranged.iter().skip(first).take(PAGE_SIZE) {
        let full = join(path, &e.name);
        let is_dir = e.kind == Kind::Dir;
        let (href, label) = if is_dir {
            (format!("/browse{}", dir_href(&full)), format!("{}/", e.name))
        } else {
            (format!("/download{}", url_encode_path(&full)), e.name.clone())
        };
        let kind = match e.kind {
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Link => "link",
            Kind::Other => "other",
        };
        let size = match (is_dir, e.size) {
            (false, Some(s)) => format!("<td class=\"size\" title=\"{s} bytes\">{}</td>", human_size(s)),
            _ => "<td class=\"size\"></td>".to_string(),
        };
        let mut actions = String::new();
        if is_dir {
            actions.push_str(&format!(
                "<a href=\"/zip{}\" aria-label=\"Download {name} as ZIP\">ZIP</a>",
                escape(&url_encode_path(&full)),
                name = escape(&e.name)
            ));
        } else {
            let is_pdf = e.name.to_ascii_lowercase().ends_with(".pdf");
            let base = if is_pdf && cx.pdf_preview { "/preview" } else { "/view" };
            actions.push_str(&format!(
                "<a href=\"{base}{}\" target=\"_blank\" rel=\"noopener\" aria-label=\"View {name}\">View</a>",
                escape(&url_encode_path(&full)),
                name = escape(&e.name)
            ));
        }
        if cx.shares {
            actions.push_str(&format!(
                "<a href=\"/shares/new?path={}\" aria-label=\"Share {name}\">Share</a>",
                escape(&url_encode(&full)),
                name = escape(&e.name)
            ));
        }
        rows.push_str(&format!(
            "<tr data-name=\"{name}\" data-kind=\"{kind}\" data-size=\"{bytes}\" data-mtime=\"{mt}\" data-mode=\"{mode}\">\
<td class=\"sel\"><input type=\"checkbox\" name=\"sel\" value=\"{name}\" aria-label=\"Select {name}\"></td>\
<td class=\"name\">{icon}<a href=\"{href}\">{label}</a></td>{size}\
<td class=\"mtime\">{time}</td><td class=\"actions\">{actions}</td></tr>",
            name = escape(&e.name),
            icon = icon_svg(mime::icon(&e.name, is_dir, e.kind == Kind::Link)),
            bytes = e.size.map(|s| s.to_string()).unwrap_or_default(),
            mt = e.mtime.map(|t| t.to_string()).unwrap_or_default(),
            mode = escape(e.mode.as_deref().unwrap_or("")),
            href = escape(&href),
            label = escape(&label),
            time = time_html(e.mtime),
        ));
    }
    if total == 0 {
        let what = if view.filter.is_empty() { "This folder is empty." } else { "No names match the filter." };
        rows.push_str(&format!("<tr class=\"empty\"><td colspan=\"5\">{what}</td></tr>"));
    }
    let truncated = if listing.truncated {
        "<p class=\"error\">This directory has more entries than can be shown.</p>"
    } else {
        ""
    };
    let header_cell = |key: SortKey, label: &str| {
        let current = view.sort == key;
        let sort = if current { if view.desc { "descending" } else { "ascending" } } else { "none" };
        let next_desc = current && !view.desc;
        let arrow = if current { if view.desc { " ▼" } else { " ▲" } } else { "" };
        format!(
            "<th scope=\"col\" class=\"{k}\" aria-sort=\"{sort}\"><a href=\"{href}\" data-sort=\"{k}\">{label}<span aria-hidden=\"true\">{arrow}</span></a></th>",
            k = key.as_str(),
            href = escape(&view.query(key, next_desc, 1)),
        )
    };
    let pager = if pages > 1 {
        let mut p = format!(
            "<nav class=\"pager\" aria-label=\"Pages\"><span>Entries {}–{} of {total}</span>",
            first + 1,
            (first + PAGE_SIZE).min(total)
        );
        if current > 1 {
            p.push_str(&format!(
                "<a href=\"{}\" rel=\"prev\">Previous page</a>",
                escape(&view.query(view.sort, view.desc, current - 1))
            ));
        }
        p.push_str(&format!("<span>Page {current} of {pages}</span>"));
        if current < pages {
            p.push_str(&format!(
                "<a href=\"{}\" rel=\"next\">Next page</a>",
                escape(&view.query(view.sort, view.desc, current + 1))
            ));
        }
        p.push_str("</nav>");
        p
    } else {
        String::new()
    };
    let notice = cx.notice.as_deref().map(escape).unwrap_or_default();
    let shares_link = if cx.shares { "<a href=\"/shares\">Share links</a>" } else { "" };
    let body = format!(
        "<a class=\"skip\" href=\"#listing\">Skip to the file list</a>\
<header>{crumbs}<div class=\"who\">{shares_link}<span>{user}@{upstream}</span>\
<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\">Log out</button></form></div></header>\
<main id=\"main\"><h1 class=\"visually-hidden\">Files in {title}</h1>\
<div class=\"tools\">\
<form method=\"get\" class=\"filter\" role=\"search\"><label for=\"filter\">Filter</label>\
<input id=\"filter\" name=\"q\" type=\"search\" value=\"{filter}\" placeholder=\"Name contains…\">\
<input type=\"hidden\" name=\"sort\" value=\"{sort}\"><input type=\"hidden\" name=\"order\" value=\"{order}\">\
<button type=\"submit\">Filter</button></form>\
<form method=\"post\" action=\"/form/upload?dir={dir_q}\" enctype=\"multipart/form-data\" id=\"upload-form\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"upload-input\">Upload</label>\
<input id=\"upload-input\" type=\"file\" name=\"file\" multiple required><button type=\"submit\">Upload</button></form>\
<form method=\"post\" action=\"/form/mkdir?dir={dir_q}\" id=\"mkdir-form\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"mkdir-name\">New folder</label>\
<input id=\"mkdir-name\" name=\"name\" required><button type=\"submit\">Create</button></form>\
</div><div id=\"toolbar\" hidden></div><div id=\"status\" role=\"status\" aria-live=\"polite\">{notice}</div>\
<div id=\"uploads\"></div>{truncated}\
<form method=\"post\" action=\"/form/batch?dir={dir_q}\" id=\"selection\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<fieldset class=\"batch\"><legend>Selected entries <span id=\"sel-count\"></span></legend>\
<button type=\"submit\" name=\"action\" value=\"zip\">Download as ZIP</button>\
<button type=\"submit\" name=\"action\" value=\"delete\" class=\"danger\">Delete</button>\
<span class=\"moveto\"><label for=\"batch-to\">to folder</label><input id=\"batch-to\" name=\"to\" placeholder=\"/path or name\">\
<button type=\"submit\" name=\"action\" value=\"move\">Move</button>\
<button type=\"submit\" name=\"action\" value=\"copy\">Copy</button></span></fieldset>\
<div class=\"table-wrap\"><table id=\"listing\"><caption class=\"visually-hidden\">Files in {title}</caption>\
<thead><tr><th scope=\"col\" class=\"sel\"><span class=\"visually-hidden\">Select</span></th>{h_name}{h_size}{h_mtime}\
<th scope=\"col\" class=\"actions\">Actions</th></tr></thead><tbody>{rows}</tbody></table></div></form>{pager}</main>",
        crumbs = crumbs_html(path, "/browse", "Home"),
        user = escape(cx.user),
        upstream = escape(cx.upstream),
        title = escape(path),
        filter = escape(&view.filter),
        sort = view.sort.as_str(),
        order = if view.desc { "desc" } else { "asc" },
        h_name = header_cell(SortKey::Name, "Name"),
        h_size = header_cell(SortKey::Size, "Size"),
        h_mtime = header_cell(SortKey::Mtime, "Modified"),
    );
    let attrs = format!(" data-path=\"{}\" data-csrf=\"{}\" data-shares=\"{}\"", escape(path), csrf, cx.shares);
    page(&format!("{path} — oxftp web"), &attrs, &body)
}

/// Ask before deleting `names` from `dir` (the form without JavaScript).
pub fn confirm_delete_page(dir: &str, names: &[&str], csrf: &str) -> String {
    let mut items = String::new();
    let mut fields = String::new();
    for n in names {
        items.push_str(&format!("<li>{}</li>", escape(n)));
        fields.push_str(&format!("<input type=\"hidden\" name=\"sel\" value=\"{}\">", escape(n)));
    }
    let what = if names.len() == 1 { "this entry".to_string() } else { format!("these {} entries", names.len()) };
    let body = format!(
        "<main id=\"main\" class=\"narrow\"><h1>Delete {what}?</h1><p>Folders are deleted with everything in them.</p>\
<ul class=\"path\">{items}</ul><form method=\"post\" action=\"/form/batch?dir={dir_q}\" id=\"confirm-form\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"action\" value=\"delete\">\
<input type=\"hidden\" name=\"confirm\" value=\"1\">{fields}\
<p><button type=\"submit\" class=\"danger\">Delete</button> <a href=\"/browse{back}\">Cancel</a></p></form></main>",
        dir_q = url_encode(dir),
        csrf = escape(csrf),
        back = escape(&dir_href(dir)),
    );
    page("Delete? — oxftp web", "", &body)
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
    fn the_delete_question_escapes_names() {
        let html = confirm_delete_page("/a<b", &["<script>alert(1)</script>", "x\"onfocus=\"y"], "tok");
        assert!(!html.contains("<script>alert") && !html.contains("x\"onfocus"));
        assert!(html.contains("value=\"x&quot;onfocus=&quot;y\""));
        assert!(html.contains("action=\"/form/batch?dir=%2Fa%3Cb\""));
    }

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
        let cx = BrowseContext {
            user: "alice",
            upstream: "127.0.0.1:21",
            csrf: "tok",
            notice: None,
            shares: true,
            pdf_preview: false,
        };
        let html = browse_page(&listing, &View::default(), &cx);
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("href=\"/download/d/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\""));
        assert!(html.contains("href=\"/browse/d/sub%20dir/\""));
        assert!(html.contains("1970-01-01 00:00"));
        assert!(html.contains("value=\"&lt;img src=x onerror=alert(1)&gt;\""), "checkbox value escaped");
        assert!(html.contains("href=\"/shares/new?path=%2Fd%2F%3Cimg"), "share link encoded");
        assert!(html.contains("title=\"3 bytes\">3 B<"), "human size with exact bytes");
        assert!(!html.contains("<script>"));
    }
}
