//! Network-namespace labs for keepsight's tests: namespaces, veth pairs, a NAT router and
//! firewall rules built with the real `ip`, `nft`, `iptables` and `sysctl` tools, torn down by a
//! Drop guard even when a test fails. The oracle for the runtime parts is a real kernel on a
//! real (virtual) path; this crate only builds that path. Where the kernel has no netem,
//! [`Lab::impaired_link`] delays, jitters, reorders and drops packets between two namespaces in
//! user space instead (module `impair`).
//!
//! What it is not: part of the tool. Only tests depend on it (`publish = false`). Everything
//! here needs root. [`require_tool`] and [`require_root`] fail a test whose tool is missing
//! (a skip only when [`ALLOW_MISSING_TOOLS`] asks for it).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The environment variable that turns a missing tool (or missing root) from a test failure
/// into a deliberate skip. CI (`.ci/run`) never sets it: there every tool exists.
pub const ALLOW_MISSING_TOOLS: &str = "KEEPSIGHT_ALLOW_MISSING_TOOLS";

/// Whether `tool` is on `PATH`. A test whose oracle or peer is `tool` calls this first: when the
/// tool is missing the test fails with how to fix it, unless [`ALLOW_MISSING_TOOLS`] is `1`, when
/// it says SKIPPED and returns `false` (the test then returns without checking anything).
pub fn require_tool(tool: &str) -> bool {
    if on_path(tool) {
        return true;
    }
    let role = match tool {
        "tshark" => "is the oracle of this test",
        "ip" | "nft" | "iptables" | "sysctl" | "conntrack" => "builds this test's network lab",
        _ => "is the real peer this test runs against",
    };
    missing(&format!("{tool} {role}; install it (.ci/run does)"))
}

/// Whether the test runs as root, which network-namespace labs need; when not, fails the test
/// (or skips it, as [`require_tool`] does).
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    missing(&format!(
        "{test} needs root to create network namespaces; run it as root (CI does: `sudo -E cargo test`)"
    ))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

fn missing(what: &str) -> bool {
    if std::env::var(ALLOW_MISSING_TOOLS).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: {what} ({ALLOW_MISSING_TOOLS}=1)");
        return false;
    }
    panic!("{what}, or set {ALLOW_MISSING_TOOLS}=1 to skip deliberately");
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A set of namespaces deleted on drop (which also deletes their veth ends and rules).
pub struct Lab {
    /// The namespaces' names in the order of the tags given to [`Lab::new`]; pass them to
    /// `ip netns exec` or [`ns_sh`].
    pub names: Vec<String>,
}

impl Lab {
    /// Creates one namespace per tag, named `ks-<pid>-<n>-<tag>`, each with `lo` up.
    pub fn new(tags: &[&str]) -> Lab {
        Lab::with_prefix("ks", tags)
    }

    /// As [`Lab::new`], with the names starting `<prefix>-` instead of `ks-`: tests that share
    /// a machine with other suites say whose namespaces these are (and `ip netns` shows it).
    pub fn with_prefix(prefix: &str, tags: &[&str]) -> Lab {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut lab = Lab { names: Vec::new() };
        for tag in tags {
            let name = format!("{prefix}-{}-{n}-{tag}", std::process::id());
            sh(&["ip", "netns", "add", &name]);
            lab.names.push(name.clone());
            ns_sh(&name, &["ip", "link", "set", "lo", "up"]);
        }
        lab
    }

