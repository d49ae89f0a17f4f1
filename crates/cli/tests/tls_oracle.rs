//! Differential tests of the TLS record layer against tshark 4.0.17 on real TLS captures
//! (tests/scenarios/tls-heartbeat: capture.pcapng from Python's ssl module on loopback, TLS
//! 1.2 and 1.3, records split across segments and several to a segment, a cut record, a
//! cleartext alert; openssl.pcapng from OpenSSL's s_server/s_client, a Hello Retry Request,
//! ChaCha20-Poly1305 and AES-128-GCM), with no key log: every registered field, the Protocol and Info columns, the
//! one-line listing and display filters on `tls.*`.
//!
//! One known difference is skipped: tshark dissects the X.509 certificates of a Certificate
//! message and lists their layers (`x509sat`, `pkcs-1`, `x509ce`, ...) in `frame.protocols`
//! after `tls`; keepsight does not parse certificates, so on such frames `frame.protocols` is
//! compared up to the last `tls`.

mod common;
use common::{assert_no_differences, repo, run_parallel, tshark_available, tshark_filter_batch};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The TLS captures of the repository.
fn captures() -> Vec<PathBuf> {
    let dir = repo().join("tests/scenarios/tls-heartbeat");
    vec![dir.join("capture.pcapng"), dir.join("openssl.pcapng")]
}

fn run(mut c: Command) -> String {
    c.env("TZ", "UTC");
    let out = c.output().expect("command runs");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn keepsight(args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepsight"));
    c.args(args);
    run(c)
}

fn tshark(args: &[&str]) -> String {
    let mut c = Command::new("tshark");
    c.args(args);
    run(c)
}

/// Every field keepsight registers (as `packets --list-fields` lists them) except protocol
/// types and `http.*` (their own test), and the two columns.
fn fields() -> Vec<String> {
    let mut f: Vec<String> = keepsight(&["packets", "--list-fields"])
        .lines()
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let (name, ty) = (cols.next()?, cols.next()?);
            (ty != "Protocol" && !name.starts_with("http")).then(|| name.to_string())
        })
        .collect();
    f.retain(|n| n != "frame.number");
    f.extend(["_ws.col.Protocol".into(), "_ws.col.Info".into()]);
    assert!(
        f.iter().any(|n| n == "tls.record.content_type"),
        "tls fields are registered"
    );
    f
}

/// `frame.protocols` up to its last `tls` layer (see the module docs).
fn up_to_tls(protocols: &str) -> &str {
    match protocols.rfind(":tls") {
        Some(i) => &protocols[..i + 4],
        None => protocols,
    }
}

