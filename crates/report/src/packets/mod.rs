//! tshark's frame listing (`keepsight packets`): the one-line summary, `-T fields -e ...` with
//! `-E` options, `-T json`, `-t` time formats, written frame by frame with no allocation per
//! frame in the summary and fields modes.

mod columns;
pub mod decode_as;
pub mod details;
mod hex;
mod http_layer;
mod prefs;

pub use columns::{
    info, info_of, info_with, protocol, protocol_with, psml_packet, push_time, push_xml_escaped,
    summary_line, summary_line_with, DatePart, Scratch, TimeFormat,
};
pub use hex::hex_dump;
pub use http_layer::{needs_http_pass, AppColumns, HttpLayer, WithHttp};
pub use prefs::{tls_keylog_file, TcpPreferences, TLS_KEYLOG_FILE};

use keepsight_engine::capture::{CaptureError, CaptureReader, CaptureWriter, WriteFormat};
use keepsight_engine::{Engine, Frame};
use keepsight_fields::{lookup, render, FieldId, Packet, Value};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The output modes of `-T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One summary line per frame.
    Text,
    /// The `-e` columns, separated and quoted as `-E` says.
    Fields,
    /// tshark's `-T json` (with `-e`: only those fields).
    Json,
    /// tshark's `-T ek`: an Elasticsearch bulk index line, then the document on one line:
    /// the `-e` fields (dots turned into underscores), or without `-e` the protocol tree.
    Ek,
    /// tshark's `-T psml`: the summary line's columns as XML.
    Psml,
    /// tshark's `-T pdml`: the protocol tree as XML, with each field's name, position,
    /// size and value.
    Pdml,
}

impl Format {
    /// The `-T` names, in the order `--help` lists them.
    pub const NAMES: [&'static str; 6] = ["text", "fields", "json", "ek", "pdml", "psml"];

    /// From a `-T` name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "text" => Some(Format::Text),
            "fields" => Some(Format::Fields),
            "json" => Some(Format::Json),
            "ek" => Some(Format::Ek),
            "psml" => Some(Format::Psml),
            "pdml" => Some(Format::Pdml),
            _ => None,
        }
    }
}

/// A column requested with -e: a registered field or one of tshark's `_ws.col.*` columns.
#[derive(Clone, Copy, Debug)]
pub enum Column {
    /// A registered field.
    Field(FieldId),
    /// `_ws.col.Info`.
    Info,
    /// `_ws.col.Protocol`.
    Protocol,
}

impl Column {
    /// The column a `-e` name stands for; `None` for a name keepsight does not know.
    pub fn resolve(name: &str) -> Option<Column> {
        match name {
            "_ws.col.Info" | "_ws.col.info" => Some(Column::Info),
            "_ws.col.Protocol" | "_ws.col.protocol" => Some(Column::Protocol),
            _ => lookup(name).map(Column::Field),
        }
    }

    /// True when this column needs the [`HttpLayer`].
    pub fn needs_http_pass(self) -> bool {
        matches!(self, Column::Field(id) if needs_http_pass(id))
    }
}

/// Which occurrences of a repeated field `-T fields` prints (`-E occurrence=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occurrence {
    /// `f`: the first.
    First,
    /// `l`: the last.
    Last,
    /// `a`: all, joined by the aggregator.
    All,
}

/// tshark's `-E` field-output options.
#[derive(Clone, Debug)]
pub struct FieldOptions {
    /// `header=y`: a first line naming the fields.
    pub header: bool,
    /// Between fields (`/t`, `/s` or a character).
    pub separator: String,
    /// Which occurrences of a repeated field.
    pub occurrence: Occurrence,
    /// Between occurrences.
    pub aggregator: String,
    /// Around each field (`quote=d|s|n`).
    pub quote: Option<char>,
}

