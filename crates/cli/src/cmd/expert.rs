//! `keepsight expert`: tshark's `-z expert` table for the frame, Ethernet, UDP, TCP and HTTP items, then keepsight's own
//! diagnosis findings as their own group. The pass, counting and layout are
//! `keepsight_report::expert`'s; this module reads the capture and prints.

use keepsight_filter::Filter;
use keepsight_report::expert::{ExpertPass, Severity};
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
    let mut expert = ExpertPass::new(!args.tshark, filter.is_some());
    let end = super::pass(engine.as_deref_mut(), None, |frame| {
        expert.on_frame(frame, filter.as_ref().is_none_or(|f| f.matches(frame)));
    });
    let expert = expert.finish(end.last_ns);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &expert.to_json(min))?;
        writeln!(out)?;
    } else {
        out.write_all(expert.render_text(min).as_bytes())?;
    }
    out.flush()?;
    Ok(end.exit(path, "counted"))
}
