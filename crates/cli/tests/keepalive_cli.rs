//! `keepsight keepalive` against the system it runs on: its numbers must be the kernel's
//! sysctls (read independently here) and Linux's timer arithmetic.

use std::process::{Command, Output};

fn keepsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .output()
        .expect("run keepsight")
}

fn sysctl(name: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn defaults_are_the_systems_current_values() {
    let out = keepsight(&["keepalive", "--json"]);
    assert!(out.status.success());
    let v = json(&out);
    let (idle, intvl, probes) = (
        sysctl("tcp_keepalive_time"),
        sysctl("tcp_keepalive_intvl"),
        sysctl("tcp_keepalive_probes"),
    );
    assert_eq!(v["effective"]["idle_s"], idle);
    assert_eq!(v["effective"]["interval_s"], intvl);
    assert_eq!(v["effective"]["probes"], probes);
    assert_eq!(v["sources"]["idle"], "system");
    assert_eq!(v["detection_s"], idle + probes * intvl);
}

#[test]
fn the_incident_numbers_and_a_nat_that_forgets_first() {
    let out = keepsight(&[
        "keepalive",
        "--idle",
        "7200",
        "--interval",
        "75",
        "--probes",
        "9",
        "--middlebox",
        "350s",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the middlebox wins: exit 1\n{text}"
    );
    assert!(text.contains("at most 2h11m15s (7875 s)"), "{text}");
    assert!(text.contains("probe 9 sent"), "{text}");
    assert!(text.contains("PROBLEM"), "{text}");
    let out = keepsight(&[
        "keepalive",
        "--idle",
        "5m",
        "--interval",
        "75",
        "--probes",
        "9",
        "--middlebox",
        "350s",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("OK: the first probe leaves at 5m, 50s before"));
}

#[test]
fn nginx_syntax_fills_empty_fields_from_the_system() {
    let out = keepsight(&["keepalive", "--nginx", "30m::10", "--json"]);
    assert!(out.status.success());
    let v = json(&out);
    let intvl = sysctl("tcp_keepalive_intvl");
    assert_eq!(v["effective"]["idle_s"], 1800.0);
    assert_eq!(v["effective"]["interval_s"], intvl);
    assert_eq!(v["sources"]["interval"], "system");
    assert_eq!(v["detection_s"], 1800.0 + 10.0 * intvl);
    let off = json(&keepsight(&["keepalive", "--nginx", "off", "--json"]));
    assert_eq!(off["keepalive"], "off");
    assert_eq!(off["detection_s"], serde_json::Value::Null);
}

#[test]
fn user_timeout_follows_the_kernel_rule() {
    // Probes at 60 s and 70 s... the user timeout of 45 s is reached at the first firing after
    // a probe went out: 70 s. (Checked against the kernel in the keepalive crate's lab test.)
    let v = json(&keepsight(&[
        "keepalive",
        "--idle",
        "60",
        "--interval",
        "10",
        "--probes",
        "3",
        "--user-timeout",
        "45s",
        "--json",
    ]));
    assert_eq!(v["detection_s"], 70.0);
    assert_eq!(v["probe_times_s"], serde_json::json!([60.0]));
}

#[test]
fn bad_input_is_a_usage_error_with_a_precise_message() {
    for (args, needle) in [
        (vec!["keepalive", "--idle=-5s"], "a duration has no sign"),
        (vec!["keepalive", "--interval", "1h30s5m"], "`m` after `s`"),
        (vec!["keepalive", "--nginx", "30x::"], "unknown unit `x`"),
        (
            vec!["keepalive", "--nginx", "::200"],
            "count `200` is out of range",
        ),
        (
            vec!["keepalive", "--nginx", "30m::", "--idle", "5"],
            "cannot be used with",
        ),
    ] {
        let out = keepsight(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Values the kernel would refuse are a usage error too.
    let out = keepsight(&["keepalive", "--idle", "40000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "TCP_KEEPIDLE = 11h6m40s is out of range: Linux accepts whole seconds 1..=32767"
    ));
}

/// The sysctls are per network namespace: inside one with its own values, the command must
/// report those. Needs root.
#[test]
fn reads_the_namespace_it_runs_in() {
    if !keepsight_testlab::require_root("reads_the_namespace_it_runs_in") {
        return;
    }
    let ns = format!("ks-{}-cli-ka", std::process::id());
    struct Guard(String);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    assert!(Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap()
        .success());
    let _guard = Guard(ns.clone());
    for (k, v) in [
        ("tcp_keepalive_time", "100"),
        ("tcp_keepalive_intvl", "7"),
        ("tcp_keepalive_probes", "4"),
    ] {
        let ok = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                &format!("net.ipv4.{k}={v}"),
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "sysctl {k}");
    }
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            env!("CARGO_BIN_EXE_keepsight"),
            "keepalive",
            "--json",
        ])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["effective"]["idle_s"], 100.0);
    assert_eq!(v["effective"]["interval_s"], 7.0);
    assert_eq!(v["detection_s"], 128.0);
}

/// `keepalive --grpc` on the grpc-keepalive scenario's settings (read from its truth.json)
/// predicts what the real grpcio pair did in its capture: GOAWAY too_many_pings after the
/// client's 4th PING, about 3 s into the idle connection.
#[test]
fn grpc_settings_predict_the_scenarios_too_many_pings() {
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/scenarios/grpc-keepalive/truth.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let t = &truth["too_many_pings"];
    let ms = |v: &serde_json::Value| format!("{}ms", v.as_u64().unwrap());
    let c = &t["client_options"];
    let s = &t["server_options"];
    let mut args = vec![
        "keepalive".to_string(),
        "--grpc".into(),
        "--json".into(),
        "--client-time".into(),
        ms(&c["grpc.keepalive_time_ms"]),
        "--client-timeout".into(),
        ms(&c["grpc.keepalive_timeout_ms"]),
        "--client-max-pings-without-data".into(),
        c["grpc.http2.max_pings_without_data"].to_string(),
        "--server-min-time".into(),
        ms(&s["grpc.http2.min_recv_ping_interval_without_data_ms"]),
        "--server-max-ping-strikes".into(),
        s["grpc.http2.max_ping_strikes"].to_string(),
    ];
    if c["grpc.keepalive_permit_without_calls"] == 1 {
        args.push("--client-permit-without-calls".into());
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["too_many_pings"], true);
    assert_eq!(
        v["goaway_at_ping"], 4,
        "the capture's client sent 4 PINGs before the GOAWAY"
    );
    assert_eq!(v["goaway_after_s"], 3.0);
    let settings: Vec<&str> = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["grpc_core"].as_str().unwrap())
        .collect();
    assert!(
        settings.contains(&"GRPC_ARG_KEEPALIVE_TIME_MS"),
        "{settings:?}"
    );
    // The same pair with the server's policy loosened is fine.
    let at = args.iter().position(|a| a == "--server-min-time").unwrap();
    args[at + 1] = "1s".into();
    args.push("--server-permit-without-calls".into());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
