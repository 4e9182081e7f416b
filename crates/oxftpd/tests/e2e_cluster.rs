//! The cluster test: three oxftpd nodes behind a real HAProxy (TCP mode,
//! PROXY protocol v2 on control and passive connections), sharing one S3
//! bucket (moto) and one Redis, driven by curl, lftp and Python's ftplib.
//!
//! Layout, all on loopback:
//!
//! - HAProxy listens on 127.0.0.100 (the "balancer address" clients use) and
//!   connects to the nodes from 127.0.0.9 (the only trusted proxy), so the
//!   nodes can tell HAProxy's address from the clients' (127.0.0.20-22, 31).
//! - Control: one frontend balanced over the three nodes, and one frontend
//!   per node (to aim a check at a given node, still through HAProxy).
//! - Passive: each node has its own range of 20 ports; HAProxy listens on the
//!   same ports of 127.0.0.100 and forwards each range to its node (see
//!   dist/haproxy.cfg for why a range per node). PASV announces 127.0.0.100,
//!   the address the clients reached, from the PROXY header.
//!
//! A second, smaller cluster (two nodes serving FTP and SFTP on one Redis,
//! no balancer: SFTP takes no PROXY header) checks that SFTP logins and
//! sessions count in the shared bans and session limits.
//!
//! Skipped (with a message) when moto, HAProxy or Redis is missing, unless
//! `OXFTP_REQUIRE_S3=1` / `OXFTP_REQUIRE_CLUSTER=1` (scripts/test sets both).

mod common;
#[path = "../../oxftp-opendal/tests/common/mod.rs"]
mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::password_hash;
use common::{Daemon, DaemonConfig, Outcome, PASSWORD, require_tool, run};
use moto::Moto;

/// Where clients reach the cluster.
const BALANCER: &str = "127.0.0.100";
/// HAProxy's own address towards the nodes: the one trusted proxy.
const PROXY_SOURCE: &str = "127.0.0.9";
/// Client addresses, one per kind of client.
const CURL_FROM: &str = "127.0.0.20";
const LFTP_FROM: &str = "127.0.0.21";
const PY_FROM: &str = "127.0.0.22";
/// The address that earns a ban.
const GUESSER: &str = "127.0.0.31";
/// Passive ports per node.
const RANGE: u16 = 20;
/// Clients running at once, and how long they run.
const CLIENTS: usize = 60;
const LOAD: Duration = Duration::from_secs(60);
/// When in the load the second node is killed.
const KILL_AT: Duration = Duration::from_secs(25);
const OP_TIMEOUT: Duration = Duration::from_secs(120);

fn tools_present() -> bool {
    let found = |tool: &str| {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false)
    };
    let missing: Vec<&str> = ["haproxy", "redis-server", "redis-cli"].into_iter().filter(|t| !found(t)).collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("OXFTP_REQUIRE_CLUSTER").as_deref() == Ok("1") {
        panic!("OXFTP_REQUIRE_CLUSTER=1 but {missing:?} are not installed (scripts/test installs them)");
    }
    eprintln!("SKIPPED: {missing:?} not installed (apt-get install haproxy redis-server)");
    false
}

/// A process of ours, killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port on `ip`.
fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).expect("a free port").port()
}

