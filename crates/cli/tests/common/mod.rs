//! Shared by the CLI tests: a child process stopped on drop, scratch directories, nginx on
//! loopback or inside a network namespace, a runner that checks captures two at a time, and
//! where the repository and the tshark oracle are.
#![allow(dead_code)] // each test binary uses its own part
#![allow(unreachable_pub)] // and reaches it through `pub`

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child stopped on drop: SIGTERM first (nginx's master then stops its workers), SIGKILL if
/// it lingers.
pub struct Guard(pub Child);

impl Guard {
    /// SIGTERM, then wait up to 10 s: the exit code and how long it took.
    pub fn terminate(&mut self) -> (Option<i32>, Duration) {
        let t0 = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(s)) = self.0.try_wait() {
                return (s.code(), t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (None, t0.elapsed())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.terminate();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A fresh directory under the system temp dir, unique per test binary run.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("keepsight-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A loopback port nothing listens on (once the probe listener is dropped).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until something accepts connections on `addr`.
pub fn wait_listening(addr: SocketAddr, what: &str) {
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts nginx (one worker, daemon off, everything under `dir`) with `http_extra` in its
/// `http` block and `server_body` in its one server, listening on `listen`. `wrap` runs it
/// inside a namespace (`ip netns exec NS`); then the caller waits for it, from inside.
pub fn nginx(
    dir: &Path,
    listen: SocketAddr,
    http_extra: &str,
    server_body: &str,
    wrap: &[&str],
) -> Guard {
    nginx_with(
        dir,
        &listen.to_string(),
        listen,
        http_extra,
        server_body,
        wrap,
    )
}

/// [`nginx`] with its own `listen` parameters (`127.0.0.1:8443 ssl`), on loopback.
pub fn nginx_listen(
    dir: &Path,
    listen_params: &str,
    listen: SocketAddr,
    http_extra: &str,
    server_body: &str,
) -> Guard {
    nginx_with(dir, listen_params, listen, http_extra, server_body, &[])
}

fn nginx_with(
    dir: &Path,
    listen_params: &str,
    listen: SocketAddr,
    http_extra: &str,
    server_body: &str,
    wrap: &[&str],
) -> Guard {
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  {http_extra}\n\
         client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
         uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen {listen_params}; {server_body} }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut cmd = Command::new(wrap.first().copied().unwrap_or("nginx"));
    if !wrap.is_empty() {
        cmd.args(&wrap[1..]).arg("nginx");
    }
    let child = cmd
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx-light)");
    let guard = Guard(child);
    if wrap.is_empty() {
        wait_listening(listen, "nginx");
    }
    guard
}

/// Runs `check` on every file, two at a time (each check spawns tshark, often several times),
/// and collects what it returns.
pub fn run_parallel<T: Send>(files: &[PathBuf], check: impl Fn(&Path) -> Vec<T> + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let r = check(file);
                results.lock().unwrap().extend(r);
            });
        }
    });
    results.into_inner().unwrap()
}

/// The captures of the committed corpus, as `tests/corpus/MANIFEST.tsv` lists them.
pub fn corpus() -> Vec<PathBuf> {
    let dir = repo().join("tests/corpus");
    let manifest =
        std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("tests/corpus/MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(|f| dir.join(f))
        .collect()
}

/// The repository's root (test inputs live under it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Whether tshark, the analyzer's oracle, is here: fails the test when it is not (see
/// [`keepsight_testlab::require_tool`]).
/// Fails the test with the number of differences from tshark and the first 30 of them.
pub fn assert_no_differences(problems: &[String]) {
    let shown: Vec<&str> = problems.iter().take(30).map(String::as_str).collect();
    assert!(
        problems.is_empty(),
        "{} differences from tshark, first ones:\n{}",
        problems.len(),
        shown.join("\n")
    );
}

/// What `program` prints for `args` with TZ=UTC; fails the test when it does not succeed.
pub fn output_of(program: &str, args: &[String]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("command runs");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// What `keepsight packets ARGS` prints (see [`output_of`]).
pub fn packets_output(args: &[String]) -> String {
    let mut all = vec!["packets".to_string()];
    all.extend_from_slice(args);
    output_of(env!("CARGO_BIN_EXE_keepsight"), &all)
}

/// The lines in which tshark's and `keepsight packets`' output for the same arguments
/// differ, each named by `what`, and a line count that differs.
pub fn line_differences(what: &str, args: &[String]) -> Vec<String> {
    let (theirs, ours) = (output_of("tshark", args), packets_output(args));
    let mut problems: Vec<String> = theirs
        .lines()
        .zip(ours.lines())
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("{what}: tshark {t:?}, keepsight {o:?}"))
        .collect();
    if theirs.lines().count() != ours.lines().count() {
        problems.push(format!(
            "{what}: tshark lists {} lines, keepsight {}",
            theirs.lines().count(),
            ours.lines().count()
        ));
    }
    problems
}

pub fn tshark_available() -> bool {
    keepsight_testlab::require_tool("tshark")
}

/// tshark's verdict on each of `filters` for one capture, in one tshark run (the Lua script
/// tests/filters/batch.lua applies every filter to every frame): one line per filter, `OK\t`
/// and the matching frame numbers, or tshark's error message. `tag` keeps concurrent calls'
/// temporary files apart.
pub fn tshark_filter_batch(cap: &Path, filters: &[&str], tag: &str) -> Vec<String> {
    let tmp = std::env::temp_dir();
    let stem = format!("keepsight-batch-{}-{tag}", std::process::id());
    let (input, output) = (
        tmp.join(format!("{stem}.in")),
        tmp.join(format!("{stem}.out")),
    );
    std::fs::write(&input, filters.join("\n") + "\n").expect("temp file");
    let run = Command::new("tshark")
        .arg("-q")
        .arg("-r")
        .arg(cap)
        .arg("-X")
        .arg(format!(
            "lua_script:{}",
            repo().join("tests/filters/batch.lua").display()
        ))
        .env("KS_FILTERS", &input)
        .env("KS_OUT", &output)
        .output()
        .expect("tshark runs");
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(
        lines.len(),
        filters.len(),
        "tshark batch on {} gave {} lines for {} filters; stderr: {}",
        cap.display(),
        lines.len(),
        filters.len(),
        String::from_utf8_lossy(&run.stderr)
    );
    lines
}
