//! The pages of share links: the owner's list and forms, and what a
//! visitor sees (a password prompt, a file, a folder, a drop box).
//!
//! As everywhere, every name and message goes through [`escape`].

use crate::html::{PAGE_SIZE, crumbs_html, escape, page};
use crate::listing::{Kind, Listing, SortKey, arrange, format_time, human_size};
use crate::mime;
use crate::paths::{file_name, join, url_encode, url_encode_path};
use crate::shares::{Record, ShareKind};

fn date(unix: u64) -> String {
    format!("{} UTC", format_time(i64::try_from(unix).unwrap_or(i64::MAX)))
}

fn kind_label(r: &Record) -> &'static str {
    match (r.kind, r.dir) {
        (ShareKind::Upload, _) => "Drop box (upload only)",
        (ShareKind::Download, true) => "Folder, download",
        (ShareKind::Download, false) => "File, download",
    }
}

fn owner_header(user: &str, csrf: &str) -> String {
    format!(
        "<header><nav class=\"crumbs\" aria-label=\"Breadcrumb\"><ol><li><a href=\"/browse/\">Home</a></li>\
<li><a href=\"/shares\" aria-current=\"page\">Share links</a></li></ol></nav>\
<div class=\"who\"><span>{}</span><form method=\"post\" action=\"/logout\" class=\"inline\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Log out</button></form></div></header>",
        escape(user),
        escape(csrf)
    )
}

/// The owner's links, each with a revoke button.
pub fn list_page(user: &str, csrf: &str, links: &[Record], now: u64, notice: Option<&str>) -> String {
    let mut rows = String::new();
    for r in links {
        let state = r.spent(now).map_or("Active", |_| "Expired or used up");
        let downloads = match r.max_downloads {
            Some(max) => format!("{} of {max}", r.downloads),
            None => r.downloads.to_string(),
        };
        rows.push_str(&format!(
            "<tr data-id=\"{id}\"><td class=\"name\">{path}</td><td>{kind}</td><td>{expires}</td><td>{downloads}</td>\
<td>{password}</td><td>{state}</td><td><form method=\"post\" action=\"/form/shares/revoke\" class=\"inline\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
<button type=\"submit\" class=\"danger\" aria-label=\"Revoke the link to {path}\">Revoke</button></form></td></tr>",
            id = escape(&r.id),
            path = escape(&r.path),
            kind = kind_label(r),
            expires = date(r.expires),
            password = if r.password.is_some() { "Yes" } else { "No" },
            csrf = escape(csrf),
        ));
    }
    if links.is_empty() {
        rows.push_str("<tr class=\"empty\"><td colspan=\"7\">You have no share links. Use “Share” next to a file or folder.</td></tr>");
    }
    let notice = notice.map(escape).unwrap_or_default();
    let body = format!(
        "{header}<main id=\"main\"><h1>Share links</h1><div id=\"status\" role=\"status\">{notice}</div>\
<p class=\"hint\">A link is shown once, when it is made; only a hash of it is kept. Revoke a link to end it at once.</p>\
<div class=\"table-wrap\"><table id=\"shares\"><thead><tr><th scope=\"col\">Path</th><th scope=\"col\">Kind</th>\
<th scope=\"col\">Expires</th><th scope=\"col\">Downloads</th><th scope=\"col\">Password</th><th scope=\"col\">State</th>\
<th scope=\"col\">Action</th></tr></thead><tbody>{rows}</tbody></table></div></main>",
        header = owner_header(user, csrf),
    );
    page("Share links — oxftp web", "", &body)
}

