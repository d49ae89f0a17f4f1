//! HTTPS in the runtime parts, against real peers on loopback: `probe http https://…` against
//! nginx with TLS (the oracle is nginx's own `keepalive_timeout` / `keepalive_requests`), curl
//! against `keepsight serve --tls-cert` (connection reuse and the drain's `Connection: close`
//! as curl reports them), `keepsight proxy` with a TLS front and an `https://` nginx upstream,
//! and the failures a user meets: a plain HTTP client on the TLS port, a certificate signed by
//! another CA, a plain server behind an https URL, a handshake that stalls.
//!
//! Certificates are made at test time with openssl (a throwaway CA and a leaf for 127.0.0.1
//! and localhost) in the test's scratch directory; nothing is committed.

mod common;
use common::*;
use keepsight_testlab::require_tool;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A CA and a leaf certificate it signed for `127.0.0.1` and `localhost`.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA named `ca_name` and, unless `leaf` is false, a leaf it signed, under `dir`.
fn make_certs(dir: &Path, ca_name: &str) -> Certs {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca_key = format!("{ca_name}.key");
    let ca = format!("{ca_name}.pem");
    let subject = format!("/CN={ca_name}");
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", &subject,
    ]);
    openssl(dir, &args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    Certs {
        ca: dir.join(ca),
        cert: dir.join("leaf.pem"),
        key: dir.join("leaf.key"),
    }
}

/// nginx with TLS on `listen` (protocols `protocols`), `server_body` added, `location /`
/// answering "hello".
fn nginx_tls(dir: &Path, listen: SocketAddr, certs: &Certs, protocols: &str, body: &str) -> Guard {
    let server = format!(
        "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols {protocols}; {body} \
         location / {{ return 200 \"hello\\n\"; }}",
        certs.cert.display(),
        certs.key.display()
    );
    // `listen ADDR ssl`: common::nginx writes `listen {listen};`, so the address carries it.
    common::nginx_listen(
        dir,
        &format!("{listen} ssl"),
        listen,
        "access_log off;",
        &server,
    )
}

/// Runs the binary with `args`, killing it (and failing the caller's checks) past `limit`.
fn keepsight(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(50));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    out
}

