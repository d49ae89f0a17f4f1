//! `keepsight follow`: tshark's `-z follow,tcp|udp|tls,ascii|hex|raw|yaml,STREAM[,RANGE]` for one
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
    /// The transport: tcp (reassembled), udp (`udp.stream` index or endpoints; one chunk
    /// per datagram) or tls (the decrypted application data of a TLS stream, one chunk per
    /// record; needs --tls-keylog).
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp", "tls"])]
    proto: String,
    #[command(flatten)]
    keys: super::TlsKeys,
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
    let proto = match args.proto.as_str() {
        "udp" => Proto::Udp,
        "tls" => Proto::Tls,
        _ => Proto::Tcp,
    };
    let keys = args.keys.load()?;
    if proto == Proto::Tls && keys.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--proto tls follows decrypted application data: give the key log with --tls-keylog FILE"
        )));
    }
    let path = &args.file;
    let mut engine = super::open_engine(path)?;
    if let (Some(engine), Some(keys)) = (engine.as_deref_mut(), keys) {
        engine.set_tls_keylog(keys);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let printer = Printer::with(format, proto, range);
    let end = write_follow(engine.as_deref_mut(), selector, proto, printer, &mut out)?;
    out.flush()?;
    if let Some(engine) = engine.as_deref() {
        super::warn_undecrypted(path, engine);
    }
    super::outcome(&end, path, "followed")
}