/// The form that makes a link to `path`.
pub fn new_page(user: &str, csrf: &str, path: &str, dir: bool, max_days: u64) -> String {
    let upload = if dir {
        "<label class=\"choice\"><input type=\"radio\" name=\"kind\" value=\"upload\"> Drop box: people can upload \
into this folder but see nothing in it</label>"
    } else {
        ""
    };
    let what = if dir { "folder" } else { "file" };
    let default_days = 7.min(max_days);
    let body = format!(
        "{header}<main id=\"main\" class=\"narrow\"><h1>Share a {what}</h1><p class=\"path\">{path}</p>\
<form method=\"post\" action=\"/form/shares\" id=\"share-form\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"path\" value=\"{path}\">\
<fieldset><legend>People with the link can</legend>\
<label class=\"choice\"><input type=\"radio\" name=\"kind\" value=\"download\" checked> Download (no account needed)</label>{upload}</fieldset>\
<label for=\"days\">Expires after (days, 1 to {max_days})</label>\
<input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"{max_days}\" value=\"{default_days}\" required>\
<label for=\"link-password\">Link password (optional)</label>\
<input id=\"link-password\" name=\"link_password\" type=\"password\" autocomplete=\"new-password\">\
<label for=\"max-downloads\">Most downloads (optional)</label>\
<input id=\"max-downloads\" name=\"max_downloads\" type=\"number\" min=\"1\">\
<label for=\"owner-password\">Your password, to confirm</label>\
<input id=\"owner-password\" name=\"owner_password\" type=\"password\" autocomplete=\"current-password\" required>\
<p class=\"hint\">The link acts as you on this {what} only, until it expires or you revoke it.</p>\
<button type=\"submit\">Create link</button></form></main>",
        header = owner_header(user, csrf),
        path = escape(path),
        csrf = escape(csrf),
    );
    page("Share — oxftp web", "", &body)
}

/// The page that shows a new link, once.
pub fn created_page(user: &str, csrf: &str, url: &str, record: &Record) -> String {
    let body = format!(
        "{header}<main id=\"main\" class=\"narrow\"><h1>Link created</h1>\
<p>{kind} for <strong class=\"path\">{path}</strong>, until {expires}.</p>\
<label for=\"share-url\">Link (shown only now: copy it)</label>\
<input id=\"share-url\" class=\"share-url\" readonly value=\"{url}\">\
<p><a href=\"/shares\">All your links</a> · <a href=\"/browse/\">Back to your files</a></p></main>",
        header = owner_header(user, csrf),
        kind = kind_label(record),
        path = escape(&record.path),
        expires = date(record.expires),
        url = escape(url),
    );
    page("Link created — oxftp web", "", &body)
}

/// A visitor's page frame.
fn visitor_page(title: &str, body: &str) -> String {
    page(
        &format!("{title} — shared with oxftp web"),
        " class=\"visitor\"",
        &format!("<main id=\"main\" class=\"narrow\">{body}</main>"),
    )
}

/// A link that does not open (404, 410).
pub fn gone_page(status: u16, message: &str) -> String {
    visitor_page(
        "Link unavailable",
        &format!(
            "<h1>Link unavailable</h1><p class=\"error\">{}</p><p class=\"hint\">HTTP {status}</p>",
            escape(message)
        ),
    )
}

/// Ask for a link's password.
pub fn password_page(base: &str, csrf: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    visitor_page(
        "Password",
        &format!(
            "<h1>This link has a password</h1>{error}<form method=\"post\" action=\"{base}/unlock\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" required autofocus>\
<button type=\"submit\">Open</button></form>",
            base = escape(base),
            csrf = escape(csrf),
        ),
    )
}

/// A shared file.
pub fn file_page(base: &str, record: &Record) -> String {
    let name = file_name(&record.path);
    visitor_page(
        name,
        &format!(
            "<h1>{icon}{name}</h1><p>Shared with you until {expires}.</p>\
<p><a class=\"button\" href=\"{base}/file\" download>Download</a></p>",
            icon = icon(name, false),
            name = escape(name),
            expires = date(record.expires),
            base = escape(base),
        ),
    )
}

fn icon(name: &str, dir: bool) -> String {
    format!(
        "<svg class=\"icon\" aria-hidden=\"true\" focusable=\"false\"><use href=\"/static/icons.svg#{}\"></use></svg>",
        mime::icon(name, dir, false)
    )
}

