//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub mod conv;
pub mod diagnose;
pub mod expert;
pub mod follow;
pub mod heartbeat;
pub mod http;
pub mod keepalive;
pub mod packets;
pub mod proxy;
pub mod serve;

/// Exit codes shared by every subcommand, so scripts can tell outcomes apart.
/// 0: success. 1: the command ran but found problems (damaged capture, failed check).
/// 2: usage error (clap's own code). 3: the command could not run (I/O, bind, ...).
pub const EXIT_PROBLEMS: u8 = 1;
pub const EXIT_FAILURE: u8 = 3;

/// Opens a capture for a command that reads one, with the exit status every command uses: a
/// damaged file, or one that is not a capture, exits 1; a file that cannot be read exits 3.
/// The message names the file, and for damage the frame and byte offset.
pub(crate) fn open_capture(
    path: &std::path::Path,
) -> Result<keepsight_engine::Engine, std::process::ExitCode> {
    use keepsight_engine::capture::ErrorKind;
    match keepsight_engine::Engine::open(path) {
        Ok(e) => Ok(e),
        Err(e) => {
            eprintln!("keepsight: {}: {e}", path.display());
            let problem = e.is_damage()
                || matches!(
                    e.kind,
                    ErrorKind::UnknownFormat { .. } | ErrorKind::Empty | ErrorKind::Unsupported(_)
                );
            Err(std::process::ExitCode::from(if problem {
                EXIT_PROBLEMS
            } else {
                EXIT_FAILURE
            }))
        }
    }
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
