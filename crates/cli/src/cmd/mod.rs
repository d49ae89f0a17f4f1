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

/// How one [`pass`] over a capture ended.
#[derive(Default)]
pub(crate) struct PassEnd {
    /// Time of the first frame (the capture's time origin), if any frame was read.
    pub first_ns: Option<i64>,
    /// Latest frame time seen (frames may be out of order); 0 when no frame was read.
    pub last_ns: i64,
    /// The damage that stopped the pass early; the frames before it were all handed out.
    pub damage: Option<keepsight_engine::capture::CaptureError>,
}

impl PassEnd {
    /// The exit status for a pass whose results were already printed: 1 with the damage
    /// reported (file, frame and byte offset are in the error's text), else 0. `done` says
    /// what happened to the frames before the damage ("counted", "analysed").
    pub fn exit(self, path: &std::path::Path, done: &str) -> std::process::ExitCode {
        match self.damage {
            Some(e) => {
                eprintln!(
                    "keepsight: {}: {e} (the frames before it were {done})",
                    path.display()
                );
                std::process::ExitCode::from(EXIT_PROBLEMS)
            }
            None => std::process::ExitCode::SUCCESS,
        }
    }
}

/// The one read loop of the analysis commands (`diagnose`, `report`, `conv`, `expert`): every
/// frame in file order to `each`, until the end or the first damage, which ends the pass but
/// not the analysis (what was read stays valid). Keeps the time origin and the latest time,
/// and moves `progress` (by file offset) every 65,536 frames: often enough to be seen, rare
/// enough to cost nothing. `None` as engine is an empty (0-byte) capture: no frames.
pub(crate) fn pass(
    engine: Option<&mut keepsight_engine::Engine>,
    progress: Option<&indicatif::ProgressBar>,
    mut each: impl FnMut(&keepsight_engine::Frame<'_>),
) -> PassEnd {
    let mut end = PassEnd::default();
    let Some(engine) = engine else {
        return end;
    };
    let mut read = 0u64;
    loop {
        let frame = match engine.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                end.damage = Some(e);
                break;
            }
        };
        read += 1;
        if read.is_multiple_of(65_536) {
            if let Some(p) = progress {
                p.set_position(frame.record.file_offset);
            }
        }
        end.first_ns.get_or_insert(frame.ts_ns);
        end.last_ns = end.last_ns.max(frame.ts_ns);
        each(&frame);
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    end
}