/// `n` consecutive ports free on both the balancer's and the nodes' address.
fn free_range(n: u16) -> u16 {
    for attempt in 0..200u32 {
        // Below the ephemeral range, so the OS does not hand them out meanwhile.
        let base = 20_000 + ((std::process::id() * 7 + attempt * 541) % 9_000) as u16;
        let free = (base..base + n)
            .all(|p| TcpListener::bind((BALANCER, p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no {n} free consecutive ports");
}

fn start_redis() -> (Guard, String) {
    for _ in 0..5 {
        let port = free_port("127.0.0.1");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let guard = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let ping = Command::new("redis-cli").args(["-p", &port.to_string(), "ping"]).output();
            if ping.is_ok_and(|o| o.stdout.starts_with(b"PONG")) {
                return (guard, format!("redis://127.0.0.1:{port}/"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("redis-server did not start");
}

/// The ports HAProxy offers.
struct Frontends {
    control: u16,
    /// One per node, to reach a given node (through HAProxy all the same).
    direct: Vec<u16>,
}

fn haproxy_config(nodes: &[(u16, u16)], front: &Frontends) -> String {
    let mut cfg = format!(
        "global\n    maxconn 4000\n\
         defaults\n    mode tcp\n    timeout connect 3s\n    timeout client 5m\n    timeout server 5m\n\
         \x20   retries 3\n    option redispatch\n    source {PROXY_SOURCE}\n\
         frontend control\n    bind {BALANCER}:{}\n    default_backend nodes\n\
         backend nodes\n    balance roundrobin\n",
        front.control
    );
    for (i, (port, _)) in nodes.iter().enumerate() {
        cfg += &format!(
            "    server n{i} 127.0.0.1:{port} send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2\n"
        );
    }
    for (i, ((port, lo), direct)) in nodes.iter().zip(&front.direct).enumerate() {
        cfg += &format!(
            "frontend direct{i}\n    bind {BALANCER}:{direct}\n    default_backend direct{i}\n\
             backend direct{i}\n    server n{i} 127.0.0.1:{port} send-proxy-v2\n\
             frontend pasv{i}\n    bind {BALANCER}:{lo}-{}\n    default_backend pasv{i}\n\
             backend pasv{i}\n    server n{i} 127.0.0.1 send-proxy-v2\n",
            lo + RANGE - 1
        );
    }
    cfg
}

fn start_haproxy(dir: &Path, cfg: &str, control: u16) -> Guard {
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let check = Command::new("haproxy").args(["-c", "-q", "-f"]).arg(&path).output().unwrap();
    assert!(check.status.success(), "haproxy -c: {}\n{cfg}", String::from_utf8_lossy(&check.stderr));
    let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start haproxy");
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((BALANCER, control)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    guard
}

/// A bare control connection from `source` to `port` on the balancer.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(source: &str, port: u16) -> (Raw, String) {
        Raw::connect_to(source, BALANCER, port)
    }

    /// From `source` to `host:port` (a node's own listener).
    fn connect_to(source: &str, host: &str, port: u16) -> (Raw, String) {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::new(source.parse().unwrap(), 0).into()).unwrap();
        socket.connect(&SocketAddr::new(host.parse().unwrap(), port).into()).unwrap();
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut raw = Raw { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream };
        let greeting = raw.reply();
        (raw, greeting)
    }

    fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return text;
            }
            text.push_str(&line);
            if line.len() >= 4 && line.as_bytes()[3] == b' ' {
                return text;
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        let _ = self.writer.write_all(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    fn login(&mut self, user: &str, password: &str) -> String {
        let _ = self.cmd(&format!("USER {user}"));
        self.cmd(&format!("PASS {password}"))
    }
}

/// Deterministic file contents that say what they should be: the name of a
/// file is `NAME-SIZE-SEED.bin`, its bytes a 4 KiB block for SEED repeated.
fn content(size: usize, seed: u64) -> Vec<u8> {
    let block: Vec<u8> = (0..4096u64).map(|i| ((i * 131 + seed * 17) % 251) as u8).collect();
    block.iter().copied().cycle().take(size).collect()
}

fn file_name(stem: &str, size: usize, seed: u64) -> String {
    format!("{stem}-{size}-{seed}.bin")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Curl,
    Lftp,
    Python,
}

/// What one client knows at the end.
#[derive(Default)]
struct Ledger {
    /// Files it put and saw succeed, by path: they must be there, intact.
    certain: BTreeSet<String>,
    /// Paths whose fate an error left open: if there, they must be intact.
    uncertain: BTreeSet<String>,
    ok: usize,
    failed: usize,
    /// Successes and failures after the kill settled.
    ok_late: usize,
    failed_late: usize,
    failures: Vec<String>,
    /// What failed after the kill had settled.
    late_failures: Vec<String>,
}

struct Client {
    tool: Tool,
    worker: usize,
    port: u16,
    scratch: PathBuf,
    script: PathBuf,
}

impl Client {
    fn source(&self) -> &'static str {
        match self.tool {
            Tool::Curl => CURL_FROM,
            Tool::Lftp => LFTP_FROM,
            Tool::Python => PY_FROM,
        }
    }

    fn dir(&self) -> String {
        format!("/w{:02}", self.worker)
    }

    fn url(&self, path: &str) -> String {
        format!("ftp://{BALANCER}:{}{path}", self.port)
    }

    fn curl(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new("curl");
        // Generous: a login (argon2) on a loaded 2-core machine can take seconds.
        cmd.args(["-q", "-sS", "--max-time", "100", "--connect-timeout", "60", "--interface", self.source()])
            .args(["-u", &format!("alice:{PASSWORD}")])
            .args(args);
        run(&mut cmd, OP_TIMEOUT)
    }

    fn lftp(&self, commands: &str) -> Outcome {
        let script = format!(
            "set cmd:fail-exit yes; set net:socket-bind-ipv4 {}; set net:max-retries 2; set net:timeout 60; \
             set net:reconnect-interval-base 1; set ftp:prefer-epsv no; \
             open -u alice,{PASSWORD} {BALANCER}:{}; {commands}; bye",
            self.source(),
            self.port
        );
        run(Command::new("lftp").args(["-c", &script]).env("HOME", &self.scratch), OP_TIMEOUT)
    }

    fn python(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new("python3");
        cmd.arg(&self.script).args([BALANCER, &self.port.to_string(), self.source(), "alice", PASSWORD]).args(args);
        run(&mut cmd, OP_TIMEOUT)
    }

    /// Upload `local` as `tmp`, then rename it to `path`.
    fn put(&self, local: &Path, tmp: &str, path: &str) -> Outcome {
        let local = local.to_str().unwrap();
        match self.tool {
            Tool::Curl => self.curl(&[
                "--ftp-create-dirs",
                "-T",
                local,
                &self.url(tmp),
                "-Q",
                &format!("-RNFR {tmp}"),
                "-Q",
                &format!("-RNTO {path}"),
            ]),
            Tool::Lftp => self.lftp(&format!("mkdir -p -f {}; put {local} -o {tmp}; mv {tmp} {path}", self.dir())),
            Tool::Python => self.python(&["put", local, tmp, path]),
        }
    }

    fn get(&self, path: &str, local: &Path) -> Outcome {
        let local = local.to_str().unwrap();
        match self.tool {
            Tool::Curl => self.curl(&["-o", local, &self.url(path)]),
            Tool::Lftp => self.lftp(&format!("get {path} -o {local}")),
            Tool::Python => self.python(&["get", path, local]),
        }
    }

    fn names(&self) -> Result<BTreeSet<String>, String> {
        let out = match self.tool {
            Tool::Curl => self.curl(&["-l", &self.url(&format!("{}/", self.dir()))]),
            Tool::Lftp => self.lftp(&format!("cls -1 {}/", self.dir())),
            Tool::Python => self.python(&["nlst", &self.dir()]),
        };
        if !out.success() {
            return Err(out.dump());
        }
        Ok(out
            .stdout_str()
            .lines()
            .map(|l| l.trim().trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// Run operations until `end`; `late` is when failures stop being excused.
    fn work(&self, start: Instant, late: Duration, end: Duration, big: bool) -> Ledger {
        let mut ledger = Ledger::default();
        let mut seed = self.worker as u64 * 1_000_003;
        let mut round = 0usize;
        while start.elapsed() < end {
            if round > 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            round += 1;
            seed += 1;
            let size = if big && round == 1 { 20 * 1024 * 1024 } else { 1024 + (seed as usize * 7919) % 200_000 };
            let name = file_name(&format!("r{round}"), size, seed);
            let (path, tmp) = (format!("{}/{name}", self.dir()), format!("{}/{name}.part", self.dir()));
            let local = self.scratch.join(&name);
            std::fs::write(&local, content(size, seed)).unwrap();
            let note = |ledger: &mut Ledger, ok: bool, what: String| {
                let is_late = start.elapsed() > late;
                match (ok, is_late) {
                    (true, false) => ledger.ok += 1,
                    (true, true) => ledger.ok_late += 1,
                    (false, false) => ledger.failed += 1,
                    (false, true) => ledger.failed_late += 1,
                }
                if !ok && ledger.failures.len() < 5 {
                    ledger.failures.push(what.clone());
                }
                if !ok && is_late {
                    ledger.late_failures.push(what);
                }
            };
            let put = self.put(&local, &tmp, &path);
            let _ = std::fs::remove_file(&local);
            if put.success() {
                ledger.certain.insert(path.clone());
                note(&mut ledger, true, String::new());
            } else {
                ledger.uncertain.insert(path.clone());
                ledger.uncertain.insert(tmp);
                note(&mut ledger, false, format!("{:?} put {path}: {}", self.tool, put.dump()));
                continue;
            }
            // Read back a file put earlier (or this one), byte for byte.
            let back = self.scratch.join("back.bin");
            // (lftp will not overwrite a file: xfer:clobber is off by default)
            let _ = std::fs::remove_file(&back);
            let pick = ledger.certain.iter().nth(round % ledger.certain.len()).cloned().unwrap_or(path);
            let got = self.get(&pick, &back);
            let expected = expected_content(&pick);
            let same = got.success() && std::fs::read(&back).ok() == expected;
            note(&mut ledger, same, format!("{:?} get {pick}: {}", self.tool, got.dump()));
            assert!(!got.success() || same, "{pick} came back different through {:?}", self.tool);
            // The directory lists exactly what this client stored.
            if round.is_multiple_of(3) {
                match self.names() {
                    Ok(names) => {
                        let mine: BTreeSet<String> = ledger.certain.iter().map(|p| base_name(p)).collect();
                        let extra: BTreeSet<String> = ledger.uncertain.iter().map(|p| base_name(p)).collect();
                        let missing: Vec<_> = mine.difference(&names).collect();
                        let unknown: Vec<_> = names.difference(&mine).filter(|n| !extra.contains(*n)).collect();
                        assert!(
                            missing.is_empty() && unknown.is_empty(),
                            "{:?} listing of {}: missing {missing:?}, unknown {unknown:?}",
                            self.tool,
                            self.dir()
                        );
                        note(&mut ledger, true, String::new());
                    }
                    Err(e) => note(&mut ledger, false, format!("{:?} list: {e}", self.tool)),
                }
            }
        }
        ledger
    }
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// The bytes a file of this name must hold (`None`: not one of ours).
fn expected_content(path: &str) -> Option<Vec<u8>> {
    let name = base_name(path);
    let stem = name.strip_suffix(".part").unwrap_or(&name).strip_suffix(".bin")?;
    let mut parts = stem.rsplitn(3, '-');
    let seed: u64 = parts.next()?.parse().ok()?;
    let size: usize = parts.next()?.parse().ok()?;
    Some(content(size, seed))
}

/// Every object under the users' homes in the bucket, checked in Python
/// against what its name says it holds; returns the keys.
fn verify_bucket(moto: &Moto) -> Vec<String> {
    let out = moto.python(
        "import re\n\
         bad, keys = [], []\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket='ftp', Prefix='srv/alice/w'):\n    \
             for o in page.get('Contents', []):\n        \
                 k = o['Key']\n        \
                 if k.endswith('/'):\n            continue\n        \
                 keys.append(k)\n        \
                 m = re.search(r'-(\\d+)-(\\d+)\\.bin(\\.part)?$', k)\n        \
                 if not m:\n            bad.append(k + ': unexpected name'); continue\n        \
                 size, seed = int(m.group(1)), int(m.group(2))\n        \
                 block = bytes(((i * 131 + seed * 17) % 251) for i in range(4096))\n        \
                 want = (block * (size // 4096 + 1))[:size]\n        \
                 got = s3.get_object(Bucket='ftp', Key=k)['Body'].read()\n        \
                 if got != want:\n            bad.append(f'{k}: {len(got)} bytes, want {size}')\n\
         print(json.dumps({'bad': bad, 'keys': keys}))",
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("verify output");
    let bad: Vec<String> = serde_json::from_value(v["bad"].clone()).unwrap();
    assert!(bad.is_empty(), "corrupt or half-written objects: {bad:?}");
    serde_json::from_value(v["keys"].clone()).unwrap()
}

fn users() -> String {
    let hash = password_hash();
    format!(
        "\n[[user]]\nname = \"duo\"\npassword_hash = \"{hash}\"\nhome = \"/duo\"\nmax_sessions = 2\n\
         \n[[user]]\nname = \"quo\"\npassword_hash = \"{hash}\"\nhome = \"/quo\"\nquota_bytes = 1000000\n"
    )
}

fn node_config(moto: &Moto, redis: &str, passive_lo: u16) -> DaemonConfig {
    DaemonConfig {
        anonymous: false,
        active: false,
        passive_range: Some((passive_lo, passive_lo + RANGE - 1)),
        passive_extra: vec!["proxy_protocol = true".into()],
        server_extra: vec![
            "listen = [{ address = \"127.0.0.1:0\", proxy_protocol = true }]".into(),
            format!("trusted_proxies = [\"{PROXY_SOURCE}\"]"),
            "data_timeout = 30".into(),
        ],
        storage: Some(format!(
            "backend = \"opendal\"\nscheme = \"s3\"\nchunk_size = 5242880\nrename_dir_limit = 100\n\
             [storage.s3]\nbucket = \"ftp\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
             access_key_id = \"testing\"\nsecret_access_key = \"testing\"\nroot = \"/srv\"\n",
            moto.endpoint
        )),
        extra_tables: format!(
            "\n[ban]\nmax_failures = 3\nban_time = 120\n\
             \n[cluster]\nredis = \"{redis}\"\nsession_lease = 5\ntimeout_ms = 2000\n"
        ),
        users_extra: users(),
        ..DaemonConfig::default()
    }
}

#[test]
fn three_nodes_behind_haproxy_share_one_bucket_and_one_redis() {
    if !tools_present() {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    for tool in ["curl", "lftp", "python3"] {
        require_tool(tool);
    }
    moto.create_bucket("ftp");
    let (_redis, redis_url) = start_redis();
    let base = free_range(3 * RANGE);
    let mut nodes: Vec<Daemon> =
        (0..3).map(|i| Daemon::start_with(node_config(&moto, &redis_url, base + i * RANGE))).collect();
    let front = Frontends { control: free_port(BALANCER), direct: (0..3).map(|_| free_port(BALANCER)).collect() };
    let layout: Vec<(u16, u16)> = nodes.iter().enumerate().map(|(i, n)| (n.port(), base + i as u16 * RANGE)).collect();
    let work = nodes[0].scratch("cluster");
    let _haproxy = start_haproxy(&work, &haproxy_config(&layout, &front), front.control);

    // PASV through the balancer announces the balancer; EPSV names no address.
    let (mut raw, greeting) = Raw::connect(CURL_FROM, front.control);
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(raw.login("alice", PASSWORD).starts_with("230"));
    let pasv = raw.cmd("PASV");
    assert!(pasv.starts_with("227") && pasv.contains("(127,0,0,100,"), "{pasv}");
    assert!(raw.cmd("EPSV").starts_with("229 Entering Extended Passive Mode (|||"));
    let stat = raw.cmd("STAT");
    assert!(stat.contains(&format!("Connected from {CURL_FROM}:")), "{stat}");
    drop(raw);

    // A ban earned on node 1 holds on node 2.
    for _ in 0..3 {
        let (mut raw, greeting) = Raw::connect(GUESSER, front.direct[0]);
        assert!(greeting.starts_with("220"), "{greeting}");
        let _ = raw.login("alice", "wrong");
    }
    let (_, greeting) = Raw::connect(GUESSER, front.direct[1]);
    assert!(greeting.starts_with("421") && greeting.contains("failed logins"), "banned on node 2: {greeting}");
    let (mut other, greeting) = Raw::connect(CURL_FROM, front.direct[1]);
    assert!(greeting.starts_with("220"), "only the guesser is banned: {greeting}");
    drop(other.cmd("QUIT"));

    // max_sessions = 2 for an account holds across nodes.
    let (mut a, _) = Raw::connect(CURL_FROM, front.direct[0]);
    assert!(a.login("duo", PASSWORD).starts_with("230"));
    let (mut b, _) = Raw::connect(CURL_FROM, front.direct[1]);
    assert!(b.login("duo", PASSWORD).starts_with("230"));
    let (mut c, _) = Raw::connect(CURL_FROM, front.direct[2]);
    let third = c.login("duo", PASSWORD);
    assert!(third.starts_with("530") && third.contains("Too many sessions"), "{third}");
    drop(a.cmd("QUIT"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (mut c, _) = Raw::connect(CURL_FROM, front.direct[2]);
        if c.login("duo", PASSWORD).starts_with("230") {
            break;
        }
        assert!(Instant::now() < deadline, "a freed place never reached node 3");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(b);

    // A quota filled through node 1 is enforced on node 3.
    let upload = |node: usize, name: &str, size: usize| {
        let file = work.join(name);
        std::fs::write(&file, content(size, 5)).unwrap();
        let url = format!("ftp://{BALANCER}:{}/{name}", front.direct[node]);
        let mut cmd = Command::new("curl");
        cmd.args(["-q", "-sS", "--max-time", "60", "--interface", CURL_FROM, "-u", &format!("quo:{PASSWORD}")])
            .arg("-T")
            .arg(&file)
            .arg(url);
        run(&mut cmd, OP_TIMEOUT)
    };
    upload(0, "first.bin", 900_000).assert_success("900 kB of 1 MB through node 1");
    let refused = upload(2, "second.bin", 200_000);
    assert!(!refused.success(), "node 3 let the quota be passed: {}", refused.dump());
    let keys = moto.keys("ftp");
    assert!(keys.contains(&"srv/quo/first.bin".to_string()) && !keys.iter().any(|k| k.contains("second.bin")));

    // The load: 60 clients through the balancer for a minute; node 2 is
    // killed with SIGKILL in the middle of it.
    let script = common::python::py_dir().join("cluster_client.py");
    let start = Instant::now();
    let late = KILL_AT + Duration::from_secs(8);
    let ledgers = Arc::new(Mutex::new(BTreeMap::new()));
    let mut workers = Vec::new();
    for worker in 0..CLIENTS {
        let tool = [Tool::Curl, Tool::Lftp, Tool::Python][worker % 3];
        let client =
            Client { tool, worker, port: front.control, scratch: nodes[0].scratch("w"), script: script.clone() };
        let ledgers = Arc::clone(&ledgers);
        workers.push(std::thread::spawn(move || {
            let ledger = client.work(start, late, LOAD, worker < 6);
            ledgers.lock().unwrap().insert(worker, (tool, ledger));
        }));
    }
    std::thread::sleep(KILL_AT.saturating_sub(start.elapsed()));
    nodes[1].kill_now();
    let killed_at = start.elapsed();
    for w in workers {
        w.join().expect("a client thread panicked (see above)");
    }
    let ledgers = Arc::try_unwrap(ledgers).ok().unwrap().into_inner().unwrap();
    let (mut ok, mut failed, mut ok_late, mut failed_late) = (0, 0, 0, 0);
    for (_, l) in ledgers.values() {
        ok += l.ok;
        failed += l.failed;
        ok_late += l.ok_late;
        failed_late += l.failed_late;
    }
    eprintln!(
        "cluster load: {ok} ok / {failed} failed before {late:?} (node 2 killed at {killed_at:?}), \
         {ok_late} ok / {failed_late} failed after"
    );
    for (worker, (_, l)) in &ledgers {
        for failure in &l.failures {
            let head = failure.split(": command:").next().unwrap_or_default();
            let tail: Vec<&str> = failure.lines().rev().filter(|l| !l.trim().is_empty()).take(2).collect();
            eprintln!("client {worker}: {head}: {}", tail.join(" | "));
        }
    }
    if let Ok(keep) = std::env::var("OXFTP_CLUSTER_LOGS") {
        for (i, node) in nodes.iter().enumerate() {
            let _ = std::fs::write(Path::new(&keep).join(format!("node{i}.log")), node.log());
        }
        let _ = std::fs::copy(work.join("haproxy.log"), Path::new(&keep).join("haproxy.log"));
    }
    for (worker, (tool, l)) in &ledgers {
        assert!(l.ok_late > 0, "client {worker} ({tool:?}) got nothing done after the kill: {:?}", l.failures);
    }
    assert!(ok + ok_late >= 2 * CLIENTS, "too little work got done: {ok} + {ok_late}");
    // Once HAProxy has taken the dead node out, clients work as before; a
    // rare client-side timeout on this loaded 2-core machine is allowed for.
    assert!(
        failed_late * 50 <= ok_late,
        "more than 2% of operations failed once the kill had settled: {failed_late} of {}: {:?}",
        ok_late + failed_late,
        ledgers.values().flat_map(|(_, l)| l.late_failures.iter()).take(10).collect::<Vec<_>>()
    );

    // Every object is whole; everything a client saw stored is there.
    let keys: BTreeSet<String> = verify_bucket(&moto).into_iter().collect();
    for (worker, (_, l)) in &ledgers {
        for path in &l.certain {
            assert!(keys.contains(&format!("srv/alice{path}")), "client {worker}'s {path} is gone");
        }
    }
    // Both surviving nodes list the same, and what S3 holds.
    for worker in [0usize, 1, 2, 30, 31, 59] {
        let dir = format!("/w{worker:02}/");
        let in_s3: BTreeSet<String> =
            keys.iter().filter_map(|k| k.strip_prefix(&format!("srv/alice{dir}"))).map(str::to_string).collect();
        for node in [0usize, 2] {
            let url = format!("ftp://{BALANCER}:{}{dir}", front.direct[node]);
            let out = run(
                Command::new("curl")
                    .args(["-q", "-sS", "--interface", CURL_FROM, "-u", &format!("alice:{PASSWORD}")])
                    .args(["-l", &url]),
                OP_TIMEOUT,
            );
            out.assert_success("NLST on a surviving node");
            let listed: BTreeSet<String> = out.stdout_str().lines().map(|l| l.trim().to_string()).collect();
            assert_eq!(listed, in_s3, "node {} lists {dir} differently from the bucket", node + 1);
        }
    }

    // The clients' addresses from PROXY v2 are what the nodes logged and banned.
    let logs: String = [&nodes[0], &nodes[2]].iter().map(|n| n.log()).collect();
    for source in [CURL_FROM, LFTP_FROM, PY_FROM] {
        assert!(logs.contains(&format!("peer: {source}:")), "no session from {source} in the logs");
    }
    assert!(logs.contains(&format!("proxy: {PROXY_SOURCE}:")), "the proxy is logged next to the client");
    let banned = nodes[0].log();
    assert!(
        banned.lines().any(|l| l.contains("banned after failed logins") && l.contains(GUESSER)),
        "the ban names the guesser"
    );
    let logins_from_proxy =
        logs.lines().filter(|l| l.contains(" login") && l.contains(&format!("peer: {PROXY_SOURCE}:"))).count();
    assert_eq!(logins_from_proxy, 0, "a login was logged with HAProxy's address");
    drop(_haproxy);
}

/// `ls` over SFTP (OpenSSH's sftp, a password through sshpass) from
/// `source` to `node`'s SFTP listener, as `user`.
fn sftp_ls(node: &Daemon, source: &str, user: &str, password: &str) -> Outcome {
    let batch = node.dir().join("ls.batch");
    std::fs::write(&batch, "ls\n").unwrap();
    let mut cmd = Command::new("sshpass");
    cmd.args(["-p", password, "sftp", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"])
        // (sftp -b turns BatchMode on, which skips password prompts)
        .args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-o", &format!("BindAddress={source}")])
        .arg("-b")
        .arg(&batch)
        .args(["-P", &node.sftp_port().to_string(), &format!("{user}@127.0.0.1")])
        .env("HOME", node.dir());
    run(&mut cmd, OP_TIMEOUT)
}

/// Retries `sftp_ls` until it succeeds (a freed place reaches Redis at once,
/// but the client's own session may take a moment to be given back).
fn sftp_ls_eventually(node: &Daemon, source: &str, user: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = sftp_ls(node, source, user, PASSWORD);
        if out.success() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}\n{}", out.dump());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SFTP passes the same door as FTP, so in a cluster its logins and sessions
/// count in the shared bans and limits: two nodes serving FTP and SFTP (each
/// on its own disk) on one Redis, clients at their own loopback addresses.
#[test]
fn sftp_counts_in_the_cluster_bans_and_session_limits() {
    if !tools_present() {
        return;
    }
    for tool in ["sftp", "sshpass"] {
        require_tool(tool);
    }
    let (_redis, redis_url) = start_redis();
    let config = || DaemonConfig {
        anonymous: false,
        active: false,
        sftp: Some(String::new()),
        server_extra: vec!["max_sessions_per_ip = 2".into()],
        extra_tables: format!(
            "\n[ban]\nmax_failures = 3\nban_time = 120\n\
             \n[cluster]\nredis = \"{redis_url}\"\nsession_lease = 5\ntimeout_ms = 2000\n"
        ),
        users_extra: format!(
            "\n[[user]]\nname = \"one\"\npassword_hash = \"{}\"\nhome = \"/alice\"\nmax_sessions = 1\n",
            password_hash()
        ),
        ..DaemonConfig::default()
    };
    let nodes = [Daemon::start_with(config()), Daemon::start_with(config())];

    // An account's only session, held over FTP on node 1, keeps SFTP on node 2 out.
    let from = "127.0.0.40";
    let (mut ftp, greeting) = Raw::connect_to(from, "127.0.0.1", nodes[0].port());
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(ftp.login("one", PASSWORD).starts_with("230"));
    let out = sftp_ls(&nodes[1], from, "one", PASSWORD);
    assert!(!out.success(), "a second session for `one`, over SFTP on node 2\n{}", out.dump());
    assert!(nodes[1].log().contains("too many sessions for one"), "{}", nodes[1].log());
    drop(ftp.cmd("QUIT"));
    drop(ftp);
    sftp_ls_eventually(&nodes[1], from, "one", "the place freed on node 1 never reached SFTP on node 2");

    // Two FTP connections from one address on node 1 fill its per-address
    // count: an SFTP connection from there to node 2 is turned away.
    let from = "127.0.0.41";
    let (_first, greeting) = Raw::connect_to(from, "127.0.0.1", nodes[0].port());
    assert!(greeting.starts_with("220"), "{greeting}");
    let (second, greeting) = Raw::connect_to(from, "127.0.0.1", nodes[0].port());
    assert!(greeting.starts_with("220"), "{greeting}");
    let out = sftp_ls(&nodes[1], from, "alice", PASSWORD);
    assert!(!out.success(), "a third connection from {from}, over SFTP on node 2\n{}", out.dump());
    let refused = nodes[1].log();
    assert!(
        refused
            .lines()
            .any(|l| l.contains("SFTP connection refused") && l.contains("Too many connections from your address")),
        "{refused}"
    );
    drop(second);
    sftp_ls_eventually(&nodes[1], from, "alice", "the address's place freed on node 1 never reached node 2");

    // Wrong SFTP passwords on node 2 ban the address on node 1, for FTP and SFTP.
    let guesser = "127.0.0.42";
    for _ in 0..3 {
        let out = sftp_ls(&nodes[1], guesser, "alice", "wrong");
        assert!(!out.success(), "{}", out.dump());
    }
    let (_, greeting) = Raw::connect_to(guesser, "127.0.0.1", nodes[0].port());
    assert!(greeting.starts_with("421") && greeting.contains("failed logins"), "FTP on node 1: {greeting}");
    let out = sftp_ls(&nodes[0], guesser, "alice", PASSWORD);
    assert!(!out.success(), "SFTP on node 1 let the banned address in\n{}", out.dump());
    assert!(nodes[0].log().lines().any(|l| l.contains("SFTP connection refused") && l.contains("failed logins")));
    // Others still get in.
    sftp_ls_eventually(&nodes[0], "127.0.0.43", "alice", "an address nobody banned");
}

#[test]
fn the_deployment_examples_are_valid() {
    // dist/haproxy.cfg: HAProxy itself checks it (when installed).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cfg = root.join("dist/haproxy.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    for needle in ["send-proxy-v2", "check-send-proxy", "bind :50000-50019", "server node1 10.0.1.1 send-proxy-v2"] {
        assert!(text.contains(needle), "dist/haproxy.cfg lacks {needle:?}");
    }
    if tools_present() {
        let out = Command::new("haproxy").args(["-c", "-q", "-f"]).arg(&cfg).output().unwrap();
        assert!(out.status.success(), "haproxy -c: {}", String::from_utf8_lossy(&out.stderr));
    }
    // dist/kubernetes.yaml: YAML with the right kinds and fields, ports that
    // agree with the oxftpd.toml it carries, and that config valid.
    require_tool("python3");
    let yaml = root.join("dist/kubernetes.yaml");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(&yaml)
        .output()
        .unwrap();
    assert!(out.status.success(), "YAML: {}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .clone()
    };
    let config_map = find("ConfigMap", "oxftpd");
    let deployment = find("Deployment", "oxftpd");
    let service = find("Service", "oxftpd");
    find("Deployment", "oxftpd-redis");
    find("Service", "oxftpd-redis");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(service["spec"]["sessionAffinity"], "ClientIP");
    assert_eq!(service["spec"]["externalTrafficPolicy"], "Local");
    let toml_text = config_map["data"]["oxftpd.toml"].as_str().unwrap();
    let users = tempfile::tempdir().unwrap();
    std::fs::write(users.path().join("users.toml"), "").unwrap();
    let toml_text =
        toml_text.replace("/etc/oxftpd/users/users.toml", users.path().join("users.toml").to_str().unwrap());
    let config = oxftpd::config::Config::from_toml(&toml_text, users.path(), &Default::default())
        .unwrap_or_else(|e| panic!("the manifest's oxftpd.toml: {e}"));
    let (lo, hi) = config.passive.port_range.expect("a passive range");
    assert!(config.cluster.is_some(), "the manifest shares state through Redis");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let container_ports: BTreeSet<u64> =
        container["ports"].as_array().unwrap().iter().map(|p| p["containerPort"].as_u64().unwrap()).collect();
    let service_ports: BTreeSet<(u64, u64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_u64().unwrap(), p["targetPort"].as_u64().unwrap()))
        .collect();
    for port in lo..=hi {
        let port = u64::from(port);
        assert!(container_ports.contains(&port), "container port {port} missing");
        assert!(service_ports.contains(&(port, port)), "service port {port} missing");
    }
    let control = config.server.listen[0].port();
    assert!(container_ports.contains(&u64::from(control)) && service_ports.contains(&(21, u64::from(control))));
}
