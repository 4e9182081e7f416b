//! End-to-end: reqwest against the gateway in front of a real oxftp upstream.

mod common;

use std::time::Duration;

use common::{Env, raw_get};
use oxftp_web::CSRF_HEADER;

#[tokio::test]
async fn login_good_and_bad() {
    let env = Env::start().await;
    let c = Env::client();
    let r = c
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "user": "alice", "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ftp_code"], 530);
    assert_eq!(c.get(env.url("/api/session")).send().await.unwrap().status(), 401);

    let r = env.post_login(&c).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("secret"));
    let v: serde_json::Value = c.get(env.url("/api/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["csrf"].as_str().unwrap().len(), 64);

    // The HTML form login redirects into the requested directory.
    std::fs::create_dir(env.alice("docs")).unwrap();
    let c2 = Env::client();
    let r = c2
        .post(env.url("/login"))
        .form(&[("user", "alice"), ("password", "secret"), ("dir", "/docs")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/browse/docs/");

    // Anonymous works when the upstream allows it.
    std::fs::write(env.dir.path().join("pub/readme.txt"), b"hi").unwrap();
    let c3 = Env::client();
    let r = c3
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "user": "anonymous", "password": "me@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = c3.get(env.url("/download/readme.txt")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"hi");
}

#[tokio::test]
async fn csrf_is_required_for_changes() {
    let env = Env::start().await;
    let (c, csrf) = env.login().await;
    let body = serde_json::json!({ "path": "/newdir" });
    let r = c.post(env.url("/api/mkdir")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c.post(env.url("/api/mkdir")).header(CSRF_HEADER, "0".repeat(64)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(!env.alice("newdir").exists());
    let r = c.post(env.url("/api/mkdir")).header(CSRF_HEADER, &csrf).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(env.alice("newdir").is_dir());
    // Logout needs the token too, then the session is gone.
    assert_eq!(c.post(env.url("/logout")).send().await.unwrap().status(), 403);
    let r = c.post(env.url("/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(c.get(env.url("/api/session")).send().await.unwrap().status(), 401);
    // Cross-site login attempts are refused.
    let r = Env::client()
        .post(env.url("/login"))
        .header("origin", "http://evil.example")
        .form(&[("user", "alice"), ("password", "secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn sessions_expire() {
    let env = Env::start_with(|c| {
        c.idle_timeout = Duration::from_millis(300);
        c.absolute_timeout = Duration::from_secs(1);
    })
    .await;
    let (c, _) = env.login().await;
    assert_eq!(c.get(env.url("/api/session")).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.get(env.url("/api/session")).send().await.unwrap().status(), 401, "idle timeout");

    let (c, _) = env.login().await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = c.get(env.url("/api/session")).send().await.unwrap();
    }
    assert_eq!(c.get(env.url("/api/session")).send().await.unwrap().status(), 401, "absolute timeout");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(env.server.session_count(), 0, "sweeper closes expired sessions");
}

#[tokio::test]
async fn file_operations_reach_the_upstream_disk() {
    let env = Env::start().await;
    let (c, csrf) = env.login().await;
    let post =
        |path: &str, body: serde_json::Value| c.post(env.url(path)).header(CSRF_HEADER, &csrf).json(&body).send();

    // mkdir
    assert_eq!(post("/api/mkdir", serde_json::json!({ "path": "/d" })).await.unwrap().status(), 200);
    assert!(env.alice("d").is_dir());
    // upload two files (multipart)
    let form = reqwest::multipart::Form::new()
        .part("f", reqwest::multipart::Part::bytes(b"one".to_vec()).file_name("a.txt"))
        .part("f", reqwest::multipart::Part::bytes(b"two!".to_vec()).file_name("b.bin"));
    let r = c.post(env.url("/api/upload?dir=/d")).header(CSRF_HEADER, &csrf).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(std::fs::read(env.alice("d/a.txt")).unwrap(), b"one");
    assert_eq!(std::fs::read(env.alice("d/b.bin")).unwrap(), b"two!");
    // list
    let v: serde_json::Value = c.get(env.url("/api/list?path=/d")).send().await.unwrap().json().await.unwrap();
    let mut names: Vec<_> =
        v["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b.bin"]);
    let a = v["entries"].as_array().unwrap().iter().find(|e| e["name"] == "a.txt").unwrap();
    assert_eq!(a["size"], 3);
    assert_eq!(a["kind"], "file");
    assert!(a["mtime"].as_i64().unwrap() > 1_600_000_000);
    // edit and save (PUT)
    let r = c.put(env.url("/api/file?path=/d/a.txt")).header(CSRF_HEADER, &csrf).body("edited").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(std::fs::read(env.alice("d/a.txt")).unwrap(), b"edited");
    // view inline, sandboxed
    let r = c.get(env.url("/view/d/a.txt")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("inline"));
    assert_eq!(r.text().await.unwrap(), "edited");
    // rename / move
    assert_eq!(
        post("/api/rename", serde_json::json!({ "from": "/d/b.bin", "to": "/moved.bin" })).await.unwrap().status(),
        200
    );
    assert!(!env.alice("d/b.bin").exists());
    assert_eq!(std::fs::read(env.alice("moved.bin")).unwrap(), b"two!");
    // copy (two connections)
    assert_eq!(
        post("/api/copy", serde_json::json!({ "from": "/moved.bin", "to": "/d/copy.bin" })).await.unwrap().status(),
        200
    );
    assert_eq!(std::fs::read(env.alice("d/copy.bin")).unwrap(), b"two!");
    assert!(env.alice("moved.bin").exists());
    // chmod
    let r = post("/api/chmod", serde_json::json!({ "path": "/moved.bin", "mode": "600" })).await.unwrap();
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap();
    if status == 200 {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(env.alice("moved.bin")).unwrap().permissions().mode() & 0o777, 0o600);
    } else {
        assert!(v["ftp_code"].is_number(), "chmod refusal carries the FTP code: {v}");
    }
    assert_eq!(
        post("/api/chmod", serde_json::json!({ "path": "/moved.bin", "mode": "9x" })).await.unwrap().status(),
        400
    );
    // delete file
    assert_eq!(
        c.delete(env.url("/api/file?path=/moved.bin")).header(CSRF_HEADER, &csrf).send().await.unwrap().status(),
        200
    );
    assert!(!env.alice("moved.bin").exists());
    // a missing file reports the FTP reply
    let r = post("/api/delete", serde_json::json!({ "path": "/nope" })).await.unwrap();
    assert!(r.status().is_client_error());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ftp_code"], 550, "{v}");
    // recursive delete of a tree
    std::fs::create_dir_all(env.alice("d/x/y/z")).unwrap();
    std::fs::write(env.alice("d/x/y/z/f"), b"f").unwrap();
    let r = post("/api/delete", serde_json::json!({ "path": "/d" })).await.unwrap();
    assert!(r.status().is_client_error(), "non-recursive delete of a full dir fails");
    assert!(env.alice("d").exists());
    let r = post("/api/delete", serde_json::json!({ "path": "/d", "recursive": true })).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!env.alice("d").exists());
}

#[tokio::test]
async fn range_downloads() {
    let env = Env::start().await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(env.alice("big.bin"), &data).unwrap();
    let (c, _) = env.login().await;
    let r = c.get(env.url("/download/big.bin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(&r.bytes().await.unwrap()[..], &data[..]);

    let r = c.get(env.url("/download/big.bin")).header("range", "bytes=1000-1999").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 1000-1999/200000");
    assert_eq!(&r.bytes().await.unwrap()[..], &data[1000..2000]);

    let r = c.get(env.url("/download/big.bin")).header("range", "bytes=150000-").send().await.unwrap();
    if r.status() != 206 {
        panic!("{:?}", r.text().await);
    }
    assert_eq!(&r.bytes().await.unwrap()[..], &data[150_000..]);

    let r = c.get(env.url("/download/big.bin")).header("range", "bytes=-10").send().await.unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &data[data.len() - 10..]);

    let r = c.get(env.url("/download/big.bin")).header("range", "bytes=300000-").send().await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */200000");

    // The pool is still healthy after aborted partial transfers.
    let r = c.get(env.url("/download/big.bin")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), data.len());
    let r = c.get(env.url("/download/missing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn upload_limit_gives_413() {
    let env = Env::start_with(|c| c.max_upload_bytes = 1000).await;
    let (c, csrf) = env.login().await;
    let r =
        c.put(env.url("/api/file?path=/big")).header(CSRF_HEADER, &csrf).body(vec![0u8; 5000]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(!env.alice("big").exists());
    // Streamed without a length: cut off while streaming, partial file removed.
    let chunks = futures::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![1u8; 500])));
    let r = c
        .put(env.url("/api/file?path=/big2"))
        .header(CSRF_HEADER, &csrf)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(!env.alice("big2").exists());
    let r =
        c.put(env.url("/api/file?path=/small")).header(CSRF_HEADER, &csrf).body(vec![7u8; 1000]).send().await.unwrap();
    if r.status() != 200 {
        panic!("{:?}", r.text().await);
    }
    assert_eq!(std::fs::read(env.alice("small")).unwrap().len(), 1000);
}

#[tokio::test]
async fn ssrf_to_unlisted_hosts_is_refused_without_connecting() {
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_addr = trap.local_addr().unwrap();
    let env = Env::start_with(|c| c.allowed_upstreams = vec!["files.example.org:21".into()]).await;
    let c = Env::client();
    let r = c
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "host": trap_addr.to_string(), "user": "alice", "password": "secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c.get(env.url(&format!("/open?url=ftp://alice@{trap_addr}/dir/"))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let accepted = tokio::time::timeout(Duration::from_millis(300), trap.accept()).await;
    assert!(accepted.is_err(), "the gateway connected to a host not on the allow-list");
}

#[tokio::test]
async fn open_url_prefills_login() {
    let env = Env::start().await;
    let c = Env::client();
    let r = c.get(env.url(&format!("/open?url=ftp://alice@{}/some%20dir/", env.ftp_addr))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/login?") && loc.contains("user=alice") && loc.contains("dir=%2Fsome%20dir"), "{loc}");
    let page = c.get(env.url(&loc)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"alice\""));
    assert!(page.contains("value=\"/some dir\""));
    let r = c.get(env.url(&format!("/open?url=ftp://alice:pw@{}/", env.ftp_addr))).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn traversal_is_refused() {
    let env = Env::start().await;
    let (c, csrf) = env.login().await;
    assert_eq!(raw_get(&env.web, "/browse/../etc/", None).await, 400);
    assert_eq!(raw_get(&env.web, "/browse/%2e%2e/etc/", None).await, 400);
    assert_eq!(raw_get(&env.web, "/browse/a/%2E%2e/", None).await, 400);
    assert_eq!(c.get(env.url("/api/list?path=/../")).send().await.unwrap().status(), 400);
    assert_eq!(c.get(env.url("/api/list?path=%2e%2e")).send().await.unwrap().status(), 400);
    assert_eq!(c.get(env.url("/api/list?path=/a/%252e%252e")).send().await.unwrap().status(), 400);
    let r = c
        .post(env.url("/api/mkdir"))
        .header(CSRF_HEADER, &csrf)
        .json(&serde_json::json!({ "path": "/x/../../y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn browse_page_escapes_hostile_names_and_works_without_js() {
    let env = Env::start().await;
    let evil = "<img src=x onerror=alert(1)>";
    std::fs::write(env.alice(evil), b"x").unwrap();
    std::fs::create_dir(env.alice("sub")).unwrap();
    let c = Env::client();
    // Not logged in: the page redirects to the login.
    let r = c.get(env.url("/browse/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let (c, _) = env.login().await;
    let r = c.get(env.url("/browse/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(!html.contains(evil), "raw hostile name in page");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("href=\"/browse/sub/\""));
    assert!(!html.contains("<script>"), "no inline script");
    assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
    let r = c.get(env.url("/static/app.js")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(!r.text().await.unwrap().contains("innerHTML"));
}
