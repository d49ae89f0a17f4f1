//! Default idle timeouts of common middleboxes: after this long without a packet in either
//! direction, the box forgets the connection (silently, or with a reset) and later packets of it
//! are dropped or rejected.
//!
//! Values are the documented defaults; every deployment can change them, so a finding only says
//! "would have been dropped by X with its default settings".

/// What a middlebox does with a connection idle longer than its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnIdle {
    /// Forgets it silently; later packets of it are dropped.
    Drop,
    /// Forgets it silently and answers the next packet of it with a RST in the peer's name.
    ResetNextPacket,
    /// Drops by default; can be configured to send RSTs (at the timeout, or to later packets).
    DropOrReset,
    /// A proxy: it closes its own connections (FIN, often after an error response).
    Close,
    /// Not known (a `--middlebox` given by the user).
    Unknown,
}

impl OnIdle {
    /// Whether a box with this behaviour may be the author of a RST after idle.
    pub fn may_reset(self) -> bool {
        matches!(
            self,
            OnIdle::ResetNextPacket | OnIdle::DropOrReset | OnIdle::Unknown
        )
    }

    /// How the table and the report say it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnIdle::Drop => "silent drop",
            OnIdle::ResetNextPacket => "RST to the next packet",
            OnIdle::DropOrReset => "silent drop (RST optional)",
            OnIdle::Close => "closes (proxy)",
            OnIdle::Unknown => "unknown",
        }
    }
}

/// One middlebox kind and its default idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Middlebox {
    /// Product or service, as the report names it.
    pub name: &'static str,
    /// Default idle timeout, seconds.
    pub idle_timeout_s: u32,
    /// What it does at (or after) the timeout.
    pub on_idle: OnIdle,
    /// Where the value and the behaviour are documented (the page's title and address).
    pub source: &'static str,
}

/// The built-in table, shortest timeout first (among equals, the longest-listed first: it
/// names their shared tally finding). Values are the vendors' documented defaults,
/// read from the pages named in each `source` (facts only, in our own words).
pub const DEFAULT_TABLE: &[Middlebox] = &[
    Middlebox {
        name: "AWS ALB (default idle timeout)",
        idle_timeout_s: 60,
        on_idle: OnIdle::Close,
        source: "Application Load Balancers, \"Connection idle timeout\": docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout",
    },
    Middlebox {
        name: "nginx proxy_read_timeout",
        idle_timeout_s: 60,
        on_idle: OnIdle::Close,
        source: "Module ngx_http_proxy_module, proxy_read_timeout (default 60s): nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_read_timeout",
    },
    Middlebox {
        name: "Cloudflare proxy (origin response timeout, error 524)",
        idle_timeout_s: 100,
        on_idle: OnIdle::Close,
        source: "Cloudflare \"Error 524: a timeout occurred\" (100 s default Proxy Read Timeout): developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-524/",
    },
    Middlebox {
        name: "Azure Load Balancer (default idle timeout)",
        idle_timeout_s: 240,
        on_idle: OnIdle::DropOrReset,
        source: "Configure TCP reset and idle timeout for Azure Load Balancer; Load Balancer TCP Reset and Idle Timeout (silent drop unless TCP reset is enabled): learn.microsoft.com/azure/load-balancer/load-balancer-tcp-reset",
    },
    Middlebox {
        name: "Azure NAT Gateway (default TCP idle timeout)",
        idle_timeout_s: 240,
        on_idle: OnIdle::ResetNextPacket,
        source: "Azure NAT Gateway resource, \"TCP reset\" (sent to traffic on a flow dropped at the idle timeout): learn.microsoft.com/azure/nat-gateway/nat-gateway-resource",
    },
    Middlebox {
        name: "AWS NLB (TCP idle timeout)",
        idle_timeout_s: 350,
        on_idle: OnIdle::ResetNextPacket,
        source: "Network Load Balancers, \"Update the TCP idle timeout\": docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html",
    },
    Middlebox {
        name: "AWS NAT gateway (idle timeout)",
        idle_timeout_s: 350,
        on_idle: OnIdle::ResetNextPacket,
        source: "NAT gateways, \"Connection idle timeout\" (RST to resources that continue the connection): docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html#nat-gateway-troubleshooting-timeout",
    },
    Middlebox {
        name: "AWS Network Firewall (TCP idle timeout)",
        idle_timeout_s: 350,
        on_idle: OnIdle::Drop,
        source: "AWS Network Firewall API Reference, FlowTimeouts, TcpIdleTimeoutSeconds: docs.aws.amazon.com/network-firewall/latest/APIReference/API_FlowTimeouts.html",
    },
    Middlebox {
        name: "GCP VPC firewall connection tracking",
        idle_timeout_s: 600,
        on_idle: OnIdle::Drop,
        source: "VPC firewall rules overview, \"Connection tracking\": cloud.google.com/firewall/docs/firewalls#specifications",
    },
    Middlebox {
        name: "Docker swarm / Kubernetes IPVS (tcp_timeout_established)",
        idle_timeout_s: 900,
        on_idle: OnIdle::Drop,
        source: "ipvsadm(8), --set tcp tcpfin udp (default TCP timeout 900 s); kernel Documentation/networking/ipvs-sysctl.rst: manpages.ubuntu.com/manpages/jammy/man8/ipvsadm.8.html",
    },
    Middlebox {
        name: "GCP Cloud NAT (TCP established idle timeout)",
        idle_timeout_s: 1200,
        on_idle: OnIdle::Drop,
        source: "Cloud NAT, \"Tune NAT configuration\", tcpEstablishedIdleTimeoutSec (default 1200 s): cloud.google.com/nat/docs/tune-nat-configuration#specify-timeouts",
    },
    Middlebox {
        name: "Linux conntrack (nf_conntrack_tcp_timeout_established)",
        idle_timeout_s: 432_000,
        on_idle: OnIdle::DropOrReset,
        source: "Netfilter conntrack sysctl, nf_conntrack_tcp_timeout_established (default 432000 s; a REJECT --reject-with tcp-reset rule answers with RST): kernel.org/doc/Documentation/networking/nf_conntrack-sysctl.rst",
    },
    Middlebox {
        name: "AWS EC2 security group connection tracking",
        idle_timeout_s: 432_000,
        on_idle: OnIdle::Drop,
        source: "EC2 ConnectionTrackingSpecification, TcpEstablishedTimeout (default 432000 s): docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html#connection-tracking-timeouts",
    },
];

