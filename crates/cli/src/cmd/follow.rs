//! `keepsight follow`: tshark's `-z follow,tcp|udp,ascii|hex|raw|yaml,STREAM[,RANGE]` for one
//! conversation.
//! Reassembly and layout are `keepsight_report::follow`'s; this module reads and prints,
//! chunk by chunk, so memory stays bounded by the stream's out-of-order data.

use super::EXIT_PROBLEMS;
use keepsight_report::follow::{Follow, Format, Printer, Proto, Range, Selector};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight follow capture.pcap 0\n  \
    keepsight follow capture.pcap 3 --format hex\n  \
    keepsight follow capture.pcap 10.0.0.1:40000,10.0.0.2:7777 --format raw\n  \
    keepsight follow capture.pcap 0 --format yaml --range 3-4\n  \
    keepsight follow capture.pcap 1 --proto udp\n\n\
    Output is tshark 4.0.17's `tshark -q -z follow,PROTO,FORMAT,STREAM[,RANGE]`, byte for byte: \
    each chunk is the new data of one segment (UDP: one datagram), preceded by its length; Node \
    1's chunks are indented by a TAB. Retransmitted bytes and 1-byte keep-alives appear once. \
    When the peer acknowledged bytes the capture does not hold, a chunk `[N bytes missing in \
    capture file]` stands for them. yaml gives each chunk's frame number, peer, time stamp and \
    base64 data (a missing-bytes chunk has time stamp 0). --range N-M prints only chunks N to M, \
    counted from 1 over both directions; hex offsets still count the chunks left out.\n\n\
    Exit status: 0 read to the end; 1 the capture is damaged (what was read is printed); \
    2 usage error; 3 the file could not be read.")]
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(selector) = Selector::parse(&args.stream) else {
        eprintln!(
            "keepsight: {}: expected a tcp.stream index (e.g. 0) or ADDR:PORT,ADDR:PORT",
            args.stream
        );
        return Ok(ExitCode::from(2));
    };
    let format = Format::parse(&args.format).unwrap_or(Format::Ascii);
    let range = match args.range.as_deref().map(Range::parse).transpose() {
        Ok(r) => r,
        Err(msg) => {
            eprintln!(
                "keepsight: --range {}: {msg} Expected N or N-M, counting chunks from 1",
                args.range.as_deref().unwrap_or_default()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let proto = if args.proto == "udp" {
        Proto::Udp
    } else {
        Proto::Tcp
    };
    let path = &args.file;
    let mut engine = match super::open_engine(path) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut follow = Follow::with_proto(selector, proto);
    let mut printer = Printer::with(format, proto, range);
    let mut header_done = false;
    let mut buf = Vec::new();
    let mut damage = None;
    while let Some(engine) = engine.as_mut() {
        let frame = match engine.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                damage = Some(e);
                break;
            }
        };
        follow.on_frame(&frame);
        if !header_done && follow.nodes().is_some() {
            out.write_all(printer.header(&selector, follow.nodes()).as_bytes())?;
            header_done = true;
        }
        buf.clear();
        for chunk in follow.take_chunks() {
            printer.chunk(&chunk, &mut buf);
        }
        out.write_all(&buf)?;
    }
    if !header_done {
        out.write_all(printer.header(&selector, None).as_bytes())?;
    }
    out.write_all(printer.footer().as_bytes())?;
    out.flush()?;
    if let Some(e) = damage {
        eprintln!(
            "keepsight: {}: {e} (the frames before it were followed)",
            path.display()
        );
        return Ok(ExitCode::from(EXIT_PROBLEMS));
    }
    Ok(ExitCode::SUCCESS)
}
