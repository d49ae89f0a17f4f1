//! tshark's `-d LAYER==SELECTOR,PROTOCOL` ("decode as"), shared by the commands that read
//! captures. The grammar is protocol-agnostic: a new protocol only adds a name to
//! [`AppProtocol::ALL`] in keepsight-engine, whose dissection the rule then selects.

use keepsight_engine::decode_as::{AppProtocol, DecodeAs};

/// Reads `-d` arguments: `tcp.port==N,PROTOCOL`, or a range `tcp.port==N-M,PROTOCOL` (also
/// `N:M`). The error names what was expected.
pub fn parse(args: &[String]) -> Result<DecodeAs, String> {
    let mut rules = DecodeAs::default();
    let known = || {
        AppProtocol::ALL
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for arg in args {
        let usage =
            || format!("-d {arg}: expected tcp.port==PORT,PROTOCOL, e.g. tcp.port==50051,http2");
        let Some((selector, protocol)) = arg.split_once(',') else {
            return Err(usage());
        };
        let Some((layer, ports)) = selector.split_once("==") else {
            return Err(usage());
        };
        if layer.trim() != "tcp.port" {
            return Err(format!(
                "-d {arg}: only tcp.port is supported as the layer (not {})",
                layer.trim()
            ));
        }
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("-d {arg}: {} is not a TCP port (0-65535)", s.trim()))
        };
        let (first, last) = match ports.split_once(['-', ':']) {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(ports)?;
                (p, p)
            }
        };
        let Some(proto) = AppProtocol::from_tshark_name(protocol.trim()) else {
            return Err(format!(
                "-d {arg}: keepsight cannot decode {} (it decodes: {})",
                protocol.trim(),
                known()
            ));
        };
        rules.add_tcp_ports(first, last, proto);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<DecodeAs, String> {
        parse(&[s.to_string()])
    }

    #[test]
    fn ports_and_ranges_select_the_protocol_on_either_end() {
        let d = one("tcp.port==50051,http2").unwrap();
        assert_eq!(d.tcp(50051, 40000), Some(AppProtocol::Http2));
        assert_eq!(d.tcp(40000, 50051), Some(AppProtocol::Http2));
        assert_eq!(d.tcp(40000, 50052), None);
        let d = one("tcp.port==8000-8002,http2").unwrap();
        assert_eq!(d.tcp(8002, 1), Some(AppProtocol::Http2));
        assert!(parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_rules_say_what_was_expected() {
        assert!(one("tcp.port=50051,http2")
            .unwrap_err()
            .contains("expected tcp.port==PORT"));
        assert!(one("udp.port==53,dns")
            .unwrap_err()
            .contains("only tcp.port"));
        assert!(one("tcp.port==70000,http2")
            .unwrap_err()
            .contains("not a TCP port"));
        let e = one("tcp.port==5060,sip").unwrap_err();
        assert!(
            e.contains("cannot decode sip") && e.contains("http2, mqtt, fix, smpp, amqp"),
            "{e}"
        );
        let d = one("tcp.port==9878,fix").unwrap();
        assert_eq!(
            d.tcp(9878, 40000),
            Some(AppProtocol::App(keepsight_engine::apps::AppKind::Fix))
        );
    }
}
