//! Shared test scaffolding: in-process servers on ephemeral loopback ports, the Python peer,
//! and nginx started from a temporary prefix. Every process and server is stopped by a Drop
//! guard.
#![allow(dead_code)]
// Each test binary includes this module; `pub` is how its items reach them.
#![allow(unreachable_pub)]

use keepsight_proxy::proxy::{ProxyHandler, UpstreamConfig};
use keepsight_proxy::serve::{Content, ServeHandler};
use keepsight_proxy::server::{Control, Handler};
use keepsight_proxy::{log::AccessLog, Options};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A server running on its own runtime thread; shut down gracefully on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub ctl: Arc<Control>,
    pub log: Arc<Mutex<Vec<u8>>>,
    pub access_log: Arc<AccessLog>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub extra: Option<Arc<ProxyHandler>>,
}

/// An access log that writes into memory, so tests can read it.
#[derive(Clone)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);
impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn start<H: Handler>(mut opts: Options, handler: Arc<H>) -> TestServer {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::new(AccessLog::new(Box::new(SharedBuf(buf.clone()))));
    opts.access_log = Some(log.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (running, fut) = keepsight_proxy::start(opts, handler, None).unwrap();
            tx.send((running.addr, running.admin, running.ctl.clone()))
                .unwrap();
            fut.await;
        });
    });
    let (addr, admin, ctl) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    TestServer {
        addr,
        admin,
        ctl,
        log: buf,
        access_log: log,
        thread: Some(thread),
        extra: None,
    }
}

pub fn opts() -> Options {
    Options::new("127.0.0.1:0".parse().unwrap())
}

pub fn serve_fixed(opts: Options, body: &str, delay: Duration) -> TestServer {
    let h = Arc::new(ServeHandler::new(
        Content::Fixed {
            status: 200,
            body: body.to_string().into_bytes().into(),
            headers: vec![],
        },
        delay,
    ));
    start(opts, h)
}

pub fn proxy_to(
    opts: Options,
    upstream: SocketAddr,
    tune: impl FnOnce(&mut UpstreamConfig),
) -> TestServer {
    let mut cfg = UpstreamConfig::new(upstream);
    tune(&mut cfg);
    let h = Arc::new(ProxyHandler::new(cfg));
    let mut s = start(opts, h.clone());
    s.extra = Some(h);
    s
}

impl TestServer {
    /// The access log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.access_log.flush();
        String::from_utf8_lossy(&self.log.lock().unwrap())
            .lines()
            .map(str::to_string)
            .collect()
    }
    /// The access log once `done` holds of it, or as it is after 2 s: the server logs a request
    /// after sending its response, so a client can finish before the line is written.
    pub fn log_lines_when(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let lines = self.log_lines();
            if done(&lines) || std::time::Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    pub fn stop(&mut self) {
        self.ctl.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/http_peer.py")
}

/// Run the Python peer and parse its JSON output. Killed if it outlives `limit`.
pub fn peer(args: &[&str], limit: Duration) -> serde_json::Value {
    let mut child = Command::new("python3")
        .arg(peer_script())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for these tests");
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("peer {args:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "peer {args:?}: {e}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A child process stopped on drop: SIGTERM first, so nginx's master takes its workers down
/// with it (SIGKILL would orphan them), then SIGKILL if it lingers.
pub struct ChildGuard(pub Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start one of the Python upstream servers; returns it with its port.
pub fn python_upstream(kind: &str) -> (ChildGuard, SocketAddr) {
    let mut child = Command::new("python3")
        .arg(peer_script())
        .arg(kind)
        .arg("0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("upstream port");
    (ChildGuard(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx run from a temporary prefix in the foreground; killed on drop.
pub struct Nginx {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl Nginx {
    /// `server_body` goes inside `server { listen ...; }`; `http_extra` at http level.
    pub fn start(http_extra: &str, server_body: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  log_format upstreamlog '$connection $connection_requests \"$request\" $status \
             cl=\"$http_content_length\" te=\"$http_transfer_encoding\"';\n\
             access_log {d}/access.log upstreamlog;\n\
             client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
             {http_extra}\n  server {{\n    listen 127.0.0.1:{port};\n    {server_body}\n  }}\n}}\n",
            d = dir.path().display()
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-g")
            .arg("daemon off;")
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("nginx is needed for these tests (apt-get install nginx-light)");
        let guard = ChildGuard(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            addr,
            dir,
            _child: guard,
        }
    }

    /// nginx writes its access log line after the response; give it a moment.
    pub fn access_log(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn nginx_bin() -> &'static str {
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// Hex-encode bytes for the raw peer.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Status codes of the response heads found in a raw reply.
pub fn statuses(raw: &str) -> Vec<u16> {
    raw.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| raw[i + 9..].get(..3)?.parse().ok())
        .collect()
}
