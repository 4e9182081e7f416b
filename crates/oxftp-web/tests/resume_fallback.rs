//! Resumable uploads against upstreams that refuse APPE: one that resumes
//! with REST + STOR instead, and one that can do neither (the chunk is
//! refused with 504 and the page sends the file again, whole). A small
//! scripted FTP server plays the upstream, holding one file in memory.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Env;
use oxftp_web::CSRF_HEADER;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// An FTP server with one file, no APPE, and REST only when `rest` is true.
async fn upstream(rest: bool) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = control.local_addr().unwrap();
    let file = Arc::new(Mutex::new(Vec::new()));
    let shared = file.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = control.accept().await {
            let file = shared.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = s.into_split();
                let mut lines = BufReader::new(rd).lines();
                let _ = wr.write_all(b"220 scripted test server\r\n").await;
                let mut data: Option<TcpListener> = None;
                let mut offset: Option<usize> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                    let reply = match verb.to_ascii_uppercase().as_str() {
                        "USER" => "331 password please".to_string(),
                        "PASS" => "230 in".to_string(),
                        "TYPE" | "NOOP" => "200 ok".to_string(),
                        "EPSV" | "APPE" | "MLSD" => "502 not here".to_string(),
                        "SIZE" => format!("213 {}", file.lock().unwrap().len()),
                        "REST" if rest => {
                            offset = arg.trim().parse().ok();
                            "350 restarting".to_string()
                        }
                        "REST" => "502 no REST either".to_string(),
                        "PASV" => {
                            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                            let p = l.local_addr().unwrap().port().to_be_bytes();
                            data = Some(l);
                            format!("227 Entering Passive Mode (127,0,0,1,{},{})", p[0], p[1])
                        }
                        "STOR" => {
                            let Some(l) = data.take() else { continue };
                            let Ok(Ok((mut d, _))) = tokio::time::timeout(Duration::from_secs(5), l.accept()).await
                            else {
                                continue;
                            };
                            let _ = wr.write_all(b"150 send it\r\n").await;
                            let mut got = Vec::new();
                            let _ = d.read_to_end(&mut got).await;
                            let mut f = file.lock().unwrap();
                            let at = offset.take().unwrap_or(0).min(f.len());
                            f.truncate(at);
                            f.extend_from_slice(&got);
                            "226 stored".to_string()
                        }
                        "QUIT" => "221 bye".to_string(),
                        _ => "502 not here".to_string(),
                    };
                    let _ = wr.write_all(format!("{reply}\r\n").as_bytes()).await;
                }
            });
        }
    });
    (addr, file)
}

async fn put(env: &Env, c: &reqwest::Client, csrf: &str, offset: usize, body: &'static [u8]) -> reqwest::Response {
    c.put(env.url(&format!("/api/chunk?path=/f.bin&offset={offset}")))
        .header(CSRF_HEADER, csrf)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_appe_chunks_resume_with_rest_and_stor() {
    let (addr, file) = upstream(true).await;
    let env = Env::start_with(move |c| c.default_upstream = addr.to_string()).await;
    let (c, csrf) = env.login().await;
    assert_eq!(put(&env, &c, &csrf, 0, b"hello ").await.status(), 200);
    let r = put(&env, &c, &csrf, 6, b"world").await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(&file.lock().unwrap()[..], b"hello world");
}

#[tokio::test]
async fn without_appe_or_rest_a_chunk_is_refused_so_the_file_goes_again_whole() {
    let (addr, file) = upstream(false).await;
    let env = Env::start_with(move |c| c.default_upstream = addr.to_string()).await;
    let (c, csrf) = env.login().await;
    assert_eq!(put(&env, &c, &csrf, 0, b"hello ").await.status(), 200);
    let r = put(&env, &c, &csrf, 6, b"world").await;
    assert_eq!(r.status(), 501, "the page restarts the file on this answer");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ftp_code"], 504, "{v}");
    assert!(v["error"].as_str().unwrap().contains("neither append nor resume"), "{v}");
    assert_eq!(&file.lock().unwrap()[..], b"hello ", "nothing half-appended");
    // The whole file in one piece works.
    assert_eq!(put(&env, &c, &csrf, 0, b"hello world").await.status(), 200);
    assert_eq!(&file.lock().unwrap()[..], b"hello world");
}
