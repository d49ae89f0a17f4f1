//! `--parquet DIR` on `diagnose`: the flags, and the wiring of `keepsight-tables` into the
//! command's one pass (segments as they are read, the report's tables at the end).

use crate::outcome::Failure;
use keepsight_engine::Frame;
use keepsight_report::analyses::Isns;
use keepsight_tables::{Capture, Segments};
use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};

/// The table flags.
#[derive(clap::Args)]
pub(crate) struct TableArgs {
    /// Also write the diagnosis as Parquet tables under DIR (streams, findings, heartbeats,
    /// log_matches), Hive-partitioned as DIR/TABLE/host=HOST/date=YYYY-MM-DD/CAPTURE_ID.parquet
    /// for DuckDB, Spark, Trino or Athena (see the README).
    #[arg(long, value_name = "DIR")]
    parquet: Option<PathBuf>,
    /// With --parquet: also the segments table (one row per TCP segment).
    #[arg(long, requires = "parquet")]
    parquet_segments: bool,
    /// With --parquet: the host= partition (default: the capture's first interface name, else
    /// "unknown").
    #[arg(long, value_name = "NAME", requires = "parquet")]
    parquet_host: Option<String>,
}

/// The tables of one capture being written.
pub(crate) struct Tables {
    dir: PathBuf,
    given_host: Option<String>,
    file: String,
    /// The file's id, when it can be read again (not standard input).
    file_id: Option<String>,
    /// Set at the first frame: the partition host and the capture's id.
    capture: Option<Capture>,
    segments: Option<Segments>,
    wants_segments: bool,
    /// The first error writing segments; the pass goes on, the command fails at the end.
    error: Option<keepsight_tables::Error>,
}

impl TableArgs {
    /// Whether tables are asked for.
    pub(crate) fn wanted(&self) -> bool {
        self.parquet.is_some()
    }

    /// The tables to write for the capture at `path`, if asked for; `opts` is told to keep
    /// every heartbeat beat.
    pub(crate) fn start(
        &self,
        path: &Path,
        opts: &mut keepsight_diagnose::Options,
    ) -> Result<Option<Tables>, Failure> {
        let Some(dir) = &self.parquet else {
            return Ok(None);
        };
        opts.record_beats = true;
        let file_id = if keepsight_report::is_stdin(path) {
            None
        } else {
            Some(
                keepsight_tables::capture_id(path)
                    .map_err(|e| Failure::cannot_run(anyhow::anyhow!("{}: {e}", path.display())))?,
            )
        };
        Ok(Some(Tables {
            dir: dir.clone(),
            given_host: self.parquet_host.clone(),
            file: path.display().to_string(),
            file_id,
            capture: None,
            segments: None,
            wants_segments: self.parquet_segments,
            error: None,
        }))
    }
}

impl Tables {
    fn capture(&mut self, interface: Option<&str>, first_bytes: &[u8], first_ns: i64) -> &Capture {
        let (given, file, file_id) = (&self.given_host, &self.file, &self.file_id);
        self.capture.get_or_insert_with(|| Capture {
            // Standard input cannot be read again: its first frame and time name it.
            id: file_id
                .clone()
                .unwrap_or_else(|| keepsight_tables::id_of(first_ns as u64, first_bytes)),
            file: file.clone(),
            host: keepsight_tables::host_label(given.as_deref(), interface),
        })
    }

    /// Called for every frame, with its diagnosis segment (TCP frames only).
    #[inline]
    pub(crate) fn on_frame(
        &mut self,
        frame: &Frame<'_>,
        segment: Option<&keepsight_tcp::Segment<'_>>,
    ) {
        if self.capture.is_none() {
            let cap = self
                .capture(frame.record.interface_name, frame.data(), frame.ts_ns)
                .clone();
            if self.wants_segments {
                self.segments = Some(Segments::new(&self.dir, cap));
            }
        }
        let (Some(w), Some(seg), None) = (&mut self.segments, segment, &self.error) else {
            return;
        };
        let Some(h) = frame.tcp_header() else { return };
        if let Err(e) = w.push(seg, h.seq(), h.ack()) {
            self.error = Some(e);
        }
    }

    /// Writes the report's tables (and closes the segments'); says on stderr what it wrote.
    pub(crate) fn finish(
        mut self,
        report: &keepsight_diagnose::Report,
        isns: &FxHashMap<u32, Isns>,
        first_interface: Option<&str>,
    ) -> Result<(), Failure> {
        let fail = |e: keepsight_tables::Error| Failure::cannot_run(anyhow::anyhow!(e));
        if let Some(e) = self.error.take() {
            return Err(fail(e));
        }
        let capture = self.capture(first_interface, &[], 0).clone();
        let isn = |s: u32| isns.get(&s).map_or((None, None), |i| (i.client, i.server));
        let mut written =
            keepsight_tables::write_report(&self.dir, &capture, report, &isn).map_err(fail)?;
        if let Some(w) = self.segments.take() {
            written.extend(w.finish().map_err(fail)?);
        }
        let rows: Vec<String> = written
            .iter()
            .map(|w| format!("{} {}", w.table, w.rows))
            .collect();
        eprintln!(
            "keepsight: wrote Parquet tables under {} (host={}, capture {}): {} rows",
            self.dir.display(),
            capture.host,
            capture.id,
            rows.join(", ")
        );
        Ok(())
    }
}
