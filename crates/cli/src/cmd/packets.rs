//! `keepsight packets`: list a capture's frames with tshark's conventions, so habits carry over:
//! the one-line summary, `-T fields -e ...` with tshark's value rendering, `-T json`, `-t`
//! time formats, `-c`, and `-Y` display filters.

use super::{EXIT_FAILURE, EXIT_PROBLEMS};
use anyhow::{bail, Context};
use keepsight_engine::{Engine, Frame};
use keepsight_fields::{lookup, render, FieldId, Packet, Value};
use keepsight_filter::Filter;
use keepsight_wire::{Network, TcpOption, Transport};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight packets capture.pcapng\n  \
    keepsight packets capture.pcap -Y 'tcp.analysis.keep_alive' -t dd\n  \
    keepsight packets capture.pcap -T fields -e frame.number -e tcp.stream -e tcp.analysis.flags -E header=y\n  \
    keepsight packets capture.pcap -Y 'tcp.stream eq 0 and tcp.payload eq 01' -T json\n\n\
    Field names, filter syntax and value rendering follow tshark 4.0.17; `-T fields` output is \
    byte-for-byte tshark's for the fields keepsight implements (see `keepsight packets --list-fields`).\n\n\
    Exit status: 0 all frames read; 1 the capture is damaged (frames before the damage are still \
    printed); 2 usage error (bad option or filter); 3 the file could not be read.")]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    #[arg(required_unless_present = "list_fields")]
    file: Option<PathBuf>,
    /// Display filter (Wireshark syntax), e.g. 'tcp.len eq 1 or tcp.flags.reset eq 1'.
    #[arg(
        short = 'Y',
        long = "display-filter",
        value_name = "FILTER",
        allow_hyphen_values = true
    )]
    filter: Option<String>,
    /// Output format: text (one summary line per frame), fields (-e columns), json.
    #[arg(short = 'T', value_name = "FORMAT", default_value = "text", value_parser = ["text", "fields", "json"])]
    format: String,
    /// Field to print with -T fields or -T json (repeatable), e.g. -e tcp.stream.
    #[arg(short = 'e', value_name = "FIELD")]
    fields: Vec<String>,
    /// Field-output option: header=y|n, separator=/t|/s|<char>, occurrence=f|l|a,
    /// aggregator=,|/s|<char>, quote=d|s|n (repeatable).
    #[arg(short = 'E', value_name = "OPTION=VALUE")]
    field_options: Vec<String>,
    /// Time format of the summary: r (since first frame, default), d (since previous frame),
    /// dd (since previous displayed frame), a / ad (local time / with date), u / ud (UTC),
    /// e (epoch seconds).
    #[arg(short = 't', value_name = "FORMAT", default_value = "r",
          value_parser = ["r", "d", "dd", "a", "ad", "adoy", "u", "ud", "udoy", "e"])]
    time_format: String,
    /// Stop after reading this many frames.
    #[arg(short = 'c', value_name = "N")]
    count: Option<u64>,
    /// List the fields keepsight knows, with their types, and exit.
    #[arg(long)]
    list_fields: bool,
}

struct FieldOpts {
    header: bool,
    separator: String,
    occurrence: Occurrence,
    aggregator: String,
    quote: Option<char>,
}

#[derive(Clone, Copy, PartialEq)]
enum Occurrence {
    First,
    Last,
    All,
}

fn parse_field_options(opts: &[String]) -> anyhow::Result<FieldOpts> {
    let mut o = FieldOpts {
        header: false,
        separator: "\t".into(),
        occurrence: Occurrence::All,
        aggregator: ",".into(),
        quote: None,
    };
    let char_opt = |v: &str| -> String {
        match v {
            "/t" => "\t".into(),
            "/s" => " ".into(),
            other => other.chars().next().map(String::from).unwrap_or_default(),
        }
    };
    for opt in opts {
        let Some((k, v)) = opt.split_once('=') else {
            bail!("-E {opt}: expected OPTION=VALUE (header=y, separator=/t, occurrence=a, aggregator=',', quote=n)");
        };
        match k {
            "header" => o.header = matches!(v, "y" | "Y"),
            "separator" => o.separator = char_opt(v),
            "aggregator" => o.aggregator = char_opt(v),
            "occurrence" => {
                o.occurrence = match v {
                    "f" => Occurrence::First,
                    "l" => Occurrence::Last,
                    "a" => Occurrence::All,
                    _ => bail!("-E occurrence={v}: expected f (first), l (last) or a (all)"),
                }
            }
            "quote" => {
                o.quote = match v {
                    "d" => Some('"'),
                    "s" => Some('\''),
                    "n" => None,
                    _ => bail!("-E quote={v}: expected d, s or n"),
                }
            }
            "bom" => {}
            _ => bail!(
                "-E {k}: unknown option (header, separator, occurrence, aggregator, quote, bom)"
            ),
        }
    }
    Ok(o)
}

