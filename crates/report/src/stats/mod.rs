//! tshark's `-z` statistics for `keepsight packets -q -z ...`, routed to the views that exist
//! (`conv,tcp` → [`crate::conv`], `expert` → [`crate::expert`], `follow,tcp|tls` →
//! [`crate::follow`]) and the ones added for them (`conv,udp`, `endpoints,tcp`, `io,stat`). Each is fed
//! every frame read, as tshark's taps are (a `-Y` display filter does not narrow them; a
//! statistic's own filter does), and printed after the listing in the reverse of the order
//! given, as tshark prints them.

mod iostat;

use crate::conv::{self, ConvPass, Row, StartColumn};
use crate::expert::{ExpertPass, Severity};
use crate::follow::{self, Follow, Printer, Proto, Selector};
use keepsight_engine::Frame;
use keepsight_filter::Filter;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// The `-z` arguments keepsight answers, for messages and `--help`.
pub const KNOWN: &str = "conv,tcp[,FILTER], conv,udp[,FILTER], endpoints,tcp[,FILTER], \
expert[,error|warn|note|chat|comment][,FILTER], follow,tcp|tls,ascii|hex|raw|yaml,STREAM[,RANGE], \
io,stat,INTERVAL[,FILTER...]";

/// The statistics asked for with `-z`, fed one frame at a time.
pub struct Statistics {
    taps: Vec<Tap>,
    first_ns: Option<i64>,
    last_ns: i64,
}

struct Tap {
    /// The statistic's own filter, and its text for the `Filter:` line.
    filter: Option<(Filter, String)>,
    kind: Kind,
}

enum Kind {
    ConvTcp(Box<ConvPass>),
    ConvUdp(Vec<Row>, Vec<u32>),
    EndpointsTcp(Vec<Endpoint>, rustc_hash::FxHashMap<SocketAddr, u32>),
    Expert(Box<ExpertPass>, Severity),
    Follow(Box<Follow>, Printer, Selector, Vec<u8>, bool),
    IoStat(iostat::IoStat),
}

/// One endpoint of `-z endpoints,tcp`: an address and port, what it sent and received.
struct Endpoint {
    addr: SocketAddr,
    tx_frames: u64,
    tx_bytes: u64,
    rx_frames: u64,
    rx_bytes: u64,
}

impl Statistics {
    /// Reads `-z` arguments; the error names the argument and what keepsight answers.
    pub fn parse(args: &[String]) -> Result<Statistics, String> {
        let mut taps = Vec::new();
        for arg in args {
            taps.push(Tap::parse(arg).map_err(|why| format!("-z {arg}: {why}"))?);
        }
        Ok(Statistics {
            taps,
            first_ns: None,
            last_ns: 0,
        })
    }

    /// True when no statistic was asked for.
    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    /// Every frame read, in file order.
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        self.first_ns.get_or_insert(frame.ts_ns);
        self.last_ns = self.last_ns.max(frame.ts_ns);
        for tap in &mut self.taps {
            let counted = tap.filter.as_ref().is_none_or(|(f, _)| f.matches(frame));
            tap.on_frame(frame, counted, self.first_ns.unwrap_or(0));
        }
    }

    /// The statistics as tshark prints them at the end, last asked first.
    pub fn render(self) -> Vec<u8> {
        let mut out = Vec::new();
        for tap in self.taps.into_iter().rev() {
            let filter = tap.filter.as_ref().map(|(_, text)| text.as_str());
            match tap.kind {
                Kind::ConvTcp(pass) => out.extend_from_slice(
                    conv::render_text(
                        &pass.finish(self.last_ns),
                        filter,
                        false,
                        StartColumn::Relative,
                    )
                    .as_bytes(),
                ),
                Kind::ConvUdp(mut rows, _) => {
                    // Largest first; ties keep the order of their first frames.
                    rows.sort_by_key(|r| std::cmp::Reverse(r.frames()));
                    out.extend_from_slice(
                        conv::render_titled(
                            "UDP Conversations",
                            &rows,
                            filter,
                            false,
                            StartColumn::Relative,
                        )
                        .as_bytes(),
                    )
                }
                Kind::EndpointsTcp(mut endpoints, _) => {
                    endpoints.sort_by_key(|e| std::cmp::Reverse(e.tx_frames + e.rx_frames));
                    out.extend_from_slice(render_endpoints(&endpoints, filter).as_bytes());
                }
                Kind::Expert(pass, min) => {
                    out.extend_from_slice(pass.finish(self.last_ns).render_text(min).as_bytes())
                }
                Kind::IoStat(table) => out.extend_from_slice(table.render().as_bytes()),
                Kind::Follow(follow, printer, selector, chunks, header_done) => {
                    if !header_done {
                        out.extend_from_slice(printer.header(&selector, follow.nodes()).as_bytes());
                    }
                    out.extend_from_slice(&chunks);
                    out.extend_from_slice(printer.footer().as_bytes());
                }
            }
        }
        out
    }
}

