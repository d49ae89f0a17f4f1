//! Several capture files or a directory on `diagnose`, `http` and `conv`: the files are
//! grouped into captures by `keepsight-fleet` (ring-buffer sets and contiguous files read as
//! one capture), the captures analysed in parallel, and the results printed as one report in
//! capture order. This module wires that to the commands; each command brings its own
//! analysis and rendering.

use crate::outcome::{Failure, Outcome, Status};
use keepsight_engine::capture::{CaptureError, CaptureReader, ErrorKind};
use keepsight_engine::Engine;
use keepsight_fleet::{CaptureResult, FileSpan};
use keepsight_report::read::ReadEnd;
use std::path::PathBuf;
use std::sync::Arc;

/// `-j N`: the captures analysed at once.
#[derive(clap::Args, Clone, Debug)]
pub struct Jobs {
    /// With several independent captures: how many are analysed at once (0, the default: one
    /// per core). Files of one capture (a ring-buffer set) are always read in one pass.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 0)]
    pub jobs: usize,
}

/// Whether the inputs ask for a fleet run: several paths, or a directory.
pub(crate) fn is_fleet(inputs: &[PathBuf]) -> bool {
    inputs.len() > 1 || inputs.first().is_some_and(|p| p.is_dir())
}

/// The exit status a capture error stands for, as for one file (`open_engine`): damage or
/// not a capture is a problem found (1), an unreadable file a failure to run (3).
fn status_of(e: &CaptureError) -> Status {
    match e.kind {
        ErrorKind::Io(_) => Status::CannotRun,
        _ => Status::ProblemFound,
    }
}

/// One capture analysed: its entry in the merged report, and what went wrong reading it (each
/// error names its file).
pub(crate) struct Analysed<R> {
    pub result: CaptureResult<R>,
    pub errors: Vec<(Status, String)>,
}

/// A reader of `capture`: its one file, or its files as one sequence; `Err` with each file's
/// error when none opens.
pub(crate) fn open_reader(
    capture: &keepsight_fleet::Capture,
) -> Result<CaptureReader, Vec<keepsight_engine::capture::Part>> {
    if capture.files.len() == 1 {
        CaptureReader::open(&capture.files[0]).map_err(|e| {
            vec![keepsight_engine::capture::Part {
                path: capture.files[0].clone(),
                first_frame: 1,
                frames: 0,
                damage: Some(e),
            }]
        })
    } else {
        CaptureReader::open_sequence(&capture.files)
    }
}

/// A second engine over `capture` for a command that reads it twice (`http -Y`): `None`
/// when it does not open (the first pass has said why).
pub(crate) fn reopen(
    capture: &keepsight_fleet::Capture,
    keys: &Option<Arc<keepsight_engine::KeyLog>>,
) -> Option<Engine> {
    let mut engine = Engine::from_reader(open_reader(capture).ok()?);
    if let Some(keys) = keys {
        engine.set_tls_keylog(keys.clone());
    }
    Some(engine)
}

/// Opens `capture` (one file, or a set read as one capture), runs `analyse` over it, and
/// sorts what went wrong by file. `analyse` gets the engine (and the capture, to read it
/// again) and returns its report and how the read ended.
fn analyse_capture<R>(
    capture: &keepsight_fleet::Capture,
    keys: &Option<Arc<keepsight_engine::KeyLog>>,
    analyse: &(impl Fn(&mut Engine, &keepsight_fleet::Capture) -> (R, ReadEnd) + Sync),
) -> Analysed<R> {
    let mut result = CaptureResult {
        capture: capture.name.clone(),
        joined: capture.joined,
        files: Vec::new(),
        error: None,
        report: None,
    };
    let mut errors = Vec::new();
    let opened = open_reader(capture);
    let mut engine = match opened {
        Ok(reader) => Engine::from_reader(reader),
        Err(parts) => {
            for p in &parts {
                if let Some(e) = &p.damage {
                    errors.push((status_of(e), format!("{}: {e}", p.path.display())));
                }
            }
            result.files = FileSpan::of_parts(&parts);
            result.error = Some("no file of the capture could be read".into());
            return Analysed { result, errors };
        }
    };
    if let Some(keys) = keys {
        engine.set_tls_keylog(keys.clone());
    }
    let (report, end) = analyse(&mut engine, capture);
    let parts = engine.reader().parts();
    result.files = if parts.is_empty() {
        vec![FileSpan {
            file: capture.files[0].display().to_string(),
            first_frame: 1,
            frames: u64::from(engine.frames()),
            error: end.damage.as_ref().map(|e| e.to_string()),
        }]
    } else {
        FileSpan::of_parts(parts)
    };
    for p in parts {
        if let Some(e) = &p.damage {
            errors.push((
                status_of(e),
                format!(
                    "{}: {e} (the frames before it were analysed, and the capture's other files)",
                    p.path.display()
                ),
            ));
        }
    }
    if let Some(e) = &end.damage {
        errors.push((
            status_of(e),
            format!(
                "{}: {e} (the frames before it were analysed)",
                capture.files[0].display()
            ),
        ));
    }
    let name = std::path::Path::new(&capture.name);
    super::warn_undecrypted(name, &engine);
    result.report = Some(report);
    Analysed { result, errors }
}

/// The captures of the files and directories given: a path that is neither is a failure to
/// run (exit 3), named.
pub(crate) fn plan(
    inputs: &[PathBuf],
    jobs: usize,
) -> Result<Vec<keepsight_fleet::Capture>, Failure> {
    keepsight_fleet::plan(inputs, jobs).map_err(Failure::cannot_run)
}

/// Runs a fleet: analyses the `captures` them `jobs` at a time with one
/// progress bar, and gives each result to `each` in capture order (to print it at once, or
/// keep it for a JSON document). The status: success when every file was read whole, else
/// the worst of the files' (each error printed naming its file; the other files and
/// captures are still analysed).
pub(crate) fn run<R: Send>(
    captures: &[keepsight_fleet::Capture],
    jobs: usize,
    keys: &Option<Arc<keepsight_engine::KeyLog>>,
    output_on_terminal: bool,
    analyse: impl Fn(&mut Engine, &keepsight_fleet::Capture) -> (R, ReadEnd) + Sync,
    mut each: impl FnMut(CaptureResult<R>) -> Result<(), Failure>,
) -> Outcome {
    let sizes: Vec<u64> = captures
        .iter()
        .map(|c| {
            c.files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum()
        })
        .collect();
    let bar = super::progress_bar(Some(sizes.iter().sum()), output_on_terminal);
    let mut status = Status::Success;
    let mut failed: Option<Failure> = None;
    keepsight_fleet::run(
        captures.len(),
        jobs,
        |i| {
            let analysed = analyse_capture(&captures[i], keys, &analyse);
            if let Some(b) = &bar {
                b.inc(sizes[i]);
            }
            analysed
        },
        |_, analysed| {
            // Said as each capture is done, next to its report, naming the file.
            for (s, message) in &analysed.errors {
                eprintln!("keepsight: {message}");
                status = match (status, *s) {
                    (Status::CannotRun, _) | (_, Status::CannotRun) => Status::CannotRun,
                    _ => Status::ProblemFound,
                };
            }
            if failed.is_none() {
                if let Err(f) = each(analysed.result) {
                    failed = Some(f);
                }
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(f) = failed {
        return Err(f);
    }
    Ok(status)
}