/// A shared folder (or one below it): folders and files, links left out.
pub fn folder_page(base: &str, record: &Record, sub: &str, listing: &Listing) -> String {
    let root = file_name(&record.path);
    let root = if root.is_empty() { "Shared folder" } else { root };
    let entries = arrange(&listing.entries, SortKey::Name, false, "");
    let shown: Vec<_> = entries.iter().filter(|e| matches!(e.kind, Kind::Dir | Kind::File)).collect();
    let mut rows = String::new();
    for e in shown.iter().take(PAGE_SIZE) {
        let rel = join(sub, &e.name);
        let dir = e.kind == Kind::Dir;
        let href = if dir {
            format!("{base}/browse{}/", url_encode_path(&rel))
        } else {
            format!("{base}/file{}", url_encode_path(&rel))
        };
        let size = match (dir, e.size) {
            (false, Some(s)) => format!("<td class=\"size\" title=\"{s} bytes\">{}</td>", human_size(s)),
            _ => "<td class=\"size\"></td>".into(),
        };
        let zip = if dir {
            format!(
                "<a href=\"{}\" aria-label=\"Download {} as ZIP\">ZIP</a>",
                escape(&format!("{base}/zip{}", url_encode_path(&rel))),
                escape(&e.name)
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr data-name=\"{name}\"><td class=\"name\">{icon}<a href=\"{href}\">{label}</a></td>{size}<td class=\"actions\">{zip}</td></tr>",
            name = escape(&e.name),
            icon = icon(&e.name, dir),
            href = escape(&href),
            label = escape(&if dir { format!("{}/", e.name) } else { e.name.clone() }),
        ));
    }
    if shown.is_empty() {
        rows.push_str("<tr class=\"empty\"><td colspan=\"3\">This folder is empty.</td></tr>");
    }
    let more = if shown.len() > PAGE_SIZE {
        format!(
            "<p class=\"hint\">The first {PAGE_SIZE} of {} entries are shown; download the folder as ZIP for all.</p>",
            shown.len()
        )
    } else {
        String::new()
    };
    let zip_all = format!("{base}/zip{}", if sub == "/" { String::new() } else { url_encode_path(sub) });
    visitor_page(
        root,
        &format!(
            "<h1>{icon}{root}</h1>{crumbs}<p>Shared with you until {expires}. \
<a class=\"button\" href=\"{zip_all}\">Download all as ZIP</a></p>{more}\
<div class=\"table-wrap\"><table id=\"listing\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Size</th>\
<th scope=\"col\">Actions</th></tr></thead><tbody>{rows}</tbody></table></div>",
            icon = icon(root, true),
            root = escape(root),
            crumbs = crumbs_html(sub, &format!("{base}/browse"), root),
            expires = date(record.expires),
            zip_all = escape(&zip_all),
        ),
    )
}

/// A drop box: an upload form and nothing of what is in the folder.
pub fn dropbox_page(base: &str, csrf: &str, record: &Record, notice: Option<&str>) -> String {
    let notice = notice.map(escape).unwrap_or_default();
    visitor_page(
        "Drop box",
        &format!(
            "<h1>Upload files</h1><p>Files you upload here go to {owner}. You cannot see what is in this folder. \
This drop box is open until {expires}.</p><div id=\"status\" role=\"status\">{notice}</div>\
<form method=\"post\" action=\"{base}/upload\" enctype=\"multipart/form-data\" id=\"dropbox-form\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"dropbox-files\">Files</label>\
<input id=\"dropbox-files\" type=\"file\" name=\"file\" multiple required><button type=\"submit\">Upload</button></form>",
            owner = escape(&record.user),
            expires = date(record.expires),
            base = escape(base),
            csrf = escape(csrf),
        ),
    )
}

/// The link's address for `origin` (scheme and host the owner used).
pub fn link_url(origin: &str, token: &str) -> String {
    format!("{origin}/s/{}", url_encode(token))
}