    /// The name of the `i`-th namespace (the `i`-th tag given to [`Lab::new`]).
    pub fn ns(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Links namespace `a` (interface `a_if`, address `a_addr`) and `b` with a veth pair.
    pub fn link(&self, a: usize, a_if: &str, a_addr: &str, b: usize, b_if: &str, b_addr: &str) {
        sh(&[
            "ip",
            "link",
            "add",
            a_if,
            "netns",
            self.ns(a),
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            self.ns(b),
        ]);
        for (ns, ifname, addr) in [(self.ns(a), a_if, a_addr), (self.ns(b), b_if, b_addr)] {
            ns_sh(ns, &["ip", "addr", "add", addr, "dev", ifname]);
            ns_sh(ns, &["ip", "link", "set", ifname, "up"]);
        }
    }

    /// Drops every packet entering or leaving namespace `i` except on loopback: the peer there
    /// vanishes without a FIN or RST, as a powered-off host does.
    pub fn blackhole(&self, i: usize) {
        let ns = self.ns(i);
        ns_sh(ns, &["nft", "add", "table", "inet", "ks"]);
        for hook in ["input", "output"] {
            ns_sh(
                ns,
                &[
                    "nft", "add", "chain", "inet", "ks", hook, "{", "type", "filter", "hook", hook,
                    "priority", "0", ";", "policy", "drop", ";", "}",
                ],
            );
            let dir = if hook == "input" { "iif" } else { "oif" };
            ns_sh(
                ns,
                &[
                    "nft", "add", "rule", "inet", "ks", hook, dir, "lo", "accept",
                ],
            );
        }
    }
}

/// client (0) --- router (1) --- server (2), where the router masquerades the client's
/// network and its conntrack forgets an established TCP connection after
/// `conntrack_timeout_s` seconds of silence, as NAT gateways and firewalls do (after minutes).
/// Mid-stream packets without an entry are INVALID and dropped (`nf_conntrack_tcp_loose=0`), so
/// a forgotten connection is dead for good. The server has no route back to the client's
/// network: only the NAT reaches it.
pub struct NatLab {
    /// The three namespaces, client, router and server; dropping it tears the path down.
    pub lab: Lab,
    /// The client's address (`PREFIX.1.2`).
    pub client_ip: String,
    /// The server's address (`PREFIX.2.2`).
    pub server_ip: String,
}

impl NatLab {
    /// `prefix` is the first two octets of the lab's private networks, e.g. `"10.78"`; tests
    /// that may run at the same time use different ones.
    pub fn new(prefix: &str, conntrack_timeout_s: u32) -> NatLab {
        let lab = Lab::new(&["c", "r", "s"]);
        let net = |n: u32, host: u32| format!("{prefix}.{n}.{host}");
        lab.link(
            0,
            "eth0",
            &format!("{}/24", net(1, 2)),
            1,
            "left",
            &format!("{}/24", net(1, 1)),
        );
        lab.link(
            1,
            "right",
            &format!("{}/24", net(2, 1)),
            2,
            "eth0",
            &format!("{}/24", net(2, 2)),
        );
        let r = lab.ns(1);
        ns_sh(
            lab.ns(0),
            &["ip", "route", "add", "default", "via", &net(1, 1)],
        );
        ns_sh(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        ns_sh(
            r,
            &[
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "right",
                "-j",
                "MASQUERADE",
            ],
        );
        ns_sh(
            r,
            &[
                "iptables",
                "-A",
                "FORWARD",
                "-m",
                "conntrack",
                "--ctstate",
                "INVALID",
                "-j",
                "DROP",
            ],
        );
        ns_sh(
            r,
            &["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"],
        );
        let t = format!("net.netfilter.nf_conntrack_tcp_timeout_established={conntrack_timeout_s}");
        ns_sh(r, &["sysctl", "-qw", &t]);
        NatLab {
            client_ip: net(1, 2),
            server_ip: net(2, 2),
            lab,
        }
    }

    /// The namespace to run the connecting side in.
    pub fn client(&self) -> &str {
        self.lab.ns(0)
    }
    /// The namespace whose conntrack forgets idle connections (where to read or flush it).
    pub fn router(&self) -> &str {
        self.lab.ns(1)
    }
    /// The namespace to run the listening side in.
    pub fn server(&self) -> &str {
        self.lab.ns(2)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Runs a future on a current-thread runtime on a thread inside namespace `ns`.
pub fn spawn_in_ns<F, Fut>(ns: &str, make: F) -> std::thread::JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future,
    Fut::Output: Send + 'static,
{
    in_ns(ns, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(make())
    })
}

mod impair;
mod ns;
pub use impair::{ImpairedLink, Impairment, RelayCounts};
pub use ns::{in_ns, ns_sh, sh};

impl Lab {
    /// Joins namespaces `a` and `b` through TUN devices `ftun` (a point-to-point link between
    /// `a_ip` and `b_ip`, e.g. `10.79.1.1` and `10.79.1.2`) and relays the packets between them
    /// with `impairment` applied in both directions, until the returned link is dropped.
    pub fn impaired_link(
        &self,
        a: usize,
        a_ip: &str,
        b: usize,
        b_ip: &str,
        impairment: impair::Impairment,
    ) -> impair::ImpairedLink {
        let tun_a = impair::open_tun(self.ns(a), "ftun");
        let tun_b = impair::open_tun(self.ns(b), "ftun");
        for (ns, ip, peer) in [(self.ns(a), a_ip, b_ip), (self.ns(b), b_ip, a_ip)] {
            ns_sh(ns, &["ip", "addr", "add", ip, "peer", peer, "dev", "ftun"]);
            ns_sh(ns, &["ip", "link", "set", "ftun", "up"]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let a_read = tun_a.try_clone().expect("dup tun");
        let b_read = tun_b.try_clone().expect("dup tun");
        let threads = vec![
            impair::spawn_relay(a_read, tun_b, impairment, 1, stop.clone()),
            impair::spawn_relay(b_read, tun_a, impairment, 2, stop.clone()),
        ];
        impair::ImpairedLink::new(stop, threads)
    }
}