impl Tap {
    fn parse(arg: &str) -> Result<Tap, String> {
        let compile = |text: &str| -> Result<Option<(Filter, String)>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            Filter::compile(text)
                .map(|f| Some((f, text.to_string())))
                .map_err(|e| format!("invalid filter: {e}"))
        };
        let rest_after = |prefix: &str| {
            arg.strip_prefix(prefix)
                .map(|r| r.strip_prefix(',').unwrap_or(r))
        };
        if let Some(filter) = rest_after("conv,tcp") {
            return Ok(Tap {
                filter: compile(filter)?,
                kind: Kind::ConvTcp(Box::new(ConvPass::new(false))),
            });
        }
        if let Some(filter) = rest_after("conv,udp") {
            return Ok(Tap {
                filter: compile(filter)?,
                kind: Kind::ConvUdp(Vec::new(), Vec::new()),
            });
        }
        if let Some(filter) = rest_after("endpoints,tcp") {
            return Ok(Tap {
                filter: compile(filter)?,
                kind: Kind::EndpointsTcp(Vec::new(), Default::default()),
            });
        }
        if let Some(rest) = rest_after("expert") {
            let (level, filter) = rest.split_once(',').unwrap_or((rest, ""));
            let (min, filter) = match Severity::parse(level) {
                Some(min) => (min, filter),
                // No level: everything, and the whole rest is the filter.
                None => (Severity::Comment, rest),
            };
            let filter = compile(filter)?;
            let pass = ExpertPass::new(false, filter.is_some());
            return Ok(Tap {
                filter,
                kind: Kind::Expert(Box::new(pass), min),
            });
        }
        let follow_tcp = arg.strip_prefix("follow,tcp,").map(|r| (r, Proto::Tcp));
        let follow_tls = arg.strip_prefix("follow,tls,").map(|r| (r, Proto::Tls));
        if let Some((rest, proto)) = follow_tcp.or(follow_tls) {
            let mut parts = rest.splitn(3, ',');
            let format = parts.next().unwrap_or_default();
            let format = follow::Format::parse(format)
                .ok_or_else(|| format!("{format}: expected ascii, hex, raw or yaml"))?;
            let stream = parts.next().unwrap_or_default();
            let selector = Selector::parse(stream)
                .ok_or_else(|| format!("{stream}: expected a tcp.stream index"))?;
            let range = parts
                .next()
                .map(follow::Range::parse)
                .transpose()
                .map_err(str::to_string)?;
            return Ok(Tap {
                filter: None,
                kind: Kind::Follow(
                    Box::new(Follow::with_proto(selector, proto)),
                    Printer::with(format, proto, range),
                    selector,
                    Vec::new(),
                    false,
                ),
            });
        }
        if let Some(rest) = arg.strip_prefix("io,stat,") {
            return Ok(Tap {
                filter: None,
                kind: Kind::IoStat(iostat::IoStat::parse(rest)?),
            });
        }
        Err(format!(
            "not a statistic keepsight computes; it answers {KNOWN}"
        ))
    }

    fn on_frame(&mut self, frame: &Frame<'_>, counted: bool, origin_ns: i64) {
        match &mut self.kind {
            Kind::ConvTcp(pass) => pass.on_frame(frame, counted),
            Kind::IoStat(table) => table.on_frame(frame),
            Kind::Expert(pass, _) => pass.on_frame(frame, counted),
            Kind::Follow(follow, printer, selector, chunks, header_done) => {
                follow.on_frame(frame);
                if !*header_done && follow.nodes().is_some() {
                    chunks.extend_from_slice(printer.header(selector, follow.nodes()).as_bytes());
                    *header_done = true;
                }
                for chunk in follow.take_chunks() {
                    printer.chunk(&chunk, chunks);
                }
            }
            Kind::ConvUdp(rows, index) if counted => {
                let (Some(stream), Some((src, dst))) = (frame.udp_stream, frame.endpoints()) else {
                    return;
                };
                if frame.tcp.is_some() {
                    return;
                }
                let slot = stream as usize;
                if index.len() <= slot {
                    index.resize(slot + 1, 0);
                }
                if index[slot] == 0 {
                    rows.push(Row {
                        stream,
                        a: src,
                        b: dst,
                        frames_ba: 0,
                        bytes_ba: 0,
                        frames_ab: 0,
                        bytes_ab: 0,
                        first_ns: frame.ts_ns,
                        last_ns: frame.ts_ns,
                        rel_start_ns: frame.ts_ns - origin_ns,
                        ending: conv::Ending::Open,
                        closed_by: None,
                        close_frame: None,
                        max_idle_ns: 0,
                        max_idle_frame: None,
                        heartbeat_period_s: None,
                    });
                    index[slot] = rows.len() as u32;
                }
                let row = &mut rows[index[slot] as usize - 1];
                let len = u64::from(frame.record.orig_len);
                if src == row.a {
                    row.frames_ab += 1;
                    row.bytes_ab += len;
                } else {
                    row.frames_ba += 1;
                    row.bytes_ba += len;
                }
                row.first_ns = row.first_ns.min(frame.ts_ns);
                row.last_ns = row.last_ns.max(frame.ts_ns);
            }
            Kind::EndpointsTcp(endpoints, index) if counted => {
                if frame.tcp.is_none() {
                    return;
                }
                let Some((src, dst)) = frame.endpoints() else {
                    return;
                };
                let len = u64::from(frame.record.orig_len);
                for (addr, sent) in [(src, true), (dst, false)] {
                    let i = *index.entry(addr).or_insert_with(|| {
                        endpoints.push(Endpoint {
                            addr,
                            tx_frames: 0,
                            tx_bytes: 0,
                            rx_frames: 0,
                            rx_bytes: 0,
                        });
                        endpoints.len() as u32 - 1
                    }) as usize;
                    let e = &mut endpoints[i];
                    if sent {
                        e.tx_frames += 1;
                        e.tx_bytes += len;
                    } else {
                        e.rx_frames += 1;
                        e.rx_bytes += len;
                    }
                }
            }
            _ => {}
        }
    }
}

/// `-z endpoints,tcp` as tshark 4.0.17 prints it.
fn render_endpoints(endpoints: &[Endpoint], filter: Option<&str>) -> String {
    let rule = "=".repeat(80);
    let mut s = format!(
        "{rule}\nTCP Endpoints\nFilter:{}\n                       |  Port  ||  Packets  | |  Bytes  | | Tx Packets | | Tx Bytes | | Rx Packets | | Rx Bytes |\n",
        filter.unwrap_or("<No Filter>")
    );
    for e in endpoints {
        let _ = writeln!(
            s,
            "{:<20}      {:>5}     {:6}     {:9}     {:6}       {:9}      {:6}       {:9}   ",
            e.addr.ip().to_string(),
            e.addr.port(),
            e.tx_frames + e.rx_frames,
            e.tx_bytes + e.rx_bytes,
            e.tx_frames,
            e.tx_bytes,
            e.rx_frames,
            e.rx_bytes
        );
    }
    s.push_str(&rule);
    s.push('\n');
    s
}