/// Entries of `table` that may have forgotten a connection during an idle gap of `idle_s`
/// and answered the next packet with a RST: their timeout fits within the gap but not within
/// the longest gap the connection survived before (`survived_s`), and they can send resets.
pub fn may_have_reset(
    table: &[Middlebox],
    survived_s: f64,
    idle_s: f64,
) -> impl Iterator<Item = &Middlebox> {
    table.iter().filter(move |m| {
        let t = f64::from(m.idle_timeout_s);
        m.on_idle.may_reset() && survived_s < t && t <= idle_s
    })
}

/// Entries of `table` whose timeout is shorter than `idle_s`.
pub fn exceeded(table: &[Middlebox], idle_s: f64) -> impl Iterator<Item = &Middlebox> {
    table
        .iter()
        .filter(move |m| idle_s > f64::from(m.idle_timeout_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_exceeded_is_strict() {
        assert!(DEFAULT_TABLE
            .windows(2)
            .all(|w| w[0].idle_timeout_s <= w[1].idle_timeout_s));
        assert_eq!(exceeded(DEFAULT_TABLE, 60.0).count(), 0);
        let names: Vec<_> = exceeded(DEFAULT_TABLE, 351.0)
            .map(|m| m.idle_timeout_s)
            .collect();
        assert_eq!(names, vec![60, 60, 100, 240, 240, 350, 350, 350]);
        assert!(DEFAULT_TABLE.iter().all(|m| !m.source.is_empty()));
    }

    #[test]
    fn resetting_boxes_that_fit_an_idle_gap() {
        let names: Vec<&str> = may_have_reset(DEFAULT_TABLE, 60.0, 360.0)
            .map(|m| m.name)
            .collect();
        assert_eq!(
            names,
            vec![
                "Azure Load Balancer (default idle timeout)",
                "Azure NAT Gateway (default TCP idle timeout)",
                "AWS NLB (TCP idle timeout)",
                "AWS NAT gateway (idle timeout)"
            ]
        );
        // A gap the connection already survived rules a box out; silent boxes never reset.
        assert_eq!(may_have_reset(DEFAULT_TABLE, 300.0, 360.0).count(), 2);
        assert_eq!(may_have_reset(DEFAULT_TABLE, 1.0, 5.0).count(), 0);
        let user = [Middlebox::from_flag("lab-nat=3").unwrap()];
        assert_eq!(may_have_reset(&user, 1.0, 5.0).count(), 1);
        assert_eq!(may_have_reset(&user, 3.5, 5.0).count(), 0);
    }
}
