//! Share links end to end against a real oxftp upstream: made by the owner
//! (password again, CSRF token), opened by clients with no account, kept
//! hashed in a file that survives a restart, limited (expiry, password,
//! downloads), revoked, confined to their path, and drop boxes that list
//! nothing.

mod common;

use common::{Env, raw_get, unzip};

/// An environment with share links kept in a file of `dir`.
async fn env_with_shares(dir: &tempfile::TempDir) -> Env {
    let file = dir.path().join("shares.json");
    Env::start_with(move |c| c.shares_file = Some(file)).await
}

/// Make a link as alice through the form; returns the link's URL.
async fn make_link(env: &Env, c: &reqwest::Client, csrf: &str, fields: &[(&str, &str)]) -> String {
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf), ("owner_password", "secret"), ("days", "7")];
    form.extend_from_slice(fields);
    let r = c.post(env.url("/form/shares")).form(&form).send().await.unwrap();
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(status, 200, "{html}");
    let start = html.find("value=\"http://").expect("the link is shown") + 7;
    let url = &html[start..];
    url[..url.find('"').unwrap()].to_string()
}

fn token_of(url: &str) -> &str {
    url.rsplit("/s/").next().unwrap()
}

#[tokio::test]
async fn a_file_link_works_without_an_account_and_only_its_hash_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_shares(&dir).await;
    std::fs::write(env.alice("report.txt"), b"quarterly numbers").unwrap();
    let (c, csrf) = env.login().await;

    // The form page, then the link.
    let r = c.get(env.url("/shares/new?path=/report.txt")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let url = make_link(&env, &c, &csrf, &[("path", "/report.txt"), ("kind", "download")]).await;
    let token = token_of(&url);
    assert_eq!(token.len(), 64, "256 bits, hex");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let url2 = make_link(&env, &c, &csrf, &[("path", "/report.txt")]).await;
    assert_ne!(token, token_of(&url2), "a fresh random token each time");
    let stored = std::fs::read_to_string(dir.path().join("shares.json")).unwrap();
    assert!(!stored.contains(token) && !stored.contains("secret"), "only hashes and sealed secrets are stored");
    assert!(stored.contains("\"path\": \"/report.txt\""));

    // A browser with no session at all.
    let stranger = Env::client();
    let r = stranger.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.text().await.unwrap().contains("report.txt"));
    let r = stranger.get(format!("{url}/file")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(r.bytes().await.unwrap(), &b"quarterly numbers"[..]);
    // A file link reaches nothing else.
    assert_eq!(stranger.get(format!("{url}/file/other")).send().await.unwrap().status(), 404);
    // A wrong token is just unknown.
    let wrong = format!("{}/s/{}", env.web, "0".repeat(64));
    assert_eq!(stranger.get(&wrong).send().await.unwrap().status(), 404);
    assert_eq!(stranger.get(format!("{}/s/short", env.web)).send().await.unwrap().status(), 404);

    // The owner lists and revokes: then 404.
    let html = c.get(env.url("/shares")).send().await.unwrap().text().await.unwrap();
    let id_at = html.find("<tr data-id=\"").unwrap() + 13;
    let id = &html[id_at..id_at + 16];
    let r = c.post(env.url("/form/shares/revoke")).form(&[("id", id)]).send().await.unwrap();
    assert_eq!(r.status(), 403, "revoking needs the token");
    let r = c.post(env.url("/form/shares/revoke")).form(&[("csrf", csrf.as_str()), ("id", id)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let mut statuses = Vec::new();
    for u in [&url, &url2] {
        statuses.push(stranger.get(u.as_str()).send().await.unwrap().status().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 404], "the revoked link is gone, the other still works");
}

#[tokio::test]
async fn making_a_link_needs_the_owners_password_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_shares(&dir).await;
    std::fs::write(env.alice("f.txt"), b"x").unwrap();
    let (c, csrf) = env.login().await;
    let post = |fields: Vec<(&'static str, String)>| c.post(env.url("/form/shares")).form(&fields).send();
    let base =
        |pw: &str| vec![("path", "/f.txt".to_string()), ("days", "1".into()), ("owner_password", pw.to_string())];
    assert_eq!(post(base("secret")).await.unwrap().status(), 403, "no CSRF token");
    let mut wrong = base("guess");
    wrong.push(("csrf", csrf.clone()));
    assert_eq!(post(wrong).await.unwrap().status(), 403, "not the owner's password");
    let mut too_long = base("secret");
    too_long.extend([("csrf", csrf.clone()), ("days", "31".into())]);
    too_long.retain(|(k, v)| *k != "days" || v == "31");
    assert_eq!(post(too_long).await.unwrap().status(), 400, "beyond the longest lifetime");
    let mut dropbox_on_file = base("secret");
    dropbox_on_file.extend([("csrf", csrf.clone()), ("kind", "upload".into())]);
    assert_eq!(post(dropbox_on_file).await.unwrap().status(), 400);
    let r = c
        .post(env.url("/form/shares"))
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str()), ("path", "/f.txt"), ("days", "1"), ("owner_password", "secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "cross-site");
    // The anonymous account makes no links.
    let anon = Env::client();
    let r = anon
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "user": "anonymous", "password": "x@y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(anon.get(env.url("/shares")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_folder_link_cannot_reach_outside_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_shares(&dir).await;
    std::fs::create_dir_all(env.alice("public/sub")).unwrap();
    std::fs::write(env.alice("public/sub/in.txt"), b"inside").unwrap();
    std::fs::write(env.alice("public/<img src=x onerror=alert(1)>.txt"), b"hostile").unwrap();
    std::fs::write(env.alice("private.txt"), b"private").unwrap();
    std::fs::write(env.dir.path().join("pub/outside.txt"), b"other root").unwrap();
    // Links the upstream lists as links: out of alice's root, and dangling.
    std::os::unix::fs::symlink(env.dir.path().join("pub"), env.alice("public/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", env.alice("public/passwd")).unwrap();
    let (c, csrf) = env.login().await;
    let url = make_link(&env, &c, &csrf, &[("path", "/public")]).await;
    let stranger = Env::client();

    let html = stranger.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("sub/") && !html.contains("private"));
    assert!(!html.contains("<img src=x"), "names are escaped");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert!(!html.contains("escape") && !html.contains("passwd"), "links are not listed");
    let r = stranger.get(format!("{url}/file/sub/in.txt")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), &b"inside"[..]);
    let html = stranger.get(format!("{url}/browse/sub/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("in.txt"));

    // Traversal, plain, encoded and double-encoded, sent raw (no client normalisation).
    let base = url.trim_start_matches(&env.web).to_string();
    for attack in [
        "/file/../private.txt",
        "/file/sub/../../private.txt",
        "/file/%2e%2e/private.txt",
        "/file/%2E%2E%2Fprivate.txt",
        "/file/%252e%252e/private.txt",
        "/file/..%5cprivate.txt",
        "/browse/../",
        "/zip/%2e%2e",
        "/file/escape/outside.txt",
        "/file/passwd",
        "/browse/escape/",
        "/zip/escape",
    ] {
        let status = raw_get(&env.web, &format!("{base}{attack}"), None).await;
        assert!(matches!(status, 400 | 403 | 404), "{attack}: {status}");
    }
    // The folder as ZIP: its own files only.
    let r = stranger.get(format!("{url}/zip")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let entries = unzip(r.bytes().await.unwrap().to_vec()).await;
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"public/sub/in.txt"), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("public/") && !n.contains("escape") && !n.contains("passwd")),
        "{names:?}"
    );
}

#[tokio::test]
async fn limits_expiry_and_passwords_hold_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_with_shares(&dir).await;
    std::fs::write(env.alice("once.txt"), b"once").unwrap();
    std::fs::write(env.alice("locked.txt"), b"locked").unwrap();
    std::fs::write(env.alice("later.txt"), b"later").unwrap();
    let (c, csrf) = env.login().await;
    let once = make_link(&env, &c, &csrf, &[("path", "/once.txt"), ("max_downloads", "1")]).await;
    let locked = make_link(&env, &c, &csrf, &[("path", "/locked.txt"), ("link_password", "open sesame")]).await;
    let later = make_link(&env, &c, &csrf, &[("path", "/later.txt")]).await;

    // Download limit: the second download is refused (410).
    let stranger = Env::client();
    assert_eq!(stranger.get(format!("{once}/file")).send().await.unwrap().status(), 200);
    assert_eq!(stranger.get(format!("{once}/file")).send().await.unwrap().status(), 410);
    assert_eq!(stranger.get(&once).send().await.unwrap().status(), 410);

    // Password: nothing without it; a wrong one is refused; the right one opens.
    let html = stranger.get(&locked).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("This link has a password") && !html.contains("Download"));
    assert_eq!(stranger.get(format!("{locked}/file")).send().await.unwrap().status(), 403);
    let form_token = |html: &str| {
        let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        html[at..at + 64].to_string()
    };
    let token = form_token(&html);
    let r = stranger.post(format!("{locked}/unlock")).form(&[("password", "open sesame")]).send().await.unwrap();
    assert_eq!(r.status(), 403, "no form token");
    let r = stranger
        .post(format!("{locked}/unlock"))
        .form(&[("csrf", token.as_str()), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = stranger
        .post(format!("{locked}/unlock"))
        .form(&[("csrf", token.as_str()), ("password", "open sesame")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = stranger.get(format!("{locked}/file")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), &b"locked"[..]);
    // Another browser is not let in by the first one's password.
    assert_eq!(Env::client().get(format!("{locked}/file")).send().await.unwrap().status(), 403);

    // Restart: a new gateway reads the same file. `later` is made to have
    // expired meanwhile (its expiry is not part of the seal).
    let file = dir.path().join("shares.json");
    let mut store: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for link in store["links"].as_array_mut().unwrap() {
        if link["path"] == "/later.txt" {
            link["expires"] = serde_json::json!(1);
        }
    }
    std::fs::write(&file, serde_json::to_vec(&store).unwrap()).unwrap();
    let web2 = env.another_gateway(|c| c.shares_file = Some(file.clone())).await;
    let moved = |u: &str| u.replace(&env.web, &web2);
    let fresh = Env::client();
    assert_eq!(fresh.get(moved(&later)).send().await.unwrap().status(), 410, "expired");
    assert_eq!(fresh.get(moved(&once)).send().await.unwrap().status(), 410, "still used up");
    assert_eq!(fresh.get(format!("{}/file", moved(&locked))).send().await.unwrap().status(), 403, "still locked");
}

#[tokio::test]
async fn a_drop_box_takes_uploads_and_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_shares(&dir).await;
    std::fs::create_dir(env.alice("inbox")).unwrap();
    std::fs::write(env.alice("inbox/existing.txt"), b"already here").unwrap();
    let (c, csrf) = env.login().await;
    let url = make_link(&env, &c, &csrf, &[("path", "/inbox"), ("kind", "upload")]).await;

    let visitor = Env::client();
    let r = visitor.get(&url).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("Upload files") && !html.contains("existing.txt"), "nothing is listed");
    assert_eq!(visitor.get(format!("{url}/browse/")).send().await.unwrap().status(), 200);
    assert!(!visitor.get(format!("{url}/browse/")).send().await.unwrap().text().await.unwrap().contains("existing"));
    assert_eq!(visitor.get(format!("{url}/file/existing.txt")).send().await.unwrap().status(), 404);
    assert_eq!(visitor.get(format!("{url}/zip")).send().await.unwrap().status(), 404);
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = html[at..at + 64].to_string();

    let upload = |name: &'static str, token: String| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", token)
            .part("file", reqwest::multipart::Part::bytes(b"dropped".to_vec()).file_name(name));
        visitor.post(format!("{url}/upload")).multipart(form).send()
    };
    let r = upload("<b onmouseover=alert(1)>new.txt", "0".repeat(64)).await.unwrap();
    assert_eq!(r.status(), 403, "wrong form token");
    let r = upload("<b onmouseover=alert(1)>new.txt", token.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("1 file(s) received") && !html.contains("<b onmouseover"), "{html}");
    assert_eq!(std::fs::read(env.alice("inbox/<b onmouseover=alert(1)>new.txt")).unwrap(), b"dropped");
    let r = upload("existing.txt", token.clone()).await.unwrap();
    assert_eq!(r.status(), 409, "nothing is overwritten");
    assert_eq!(std::fs::read(env.alice("inbox/existing.txt")).unwrap(), b"already here");
    let r = upload("../escape.txt", token).await.unwrap();
    assert!(env.alice("inbox/escape.txt").exists() || r.status() != 200, "only a base name is used");
    assert!(!env.alice("escape.txt").exists());

    // The owner's pages escape what they show: the form, the new link, the list.
    std::fs::create_dir(env.alice("<i onclick=alert(1)>x")).unwrap();
    let html =
        c.get(env.url("/shares/new?path=/%3Ci%20onclick%3Dalert(1)%3Ex")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("value=\"/&lt;i onclick=alert(1)&gt;x\"") && !html.contains("<i onclick"), "{html}");
    let form =
        [("csrf", csrf.as_str()), ("path", "/<i onclick=alert(1)>x"), ("days", "1"), ("owner_password", "secret")];
    let html = c.post(env.url("/form/shares")).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Link created") && !html.contains("<i onclick"), "{html}");
    let html = c.get(env.url("/shares")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("/&lt;i onclick=alert(1)&gt;x") && !html.contains("<i onclick"));
}
