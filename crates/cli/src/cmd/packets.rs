//! `keepsight packets`: list a capture's frames with tshark's conventions, so habits carry over:
//! the one-line summary, `-T fields -e ...` with tshark's value rendering, `-T json`, `-t`
//! time formats, `-c`, and `-Y` display filters.

use crate::outcome::{Failure, Outcome, Status};
use keepsight_report::packets::{
    open_saver, Format, HttpLayer, Listing, ListingFlags, SaveError, TimeFormat,
};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(disable_version_flag = true)]
#[command(after_long_help = include_str!("../../help/packets-after.txt"))]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    #[arg(required_unless_present_any = ["list_fields", "read", "interface"])]
    file: Option<PathBuf>,
    /// Capture live on this interface through libpcap, as tshark's -i (`any` for all;
    /// repeatable): each frame is listed as it comes. Needs root or CAP_NET_RAW.
    #[arg(short = 'i', value_name = "IFACE", conflicts_with_all = ["file", "read"])]
    interface: Vec<String>,
    /// Capture filter for -i, in tcpdump's BPF syntax, as tshark's -f.
    #[arg(short = 'f', value_name = "BPF", requires = "interface")]
    capture_filter: Option<String>,
    /// Bytes kept of each frame captured with -i, as tshark's -s.
    #[arg(short = 's', value_name = "SNAPLEN", default_value_t = 262_144)]
    snaplen: u32,
    /// Capture file, as tshark's -r; `-` reads the capture from standard input.
    #[arg(short = 'r', value_name = "FILE", conflicts_with = "file")]
    read: Option<PathBuf>,
    /// Display filter (Wireshark syntax), e.g. 'tcp.len eq 1 or tcp.flags.reset eq 1'.
    #[arg(
        short = 'Y',
        long = "display-filter",
        value_name = "FILTER",
        allow_hyphen_values = true
    )]
    filter: Option<String>,
    /// Output format: text (one summary line per frame), fields (-e columns), json, ek (-e
    /// fields, or the protocol tree), pdml (the protocol tree as XML), psml (the summary
    /// columns as XML).
    #[arg(short = 'T', value_name = "FORMAT", default_value = "text", value_parser = Format::NAMES)]
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
          value_parser = TimeFormat::NAMES)]
    time_format: String,
    /// Stop after reading this many frames.
    #[arg(short = 'c', value_name = "N")]
    count: Option<u64>,
    /// Write the frames that pass -Y (all without it) to FILE (`-` for standard output), with
    /// their original time stamps, interfaces and comments; nothing is listed unless -P.
    #[arg(short = 'w', value_name = "FILE")]
    write: Option<PathBuf>,
    /// File format for -w: pcapng (default), pcap (microseconds) or nsecpcap.
    #[arg(short = 'F', value_name = "FORMAT", default_value = "pcapng", requires = "write",
          value_parser = keepsight_engine::capture::WriteFormat::NAMES)]
    write_format: String,
    /// List the frames even while writing them with -w; with -x, print the summary lines too.
    #[arg(short = 'P')]
    print_too: bool,
    /// Print each frame's protocol tree (frame, link, IP, TCP/UDP, data, HTTP/1, TLS records) as
    /// tshark's -V.
    #[arg(short = 'V')]
    details: bool,
    /// Print the details of these protocols only (e.g. ip,tcp), the others as their title
    /// line, as tshark's -O.
    #[arg(short = 'O', value_name = "PROTOCOLS")]
    details_of: Option<String>,
    /// Dump each frame's bytes in hex and ASCII, as tshark (text output only).
    #[arg(short = 'x')]
    hex: bool,
    /// Preference NAME:VALUE, as tshark's -o: tcp.relative_sequence_numbers,
    /// tcp.analyze_sequence_numbers, tcp.calculate_timestamps, tcp.track_bytes_in_flight
    /// (TRUE/FALSE); tcp.check_checksum, tcp.desegment_tcp_streams and
    /// tcp.no_subdissector_on_error at keepsight's fixed values only; tls.keylog_file:PATH,
    /// the NSS key log that decrypts TLS streams (as --tls-keylog) (repeatable).
    #[arg(short = 'o', value_name = "NAME:VALUE")]
    preferences: Vec<String>,
    /// Decode a TCP port as a protocol, as tshark's -d: tcp.port==PORT,http2 (or a range
    /// PORT-PORT) (repeatable).
    #[arg(short = 'd', value_name = "tcp.port==PORT,PROTOCOL")]
    decode_as: Vec<String>,
    #[command(flatten)]
    keys: super::TlsKeys,
    /// Accepted for tshark's sake: keepsight never resolves names.
    #[arg(short = 'n')]
    no_name_resolution: bool,
    /// Accepted for tshark's sake: keepsight already reads twice where it matters (http.*).
    #[arg(short = '2')]
    two_pass: bool,
    /// Print no frames (with -z: only the statistics).
    #[arg(short = 'q')]
    quiet: bool,
    /// Statistics after the frames, as tshark's -z: conv,tcp|udp[,FILTER],
    /// endpoints,tcp[,FILTER], expert[,LEVEL][,FILTER], follow,tcp|tls,FORMAT,STREAM[,RANGE],
    /// io,stat,INTERVAL[,FILTER...] (repeatable).
    #[arg(short = 'z', value_name = "STATISTIC")]
    statistics: Vec<String>,
    /// List the fields keepsight knows, with their types, and exit.
    #[arg(long)]
    list_fields: bool,
}