fn compare_fields(cap: &Path, fields: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec!["-r".into(), cap.display().to_string()];
    args.extend([
        "-T".into(),
        "fields".into(),
        "-e".into(),
        "frame.number".into(),
    ]);
    for f in fields {
        args.extend(["-e".into(), f.clone()]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let theirs = tshark(&a);
    let mut ours_args = vec!["packets", a[1]];
    ours_args.extend(&a[2..]);
    let ours = keepsight(&ours_args);
    let mut problems = Vec::new();
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    if t.len() != o.len() {
        problems.push(format!(
            "tshark lists {} frames, keepsight {}",
            t.len(),
            o.len()
        ));
    }
    let mut tls_frames = 0;
    for (tl, ol) in t.iter().zip(&o) {
        let (tv, ov): (Vec<&str>, Vec<&str>) = (tl.split('\t').collect(), ol.split('\t').collect());
        for (i, name) in std::iter::once("frame.number")
            .chain(fields.iter().map(String::as_str))
            .enumerate()
        {
            let (mut a, mut b) = (
                tv.get(i).copied().unwrap_or(""),
                ov.get(i).copied().unwrap_or(""),
            );
            if name == "frame.protocols" {
                if a.contains(":tls") {
                    tls_frames += 1;
                }
                (a, b) = (up_to_tls(a), up_to_tls(b));
            }
            if a != b {
                problems.push(format!(
                    "{} frame {}: {name}: tshark {a:?}, keepsight {b:?}",
                    cap.display(),
                    tv[0]
                ));
            }
        }
    }
    assert!(
        tls_frames >= 20,
        "{}: only {tls_frames} TLS frames",
        cap.display()
    );
    problems
}

#[test]
fn every_field_and_column_matches_tshark_on_tls_captures() {
    if !tshark_available() {
        return;
    }
    let fields = fields();
    assert_no_differences(&run_parallel(&captures(), |c| compare_fields(c, &fields)));
}

#[test]
fn the_one_line_listing_matches_tsharks() {
    if !tshark_available() {
        return;
    }
    for cap in captures() {
        let c = cap.display().to_string();
        let theirs = tshark(&["-r", &c]);
        let ours = keepsight(&["packets", &c]);
        let problems: Vec<String> = theirs
            .lines()
            .zip(ours.lines())
            .filter(|(t, o)| t != o)
            .map(|(t, o)| format!("tshark:    {t}\nkeepsight: {o}"))
            .collect();
        assert_eq!(theirs.lines().count(), ours.lines().count());
        assert_no_differences(&problems);
    }
}

/// Display filters on the TLS fields, each compared by the frames it selects.
const FILTERS: &[&str] = &[
    "tls",
    "!tls && tcp.len > 0",
    "tls.record.content_type == 22",
    "tls.record.content_type == 21",
    "tls.record.opaque_type == 23",
    "tls.record.version == 0x0301",
    "tls.record.length == 21",
    "tls.record.length == 28 && tls.record.content_type == 23",
    "tls.record.length > 400",
    "tls.handshake.type == 1",
    "tls.handshake.type == 2 && tls.handshake.extensions.supported_version == 0x0304",
    "tls.handshake.type == 11",
    "tls.handshake.ciphersuite == 0xc02c",
    "tls.handshake.extensions_server_name == \"hb.keepsight.test\"",
    "tls.handshake.extensions_server_name contains \"keepsight\"",
    "tls.handshake.extensions_alpn_str == \"hb/1\"",
    "tls.handshake.version == 0x0303",
    "tls.alert_message.level == 2",
    "tls.alert_message.desc == 70",
    "tls.app_data",
    "len(tls.app_data) == 4 + 16 + 1",
    "count(tls.record.length) >= 3",
    "tls.handshake.length > 100",
    "tls.handshake.ciphersuite == 0xcca9",
    "tls.handshake.extensions_server_name == \"hrr.keepsight.test\" && tls.record.content_type == 20",
];

#[test]
fn tls_display_filters_select_the_frames_tshark_selects() {
    if !tshark_available() {
        return;
    }
    let mut selected = vec![0usize; FILTERS.len()];
    for cap in captures() {
        let theirs = tshark_filter_batch(&cap, FILTERS, "tls");
        let c = cap.display().to_string();
        let mut problems = Vec::new();
        for (i, (f, t)) in FILTERS.iter().zip(&theirs).enumerate() {
            let ours = keepsight(&["packets", &c, "-Y", f, "-T", "fields", "-e", "frame.number"]);
            let ours: Vec<&str> = ours.lines().collect();
            let want = t
                .strip_prefix("OK\t")
                .unwrap_or_else(|| panic!("tshark refused {f}: {t}"));
            let want: Vec<&str> = want
                .split(&[' ', ','][..])
                .filter(|s| !s.is_empty())
                .collect();
            if ours != want {
                problems.push(format!("{f}: tshark {want:?}, keepsight {ours:?}"));
            }
            selected[i] += want.len();
        }
        assert_no_differences(&problems);
    }
    // A filter that selects nothing anywhere proves nothing about its field.
    for (f, n) in FILTERS.iter().zip(&selected) {
        assert!(
            *n > 0 || f.starts_with('!'),
            "{f} selects no frame of any capture"
        );
    }
}
