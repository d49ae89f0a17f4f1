//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub mod conv;
pub mod diagnose;
pub mod expert;
pub mod follow;
pub mod heartbeat;
pub mod http;
pub mod keepalive;
pub mod packets;
pub mod probe;
pub mod proxy;
pub mod report;
pub mod serve;

/// Exit codes shared by every subcommand, so scripts can tell outcomes apart.
/// 0: success. 1: the command ran but found problems (damaged capture, failed check).
/// 2: usage error (clap's own code). 3: the command could not run (I/O, bind, ...).
pub const EXIT_PROBLEMS: u8 = 1;
pub const EXIT_FAILURE: u8 = 3;

/// Opens a capture with the exit status every command uses: a damaged file, or one that is not a
/// capture, exits 1; a file that cannot be read exits 3. The message names the file, and for
/// damage the frame and byte offset. `Ok(None)` is a 0-byte file: an empty capture, as for
/// tshark; each command decides what that means for it.
pub(crate) fn open_engine(
    path: &std::path::Path,
) -> Result<Option<Box<keepsight_engine::Engine>>, std::process::ExitCode> {
    use keepsight_report::Opened;
    let (e, code) = match keepsight_report::open(path) {
        Opened::Ready(engine) => return Ok(Some(engine)),
        Opened::Empty => return Ok(None),
        Opened::Problem(e) => (e, EXIT_PROBLEMS),
        Opened::Failure(e) => (e, EXIT_FAILURE),
    };
    eprintln!("keepsight: {}: {e}", path.display());
    Err(std::process::ExitCode::from(code))
}

/// [`open_engine`] for analyses, for which an empty file is a problem (exit 1).
pub(crate) fn open_capture(
    path: &std::path::Path,
) -> Result<Box<keepsight_engine::Engine>, std::process::ExitCode> {
    open_engine(path)?.ok_or_else(|| {
        eprintln!(
            "keepsight: {}: the file is empty (no capture header)",
            path.display()
        );
        std::process::ExitCode::from(EXIT_PROBLEMS)
    })
}

/// The HTTP analyzer's view of one TCP frame (shared by `http` and `packets`).
pub(crate) fn http_segment<'a>(
    frame: &'a keepsight_engine::Frame<'a>,
) -> Option<keepsight_http::Segment<'a>> {
    let tcp = frame.tcp.as_ref()?;
    let (src, dst) = frame.endpoints()?;
    let h = frame.dissection.tcp(frame.data())?;
    Some(keepsight_http::Segment {
        frame: frame.number,
        ts_ns: frame.ts_ns,
        stream: tcp.stream,
        src,
        dst,
        flags: h.flags().0,
        seq: tcp.seq,
        ack: tcp.ack,
        len: frame.tcp_len().unwrap_or(0),
        payload: frame.tcp_payload(),
        keep_alive: tcp.flags.0 & keepsight_engine::tcp::flag::KEEP_ALIVE != 0,
    })
}
