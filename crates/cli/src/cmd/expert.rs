//! `keepsight expert`: tshark's `-z expert` table for the frame, Ethernet, UDP, TCP and HTTP items, then keepsight's own
//! diagnosis findings as their own group. The pass, counting and layout are
//! `keepsight_report::expert`'s; this module reads the capture and prints.

use crate::outcome::Outcome;
use keepsight_report::expert::{ExpertPass, Severity};
use keepsight_report::read::read_frames;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/expert-after.txt"))]
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

pub fn run(args: Args) -> Outcome {
    let filter = super::compile_filter(args.filter.as_deref(), "-Y: ")?;
    let min = Severity::parse(&args.min).unwrap_or(Severity::Comment);
    let path = &args.file;
    let mut engine = super::open_engine(path)?;
    let mut expert = ExpertPass::new(!args.tshark, filter.is_some());
    let end = read_frames(
        engine.as_deref_mut(),
        |_| {},
        |frame| {
            expert.on_frame(frame, filter.as_ref().is_none_or(|f| f.matches(frame)));
        },
    );
    let expert = expert.finish(end.last_ns);
    let json = args.json.then(|| expert.to_json(min));
    super::print_report(json.as_ref(), || expert.render_text(min))?;
    super::outcome(&end, path, "counted")
}