impl Default for FieldOptions {
    fn default() -> Self {
        FieldOptions {
            header: false,
            separator: "\t".into(),
            occurrence: Occurrence::All,
            aggregator: ",".into(),
            quote: None,
        }
    }
}

impl FieldOptions {
    /// Reads `-E OPTION=VALUE` arguments (header, separator, occurrence, aggregator, quote,
    /// bom); the error names the option and what it takes.
    pub fn parse(opts: &[String]) -> Result<FieldOptions, String> {
        let mut o = FieldOptions::default();
        let char_opt = |v: &str| -> String {
            match v {
                "/t" => "\t".into(),
                "/s" => " ".into(),
                other => other.chars().next().map(String::from).unwrap_or_default(),
            }
        };
        for opt in opts {
            let Some((k, v)) = opt.split_once('=') else {
                return Err(format!("-E {opt}: expected OPTION=VALUE (header=y, separator=/t, occurrence=a, aggregator=',', quote=n)"));
            };
            match k {
                "header" => o.header = matches!(v, "y" | "Y"),
                "separator" => o.separator = char_opt(v),
                "aggregator" => o.aggregator = char_opt(v),
                "occurrence" => {
                    o.occurrence = match v {
                        "f" => Occurrence::First,
                        "l" => Occurrence::Last,
                        "a" => Occurrence::All,
                        _ => {
                            return Err(format!(
                                "-E occurrence={v}: expected f (first), l (last) or a (all)"
                            ))
                        }
                    }
                }
                "quote" => {
                    o.quote = match v {
                        "d" => Some('"'),
                        "s" => Some('\''),
                        "n" => None,
                        _ => return Err(format!("-E quote={v}: expected d, s or n")),
                    }
                }
                "bom" => {}
                _ => {
                    return Err(format!(
                        "-E {k}: unknown option (header, separator, occurrence, aggregator, quote, bom)"
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// What to list and how.
pub struct Listing {
    /// `-T`.
    pub format: Format,
    /// The `-e` names as given (the header line repeats them) and their columns.
    pub fields: Vec<(String, Column)>,
    /// `-E`.
    pub field_options: FieldOptions,
    /// `-t`.
    pub time: TimeFormat,
    /// Stop after reading this many frames (`-c`).
    pub count: Option<u64>,
    /// Print the listing (tshark prints nothing with `-w` unless `-P`, nor with `-q`).
    pub print: bool,
    /// `-x`: each frame's bytes as tshark's hex dump, after its summary line if `summary`.
    pub hex: bool,
    /// The summary line in text mode (tshark leaves it out under `-x` unless `-P`).
    pub summary: bool,
    /// `-o` TCP preferences.
    pub tcp_preferences: TcpPreferences,
    /// `-d` decode-as rules, for [`keepsight_engine::Engine::set_decode_as`].
    pub decode_as: keepsight_engine::decode_as::DecodeAs,
    /// `-V` / `-O`: each frame's protocol tree instead of its summary line.
    pub details: Option<details::Details>,
    /// tshark builds each frame's protocol tree: true with a display filter (the caller sets
    /// it), `-V`/`-O` and every `-T` but text. Some dissectors fill the Info column only then.
    pub tree: bool,
    /// The capture's name as given, which `-T pdml` repeats in its header.
    pub capture_file: String,
}

/// Where `-w` writes the frames the filter keeps.
pub type Saver = keepsight_engine::capture::CaptureWriter<Box<dyn Write>>;

/// The listing flags as given on the command line, before they are checked.
pub struct ListingFlags<'a> {
    /// `-T`.
    pub format: &'a str,
    /// `-e`, in order.
    pub fields: &'a [String],
    /// `-E`.
    pub field_options: &'a [String],
    /// `-t`.
    pub time_format: &'a str,
    /// `-c`.
    pub count: Option<u64>,
    /// `-w` was given.
    pub writing: bool,
    /// `-P`.
    pub print_too: bool,
    /// `-x`.
    pub hex: bool,
    /// `-q`.
    pub quiet: bool,
    /// `-o`.
    pub preferences: &'a [String],
    /// `-d`.
    pub decode_as: &'a [String],
    /// `-V`.
    pub details: bool,
    /// `-O`: the protocols whose details are shown.
    pub details_of: Option<&'a str>,
    /// The capture file as given (`-` for standard input).
    pub capture_file: &'a str,
}

impl Listing {
    /// The listing the flags ask for, or why they do not go together (a usage error).
    pub fn from_flags(flags: &ListingFlags<'_>) -> Result<Listing, String> {
        let fields = flags
            .fields
            .iter()
            .map(|name| Ok((name.clone(), column(name)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let format = Format::parse(flags.format).unwrap_or(Format::Text);
        if flags.hex && format != Format::Text {
            return Err(format!(
                "-x dumps frames in the text output; it does not combine with -T {}",
                flags.format
            ));
        }
        let details = match (flags.details, flags.details_of) {
            (_, Some(list)) => Some(details::Details::only(list)?.with_hex_dump(flags.hex)),
            (true, None) => Some(details::Details::all().with_hex_dump(flags.hex)),
            (false, None) => None,
        };
        if details.is_some() && format != Format::Text {
            return Err(format!(
                "-V/-O print the packet tree in the text output; they do not combine with -T {}",
                flags.format
            ));
        }
        if format == Format::Fields && fields.is_empty() {
            return Err("-T fields needs at least one -e FIELD".into());
        }
        Ok(Listing {
            format,
            fields,
            field_options: FieldOptions::parse(flags.field_options)?,
            time: TimeFormat::parse(flags.time_format).unwrap_or(TimeFormat::Relative),
            count: flags.count,
            print: !flags.quiet && (!flags.writing || flags.print_too),
            hex: flags.hex,
            summary: !flags.hex || flags.print_too,
            tcp_preferences: TcpPreferences::parse(flags.preferences)?,
            decode_as: decode_as::parse(flags.decode_as)?,
            // PSML writes the summary's columns, without a tree (FIX's Info stays empty).
            tree: details.is_some() || !matches!(format, Format::Text | Format::Psml),
            details,
            capture_file: flags.capture_file.to_string(),
        })
    }
}

/// A `-e` name as a column; an unknown one is refused with the nearest known name.
fn column(name: &str) -> Result<Column, String> {
    Column::resolve(name).ok_or_else(|| {
        let hint = keepsight_filter::suggest_field(name)
            .map(|s| format!(" — did you mean `{s}`?"))
            .unwrap_or_default();
        format!("-e {name}: unknown field{hint} (see `keepsight packets --list-fields`)")
    })
}

/// Why the `-w` destination could not be opened.
#[derive(Debug)]
pub enum SaveError {
    /// The flags do not go together (exit 2).
    Usage(String),
    /// The file could not be created (exit 3).
    CannotCreate(String),
}

/// The `-w` writer for `reader`'s capture: to `file`, or to standard output (`-`) when the
/// listing is not printed there too (`-P`).
pub fn open_saver(
    file: &Path,
    format: &str,
    reader: &mut CaptureReader,
    listing_too: bool,
) -> Result<Saver, SaveError> {
    let format = WriteFormat::parse(format).unwrap_or(WriteFormat::PcapNg);
    let out: Box<dyn Write> = if crate::is_stdin(file) {
        if listing_too {
            return Err(SaveError::Usage(
                "-P with -w -: the listing and the capture would share standard output".into(),
            ));
        }
        Box::new(BufWriter::with_capacity(1 << 16, io::stdout()))
    } else {
        let created = std::fs::File::create(file)
            .map_err(|e| SaveError::CannotCreate(format!("-w {}: {e}", file.display())))?;
        Box::new(BufWriter::with_capacity(1 << 16, created))
    };
    Ok(CaptureWriter::new(out, format, reader))
}

/// What a listing feeds besides its output: the `-w` writer (the frames the filter keeps)
/// and the `-z` statistics (every frame read).
#[derive(Default)]
pub struct Taps<'a> {
    /// `-w`, made for this engine before its first frame.
    pub save: Option<&'a mut Saver>,
    /// `-z`.
    pub stats: Option<&'a mut crate::stats::Statistics>,
}

/// How a listing ended.
pub struct ListEnd {
    /// The error that stopped the reading early (the frames before it were listed).
    pub stopped_by: Option<CaptureError>,
}

impl Listing {
    /// True when some column needs the [`HttpLayer`].
    pub fn needs_http_pass(&self) -> bool {
        self.fields.iter().any(|(_, c)| c.needs_http_pass())
    }

    /// True when some column, or some field the display filter reads, needs the [`HttpLayer`].
    pub fn needs_http_pass_with(&self, mut filter_fields: impl Iterator<Item = FieldId>) -> bool {
        self.needs_http_pass() || filter_fields.any(needs_http_pass)
    }

    /// Lists the frames of `engine` that `keep` accepts to `out`, and feeds `taps` (`-w`,
    /// `-z`). `progress` is told the file
    /// offset every 65,536 frames. Output errors end the listing and are returned; a read
    /// error ends it too and is in the [`ListEnd`].
    pub fn write(
        &self,
        engine: &mut Engine,
        http: Option<&HttpLayer>,
        mut keep: impl FnMut(&dyn Packet) -> bool,
        mut progress: impl FnMut(u64),
        out: &mut impl Write,
        taps: Taps<'_>,
    ) -> io::Result<ListEnd> {
        let Taps {
            mut save,
            mut stats,
        } = taps;
        let saved = |e: keepsight_engine::capture::WriteError| match e {
            keepsight_engine::capture::WriteError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        };
        let mut printer = Printer {
            listing: self,
            http,
            app: AppColumns::Own,
            http_info: String::new(),
            line: String::with_capacity(256),
            scratch: Scratch::default(),
            json_first: true,
            details: self.details.clone(),
            reassembly: details::Reassembly::default(),
            tree: details::Details::all(),
            nodes: details::Nodes::default(),
        };
        let mut prev_displayed: Option<i64> = None;
        let mut read = 0u64;
        if self.print {
            printer.begin(out)?;
        }
        let stopped_by = loop {
            if self.count.is_some_and(|limit| read >= limit) {
                break None;
            }
            let mut frame = match engine.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break None,
                Err(e) => break Some(e),
            };
            read += 1;
            if read.is_multiple_of(65_536) {
                progress(frame.record.file_offset);
            }
            self.tcp_preferences.apply(&mut frame);
            if let Some(stats) = stats.as_deref_mut() {
                stats.on_frame(&frame);
            }
            let tcp_times = self.tcp_preferences.calculate_timestamps;
            let kept = keep(&WithHttp {
                frame: &frame,
                http,
                tcp_times,
            });
            if let Some(save) = save.as_deref_mut() {
                save.record(&frame.record, kept).map_err(saved)?;
            }
            let tree_export = matches!(self.format, Format::Pdml)
                || matches!(self.format, Format::Ek) && self.fields.is_empty();
            if self.print && (self.details.is_some() || self.hex || tree_export) {
                printer.reassembly.observe(&frame);
            }
            if !kept || !self.print {
                continue;
            }
            frame.time_delta_displayed_ns = prev_displayed.map(|p| frame.ts_ns - p).unwrap_or(0);
            prev_displayed = Some(frame.ts_ns);
            printer.frame(
                &frame,
                &WithHttp {
                    frame: &frame,
                    http,
                    tcp_times,
                },
                out,
            )?;
        };
        // After damage the output stops where the reading did, as tshark's does.
        if stopped_by.is_none() && self.print {
            printer.end(out)?;
        }
        Ok(ListEnd { stopped_by })
    }
}

/// Damaged records tshark reads without complaint (it only adds an expert note to the frame),
/// with where they are, so a user knows the times shown are the writer's: the first ten, then
/// how many more.
pub fn damage_warnings(path: &std::path::Path, engine: &Engine) -> Vec<String> {
    const SHOWN: usize = 10;
    let (kept, total) = engine.damage();
    let mut lines: Vec<String> = kept
        .iter()
        .take(SHOWN)
        .map(|d| {
            format!(
                "{}: frame {} (record at byte offset {}): {}",
                path.display(),
                d.frame,
                d.offset,
                d.what
            )
        })
        .collect();
    if total > SHOWN as u64 {
        lines.push(format!(
            "{}: {} more damaged records not listed",
            path.display(),
            total - SHOWN as u64
        ));
    }
    lines
}

struct Printer<'a> {
    listing: &'a Listing,
    http: Option<&'a HttpLayer>,
    /// The current frame's columns as HTTP over TLS names them, and its HTTP Info text.
    app: AppColumns,
    http_info: String,
    line: String,
    scratch: Scratch,
    json_first: bool,
    details: Option<details::Details>,
    reassembly: details::Reassembly,
    /// Records each frame's tree for `-T pdml` and `-T ek` without `-e`.
    tree: details::Details,
    nodes: details::Nodes,
}

impl Printer<'_> {
    fn begin(&mut self, out: &mut impl Write) -> io::Result<()> {
        let l = self.listing;
        match l.format {
            Format::Fields if l.field_options.header => {
                let names: Vec<&str> = l.fields.iter().map(|(n, _)| n.as_str()).collect();
                writeln!(out, "{}", names.join(&l.field_options.separator))
            }
            Format::Json => out.write_all(b"[\n"),
            Format::Psml => out.write_all(columns::PSML_HEADER.as_bytes()),
            Format::Pdml => {
                let mut header = String::new();
                details::export::pdml_header(&l.capture_file, &ctime_now(), &mut header);
                out.write_all(header.as_bytes())
            }
            _ => Ok(()),
        }
    }

    fn end(&mut self, out: &mut impl Write) -> io::Result<()> {
        if self.listing.format == Format::Json {
            if !self.json_first {
                out.write_all(b"\n")?;
            }
            out.write_all(b"]\n")?;
        }
        if self.listing.format == Format::Psml {
            out.write_all(columns::PSML_TRAILER.as_bytes())?;
        }
        if self.listing.format == Format::Pdml {
            out.write_all(details::export::PDML_TRAILER.as_bytes())?;
        }
        Ok(())
    }

    fn frame(&mut self, f: &Frame<'_>, view: &dyn Packet, out: &mut impl Write) -> io::Result<()> {
        self.line.clear();
        self.http_info.clear();
        self.app = match self.http {
            Some(h) if f.plain.is_some() => h.columns(f, &mut self.http_info),
            _ => AppColumns::Own,
        };
        match self.listing.format {
            Format::Fields => self.fields_line(f, view),
            Format::Json => self.json(f, view),
            Format::Ek if self.listing.fields.is_empty() => {
                self.tree.nodes(f, view, &self.reassembly, &mut self.nodes);
                details::export::ek_packet(f, &self.nodes, &mut self.line);
            }
            Format::Ek => self.ek(f, view),
            Format::Pdml => {
                self.tree.nodes(f, view, &self.reassembly, &mut self.nodes);
                details::export::pdml_packet(f, &self.nodes, &mut self.line);
                return out.write_all(self.line.as_bytes());
            }
            Format::Psml => {
                psml_packet(
                    f,
                    self.app,
                    &self.http_info,
                    self.listing.time,
                    self.listing.tree,
                    &mut self.line,
                    &mut self.scratch,
                );
                // The packet element ends its own lines.
                return out.write_all(self.line.as_bytes());
            }
            Format::Text if self.details.is_some() => {
                if let Some(d) = self.details.as_mut() {
                    d.frame(f, view, &self.reassembly, &mut self.line);
                }
                if self.listing.hex {
                    self.line.push('\n');
                    self.hex(f);
                }
            }
            Format::Text if self.listing.hex => {
                if self.listing.summary {
                    summary_line_with(
                        f,
                        self.app,
                        &self.http_info,
                        self.listing.time,
                        self.listing.tree,
                        &mut self.line,
                        &mut self.scratch,
                    );
                    self.line.push_str("\n\n");
                }
                self.hex(f);
            }
            Format::Text => summary_line_with(
                f,
                self.app,
                &self.http_info,
                self.listing.time,
                self.listing.tree,
                &mut self.line,
                &mut self.scratch,
            ),
        }
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }

    /// `-x`: the frame's bytes, and after them those of the HTTP message it completes.
    fn hex(&mut self, f: &Frame<'_>) {
        let sources = self.reassembly.extra_sources();
        if sources.is_empty() || f.reassembled.is_some() {
            hex_dump(f, &mut self.line);
            return;
        }
        hex::titled_dump("Frame", f.record.data, &mut self.line);
        for (title, bytes) in &sources {
            hex::titled_dump(title, bytes, &mut self.line);
        }
    }

    fn fields_line(&mut self, f: &Frame<'_>, view: &dyn Packet) {
        let o = &self.listing.field_options;
        for (i, (_, col)) in self.listing.fields.iter().enumerate() {
            if i > 0 {
                self.line.push_str(&o.separator);
            }
            if let Some(q) = o.quote {
                self.line.push(q);
            }
            let app = (self.app, self.http_info.as_str());
            column_value(
                f,
                view,
                app,
                *col,
                o.occurrence,
                &o.aggregator,
                &mut self.line,
            );
            if let Some(q) = o.quote {
                self.line.push(q);
            }
        }
    }

    fn ek(&mut self, f: &Frame<'_>, view: &dyn Packet) {
        details::export::ek_start(f, &mut self.line);
        let mut first = true;
        let mut value = String::new();
        for (name, col) in &self.listing.fields {
            let mut values: Vec<String> = Vec::new();
            match *col {
                Column::Field(id) => view.visit(id, &mut |v| {
                    value.clear();
                    render::render(id.def(), v, &mut value);
                    values.push(serde_json::Value::String(value.clone()).to_string());
                }),
                col => {
                    value.clear();
                    let app = (self.app, self.http_info.as_str());
                    column_value(f, view, app, col, Occurrence::All, ",", &mut value);
                    values.push(serde_json::Value::String(value.clone()).to_string());
                }
            }
            if values.is_empty() {
                continue;
            }
            if !first {
                self.line.push(',');
            }
            first = false;
            let _ = write!(
                self.line,
                "\"{}\":[{}]",
                name.replace('.', "_"),
                values.join(",")
            );
        }
        self.line.push_str("}}");
    }

    fn json(&mut self, f: &Frame<'_>, view: &dyn Packet) {
        let date = {
            let t = render::broken_down(f.ts_ns, false);
            format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
        };
        if !self.json_first {
            self.line.push_str(",\n");
        }
        self.json_first = false;
        self.line.push_str(&format!(
            "  {{\n    \"_index\": \"packets-{date}\",\n    \"_type\": \"doc\",\n    \"_score\": null,\n    \"_source\": {{\n      \"layers\": {{\n"
        ));
        let every: Vec<(String, Column)>;
        let names = if self.listing.fields.is_empty() {
            // Without -e, every field present in the frame, as flat name → values pairs.
            every = keepsight_fields::all_fields()
                .filter(|(id, def)| {
                    def.ftype != keepsight_fields::FieldType::Protocol && f.has(*id)
                })
                .map(|(id, def)| {
                    let col = Column::resolve(def.name).unwrap_or(Column::Field(id));
                    (def.name.to_string(), col)
                })
                .collect();
            &every
        } else {
            &self.listing.fields
        };
        let mut first = true;
        for (name, col) in names {
            let mut values: Vec<String> = Vec::new();
            match *col {
                Column::Field(id) => view.visit(id, &mut |v| {
                    let mut s = String::new();
                    render::render(id.def(), v, &mut s);
                    values.push(s);
                }),
                col => {
                    let mut s = String::new();
                    let app = (self.app, self.http_info.as_str());
                    column_value(f, view, app, col, Occurrence::All, ",", &mut s);
                    values.push(s);
                }
            }
            if values.is_empty() {
                continue;
            }
            if !first {
                self.line.push_str(",\n");
            }
            first = false;
            let rendered: Vec<String> = values
                .iter()
                .map(|v| serde_json::Value::String(v.clone()).to_string())
                .collect();
            self.line.push_str(&format!(
                "        {}: [{}]",
                serde_json::Value::String(name.clone()),
                rendered.join(",")
            ));
        }
        self.line.push_str("\n      }\n    }\n  }");
    }
}

/// The time of the run as C's `ctime` prints it (`Mon Dec  7 21:39:39 2026`), which tshark
/// stamps on its PDML header.
fn ctime_now() -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let t = render::broken_down(now, false);
    // The weekday from the local date: days since 1970-01-01 (a Thursday), by the civil
    // calendar, so no time zone arithmetic is repeated here.
    let (y, m) = if t.month <= 2 {
        (t.year - 1, t.month + 9)
    } else {
        (t.year, t.month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * i64::from(m) + 2) / 5 + i64::from(t.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(t.month as usize).saturating_sub(1).min(11)],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

/// One column's text: every occurrence asked for, joined by `agg`.
fn column_value(
    f: &Frame<'_>,
    view: &dyn Packet,
    (app, http_info): (AppColumns, &str),
    col: Column,
    occ: Occurrence,
    agg: &str,
    out: &mut String,
) {
    match col {
        Column::Info => info_with(f, app, http_info, true, out),
        Column::Protocol => out.push_str(protocol_with(f, app)),
        Column::Field(id) => {
            let def = id.def();
            let mut n = 0usize;
            let mut last_start = out.len();
            view.visit(id, &mut |v: Value<'_>| {
                match occ {
                    Occurrence::First if n > 0 => {}
                    Occurrence::Last => {
                        out.truncate(last_start);
                        render::render(def, v, out);
                    }
                    _ => {
                        if n > 0 {
                            out.push_str(agg);
                        }
                        render::render(def, v, out);
                    }
                }
                n += 1;
                if occ != Occurrence::Last {
                    last_start = out.len();
                }
            });
        }
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn every_listed_format_name_parses() {
        let parsed: Vec<_> = Format::NAMES
            .iter()
            .filter_map(|n| Format::parse(n))
            .collect();
        assert_eq!(
            parsed,
            [
                Format::Text,
                Format::Fields,
                Format::Json,
                Format::Ek,
                Format::Pdml,
                Format::Psml
            ]
        );
        assert_eq!(Format::parse("jsonraw"), None);
    }

    #[test]
    fn an_http_field_in_the_filter_asks_for_the_http_pass() {
        let listing = Listing {
            format: Format::Text,
            fields: Vec::new(),
            field_options: FieldOptions::default(),
            time: TimeFormat::Relative,
            count: None,
            print: true,
            hex: false,
            summary: true,
            tcp_preferences: TcpPreferences::default(),
            decode_as: Default::default(),
            details: None,
            tree: false,
            capture_file: String::new(),
        };
        let tcp_len = lookup("tcp.len").unwrap();
        let method = lookup("http.request.method").unwrap();
        assert!(!listing.needs_http_pass_with([tcp_len].into_iter()));
        assert!(listing.needs_http_pass_with([tcp_len, method].into_iter()));
    }
}
