//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> Outcome`.

pub mod conv;
pub mod diagnose;
pub mod expert;
pub mod fleet;
pub mod follow;
pub mod heartbeat;
pub mod http;
pub mod keepalive;
pub mod packets;
pub mod probe;
pub mod proxy;
pub mod report;
pub mod serve;
mod tables;
pub mod watch;

use crate::outcome::{Failure, Outcome, Status};
use keepsight_engine::Engine;
use keepsight_report::read::ReadEnd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--tls-keylog FILE`, on every command that reads a capture's TLS streams.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsKeys {
    /// NSS key log (the SSLKEYLOGFILE that curl, browsers, OpenSSL and Python write) whose
    /// secrets decrypt the capture's TLS 1.2/1.3 streams; tshark's -o tls.keylog_file:FILE.
    #[arg(long = "tls-keylog", value_name = "FILE")]
    pub tls_keylog: Option<PathBuf>,
}

impl TlsKeys {
    /// Reads the key log, if one was given: a file that cannot be read is a failure to run
    /// (exit 3), one that does not parse a usage error (exit 2) naming the line.
    pub(crate) fn load(&self) -> Result<Option<Arc<keepsight_engine::KeyLog>>, Failure> {
        load_keylog(self.tls_keylog.as_deref())
    }
}

/// [`TlsKeys::load`] for a key log path from any option.
pub(crate) fn load_keylog(
    path: Option<&Path>,
) -> Result<Option<Arc<keepsight_engine::KeyLog>>, Failure> {
    let Some(path) = path else {
        return Ok(None);
    };
    match keepsight_engine::KeyLog::read(path) {
        Ok(keys) => Ok(Some(Arc::new(keys))),
        Err(e) if e.line == 0 => Err(Failure::cannot_run(anyhow::anyhow!(e))),
        Err(e) => Err(Failure::usage(anyhow::anyhow!(e))),
    }
}

/// Warns on stderr about the TLS streams of `path` that the key log did not decrypt (the
/// first ten, then how many more), so a wrong or partial key log is never silent.
pub(crate) fn warn_undecrypted(path: &Path, engine: &Engine) {
    const SHOWN: usize = 10;
    let mut n = 0;
    for (stream, frame, note) in engine.tls_decryption_notes() {
        if n < SHOWN {
            eprintln!(
                "keepsight: warning: {}: TLS stream {stream} (tcp.stream): {note} (frame {frame})",
                path.display()
            );
        }
        n += 1;
    }
    if n > SHOWN {
        eprintln!(
            "keepsight: warning: {}: {} more TLS streams not decrypted",
            path.display(),
            n - SHOWN
        );
    }
}

/// Opens a capture as [`open_capture`] does, its TLS streams decrypted with `keys`.
pub(crate) fn open_capture_keyed(
    path: &Path,
    keys: &Option<Arc<keepsight_engine::KeyLog>>,
) -> Result<Box<Engine>, Failure> {
    let mut engine = open_capture(path)?;
    if let Some(keys) = keys {
        engine.set_tls_keylog(keys.clone());
    }
    Ok(engine)
}

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
    write_report(json, |out| out.write_all(text().as_bytes()))
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
