//! `keepsight serve` as a user runs it: the binary, curl, signals.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running binary; SIGTERM then SIGKILL on drop.
struct Server {
    child: Child,
    addr: String,
    admin: Option<String>,
    stderr: Vec<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut addr = None;
        let mut admin = None;
        let mut stderr = Vec::new();
        let want_admin = args.contains(&"--admin");
        while let Some(Ok(line)) = lines.next() {
            stderr.push(line.clone());
            if let Some(a) = line.strip_prefix("keepsight serve: listening on ") {
                addr = Some(a.to_string());
            }
            if let Some(a) = line.strip_prefix("keepsight serve: admin on ") {
                admin = Some(a.to_string());
            }
            if addr.is_some() && (admin.is_some() || !want_admin) {
                break;
            }
        }
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr: addr.unwrap_or_else(|| panic!("no listening line: {stderr:?}")),
            admin,
            stderr,
        }
    }

    fn terminate(&mut self) -> (Option<i32>, Duration) {
        let t0 = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s.code(), t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (None, t0.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("keepsight-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn help_teaches_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "Examples:",
        "--drain-ratio 0.3",
        "/drain?ratio=",
        "--so-keepalive 30m::10",
        "SIGTERM",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn bad_option_values_are_usage_errors_that_say_why() {
    for (args, needle) in [
        (&["--so-keepalive", "30m:x:10"][..], "so_keepalive"),
        (&["--keepalive-timeout", "soon"][..], "soon"),
        (&["--drain-ratio", "1.5"][..], "between 0 and 1"),
        (&["--drain-ramp", "0.1..1.0"][..], "over"),
        (&["--header", "Content-Length: 5"][..], "set by the server"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn static_files_access_log_and_graceful_exit() {
    let root = scratch("root");
    std::fs::write(root.join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
    let log = root.join("access.log");
    let mut s = Server::start(&[
        "--root",
        root.to_str().unwrap(),
        "--access-log",
        log.to_str().unwrap(),
    ]);
    let base = format!("http://{}", s.addr);
    assert_eq!(curl(&[&format!("{base}/")]).0, "<h1>home</h1>\n");
    let (body, err) = curl(&["-v", &format!("{base}/a.txt")]);
    assert_eq!(body, "alpha\n");
    assert!(err.contains("< Content-Type: text/plain"), "{err}");
    // Escaping the root is a 404, not a file.
    let (_, err) = curl(&["-v", "--path-as-is", &format!("{base}/../../etc/passwd")]);
    assert!(err.contains("< HTTP/1.1 404"), "{err}");
    let (_, err) = curl(&["-v", "-X", "POST", &format!("{base}/a.txt")]);
    assert!(
        err.contains("< HTTP/1.1 405") && err.contains("< Allow: GET, HEAD"),
        "{err}"
    );
    let (code, took) = s.terminate();
    assert_eq!(code, Some(0), "{:?}", s.stderr);
    assert!(took < Duration::from_secs(3), "{took:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(
        lines[0].contains("conn=1 req=1 ") && lines[0].contains("\"GET / HTTP/1.1\" 200 14 "),
        "{log}"
    );
    assert!(
        lines[2].contains("\"GET /../../etc/passwd HTTP/1.1\" 404"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn fixed_response_with_headers_status_and_admin_shutdown() {
    let mut s = Server::start(&[
        "--status",
        "503",
        "--body",
        "down for maintenance\n",
        "--header",
        "Retry-After: 120",
        "--admin",
        "127.0.0.1:0",
    ]);
    let (body, err) = curl(&["-v", &format!("http://{}/", s.addr)]);
    assert_eq!(body, "down for maintenance\n");
    assert!(err.contains("< HTTP/1.1 503 Service Unavailable"), "{err}");
    assert!(err.contains("< Retry-After: 120"), "{err}");
    let admin = s.admin.clone().unwrap();
    let (out, _) = curl(&["-X", "POST", &format!("http://{admin}/shutdown")]);
    assert_eq!(out, "shutting down\n");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        if let Some(st) = s.child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0));
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("admin /shutdown did not stop the server");
}
