//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> Outcome`.

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

use crate::outcome::{Failure, Outcome, Status};
use keepsight_engine::Engine;
use keepsight_report::read::ReadEnd;
use std::path::Path;

/// Opens a capture: a damaged file, or one that is not a capture, is a problem found (exit 1);
/// a file that cannot be read is a failure to run (exit 3). The message names the file, and for
/// damage the frame and byte offset. `Ok(None)` is a 0-byte file: an empty capture, as for
/// tshark; each command decides what that means for it.
pub(crate) fn open_engine(path: &Path) -> Result<Option<Box<Engine>>, Failure> {
    use keepsight_report::Opened;
    match keepsight_report::open(path) {
        Opened::Ready(engine) => Ok(Some(engine)),
        Opened::Empty => Ok(None),
        Opened::Problem(e) => Err(Failure::problem(anyhow::anyhow!("{}: {e}", path.display()))),
        Opened::Failure(e) => Err(Failure::cannot_run(anyhow::anyhow!(
            "{}: {e}",
            path.display()
        ))),
    }
}

/// [`open_engine`] for analyses, for which an empty file is a problem (exit 1).
pub(crate) fn open_capture(path: &Path) -> Result<Box<Engine>, Failure> {
    open_engine(path)?.ok_or_else(|| {
        Failure::problem(anyhow::anyhow!(
            "{}: the file is empty (no capture header)",
            path.display()
        ))
    })
}

/// Prints a report on stdout: `json` pretty-printed with a final newline when the user asked
/// for JSON (`Some`), else what `text` renders.
pub(crate) fn print_report(
    json: Option<&impl serde::Serialize>,
    text: impl FnOnce() -> String,
) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match json {
        Some(document) => {
            serde_json::to_writer_pretty(&mut out, document)?;
            writeln!(out)?;
        }
        None => out.write_all(text().as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// [`print_report`] for a text written piece by piece (a table of a million rows is not held
/// as one string).
pub(crate) fn write_report(
    json: Option<&impl serde::Serialize>,
    text: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match json {
        Some(document) => {
            serde_json::to_writer_pretty(&mut out, document)?;
            writeln!(out)?;
        }
        None => text(&mut out)?,
    }
    out.flush()?;
    Ok(())
}

/// A display filter given with `-Y`: one that does not compile is a usage error.
pub(crate) fn compile_filter(
    expr: Option<&str>,
    what: &str,
) -> Result<Option<keepsight_filter::Filter>, Failure> {
    expr.map(keepsight_filter::Filter::compile)
        .transpose()
        .map_err(|e| Failure::usage(anyhow::anyhow!("{what}{e}")))
}

/// How a command whose results were already printed ended: a problem found when the capture
/// is damaged (file, frame and byte offset are in the error's text), else success. `done` says
/// what happened to the frames before the damage ("counted", "analysed").
pub(crate) fn outcome(end: &ReadEnd, path: &Path, done: &str) -> Outcome {
    match &end.damage {
        Some(e) => Err(Failure::problem(anyhow::anyhow!(
            "{}: {e} (the frames before it were {done})",
            path.display()
        ))),
        None => Ok(Status::Success),
    }
}

/// A progress bar on stderr for long runs (files of 64 MiB or more): only when stderr is a
/// terminal and the output does not go to it (a bar would garble it).
pub(crate) fn progress_bar(
    total: Option<u64>,
    output_on_terminal: bool,
) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let total = total?;
    if !std::io::stderr().is_terminal() || output_on_terminal || total < (64 << 20) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