pub fn run(args: Args) -> Outcome {
    if args.list_fields {
        let mut out = BufWriter::new(io::stdout().lock());
        keepsight_fields::write_field_list(&mut out)?;
        out.flush()?;
        return Ok(Status::Success);
    }
    // -n and -2 change nothing: names are never resolved, and http.* already reads twice.
    let _ = (args.no_name_resolution, args.two_pass);
    let live = !args.interface.is_empty();
    // A live capture is read once, front to back, as standard input is: the same limits apply.
    let path = match live {
        true => PathBuf::from("-"),
        false => args.read.clone().or(args.file.clone()).unwrap_or_default(),
    };
    let filter = super::compile_filter(args.filter.as_deref(), "invalid display filter:\n")?;
    let mut listing = Listing::from_flags(&ListingFlags {
        format: &args.format,
        fields: &args.fields,
        field_options: &args.field_options,
        time_format: &args.time_format,
        count: args.count,
        writing: args.write.is_some(),
        print_too: args.print_too,
        hex: args.hex,
        quiet: args.quiet,
        preferences: &args.preferences,
        decode_as: &args.decode_as,
        details: args.details,
        details_of: args.details_of.as_deref(),
        capture_file: &path.to_string_lossy(),
    })
    .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    listing.tree |= filter.is_some();
    let keylog_pref = keepsight_report::packets::tls_keylog_file(&args.preferences)
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    let keys = match (keylog_pref, &args.keys.tls_keylog) {
        (Some(a), Some(b)) if Path::new(a) != b => {
            return Err(Failure::usage(anyhow::anyhow!(
                "-o tls.keylog_file:{a} and --tls-keylog {}: give the key log once",
                b.display()
            )))
        }
        (Some(a), _) => super::load_keylog(Some(Path::new(a)))?,
        (None, _) => args.keys.load()?,
    };
    let mut stats = keepsight_report::stats::Statistics::parse(&args.statistics)
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    let wants_http = listing.needs_http_pass_with(filter.iter().flat_map(|f| f.fields()));
    if wants_http && keepsight_report::is_stdin(&path) {
        return Err(Failure::usage(anyhow::anyhow!(
            "http.* fields need two passes over the capture, and -r - can be read only once: save it to a file"
        )));
    }
    // With a key log, HTTPS frames take HTTP's Protocol and Info columns, which need the
    // HTTP pass too (skipped on standard input, which can be read once only).
    let http = if wants_http || (keys.is_some() && !keepsight_report::is_stdin(&path)) {
        HttpLayer::read(&path, keys.clone())
    } else {
        None
    };
    let opened = match live {
        true => Some(live_engine(&args)?),
        false => super::open_engine(&path)?,
    };
    let Some(mut engine) = opened else {
        // An empty file is an empty capture, as for tshark: nothing to list, not an error.
        eprintln!(
            "keepsight: {}: the file is empty (0 frames)",
            path.display()
        );
        return Ok(Status::Success);
    };
    engine.set_decode_as(listing.decode_as.clone());
    if let Some(keys) = keys {
        engine.set_tls_keylog(keys);
    }
    let mut saver = match &args.write {
        Some(file) => Some(
            open_saver(
                file,
                &args.write_format,
                engine.reader_mut(),
                args.print_too,
            )
            .map_err(|e| match e {
                SaveError::Usage(why) => Failure::usage(anyhow::anyhow!(why)),
                SaveError::CannotCreate(why) => Failure::cannot_run(anyhow::anyhow!(why)),
            })?,
        ),
        None => None,
    };
    let stdout = io::stdout();
    // Live, each line is written as its frame comes; from a file, in 64 KiB blocks (the inner
    // writer is called once per block, so the indirection costs nothing per frame).
    let (inner, capacity): (Box<dyn Write>, usize) = match live {
        true => (Box::new(io::LineWriter::new(stdout.lock())), 0),
        false => (Box::new(stdout.lock()), 1 << 16),
    };
    let mut out = BufWriter::with_capacity(capacity, inner);
    let progress = {
        use std::io::IsTerminal;
        super::progress_bar(engine.reader().len_hint(), io::stdout().is_terminal())
    };
    let listed = listing.write(
        &mut engine,
        http.as_ref(),
        |frame| filter.as_ref().is_none_or(|f| f.matches(frame)),
        |offset| {
            if let Some(p) = &progress {
                p.set_position(offset);
            }
        },
        &mut out,
        keepsight_report::packets::Taps {
            save: saver.as_mut(),
            stats: (!stats.is_empty()).then_some(&mut stats),
        },
    );
    let listed = listed.and_then(|end| out.write_all(&stats.render()).map(|()| end));
    let saved = saver.map(|s| s.finish(engine.reader()));
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let flushed = out.flush();
    for warning in keepsight_report::packets::damage_warnings(&path, &engine) {
        eprintln!("keepsight: warning: {warning}");
    }
    super::warn_undecrypted(&path, &engine);
    let broken_pipe = |e: &io::Error| e.kind() == io::ErrorKind::BrokenPipe;
    if let Some(Err(e)) = saved {
        return Err(Failure::cannot_run(anyhow::anyhow!("-w: {e}")));
    }
    match (listed, flushed) {
        // `keepsight packets ... | head`: the reader had enough.
        (Err(e), _) | (Ok(_), Err(e)) if broken_pipe(&e) => Ok(Status::Success),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e.into()),
        (Ok(end), Ok(())) => match end.stopped_by {
            None => Ok(Status::Success),
            Some(err) => {
                let what = anyhow::anyhow!(
                    "{}: {err}\nkeepsight: {} frames were read before the problem and are shown above.",
                    path.display(),
                    engine.frames()
                );
                Err(if err.is_damage() {
                    Failure::problem(what)
                } else {
                    Failure::cannot_run(what)
                })
            }
        },
    }
}

/// An engine over the live interfaces of `-i` (libpcap), read as a pcapng stream.
fn live_engine(args: &Args) -> Result<Box<keepsight_engine::Engine>, Failure> {
    let live =
        super::watch::open_interfaces(&args.interface, args.capture_filter.clone(), args.snaplen)?;
    let reader = keepsight_engine::capture::CaptureReader::from_read(Box::new(live.into_pcapng()))
        .map_err(|e| Failure::cannot_run(anyhow::anyhow!("live capture: {e}")))?;
    Ok(Box::new(keepsight_engine::Engine::from_reader(reader)))
}
