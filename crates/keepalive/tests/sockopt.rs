//! Keep-alive settings against real kernel sockets on loopback: what we set is what
//! `getsockopt` reports, and what the kernel refuses we refuse first, with a clear error.

use keepsight_keepalive::{
    KeepaliveError, KeepaliveSettings, SoKeepalive, SocketKeepalive, SystemDefaults,
};
use socket2::SockRef;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

#[test]
fn fresh_socket_reports_system_defaults_and_keepalive_off() {
    let (client, _server) = pair();
    let now = SocketKeepalive::read(SockRef::from(&client)).unwrap();
    let sys = SystemDefaults::read().unwrap();
    assert!(!now.enabled);
    assert_eq!(now.idle, sys.idle);
    assert_eq!(now.interval, sys.interval);
    assert_eq!(now.count, sys.count);
    assert_eq!(now.user_timeout, None);
}

#[test]
fn nginx_value_applies_and_reads_back() {
    let (client, _server) = pair();
    let SoKeepalive::On(settings) = KeepaliveSettings::parse_nginx("30m::10").unwrap() else {
        panic!("30m::10 must enable keep-alive");
    };
    let now = settings.apply(SockRef::from(&client)).unwrap();
    let sys = SystemDefaults::read().unwrap();
    assert!(now.enabled);
    assert_eq!(now.idle, Duration::from_secs(1800));
    assert_eq!(
        now.interval, sys.interval,
        "empty interval keeps the system default"
    );
    assert_eq!(now.count, 10);
    // An independent read agrees.
    assert_eq!(SocketKeepalive::read(SockRef::from(&client)).unwrap(), now);
}

#[test]
fn every_option_at_the_kernel_limits() {
    let (client, _server) = pair();
    for (idle, intvl, cnt, ut) in [(1, 1, 1, 1), (32_767, 32_767, 127, i32::MAX as u64)] {
        let s = KeepaliveSettings {
            idle: Some(Duration::from_secs(idle)),
            interval: Some(Duration::from_secs(intvl)),
            count: Some(cnt),
            user_timeout: Some(Duration::from_millis(ut)),
        };
        let now = s.apply(SockRef::from(&client)).unwrap();
        assert_eq!(now.idle.as_secs(), idle);
        assert_eq!(now.interval.as_secs(), intvl);
        assert_eq!(now.count, cnt);
        assert_eq!(now.user_timeout, Some(Duration::from_millis(ut)));
    }
}

#[test]
fn kernel_refuses_what_we_refuse() {
    // Our limits must be the kernel's: one past each limit, set raw, must fail with EINVAL.
    let (client, _server) = pair();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&client);
    for (opt, bad) in [
        (libc::TCP_KEEPIDLE, 32_768),
        (libc::TCP_KEEPINTVL, 32_768),
        (libc::TCP_KEEPCNT, 128),
        (libc::TCP_KEEPIDLE, 0),
        (libc::TCP_KEEPCNT, 0),
        (libc::TCP_USER_TIMEOUT, -1),
    ] {
        let v: libc::c_int = bad;
        // SAFETY: valid fd, pointer to a live c_int of the advertised size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                opt,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, -1, "kernel accepted option {opt} = {bad}");
    }
    let cases = [
        (
            KeepaliveSettings {
                idle: Some(Duration::from_secs(32_768)),
                ..Default::default()
            },
            "TCP_KEEPIDLE",
        ),
        (
            KeepaliveSettings {
                idle: Some(Duration::from_millis(1500)),
                ..Default::default()
            },
            "TCP_KEEPIDLE",
        ),
        (
            KeepaliveSettings {
                interval: Some(Duration::ZERO),
                ..Default::default()
            },
            "TCP_KEEPINTVL",
        ),
        (
            KeepaliveSettings {
                count: Some(128),
                ..Default::default()
            },
            "TCP_KEEPCNT",
        ),
        (
            KeepaliveSettings {
                count: Some(0),
                ..Default::default()
            },
            "TCP_KEEPCNT",
        ),
        (
            KeepaliveSettings {
                user_timeout: Some(Duration::from_millis(i32::MAX as u64 + 1)),
                ..Default::default()
            },
            "TCP_USER_TIMEOUT",
        ),
    ];
    for (s, option) in cases {
        let err = s.apply(SockRef::from(&client)).unwrap_err();
        match &err {
            KeepaliveError::OutOfRange { option: o, .. } => assert_eq!(*o, option, "{err}"),
            other => panic!("expected OutOfRange for {option}, got {other}"),
        }
        assert!(err.to_string().contains("Linux accepts"), "{err}");
    }
    // Nothing was changed by the refused attempts.
    assert!(
        !SocketKeepalive::read(SockRef::from(&client))
            .unwrap()
            .enabled
    );
}

#[test]
fn off_disables() {
    let (client, _server) = pair();
    KeepaliveSettings::default()
        .apply(SockRef::from(&client))
        .unwrap();
    let now = KeepaliveSettings::parse_nginx("off")
        .unwrap()
        .apply(SockRef::from(&client))
        .unwrap();
    assert!(!now.enabled);
}

#[test]
fn works_on_tokio_sockets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("[::1]:0").await;
        // IPv6 loopback may be absent in some containers; IPv4 is always there.
        let listener = match listener {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let s = KeepaliveSettings {
            idle: Some(Duration::from_secs(5)),
            interval: Some(Duration::from_secs(2)),
            count: Some(3),
            user_timeout: Some(Duration::from_millis(2500)),
        };
        let now = s.apply(SockRef::from(&client)).unwrap();
        assert_eq!(now.user_timeout, Some(Duration::from_millis(2500)));
    });
}

#[test]
fn parse_nginx_errors_are_precise() {
    let e = |s: &str| KeepaliveSettings::parse_nginx(s).unwrap_err().to_string();
    assert!(e("::").contains("write `on`"));
    assert!(e("yes").contains("expected `on`, `off`"));
    assert!(e("30m:10").contains("expected `on`, `off`"));
    assert!(e("500ms::").contains("whole number of seconds"));
    assert!(e("10h::").contains("out of range"));
    assert!(e("::200").contains("count `200` is out of range"));
    assert!(e("::x").contains("count `x`"));
    assert!(e("1q::").contains("unknown unit `q`"));
    let SoKeepalive::On(s) = KeepaliveSettings::parse_nginx(":75s:").unwrap() else {
        panic!()
    };
    assert_eq!(
        s,
        KeepaliveSettings {
            interval: Some(Duration::from_secs(75)),
            ..Default::default()
        }
    );
    assert_eq!(
        KeepaliveSettings::parse_nginx("on").unwrap(),
        SoKeepalive::On(KeepaliveSettings::default())
    );
}