/// A column requested with -e: a registered field or one of tshark's `_ws.col.*` columns.
#[derive(Clone, Copy)]
enum Column {
    Field(FieldId),
    Info,
    Protocol,
}

fn resolve_column(name: &str) -> anyhow::Result<Column> {
    match name {
        "_ws.col.Info" | "_ws.col.info" => return Ok(Column::Info),
        "_ws.col.Protocol" | "_ws.col.protocol" => return Ok(Column::Protocol),
        _ => {}
    }
    lookup(name).map(Column::Field).with_context(|| {
        let hint = keepsight_filter::suggest_field(name)
            .map(|s| format!(" — did you mean `{s}`?"))
            .unwrap_or_default();
        format!("-e {name}: unknown field{hint} (see `keepsight packets --list-fields`)")
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list_fields {
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        for (_, def) in keepsight_fields::all_fields() {
            writeln!(out, "{}\t{:?}\t{}", def.name, def.ftype, def.blurb)?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = args.file.clone().unwrap_or_default();
    let filter = match &args.filter {
        Some(expr) => match Filter::compile(expr) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("keepsight: invalid display filter:\n{e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let columns: Vec<Column> = args
        .fields
        .iter()
        .map(|n| resolve_column(n))
        .collect::<anyhow::Result<_>>()?;
    if args.format == "fields" && columns.is_empty() {
        bail!("-T fields needs at least one -e FIELD");
    }
    let fopts = parse_field_options(&args.field_options)?;
    // HTTP fields need the whole capture analysed first (a request knows its response frame, as
    // with tshark -2), so they cost one extra pass, only when asked for.
    let wants_http = filter
        .as_ref()
        .is_some_and(|f| f.fields().any(needs_http_pass))
        || columns
            .iter()
            .any(|c| matches!(c, Column::Field(id) if needs_http_pass(*id)));
    let http = if wants_http { http_pass(&path) } else { None };
    let mut engine = match super::open_engine(&path) {
        Ok(Some(e)) => e,
        // An empty file is an empty capture, as for tshark: nothing to list, not an error.
        Ok(None) => {
            eprintln!(
                "keepsight: {}: the file is empty (0 frames)",
                path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(code) => return Ok(code),
    };

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut printer = Printer {
        args: &args,
        columns: &columns,
        fopts: &fopts,
        line: String::with_capacity(256),
        scratch: Scratch::default(),
        json_first: true,
    };
    let mut prev_displayed: Option<i64> = None;
    let mut read = 0u64;
    let progress = progress_bar(engine.reader().len_hint());
    let result: anyhow::Result<Option<keepsight_engine::capture::CaptureError>> = (|| {
        printer.begin(&mut out)?;
        loop {
            if let Some(limit) = args.count {
                if read >= limit {
                    break;
                }
            }
            let mut frame = match engine.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Ok(Some(e)),
            };
            read += 1;
            if read.is_multiple_of(65_536) {
                if let Some(p) = &progress {
                    p.set_position(engine_position(&frame));
                }
            }
            if let Some(f) = &filter {
                if !f.matches(&WithHttp {
                    frame: &frame,
                    http: http.as_ref(),
                }) {
                    continue;
                }
            }
            frame.time_delta_displayed_ns = prev_displayed.map(|p| frame.ts_ns - p).unwrap_or(0);
            prev_displayed = Some(frame.ts_ns);
            printer.frame(
                &frame,
                &WithHttp {
                    frame: &frame,
                    http: http.as_ref(),
                },
                &mut out,
            )?;
        }
        printer.end(&mut out)?;
        Ok(None)
    })();
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let flushed = out.flush();
    report_damage(&path, &engine);
    match (result, flushed) {
        (Err(e), _) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        (_, Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        (Err(e), _) => Err(e),
        (Ok(Some(err)), _) => {
            eprintln!("keepsight: {}: {err}", path.display());
            eprintln!(
                "keepsight: {} frames were read before the problem and are shown above.",
                engine.frames()
            );
            Ok(ExitCode::from(if err.is_damage() {
                EXIT_PROBLEMS
            } else {
                EXIT_FAILURE
            }))
        }
        (Ok(None), Ok(())) => Ok(ExitCode::SUCCESS),
        (Ok(None), Err(e)) => Err(e.into()),
    }
}

/// Damaged records tshark reads without complaint (it only adds an expert note to the frame):
/// said on stderr, with where they are, so a user knows the times shown are the writer's.
fn report_damage(path: &std::path::Path, engine: &keepsight_engine::Engine) {
    const SHOWN: usize = 10;
    let (kept, total) = engine.damage();
    for d in kept.iter().take(SHOWN) {
        eprintln!(
            "keepsight: warning: {}: frame {} (record at byte offset {}): {}",
            path.display(),
            d.frame,
            d.offset,
            d.what
        );
    }
    if total > SHOWN as u64 {
        eprintln!(
            "keepsight: warning: {}: {} more damaged records not listed",
            path.display(),
            total - SHOWN as u64
        );
    }
}

fn is_http(id: FieldId) -> bool {
    keepsight_fields::protocol_of(id) == "http"
}

/// Fields that need the HTTP first pass: `http.*`, and expert info (HTTP adds chat items).
fn needs_http_pass(id: FieldId) -> bool {
    is_http(id) || is_expert(id)
}

fn is_expert(id: FieldId) -> bool {
    use keepsight_fields::ids::{
        _WS_EXPERT, _WS_EXPERT_GROUP, _WS_EXPERT_MESSAGE, _WS_EXPERT_SEVERITY,
    };
    matches!(
        id,
        _WS_EXPERT | _WS_EXPERT_MESSAGE | _WS_EXPERT_SEVERITY | _WS_EXPERT_GROUP
    )
}

/// The HTTP analysis of a whole capture, indexed by frame, for `http.*` fields.
struct HttpLayer {
    report: keepsight_http::Report,
    index: keepsight_http::FrameIndex,
}

/// First pass for `http.*` fields. A damaged file is analysed up to the damage; the main pass
/// reports the damage itself.
fn http_pass(path: &std::path::Path) -> Option<HttpLayer> {
    let mut engine = Engine::open(path).ok()?;
    let mut analyzer = keepsight_http::Analyzer::new(keepsight_http::Options {
        keep_all_messages: true,
    });
    while let Ok(Some(frame)) = engine.next_frame() {
        if let Some(segment) = frame.segment() {
            analyzer.segment(&segment);
        }
    }
    let report = analyzer.finish();
    let index = keepsight_http::FrameIndex::new(&report);
    Some(HttpLayer { report, index })
}

/// A frame with the HTTP layer's fields added.
struct WithHttp<'a> {
    frame: &'a Frame<'a>,
    http: Option<&'a HttpLayer>,
}

impl Packet for WithHttp<'_> {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        if is_http(field) {
            if let Some(h) = self.http {
                h.index
                    .visit(&h.report, self.frame.number, field.name(), sink);
            }
        } else if is_expert(field) {
            // The frame's own items (frame, TCP) come before the HTTP dissector's.
            self.frame.visit(field, sink);
            if let Some(h) = self.http {
                use keepsight_engine::expert::{Group, Severity};
                use keepsight_fields::ids::{
                    _WS_EXPERT_GROUP, _WS_EXPERT_MESSAGE, _WS_EXPERT_SEVERITY,
                };
                h.index
                    .visit_expert_lines(&h.report, self.frame.number, &mut |line| {
                        sink(match field {
                            _WS_EXPERT_MESSAGE => Value::Str(line),
                            _WS_EXPERT_SEVERITY => Value::UInt(Severity::Chat.value().into()),
                            _WS_EXPERT_GROUP => Value::UInt(Group::Sequence.value().into()),
                            _ => Value::Bytes(&[]),
                        })
                    });
            }
        } else {
            self.frame.visit(field, sink)
        }
    }
}

/// A progress bar on stderr for long runs whose output goes elsewhere: only when stderr is a
/// terminal and stdout is not (a bar would garble output printed to the same terminal).
fn progress_bar(total: Option<u64>) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let total = total?;
    if !io::stderr().is_terminal() || io::stdout().is_terminal() || total < (64 << 20) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Byte position of a frame in the file, for progress.
fn engine_position(frame: &Frame<'_>) -> u64 {
    frame.record.file_offset
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

struct Printer<'a> {
    args: &'a Args,
    columns: &'a [Column],
    fopts: &'a FieldOpts,
    line: String,
    scratch: Scratch,
    json_first: bool,
}

impl Printer<'_> {
    fn begin(&mut self, out: &mut impl Write) -> io::Result<()> {
        match self.args.format.as_str() {
            "fields" if self.fopts.header => {
                let names: Vec<&str> = self.args.fields.iter().map(String::as_str).collect();
                writeln!(out, "{}", names.join(&self.fopts.separator))
            }
            "json" => out.write_all(b"[\n"),
            _ => Ok(()),
        }
    }

    fn end(&mut self, out: &mut impl Write) -> io::Result<()> {
        if self.args.format == "json" {
            if !self.json_first {
                out.write_all(b"\n")?;
            }
            out.write_all(b"]\n")?;
        }
        Ok(())
    }

    fn frame(&mut self, f: &Frame<'_>, view: &dyn Packet, out: &mut impl Write) -> io::Result<()> {
        self.line.clear();
        match self.args.format.as_str() {
            "fields" => self.fields_line(f, view),
            "json" => self.json(f, view),
            _ => summary_line(f, &self.args.time_format, &mut self.line, &mut self.scratch),
        }
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }

    fn fields_line(&mut self, f: &Frame<'_>, view: &dyn Packet) {
        for (i, col) in self.columns.iter().enumerate() {
            if i > 0 {
                self.line.push_str(&self.fopts.separator);
            }
            if let Some(q) = self.fopts.quote {
                self.line.push(q);
            }
            column_value(
                f,
                view,
                *col,
                self.fopts.occurrence,
                &self.fopts.aggregator,
                &mut self.line,
            );
            if let Some(q) = self.fopts.quote {
                self.line.push(q);
            }
        }
    }

    fn json(&mut self, f: &Frame<'_>, view: &dyn Packet) {
        let date = {
            let t = render::broken_down(f.ts_ns, false);
            format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
        };
        if !self.json_first {
            self.line.push_str(",\n");
        }
        self.json_first = false;
        self.line.push_str(&format!(
            "  {{\n    \"_index\": \"packets-{date}\",\n    \"_type\": \"doc\",\n    \"_score\": null,\n    \"_source\": {{\n      \"layers\": {{\n"
        ));
        let names: Vec<String> = if self.args.fields.is_empty() {
            // Without -e, every field present in the frame, as flat name → values pairs.
            keepsight_fields::all_fields()
                .filter(|(id, def)| {
                    def.ftype != keepsight_fields::FieldType::Protocol && f.has(*id)
                })
                .map(|(_, def)| def.name.to_string())
                .collect()
        } else {
            self.args.fields.clone()
        };
        let mut first = true;
        for name in &names {
            let Ok(col) = resolve_column(name) else {
                continue;
            };
            let mut values: Vec<String> = Vec::new();
            match col {
                Column::Field(id) => view.visit(id, &mut |v| {
                    let mut s = String::new();
                    render::render(id.def(), v, &mut s);
                    values.push(s);
                }),
                _ => {
                    let mut s = String::new();
                    column_value(f, view, col, Occurrence::All, ",", &mut s);
                    values.push(s);
                }
            }
            if values.is_empty() {
                continue;
            }
            if !first {
                self.line.push_str(",\n");
            }
            first = false;
            let rendered: Vec<String> = values
                .iter()
                .map(|v| serde_json::Value::String(v.clone()).to_string())
                .collect();
            self.line.push_str(&format!(
                "        {}: [{}]",
                serde_json::Value::String(name.clone()),
                rendered.join(",")
            ));
        }
        self.line.push_str("\n      }\n    }\n  }");
    }
}

fn column_value(
    f: &Frame<'_>,
    view: &dyn Packet,
    col: Column,
    occ: Occurrence,
    agg: &str,
    out: &mut String,
) {
    match col {
        Column::Info => info(f, out),
        Column::Protocol => out.push_str(protocol(f)),
        Column::Field(id) => {
            let def = id.def();
            let mut n = 0usize;
            let mut last_start = out.len();
            view.visit(id, &mut |v: Value<'_>| {
                match occ {
                    Occurrence::First if n > 0 => {}
                    Occurrence::Last => {
                        out.truncate(last_start);
                        render::render(def, v, out);
                    }
                    _ => {
                        if n > 0 {
                            out.push_str(agg);
                        }
                        render::render(def, v, out);
                    }
                }
                n += 1;
                if occ != Occurrence::Last {
                    last_start = out.len();
                }
            });
        }
    }
}

/// tshark's Protocol column for the protocols keepsight dissects.
fn protocol(f: &Frame<'_>) -> &'static str {
    // TCP or UDP carried in IP fragments is shown on the frame that completes the datagram.
    if f.tcp.is_some() {
        return "TCP";
    }
    if f.reassembled.is_some_and(|r| r.proto == 17) {
        return "UDP";
    }
    match f.dissection.transport {
        Transport::Tcp { .. } => "TCP",
        Transport::Udp { .. } => "UDP",
        Transport::None => match f.dissection.network {
            Network::Ipv4 { .. } => "IPv4",
            Network::Ipv6 { .. } => "IPv6",
            Network::None => match f.dissection.ethertype {
                0x0806 => "ARP",
                _ => "",
            },
        },
    }
}

const TCP_FLAG_NAMES: [(u16, &str); 9] = [
    (0x001, "FIN"),
    (0x002, "SYN"),
    (0x004, "RST"),
    (0x008, "PSH"),
    (0x010, "ACK"),
    (0x020, "URG"),
    (0x040, "ECE"),
    (0x080, "CWR"),
    (0x100, "AE"),
];

/// tshark's Info column for TCP and UDP frames.
fn info(f: &Frame<'_>, out: &mut String) {
    use std::fmt::Write;
    let data = f.record.data;
    let d = &f.dissection;
    if let (Some(h), Some(t)) = (f.tcp_header(), f.tcp.as_ref()) {
        let dup = (t.dupack_num != 0).then_some((t.dupack_frame, t.dupack_num));
        t.flags.info_prefixes(dup, out);
        let flags = h.flags().0;
        let _ = write!(out, "{} → {} [", h.src_port(), h.dst_port());
        let mut first = true;
        for (bit, name) in TCP_FLAG_NAMES {
            if flags & bit != 0 {
                if !first {
                    out.push_str(", ");
                }
                out.push_str(name);
                first = false;
            }
        }
        if first {
            out.push_str("<None>");
        }
        let _ = write!(out, "] Seq={}", t.seq);
        if flags & 0x10 != 0 {
            let _ = write!(out, " Ack={}", t.ack);
        }
        let _ = write!(out, " Win={}", t.window_size);
        if flags & 0x20 != 0 {
            let _ = write!(out, " Urg={}", h.urgent_pointer());
        }
        let _ = write!(out, " Len={}", f.tcp_len().unwrap_or(0));
        let base = h.ack().wrapping_sub(t.ack);
        for o in h.options() {
            match o {
                TcpOption::Mss(v) => {
                    let _ = write!(out, " MSS={v}");
                }
                TcpOption::WindowScale(s) => {
                    let _ = write!(out, " WS={}", 1u32 << s.min(14));
                }
                TcpOption::SackPermitted => out.push_str(" SACK_PERM"),
                TcpOption::Timestamps { tsval, tsecr } => {
                    let _ = write!(out, " TSval={tsval} TSecr={tsecr}");
                }
                TcpOption::Sack(blocks) => {
                    for b in blocks.chunks_exact(8) {
                        let le = u32::from_be_bytes([b[0], b[1], b[2], b[3]]).wrapping_sub(base);
                        let re = u32::from_be_bytes([b[4], b[5], b[6], b[7]]).wrapping_sub(base);
                        let _ = write!(out, " SLE={le} SRE={re}");
                    }
                }
                _ => {}
            }
        }
    } else if let Some(u) = f.udp_header() {
        // A datagram reassembled from IP fragments has its length in its own header.
        let len = match f.reassembled {
            Some(_) => u64::from(u.length().saturating_sub(8)),
            None => d.payload_len.unwrap_or(0) as u64,
        };
        let _ = write!(out, "{} → {} Len={len}", u.src_port(), u.dst_port());
        if f.udp_checksum_illegal() {
            out.push_str(" [ILLEGAL CHECKSUM (0)]");
        }
    } else if let Some(frag) = d.fragment(data) {
        // A piece of a datagram that is not complete in this frame.
        if frag.ipv6 {
            let _ = write!(
                out,
                "IPv6 fragment (off={} more={} ident=0x{:08x} nxt={})",
                frag.offset,
                if frag.more { 'y' } else { 'n' },
                frag.id,
                frag.proto
            );
        } else {
            let name =
                keepsight_fields::value_text(keepsight_fields::ids::IP_PROTO, frag.proto.into())
                    .unwrap_or("Unknown");
            let _ = write!(
                out,
                "Fragmented IP protocol (proto={name} {}, off={}, ID={:04x})",
                frag.proto, frag.offset, frag.id
            );
        }
    }
}

fn push_time(f: &Frame<'_>, fmt: &str, out: &mut String) {
    use keepsight_fields::nstime;
    use std::fmt::Write;
    let digits = f.record.ts_digits as u32;
    // A time stamp whose fraction is out of range (a broken writer) prints as tshark prints
    // it: whole seconds, then the fraction as written (`20.1000000`).
    let since = |out: &mut String, ns: i64| match f.odd_time_since(ns) {
        Some(t) => nstime::push_signed(out, t, digits),
        None => render::push_seconds(out, ns, digits),
    };
    let odd = f.record.invalid_frac_ns.is_some();
    match fmt {
        "d" => since(out, f.time_delta_ns),
        "dd" => since(out, f.time_delta_displayed_ns),
        "e" if odd => nstime::push_signed(out, f.time_stamp(), digits),
        "e" => render::push_seconds(out, f.ts_ns, digits),
        "a" | "ad" | "adoy" | "u" | "ud" | "udoy" => {
            let stamp = f.time_stamp();
            let whole = if odd {
                stamp.secs * 1_000_000_000
            } else {
                f.ts_ns
            };
            let t = render::broken_down(whole, fmt.starts_with('u'));
            match fmt {
                "ad" | "ud" => {
                    let _ = write!(out, "{:04}-{:02}-{:02} ", t.year, t.month, t.day);
                }
                "adoy" | "udoy" => {
                    let _ = write!(out, "{:04}/{:03} ", t.year, t.yday);
                }
                _ => {}
            }
            let _ = write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
            if odd {
                nstime::push_fraction(out, i64::from(stamp.nsecs), digits);
            } else if digits > 0 {
                let frac = t.nanos / 10u32.pow(9 - digits);
                let _ = write!(out, ".{frac:0width$}", width = digits as usize);
            }
        }
        _ => since(out, f.time_relative_ns),
    }
}

/// Buffers the summary line reuses from frame to frame, so printing allocates nothing per packet.
#[derive(Default)]
struct Scratch {
    time: String,
    src: String,
    dst: String,
}

/// tshark's default one-line summary: No., Time, Source → Destination, Protocol, Length, Info,
/// with tshark's minimum widths (5, 10, 12 right-aligned, 12 left-aligned).
fn summary_line(f: &Frame<'_>, time_fmt: &str, out: &mut String, scratch: &mut Scratch) {
    use std::fmt::Write;
    scratch.time.clear();
    push_time(f, time_fmt, &mut scratch.time);
    addresses(f, &mut scratch.src, &mut scratch.dst);
    let _ = write!(
        out,
        "{:>5} {:>10} {:>12} → {:<12} {} {} ",
        f.number,
        scratch.time,
        scratch.src,
        scratch.dst,
        protocol(f),
        f.record.orig_len
    );
    info(f, out);
    while out.ends_with(' ') {
        out.pop();
    }
}

/// Source and destination columns: IP addresses, or MAC addresses for non-IP Ethernet frames.
fn addresses(f: &Frame<'_>, src: &mut String, dst: &mut String) {
    use keepsight_fields::ids::{ETH_DST, ETH_SRC, IPV6_DST, IPV6_SRC, IP_DST, IP_SRC};
    src.clear();
    dst.clear();
    let d = &f.dissection;
    let (s_id, d_id) = match d.network {
        Network::Ipv4 { .. } => (IP_SRC, IP_DST),
        Network::Ipv6 { .. } => (IPV6_SRC, IPV6_DST),
        Network::None if d.link == keepsight_wire::Link::Ethernet => (ETH_SRC, ETH_DST),
        Network::None => return,
    };
    f.visit(s_id, &mut |v| render::render(s_id.def(), v, src));
    f.visit(d_id, &mut |v| render::render(d_id.def(), v, dst));
}