/// Starts `keepsight serve|proxy` with `args` and waits until it listens on `addr`.
fn server(args: &[&str], addr: SocketAddr) -> Guard {
    let child = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    wait_listening(addr, "keepsight");
    guard
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing in {v:#}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// curl -v over `urls` on one command line (so it reuses its connection when it can).
fn curl(extra: &[&str], urls: &[String]) -> Output {
    Command::new("curl")
        .args(["-sv", "--max-time", "10"])
        .args(extra)
        .args(urls)
        .output()
        .unwrap()
}

/// `keepsight serve` with TLS on a free loopback port, its certificate signed by a fresh test CA
/// (in a scratch directory named `name`), with `extra` flags.
fn serve_tls(name: &str, extra: &[&str]) -> (Certs, SocketAddr, Guard) {
    let certs = make_certs(&scratch(name), "test-ca");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (cert, key) = (
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
    );
    let listen = addr.to_string();
    let mut args = vec![
        "serve",
        "--listen",
        &listen,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    args.extend_from_slice(extra);
    let guard = server(&args, addr);
    (certs, addr, guard)
}

fn tools() -> bool {
    require_tool("openssl") && require_tool("nginx") && require_tool("curl")
}

#[test]
fn probe_https_finds_nginx_keepalive_timeout_and_requests_in_tls_12_and_13() {
    if !tools() {
        return;
    }
    let dir = scratch("tls-probe-nginx");
    let certs = make_certs(&dir, "test-ca");
    let runs: Vec<(&str, &str)> = vec![("TLSv1.2", "TLSv1.2"), ("TLSv1.3", "TLSv1.3")];
    std::thread::scope(|s| {
        for (protocols, version) in runs {
            let (dir, certs) = (&dir, &certs);
            s.spawn(move || {
                let sub = dir.join(protocols);
                std::fs::create_dir_all(&sub).unwrap();
                let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
                let _nginx = nginx_tls(
                    &sub,
                    addr,
                    certs,
                    protocols,
                    "keepalive_timeout 3s; keepalive_requests 7;",
                );
                let url = format!("https://{addr}/");
                let ca = certs.ca.display().to_string();
                let out = keepsight(
                    &[
                        "probe",
                        "http",
                        &url,
                        "--cacert",
                        &ca,
                        "--max-idle",
                        "20s",
                        "--json",
                    ],
                    Duration::from_secs(40),
                );
                assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
                let r = json_of(&out);
                // nginx closes an idle TLS connection at keepalive_timeout: seen directly.
                assert_eq!(r["idle_timeout"]["method"], "observed-close", "{r:#}");
                let est = f(&r, "/idle_timeout/estimate_s");
                let precision = f(&r, "/idle_timeout/precision_s");
                assert!(
                    est + precision >= 3.0 && est - precision <= 3.1,
                    "{version}: measured {est} ± {precision}, nginx says 3 s"
                );
                assert_eq!(r["requests_per_connection"]["count"], 7, "{r:#}");
                assert_eq!(
                    r["requests_per_connection"]["ended_by"], "connection-close-header",
                    "{r:#}"
                );
                assert_eq!(r["pipelining"]["supported"], true, "{r:#}");
                assert_eq!(r["http10_keep_alive"]["supported"], true, "{r:#}");
                assert_eq!(r["framing"]["problems_total"], 0, "{r:#}");
                assert_eq!(r["tls"]["version"], version, "{r:#}");
                assert_eq!(r["tls"]["alpn"], "http/1.1", "{r:#}");
                assert_eq!(r["tls"]["server_name"], "127.0.0.1", "{r:#}");
                assert!(f(&r, "/tls/handshake_s") > 0.0, "{r:#}");
                // nginx issues session tickets by default: the second connection resumes.
                assert_eq!(r["tls"]["resumption"]["resumed"], true, "{r:#}");
            });
        }
    });
}

#[test]
fn probe_https_without_resumption_says_so_and_text_shows_the_handshake() {
    if !tools() {
        return;
    }
    let dir = scratch("tls-probe-noresume");
    let certs = make_certs(&dir, "test-ca");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _nginx = nginx_tls(
        &dir,
        addr,
        &certs,
        "TLSv1.2 TLSv1.3",
        "ssl_session_tickets off; ssl_session_cache off; keepalive_timeout 1s;",
    );
    let url = format!("https://localhost:{}/", addr.port());
    let ca = certs.ca.display().to_string();
    let out = keepsight(
        &["probe", "http", &url, "--cacert", &ca, "--max-idle", "5s"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let tls_line = text
        .lines()
        .find(|l| l.starts_with("tls:"))
        .unwrap_or_else(|| panic!("no tls line in\n{text}"));
    assert!(
        tls_line.contains("TLSv1.3") && tls_line.contains("ALPN http/1.1"),
        "{tls_line}"
    );
    assert!(tls_line.contains("SNI localhost"), "{tls_line}");
    assert!(
        text.contains("session resumption:      no (the second connection made a full handshake"),
        "{text}"
    );
}

#[test]
fn probe_https_failures_are_clear_and_bounded() {
    if !tools() {
        return;
    }
    let dir = scratch("tls-probe-errors");
    let certs = make_certs(&dir, "test-ca");
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = make_certs(&other_dir, "other-ca");
    let tls_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _tls = nginx_tls(&dir, tls_addr, &certs, "TLSv1.2 TLSv1.3", "");

    // A certificate signed by a CA we were not told to trust.
    let url = format!("https://{tls_addr}/");
    let out = keepsight(
        &[
            "probe",
            "http",
            &url,
            "--cacert",
            &other.ca.display().to_string(),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer")
            && e.contains("--cacert"),
        "{e}"
    );
    // --insecure accepts it, and the probe then works.
    let out = keepsight(
        &[
            "probe",
            "http",
            &url,
            "--insecure",
            "--max-idle",
            "1s",
            "--json",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_of(&out)["first_response"]["status"], 200);

    // A plain HTTP server behind an https URL.
    let plain_dir = dir.join("plain");
    std::fs::create_dir_all(&plain_dir).unwrap();
    let plain_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _plain = common::nginx(
        &plain_dir,
        plain_addr,
        "access_log off;",
        "location / { return 200 \"hello\\n\"; }",
        &[],
    );
    let url = format!("https://{plain_addr}/");
    let out = keepsight(&["probe", "http", &url], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is it plain HTTP on that port?"),
        "{}",
        stderr(&out)
    );

    // A server that accepts and never answers the ClientHello: bounded by --connect-timeout.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", mute.local_addr().unwrap());
    let t0 = Instant::now();
    let out = keepsight(
        &["probe", "http", &url, "--connect-timeout", "1s"],
        Duration::from_secs(10),
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the TLS handshake did not complete within 1s"),
        "{}",
        stderr(&out)
    );
    drop(mute);

    // TLS flags on a plain URL are refused before any connection, like a bad URL (exit 3).
    let out = keepsight(
        &["probe", "http", "http://127.0.0.1:9/", "--insecure"],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("apply to https:// URLs only"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_over_tls_keeps_alive_drains_and_refuses_plain_http_and_stalls() {
    if !tools() {
        return;
    }
    let (certs, addr, _serve) = serve_tls(
        "tls-serve",
        &[
            "--body",
            "hi\n",
            "--keepalive-requests",
            "3",
            "--keepalive-timeout",
            "2s",
            "--header-timeout",
            "1s",
            "--workers",
            "1",
        ],
    );
    let ca = certs.ca.display().to_string();
    let url = format!("https://{addr}/");
    let out = curl(&["--cacert", &ca], &vec![url.clone(); 4]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n".repeat(4));
    assert!(log.contains("ALPN: server accepted http/1.1"), "{log}");
    // Requests 2 and 3 reuse the connection; the third response says Connection: close
    // (keepalive_requests 3), so the fourth needs a new connection.
    assert_eq!(
        log.matches("Re-using existing connection").count(),
        2,
        "{log}"
    );
    assert_eq!(log.matches("< Connection: close").count(), 1, "{log}");
    assert_eq!(log.matches("Connected to 127.0.0.1").count(), 2, "{log}");

    // The prober measures the idle timeout through TLS: 2 s, closed with close_notify + FIN.
    let out = keepsight(
        &[
            "probe",
            "http",
            &url,
            "--cacert",
            &ca,
            "--max-idle",
            "10s",
            "--json",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = json_of(&out);
    let est = f(&r, "/idle_timeout/estimate_s");
    let precision = f(&r, "/idle_timeout/precision_s");
    assert!(est + precision >= 2.0 && est - precision <= 2.1, "{r:#}");
    assert_eq!(r["idle_timeout"]["close"]["how"], "fin", "{r:#}");
    assert_eq!(r["requests_per_connection"]["count"], 3, "{r:#}");
    assert_eq!(r["tls"]["resumption"]["resumed"], true, "{r:#}");

    // A plain HTTP client on the TLS port reads why it failed.
    let out = curl(&[], &[format!("http://{addr}/")]);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body.contains("plain HTTP request was sent to an HTTPS port"),
        "{body}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("< HTTP/1.1 400 Bad Request"));

    // A client that connects and never starts the handshake is closed at --header-timeout.
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t0 = Instant::now();
    let mut b = [0u8; 16];
    let n = stalled.read(&mut b).unwrap_or(usize::MAX);
    assert_eq!(n, 0, "the server closes a stalled handshake");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // One that starts a handshake and stalls halfway: the same bound.
    let mut half = TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let t0 = Instant::now();
    let _ = half.read(&mut b);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[test]
fn serve_over_tls_drain_closes_with_connection_close() {
    if !tools() {
        return;
    }
    let (certs, addr, _serve) = serve_tls(
        "tls-drain",
        &["--body", "hi\n", "--drain-ratio", "0.5", "--workers", "1"],
    );
    let ca = certs.ca.display().to_string();
    let out = curl(&["--cacert", &ca], &vec![format!("https://{addr}/"); 4]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Half the keep-alive responses carry Connection: close: every second one.
    assert_eq!(log.matches("< Connection: close").count(), 2, "{log}");
    assert_eq!(
        log.matches("Re-using existing connection").count(),
        2,
        "{log}"
    );
}

#[test]
fn proxy_tls_front_to_https_nginx_upstream() {
    if !tools() {
        return;
    }
    let dir = scratch("tls-proxy");
    let certs = make_certs(&dir, "test-ca");
    let up = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _nginx = nginx_tls(
        &dir,
        up,
        &certs,
        "TLSv1.2 TLSv1.3",
        "keepalive_timeout 30s;",
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (cert, key, ca) = (
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
        certs.ca.display().to_string(),
    );
    let upstream = format!("https://localhost:{}", up.port());
    let (listen, admin_s) = (addr.to_string(), admin.to_string());
    let _proxy = server(
        &[
            "proxy",
            "--listen",
            &listen,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--upstream",
            &upstream,
            "--upstream-cacert",
            &ca,
            "--admin",
            &admin_s,
            "--workers",
            "1",
        ],
        addr,
    );
    let out = curl(&["--cacert", &ca], &vec![format!("https://{addr}/"); 3]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n".repeat(3));
    assert_eq!(
        log.matches("Re-using existing connection").count(),
        2,
        "{log}"
    );
    // The three requests went over one pooled TLS connection to nginx.
    let stats = curl(&[], &[format!("http://{admin}/stats")]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["upstream_connects"], 1, "{stats:#}");

    // The same upstream with a CA the proxy does not trust: a 502 that says why.
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = make_certs(&other_dir, "other-ca");
    let addr2 = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen2 = addr2.to_string();
    let other_ca = other.ca.display().to_string();
    let _proxy2 = server(
        &[
            "proxy",
            "--listen",
            &listen2,
            "--upstream",
            &upstream,
            "--upstream-cacert",
            &other_ca,
            "--workers",
            "1",
        ],
        addr2,
    );
    let out = curl(&[], &[format!("http://{addr2}/")]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("< HTTP/1.1 502"), "{log}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("TLS handshake: invalid peer certificate"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Upstream TLS flags on a plain upstream are a usage error.
    let out = keepsight(
        &["proxy", "--upstream", "127.0.0.1:9", "--upstream-insecure"],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn serve_refuses_unusable_certificates_before_listening() {
    if !tools() {
        return;
    }
    let dir = scratch("tls-badcert");
    let certs = make_certs(&dir, "test-ca");
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = make_certs(&other_dir, "other-ca");
    let cert = certs.cert.display().to_string();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    // The key of another certificate: both files named.
    let wrong_key = other.key.display().to_string();
    let out = keepsight(
        &[
            "serve",
            "--listen",
            &listen,
            "--tls-cert",
            &cert,
            "--tls-key",
            &wrong_key,
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.starts_with("keepsight serve: ") && e.contains(&cert) && e.contains(&wrong_key),
        "{e}"
    );
    // A key file that holds a certificate, not a key.
    let out = keepsight(
        &[
            "serve",
            "--listen",
            &listen,
            "--tls-cert",
            &cert,
            "--tls-key",
            &cert,
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no PEM private key"),
        "{}",
        stderr(&out)
    );
    // A certificate without its key is a usage error.
    let out = keepsight(&["serve", "--tls-cert", &cert], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--tls-key"), "{}", stderr(&out));
}
