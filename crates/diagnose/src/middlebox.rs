//! Default idle timeouts of common middleboxes: after this long without a packet in either
//! direction, the box forgets the connection (silently, or with a reset) and later packets of it
//! are dropped or rejected.
//!
//! Values are the documented defaults; every deployment can change them, so a finding only says
//! "would have been dropped by X with its default settings".

/// One middlebox kind and its default idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Middlebox {
    pub name: &'static str,
    pub idle_timeout_s: u32,
    /// Where the value is documented.
    pub source: &'static str,
}

/// The built-in table, shortest timeout first.
// Sources (checked against the vendors' documentation):
// - AWS ALB: "idle timeout ... default 60 seconds", Elastic Load Balancing, Application Load
//   Balancers, "Connection idle timeout".
// - Azure Load Balancer: rules "default setting is 4 minutes" (configurable 4-100 min), Azure docs
//   "Configure TCP reset and idle timeout for Azure Load Balancer".
// - AWS NLB: "The default idle timeout value for TCP flows is 350 seconds", Elastic Load
//   Balancing, Network Load Balancers, "Update the TCP idle timeout".
// - GCP VPC firewall rules connection tracking: established TCP connections are tracked for
//   10 minutes of inactivity, Google Cloud "VPC firewall rules" overview, "Connection tracking".
// - GCP Cloud NAT: `tcpEstablishedIdleTimeoutSec` "Defaults to 1200s if not set", Compute API
//   RouterNat reference.
// - Linux netfilter conntrack: `nf_conntrack_tcp_timeout_established` default 432000 s (5 days),
//   kernel Documentation/networking/nf_conntrack-sysctl.rst.
pub const DEFAULT_TABLE: &[Middlebox] = &[
    Middlebox {
        name: "AWS ALB (default idle timeout)",
        idle_timeout_s: 60,
        source: "docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout",
    },
    Middlebox {
        name: "Azure Load Balancer (default idle timeout)",
        idle_timeout_s: 240,
        source: "learn.microsoft.com/azure/load-balancer/load-balancer-tcp-idle-timeout",
    },
    Middlebox {
        name: "AWS NLB (TCP idle timeout)",
        idle_timeout_s: 350,
        source: "docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html",
    },
    Middlebox {
        name: "GCP VPC firewall connection tracking",
        idle_timeout_s: 600,
        source: "cloud.google.com/firewall/docs/firewalls#specifications",
    },
    Middlebox {
        name: "GCP Cloud NAT (TCP established idle timeout)",
        idle_timeout_s: 1200,
        source: "cloud.google.com/nat/docs/tune-nat-configuration#specify-timeouts",
    },
    Middlebox {
        name: "Linux conntrack (nf_conntrack_tcp_timeout_established)",
        idle_timeout_s: 432_000,
        source: "kernel.org/doc/Documentation/networking/nf_conntrack-sysctl.rst",
    },
];

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
        assert_eq!(names, vec![60, 240, 350]);
    }
}
