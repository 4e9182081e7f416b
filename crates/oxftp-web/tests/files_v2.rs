//! The file manager of issue 18 against a real oxftp upstream: the listing
//! (sizes, order, filter, pages), the forms that work without JavaScript
//! (each checking its CSRF token and origin), ZIP downloads of folders and
//! selections, and resumable uploads in chunks.

mod common;

use common::{Env, unzip};
use oxftp_web::CSRF_HEADER;

/// The session cookie of client `c` on `env`, for hand-made requests.
async fn page(c: &reqwest::Client, env: &Env, path: &str) -> (u16, String) {
    let r = c.get(env.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Row names of a directory page, in order.
fn row_names(html: &str) -> Vec<String> {
    html.split("<tr data-name=\"").skip(1).map(|r| r.split('"').next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_listing_is_readable_sorted_filtered_and_paged() {
    let env = Env::start().await;
    std::fs::write(env.alice("big.bin"), vec![0u8; 307_200]).unwrap();
    std::fs::write(env.alice("small.txt"), b"hi").unwrap();
    std::fs::create_dir(env.alice("zeta")).unwrap();
    std::fs::create_dir(env.alice("Alpha")).unwrap();
    let (c, _) = env.login().await;

    let (status, html) = page(&c, &env, "/browse/").await;
    assert_eq!(status, 200);
    assert_eq!(row_names(&html), ["Alpha", "zeta", "big.bin", "small.txt"], "folders first, then by name");
    assert!(html.contains("title=\"307200 bytes\">300 KiB<"), "human size, exact bytes in the tooltip");
    assert!(html.contains("<time datetime=\""), "dates are machine-readable for local time");
    assert!(html.contains("href=\"/static/icons.svg#folder\"") && html.contains("#text\""), "icons by type");

    let (_, html) = page(&c, &env, "/browse/?sort=size&order=desc").await;
    assert_eq!(row_names(&html), ["zeta", "Alpha", "big.bin", "small.txt"]);
    assert!(html.contains("class=\"size\" aria-sort=\"descending\""));
    let (_, html) = page(&c, &env, "/browse/?q=BIG").await;
    assert_eq!(row_names(&html), ["big.bin"]);

    // Breadcrumbs: one link per level.
    std::fs::create_dir_all(env.alice("zeta/deeper/deepest")).unwrap();
    let (_, html) = page(&c, &env, "/browse/zeta/deeper/deepest/").await;
    for href in ["/browse/", "/browse/zeta/", "/browse/zeta/deeper/", "/browse/zeta/deeper/deepest/"] {
        assert!(html.contains(&format!("<li><a href=\"{href}\"")), "crumb {href}");
    }
    assert!(html.contains("aria-current=\"page\">deepest</a>"));

    // 10,000 entries: pages of 500, each page small and quick.
    let many = env.alice("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..10_000 {
        std::fs::write(many.join(format!("f{i:05}")), b"").unwrap();
    }
    let started = std::time::Instant::now();
    let (_, html) = page(&c, &env, "/browse/many/").await;
    let took = started.elapsed();
    let rows = row_names(&html);
    assert_eq!((rows.len(), rows[0].as_str()), (500, "f00000"));
    assert!(html.contains("Page 1 of 20") && html.contains("rel=\"next\""));
    eprintln!("10,000 entries: first page ({} KiB of HTML) in {took:?}", html.len() / 1024);
    assert!(html.len() < 512 * 1024, "a page stays small: {} bytes", html.len());
    let (_, html) = page(&c, &env, "/browse/many/?page=20&sort=name&order=desc").await;
    let rows = row_names(&html);
    assert_eq!((rows.len(), rows[0].as_str()), (500, "f00499"));
}

/// A multipart body: fields in order, then one file part.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>, boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    let mut part = |headers: String, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    for (k, v) in fields {
        part(format!("Content-Disposition: form-data; name=\"{k}\""), v.as_bytes());
    }
    if let Some((name, data)) = file {
        part(format!("Content-Disposition: form-data; name=\"file\"; filename=\"{name}\""), data);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn forms_work_without_javascript_and_check_their_token() {
    let env = Env::start().await;
    let (c, csrf) = env.login().await;
    let ct = "multipart/form-data; boundary=XyZ";

    // Upload: the token must come first, and be right, before any file is stored.
    let send = |body: Vec<u8>| c.post(env.url("/form/upload?dir=/")).header("content-type", ct).body(body).send();
    let r = send(multipart(&[("csrf", "wrong")], Some(("a.txt", b"x")), "XyZ")).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = send(multipart(&[], Some(("a.txt", b"x")), "XyZ")).await.unwrap();
    assert_eq!(r.status(), 403, "a file part before the token is refused");
    assert!(!env.alice("a.txt").exists());
    let r = send(multipart(&[("csrf", &csrf)], Some(("a.txt", b"form upload")), "XyZ")).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/browse/?done=uploaded&n=1");
    assert_eq!(std::fs::read(env.alice("a.txt")).unwrap(), b"form upload");
    let (_, html) = page(&c, &env, "/browse/?done=uploaded&n=1").await;
    assert!(html.contains("1 entry uploaded."));
    let (_, html) = page(&c, &env, "/browse/?done=%3Cscript%3E").await;
    assert!(!html.contains("<script>"), "notices are chosen by code");

    // New folder.
    let r = c.post(env.url("/form/mkdir?dir=/")).form(&[("csrf", "nope"), ("name", "made")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r =
        c.post(env.url("/form/mkdir?dir=/")).form(&[("csrf", csrf.as_str()), ("name", "made")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(env.alice("made").is_dir());
    let r = c.post(env.url("/form/mkdir?dir=/")).form(&[("csrf", csrf.as_str()), ("name", "..")]).send().await.unwrap();
    assert_eq!(r.status(), 400);

    // A foreign Origin is refused even with the token.
    let r = c
        .post(env.url("/form/mkdir?dir=/"))
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str()), ("name", "evil")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!env.alice("evil").exists());

    // A selection: copy a file and a folder (recursively), move, delete.
    std::fs::create_dir_all(env.alice("tree/sub")).unwrap();
    std::fs::write(env.alice("tree/sub/leaf.txt"), b"leaf").unwrap();
    let batch = |fields: Vec<(&'static str, String)>| c.post(env.url("/form/batch?dir=/")).form(&fields).send();
    let r = batch(vec![
        ("csrf", csrf.clone()),
        ("action", "copy".into()),
        ("sel", "a.txt".into()),
        ("sel", "tree".into()),
        ("to", "made".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(std::fs::read(env.alice("made/a.txt")).unwrap(), b"form upload");
    assert_eq!(std::fs::read(env.alice("made/tree/sub/leaf.txt")).unwrap(), b"leaf");
    let r = batch(vec![
        ("csrf", csrf.clone()),
        ("action", "move".into()),
        ("sel", "a.txt".into()),
        ("to", "/made/tree".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert!(env.alice("made/tree/a.txt").is_file() && !env.alice("a.txt").exists());
    let r = batch(vec![
        ("csrf", csrf.clone()),
        ("action", "move".into()),
        ("sel", "made".into()),
        ("to", "made/tree".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "a folder cannot move into itself");
    let r = batch(vec![("action", "delete".into()), ("confirm", "1".into()), ("sel", "made".into())]).await.unwrap();
    assert_eq!(r.status(), 403, "no token, no delete");
    // Without the page's script, a delete asks first, on a page of its own.
    let both = |confirm: &str| {
        let mut fields = vec![("csrf", csrf.clone()), ("action", "delete".into()), ("sel", "made".into())];
        fields.extend([("sel", "tree".into()), ("confirm", confirm.into())]);
        fields
    };
    let r = batch(both("")).await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Delete these 2 entries?") && html.contains("name=\"confirm\" value=\"1\""), "{html}");
    assert!(env.alice("made").exists(), "nothing deleted before the answer");
    let r = batch(both("1")).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/browse/?done=deleted&n=2");
    assert!(!env.alice("made").exists() && !env.alice("tree").exists());
    let r = batch(vec![
        ("csrf", csrf.clone()),
        ("action", "delete".into()),
        ("confirm", "1".into()),
        ("sel", "../pub".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn folders_and_selections_download_as_zip() {
    let env = Env::start().await;
    std::fs::create_dir_all(env.alice("album/2024")).unwrap();
    std::fs::create_dir_all(env.alice("album/empty")).unwrap();
    std::fs::write(env.alice("album/cover.jpg"), vec![7u8; 100_000]).unwrap();
    std::fs::write(env.alice("album/2024/a.txt"), b"first").unwrap();
    std::fs::write(env.alice("notes.txt"), b"notes").unwrap();
    // A link out of alice's root is listed as a link and never followed.
    std::os::unix::fs::symlink("/etc", env.alice("album/escape")).unwrap();
    let (c, csrf) = env.login().await;

    let r = c.get(env.url("/zip/album")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("album.zip"));
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let mut entries = unzip(r.bytes().await.unwrap().to_vec()).await;
    entries.sort();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["album/", "album/2024/", "album/2024/a.txt", "album/cover.jpg", "album/empty/"]);
    assert_eq!(entries[2].1, b"first");
    assert_eq!(entries[3].1, vec![7u8; 100_000]);

    // A selection, through the form (token required).
    let r = c
        .post(env.url("/form/batch?dir=/"))
        .form(&[("action", "zip"), ("sel", "notes.txt"), ("sel", "album")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(env.url("/form/batch?dir=/"))
        .form(&[("csrf", csrf.as_str()), ("action", "zip"), ("sel", "notes.txt"), ("sel", "album")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let entries = unzip(r.bytes().await.unwrap().to_vec()).await;
    assert!(entries.iter().any(|(n, d)| n == "notes.txt" && d == b"notes"));
    assert!(entries.iter().any(|(n, _)| n == "album/2024/a.txt"));
    assert!(!entries.iter().any(|(n, _)| n.contains("escape")));
    let r = c
        .post(env.url("/form/batch?dir=/album"))
        .form(&[("csrf", csrf.as_str()), ("action", "zip"), ("sel", "escape")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a link is not followed");
    assert_eq!(c.get(env.url("/zip/album/..%2f..")).send().await.unwrap().status(), 400);
    assert_eq!(Env::client().get(env.url("/zip/album")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn uploads_in_chunks_resume_where_the_server_stopped() {
    let env = Env::start_with(|c| c.max_upload_bytes = 1000).await;
    let (c, csrf) = env.login().await;
    let put = |offset: u64, body: &'static [u8]| {
        c.put(env.url(&format!("/api/chunk?path=/dir%20x/f.bin&offset={offset}")))
            .header(CSRF_HEADER, &csrf)
            .body(body)
            .send()
    };
    // A folder tree first (mkdir -p, twice is fine).
    for _ in 0..2 {
        let r = c
            .post(env.url("/api/mkdir"))
            .header(CSRF_HEADER, &csrf)
            .json(&serde_json::json!({ "path": "/dir x", "parents": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = put(0, b"hello ").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["size"], 6);
    // A chunk that does not start where the file ends is refused, with the size to resume from.
    let r = put(3, b"xyz").await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["size"], 6);
    let r = put(6, b"world").await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(std::fs::read(env.alice("dir x/f.bin")).unwrap(), b"hello world");
    let r = c.get(env.url("/api/stat?path=/dir%20x/f.bin")).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["size"], 11);
    // The upload limit counts the whole file, not one chunk.
    let r = put(995, b"0123456789").await.unwrap();
    assert_eq!(r.status(), 413);
    // No token: refused.
    let r = c.put(env.url("/api/chunk?path=/g&offset=0")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_upload_cut_off_mid_chunk_resumes_from_what_the_server_kept() {
    use tokio::io::AsyncWriteExt;
    let env = Env::start().await;
    let c = Env::client();
    let r = env.post_login(&c).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let put = |offset: usize, body: Vec<u8>| {
        c.put(env.url(&format!("/api/chunk?path=/r.bin&offset={offset}")))
            .header("cookie", &cookie)
            .header(CSRF_HEADER, &csrf)
            .body(body)
            .send()
    };
    assert_eq!(put(0, content[..100_000].to_vec()).await.unwrap().status(), 200);

    // The next chunk announces 100,000 bytes, sends 40,000, and the connection drops.
    let addr = env.web.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /api/chunk?path=/r.bin&offset=100000 HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         {CSRF_HEADER}: {csrf}\r\nContent-Length: 100000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&content[100_000..140_000]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(s);

    // What the server kept is a prefix of the file; the upload resumes from there.
    let mut kept = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let v: serde_json::Value = c
            .get(env.url("/api/stat?path=/r.bin"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        kept = v["size"].as_u64().unwrap() as usize;
        if std::fs::read(env.alice("r.bin")).unwrap().len() == kept {
            break;
        }
    }
    assert!((100_000..=140_000).contains(&kept), "kept {kept}");
    assert_eq!(std::fs::read(env.alice("r.bin")).unwrap(), content[..kept], "a prefix, never garbage");
    let r = put(kept, content[kept..].to_vec()).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(std::fs::read(env.alice("r.bin")).unwrap(), content);
}

#[tokio::test]
async fn pdfs_are_shown_inline_only_from_the_preview_origin() {
    let preview = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = preview.local_addr().unwrap().port();
    let env = Env::start_with(move |c| c.preview_port = Some(port)).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(env.server.clone().serve_preview(preview, async {
        let _ = stopped.await;
    }));
    let pdf = b"%PDF-1.4\n% a tiny test file\n%%EOF\n";
    std::fs::write(env.alice("doc.pdf"), pdf).unwrap();
    let (c, csrf) = env.login().await;

    let (_, html) = page(&c, &env, "/browse/").await;
    assert!(html.contains("href=\"/preview/doc.pdf\""), "the PDF's View goes through the preview");
    let r = c.get(env.url("/preview/doc.pdf")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let target = r.headers()["location"].to_str().unwrap().to_string();
    let prefix = format!("http://127.0.0.1:{port}/p/");
    assert!(target.starts_with(&prefix) && target.ends_with("/doc.pdf"), "{target}");
    assert_eq!(target[prefix.len()..].split('/').next().unwrap().len(), 64, "a 256-bit ticket");

    // The preview origin needs no cookie, and shows the PDF inline there.
    let r = Env::client().get(&target).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("inline"));
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    assert_eq!(r.bytes().await.unwrap(), &pdf[..]);
    // It serves nothing else.
    let other = format!("http://127.0.0.1:{port}");
    for path in ["/browse/", "/login", "/api/session", "/download/doc.pdf", "/static/app.js"] {
        assert_eq!(c.get(format!("{other}{path}")).send().await.unwrap().status(), 404, "{path}");
    }
    let r = c.post(format!("{other}/api/mkdir")).header(CSRF_HEADER, &csrf).body("{}").send().await.unwrap();
    assert!(r.status().is_client_error());
    assert_eq!(c.get(format!("{other}/p/{}/doc.pdf", "0".repeat(64))).send().await.unwrap().status(), 404);
    // The app's own origin still only saves PDFs.
    let r = c.get(env.url("/view/doc.pdf")).send().await.unwrap();
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    // A ticket ends with its session.
    let r = c.post(env.url("/logout")).header(CSRF_HEADER, &csrf).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_ne!(Env::client().get(&target).send().await.unwrap().status(), 200);
    let _ = stop.send(());
}

#[tokio::test]
async fn without_a_preview_origin_pdfs_are_saved() {
    let env = Env::start().await;
    std::fs::write(env.alice("doc.pdf"), b"%PDF-1.4\n").unwrap();
    let (c, _) = env.login().await;
    let (_, html) = page(&c, &env, "/browse/").await;
    assert!(html.contains("href=\"/view/doc.pdf\""));
    let r = c.get(env.url("/preview/doc.pdf")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/view/doc.pdf");
}

#[tokio::test]
async fn every_new_route_checks_the_host_and_is_never_cached() {
    let preview = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = preview.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shares.json");
    let env = Env::start_with(move |c| {
        c.preview_port = Some(port);
        c.shares_file = Some(file);
    })
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(env.server.clone().serve_preview(preview, async {
        let _ = stopped.await;
    }));
    std::fs::create_dir(env.alice("d")).unwrap();
    let (c, _) = env.login().await;
    let evil = "rebind.evil.example";
    let preview_url = format!("http://127.0.0.1:{port}/p/{}/x.pdf", "0".repeat(64));
    let share_url = env.url(&format!("/s/{}", "0".repeat(64)));
    for url in [
        env.url("/browse/?sort=size"),
        env.url("/zip/d"),
        env.url("/shares"),
        env.url("/shares/new?path=/d"),
        env.url("/preview/x.pdf"),
        env.url("/api/stat?path=/d"),
        share_url.clone(),
        preview_url.clone(),
    ] {
        let r = c.get(&url).header("host", evil).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url} answered a foreign Host");
    }
    for url in [
        env.url("/form/mkdir?dir=/"),
        env.url("/form/batch?dir=/"),
        env.url("/form/shares"),
        format!("{share_url}/unlock"),
    ] {
        let r = c.post(&url).header("host", evil).form(&[("csrf", "x")]).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url} answered a foreign Host");
    }
    for url in [env.url("/browse/"), env.url("/shares"), env.url("/shares/new?path=/d"), share_url] {
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{url}");
    }
    let _ = stop.send(());
}
