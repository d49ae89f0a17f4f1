//! `keepsight follow`: tshark's `-z follow,tcp|udp,ascii|hex|raw|yaml,STREAM[,RANGE]` for one
//! conversation.
//! Reassembly, layout and the streaming pass are `keepsight_report::follow`'s; this module
//! handles the command line.

use crate::outcome::{Failure, Outcome};
use keepsight_report::follow::{write_follow, Format, Printer, Proto, Range, Selector};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/follow-after.txt"))]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// The conversation: a `tcp.stream` (or with --proto udp, `udp.stream`) index, or `ADDR:PORT,ADDR:PORT`.
    stream: String,
    /// ascii (non-printable bytes as `.`), hex (offsets per direction, hex + ASCII), raw
    /// (hex string per chunk) or yaml (frame, peer, time and base64 data per chunk).
    #[arg(long, default_value = "ascii", value_parser = ["ascii", "hex", "raw", "yaml"])]
    format: String,
    /// Only chunks N to M (`N` or `N-M`, from 1), as tshark's RANGE.
    #[arg(long, value_name = "N[-M]")]
    range: Option<String>,
    /// The transport: tcp (reassembled) or udp (`udp.stream` index or endpoints; one chunk
    /// per datagram).
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp"])]
    proto: String,
}

pub fn run(args: Args) -> Outcome {
    let Some(selector) = Selector::parse(&args.stream) else {
        return Err(Failure::usage(anyhow::anyhow!(
            "{}: expected a tcp.stream index (e.g. 0) or ADDR:PORT,ADDR:PORT",
            args.stream
        )));
    };
    let format = Format::parse(&args.format).unwrap_or(Format::Ascii);
    let range = args
        .range
        .as_deref()
        .map(Range::parse)
        .transpose()
        .map_err(|msg| {
            Failure::usage(anyhow::anyhow!(
                "--range {}: {msg} Expected N or N-M, counting chunks from 1",
                args.range.as_deref().unwrap_or_default()
            ))
        })?;
    let proto = if args.proto == "udp" {
        Proto::Udp
    } else {
        Proto::Tcp
    };
    let path = &args.file;
    let mut engine = super::open_engine(path)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let printer = Printer::with(format, proto, range);
    let end = write_follow(engine.as_deref_mut(), selector, proto, printer, &mut out)?;
    out.flush()?;
    super::outcome(&end, path, "followed")
}
