//! `keepsight packets`' flags checked together: which combinations tshark users may type, and
//! the listing and `-w` destination they ask for. Every refusal names the flag at fault.

use super::{Column, FieldOptions, Format, Listing, Saver, TcpPreferences, TimeFormat};
use keepsight_engine::capture::{CaptureReader, CaptureWriter, WriteFormat};
use std::io::{self, BufWriter, Write};
use std::path::Path;

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
        if format == Format::Ek && fields.is_empty() {
            return Err("-T ek prints the -e fields: give at least one -e FIELD (or use -T json for every field)".into());
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
