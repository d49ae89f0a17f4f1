//! The reader: one record at a time from pcap or pcapng, plain or gzip-compressed.

use crate::error::{CaptureError, ErrorKind};
use crate::input::Input;
use crate::record::{Format, Interface, Record};
use crate::sequence::{Part, Sequence};
use crate::{pcap, pcapng};
use std::path::{Path, PathBuf};

/// Reads records from a pcap or pcapng file, plain or gzip-compressed.
pub struct CaptureReader {
    input: Input,
    format: Format,
    state: FormatState,
    /// Number of records returned so far (the next record is frame `frames + 1`).
    frames: u64,
    /// Set once an error was returned: the reader then stays at end of file.
    failed: bool,
    /// When the reader reads several files as one capture: the files after this one, and
    /// where each file read so far sits in the frame numbering.
    sequence: Option<Box<Sequence>>,
}

enum FormatState {
    Pcap(pcap::PcapState),
    PcapNg(pcapng::PcapNgState),
}

impl CaptureReader {
    /// Opens a capture file, detecting its format (and gzip compression) from its first bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let input = Input::open(path.as_ref())
            .map_err(|e| CaptureError::new(ErrorKind::Io(e), 0, 0, "opening the file"))?;
        Self::from_input(input)
    }

    /// Reads a capture from a byte stream read once, front to back, such as standard input
    /// (`-r -`): records are streamed through a small buffer, never the whole input held.
    pub fn from_read(reader: Box<dyn std::io::Read + Send>) -> Result<Self, CaptureError> {
        let input = Input::from_read(reader)
            .map_err(|e| CaptureError::new(ErrorKind::Io(e), 0, 0, "reading the stream"))?;
        Self::from_input(input)
    }

    /// Reads a capture held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CaptureError> {
        Self::from_input(Input::from_vec(bytes))
    }

    fn from_input(mut input: Input) -> Result<Self, CaptureError> {
        let magic = match input.peek(4) {
            Ok(Some(m)) => [m[0], m[1], m[2], m[3]],
            Ok(None) => {
                return Err(CaptureError::new(
                    ErrorKind::Empty,
                    0,
                    0,
                    "a capture file header",
                ));
            }
            Err(e) => return Err(e.at(0, 0, "a capture file header")),
        };
        let (format, state) =
            match magic {
                [0x0a, 0x0d, 0x0d, 0x0a] => {
                    let st = pcapng::PcapNgState::new();
                    (Format::PcapNg, FormatState::PcapNg(st))
                }
                _ => match pcap::PcapState::read_header(&mut input)? {
                    Some(st) => (st.format(), FormatState::Pcap(st)),
                    None => return Err(CaptureError::new(
                        ErrorKind::UnknownFormat { magic },
                        0,
                        0,
                        "a pcap magic (a1b2c3d4, a1b23c4d) or a pcapng section header (0a0d0d0a)",
                    )),
                },
            };
        Ok(CaptureReader {
            input,
            format,
            state,
            frames: 0,
            failed: false,
            sequence: None,
        })
    }

    /// Reads `paths` as one capture, in the order given (files that continue one another,
    /// such as a dumpcap ring-buffer set): the reader stops at the end of each file and
    /// [`CaptureReader::next_file`] moves it to the next, so that whoever reads the records
    /// keeps its state (connections spanning files) across the boundary. A file that cannot be
    /// opened is recorded in [`CaptureReader::parts`] with its error and passed over; `Err`
    /// only when none of them opens (each with its error).
    pub fn open_sequence(paths: &[PathBuf]) -> Result<Self, Vec<Part>> {
        let mut sequence = Box::new(Sequence {
            parts: Vec::with_capacity(paths.len()),
            rest: paths.iter().cloned().collect(),
        });
        while let Some(path) = sequence.rest.pop_front() {
            match CaptureReader::open(&path) {
                Ok(mut reader) => {
                    sequence.parts.push(Part {
                        path,
                        first_frame: 1,
                        frames: 0,
                        damage: None,
                    });
                    reader.sequence = Some(sequence);
                    return Ok(reader);
                }
                Err(e) => sequence.parts.push(Part {
                    path,
                    first_frame: 1,
                    frames: 0,
                    damage: Some(e),
                }),
            }
        }
        Err(sequence.parts)
    }

    /// Ends the current file and moves to the next file of a set read with
    /// [`CaptureReader::open_sequence`]: `Ok(true)` when there is one (the next record is its
    /// first), `Ok(false)` at the end of the set. `damage` is what ended the current file
    /// early, if anything: for a set it is recorded with the file in
    /// [`CaptureReader::parts`]; a single file has no next file and gets it back as `Err`.
    pub fn next_file(&mut self, damage: Option<CaptureError>) -> Result<bool, CaptureError> {
        let Some(sequence) = self.sequence.as_mut() else {
            return match damage {
                Some(e) => Err(e),
                None => Ok(false),
            };
        };
        if let Some(current) = sequence.parts.last_mut() {
            current.frames = self.frames;
            current.damage = damage;
        }
        while let Some(path) = sequence.rest.pop_front() {
            let last = sequence
                .parts
                .last()
                .expect("the set's first file is a part");
            let first_frame = last.first_frame + last.frames;
            match CaptureReader::open(&path) {
                Ok(next) => {
                    sequence.parts.push(Part {
                        path,
                        first_frame,
                        frames: 0,
                        damage: None,
                    });
                    self.input = next.input;
                    self.format = next.format;
                    self.state = next.state;
                    self.frames = 0;
                    self.failed = false;
                    return Ok(true);
                }
                Err(e) => sequence.parts.push(Part {
                    path,
                    first_frame,
                    frames: 0,
                    damage: Some(e),
                }),
            }
        }
        Ok(false)
    }

    /// For a set read with [`CaptureReader::open_sequence`], its files so far: where each
    /// one's frames sit in the global numbering and what ended it early (the current file's
    /// count is final once [`CaptureReader::next_file`] moved past it). Empty for one file.
    pub fn parts(&self) -> &[Part] {
        self.sequence.as_ref().map_or(&[], |s| &s.parts)
    }

    /// The file being read: the current file of a set, `None` for a reader of one file (its
    /// caller knows its name).
    pub fn current_path(&self) -> Option<&Path> {
        let sequence = self.sequence.as_ref()?;
        sequence.parts.last().map(|p| p.path.as_path())
    }

    /// The container format, which callers print (capinfos-style) and which fixes how time
    /// stamps are scaled.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True when the file was gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.input.compressed()
    }

    /// Interfaces seen so far (pcapng declares them as it goes).
    pub fn interfaces(&self) -> &[Interface] {
        match &self.state {
            FormatState::Pcap(p) => std::slice::from_ref(p.interface()),
            FormatState::PcapNg(p) => p.interfaces(),
        }
    }

    /// Asks for the file's own structures (pcap file header, pcapng section headers, interface
    /// descriptions and other non-packet blocks) with each record, in
    /// [`Record::container`], so a writer can copy them unchanged. Off by default: the
    /// blocks are then not kept. Call before the first record.
    pub fn keep_container(&mut self, keep: bool) {
        match &mut self.state {
            FormatState::Pcap(p) => p.keep_container = keep,
            FormatState::PcapNg(p) => p.keep_container = keep,
        }
    }

    /// The container bytes read after the last record returned (trailing pcapng blocks, or
    /// the pcap header of a file without records), for a writer to finish with.
    pub fn pending_container(&self) -> &[u8] {
        match &self.state {
            FormatState::Pcap(p) => p.pending_container(),
            FormatState::PcapNg(p) => p.pending_container(),
        }
    }

    /// Total size in bytes when known (plain files), for progress reporting.
    pub fn len_hint(&self) -> Option<u64> {
        self.input.len_hint()
    }

    /// Bytes consumed so far (in the decompressed stream).
    pub fn position(&self) -> u64 {
        self.input.position()
    }

    /// The next record, `Ok(None)` at a clean end of file. After an error, returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let frame = self.frames + 1;
        let result = match &mut self.state {
            FormatState::Pcap(p) => p.next(&mut self.input, frame),
            FormatState::PcapNg(p) => p.next(&mut self.input, frame),
        };
        match result {
            Ok(Some(r)) => {
                self.frames = frame;
                Ok(Some(r))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}
