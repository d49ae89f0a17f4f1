//! `keepsight expert`: tshark's `-z expert` table for the frame, Ethernet, UDP, TCP and HTTP items, then keepsight's own
//! diagnosis findings as their own group. Counting and layout are `keepsight_report::expert`'s.

use keepsight_diagnose::{Diagnoser, Options};
use keepsight_filter::Filter;
use keepsight_report::expert::{
    finding_severity, render_findings, render_text, ExpertTable, HttpChats, Severity,
};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight expert capture.pcap\n  \
    keepsight expert capture.pcap --min warn\n  \
    keepsight expert capture.pcap -Y 'tcp.stream eq 2' --tshark\n\n\
    The sections Errors, Warns, Notes, Chats are tshark 4.0.17's `tshark -q -z expert` for \
    the TCP protocol (connection SYN/FIN/RST, analysis flags, D-SACK); items of other \
    dissectors (ICMPv6, ARP, HTTP...) are not produced. Then `keepsight findings`: what \
    `keepsight diagnose` concluded (late or missing heartbeats, resets, idle beyond a \
    middlebox timeout...), one row per finding, computed over the whole capture.\n\n\
    Exit status: 0 read to the end; 1 the capture is damaged (the table covers the frames \
    before the damage); 2 usage error; 3 the file could not be read.")]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// Count only frames matching this display filter (tshark's `-z expert,LEVEL,FILTER`).
    #[arg(short = 'Y', long = "display-filter", value_name = "FILTER")]
    filter: Option<String>,
    /// Lowest severity shown (default: everything, as `tshark -z expert`, pcapng comments included).
    #[arg(long, default_value = "comment", value_parser = ["error", "warn", "note", "chat", "comment"])]
    min: String,
    /// Print only tshark's sections (no keepsight findings).
    #[arg(long)]
    tshark: bool,
    /// JSON: `{"expert": [rows...], "findings": [...]}` (rows in first-occurrence order, with
    /// severity, frequency, group, protocol, summary and the first frame that raised it).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = match args.filter.as_deref().map(Filter::compile).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("keepsight: -Y: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let min = Severity::parse(&args.min).unwrap_or(Severity::Comment);
    let path = &args.file;
    let mut engine = match super::open_engine(path) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let mut table = ExpertTable::new();
    // Findings are about whole connections, so the diagnosis sees every frame, filter or not.
    let mut diag = (!args.tshark).then(|| Diagnoser::new(Options::default()));
    // HTTP chat items belong to the frame a message ends in, known once the message is over;
    // `displayed` remembers which frames the filter let through until then (one bit a frame).
    // Finished messages are drained from the analyzer as the pass goes and only their texts'
    // counts kept, so memory follows distinct texts and live connections, not messages.
    let mut http = keepsight_http::Analyzer::new(keepsight_http::Options {
        keep_all_messages: true,
    });
    let mut chats = HttpChats::new();
    let mut displayed: Option<Vec<u64>> = filter.is_some().then(Vec::new);
    let shown = |displayed: &Option<Vec<u64>>, n: u32| {
        displayed.as_ref().is_none_or(|bits| {
            bits.get((n / 64) as usize)
                .is_some_and(|w| w & (1 << (n % 64)) != 0)
        })
    };
    let mut frames = 0u32;
    let end = super::pass(engine.as_deref_mut(), None, |frame| {
        if let Some(seg) = frame.segment() {
            if let Some(d) = diag.as_mut() {
                d.on_segment(&seg);
            }
            http.segment(&seg);
        }
        if !matches!(&filter, Some(f) if !f.matches(frame)) {
            table.on_frame(frame);
            if let Some(bits) = displayed.as_mut() {
                let (word, bit) = ((frame.number / 64) as usize, frame.number % 64);
                if bits.len() <= word {
                    bits.resize(word + 1, 0);
                }
                bits[word] |= 1 << bit;
            }
        }
        frames += 1;
        // Every 8,192 frames: a walk over the live connections, rare enough to cost nothing.
        if frames.is_multiple_of(8192) {
            http.drain_messages(&mut |m| {
                if shown(&displayed, m.frame) {
                    chats.add(m);
                }
            });
        }
    });
    let report = http.finish();
    for m in report.connections.iter().flat_map(|c| &c.messages) {
        if shown(&displayed, m.frame) {
            chats.add(m);
        }
    }
    chats.into_table(&mut table);
    table.order_by_first_frame();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let findings = diag.map(|d| d.finish(end.last_ns).findings);
    if args.json {
        let rows: Vec<_> = table.rows().iter().filter(|r| r.severity >= min).collect();
        let shown: Vec<_> = findings
            .iter()
            .flatten()
            .filter(|f| finding_severity(f) >= min)
            .collect();
        let doc = serde_json::json!({ "expert": rows, "findings": shown });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        out.write_all(render_text(table.rows(), min).as_bytes())?;
        if let Some(f) = &findings {
            out.write_all(render_findings(f, min).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(end.exit(path, "counted"))
}
