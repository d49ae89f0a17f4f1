//! Byte sources: a memory map (plain files) or a gzip stream inflated into a sliding buffer.
//! Both expose the same two operations, `peek(n)` and `consume(n)`, so the format parsers do
//! not care which one they read.

use crate::error::ReadError;
use std::fs::File;
use std::io::Read;
use std::path::Path;

pub(crate) enum Input {
    Mapped {
        map: Mapped,
        pos: usize,
        released: usize,
    },
    Stream(StreamInput),
}

/// How much of a mapped file is read before the pages behind the read position are handed back
/// to the kernel. Without this, every page read stays resident in the process (RSS grows to the
/// file size); with it, memory stays bounded whatever the file size. The pages remain in the
/// page cache, so nothing is read twice.
const RELEASE_STEP: usize = 32 << 20;

pub(crate) enum Mapped {
    Mmap(memmap2::Mmap),
    Vec(Vec<u8>),
}

impl Mapped {
    fn bytes(&self) -> &[u8] {
        match self {
            Mapped::Mmap(m) => m,
            Mapped::Vec(v) => v,
        }
    }
}

pub(crate) struct StreamInput {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes consumed before `buf[start]`.
    base: u64,
    eof: bool,
    /// The stream is inflated gzip (a plain pipe streams too, uncompressed).
    compressed: bool,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl Input {
    pub(crate) fn open(path: &Path) -> std::io::Result<Input> {
        let file = File::open(path)?;
        let mut head = [0u8; 2];
        let n = {
            use std::io::{Seek, SeekFrom};
            let mut f = &file;
            let n = f.read(&mut head)?;
            f.seek(SeekFrom::Start(0))?;
            n
        };
        if n == 2 && head == GZIP_MAGIC {
            let reader =
                flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file));
            return Ok(Input::Stream(StreamInput::new(Box::new(reader), true)));
        }
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Input::Mapped {
                map: Mapped::Vec(Vec::new()),
                pos: 0,
                released: 0,
            });
        }
        // SAFETY: the map is read-only; if another process truncates the file while we read it,
        // the OS may deliver SIGBUS, the same contract as every mmap-based capture reader. The
        // map lets records be handed out without copying.
        match unsafe { memmap2::MmapOptions::new().map(&file) } {
            Ok(map) => {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                Ok(Input::Mapped {
                    map: Mapped::Mmap(map),
                    pos: 0,
                    released: 0,
                })
            }
            // Pipes and special files cannot be mapped: stream them.
            Err(_) => Ok(Input::Stream(StreamInput::new(Box::new(file), false))),
        }
    }

    pub(crate) fn from_vec(bytes: Vec<u8>) -> Input {
        if bytes.len() >= 2 && bytes[..2] == GZIP_MAGIC {
            let reader = flate2::read::MultiGzDecoder::new(std::io::Cursor::new(bytes));
            return Input::Stream(StreamInput::new(Box::new(reader), true));
        }
        Input::Mapped {
            map: Mapped::Vec(bytes),
            pos: 0,
            released: 0,
        }
    }

    /// A byte stream read once, front to back (standard input, a pipe): held through the
    /// sliding buffer, never slurped. gzip is detected from the first two bytes, which are
    /// read here and put back in front of the stream.
    pub(crate) fn from_read(mut reader: Box<dyn Read + Send>) -> std::io::Result<Input> {
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let whole: Box<dyn Read + Send> =
            Box::new(std::io::Cursor::new(head[..got].to_vec()).chain(reader));
        if head[..got] == GZIP_MAGIC {
            let inflated = flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(
                1 << 16,
                whole,
            ));
            return Ok(Input::Stream(StreamInput::new(Box::new(inflated), true)));
        }
        Ok(Input::Stream(StreamInput::new(whole, false)))
    }

    pub(crate) fn compressed(&self) -> bool {
        matches!(self, Input::Stream(s) if s.compressed)
    }

    pub(crate) fn len_hint(&self) -> Option<u64> {
        match self {
            Input::Mapped { map, .. } => Some(map.bytes().len() as u64),
            Input::Stream(_) => None,
        }
    }

    pub(crate) fn position(&self) -> u64 {
        match self {
            Input::Mapped { pos, .. } => *pos as u64,
            Input::Stream(s) => s.base,
        }
    }

    /// The next `n` bytes without consuming them. `Ok(None)` when the input is exhausted
    /// exactly here; `Err(Truncated)` when fewer than `n` (but more than 0) bytes remain.
    #[inline]
    pub(crate) fn peek(&mut self, n: usize) -> Result<Option<&[u8]>, ReadError> {
        match self {
            Input::Mapped { map, pos, .. } => {
                let bytes = map.bytes();
                let rest = bytes.len() - *pos;
                if rest >= n {
                    Ok(Some(&bytes[*pos..*pos + n]))
                } else if rest == 0 {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated {
                        available: rest,
                        needed: n,
                    })
                }
            }
            Input::Stream(s) => s.peek(n),
        }
    }

    /// The next `n` bytes, consumed. Same end-of-input rules as [`Input::peek`].
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<Option<&[u8]>, ReadError> {
        match self {
            Input::Mapped { map, pos, released } => {
                if *pos - *released >= RELEASE_STEP {
                    release(map, *released, *pos);
                    *released = *pos & !(PAGE - 1);
                }
                let bytes = map.bytes();
                let start = *pos;
                let rest = bytes.len() - start;
                if rest >= n {
                    *pos += n;
                    Ok(Some(&bytes[start..start + n]))
                } else if rest == 0 {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated {
                        available: rest,
                        needed: n,
                    })
                }
            }
            Input::Stream(s) => {
                if s.peek(n)?.is_none() {
                    return Ok(None);
                }
                let start = s.start;
                s.start += n;
                s.base += n as u64;
                Ok(Some(&s.buf[start..start + n]))
            }
        }
    }

    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        match self {
            Input::Mapped { pos, .. } => *pos += n,
            Input::Stream(s) => {
                s.start += n;
                s.base += n as u64;
            }
        }
    }
}

const PAGE: usize = 4096;

/// Drops the mapped pages in `[from, to)` (rounded inward to pages) from this process.
fn release(map: &Mapped, from: usize, to: usize) {
    if let Mapped::Mmap(m) = map {
        let start = from.next_multiple_of(PAGE);
        let end = to & !(PAGE - 1);
        if end > start {
            // SAFETY: the map is read-only and no slice into [start, end) is alive: records
            // borrow the input mutably, so every record handed out before this call is gone,
            // and the current read position is at or after `end`. Later reads of these pages
            // (there are none in a forward scan) would fault them back in from the page cache.
            #[cfg(unix)]
            unsafe {
                let _ = m.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    end - start,
                );
            }
        }
    }
}

impl StreamInput {
    fn new(reader: Box<dyn Read + Send>, compressed: bool) -> Self {
        StreamInput {
            compressed,
            reader,
            buf: vec![0; 1 << 18],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    fn peek(&mut self, n: usize) -> Result<Option<&[u8]>, ReadError> {
        if self.end - self.start < n && !self.eof {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() < n {
                self.buf.resize(n.next_power_of_two(), 0);
            }
            while self.end < n {
                match self.reader.read(&mut self.buf[self.end..]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(ReadError::Io(e)),
                }
            }
        }
        let avail = self.end - self.start;
        if avail >= n {
            Ok(Some(&self.buf[self.start..self.start + n]))
        } else if avail == 0 {
            Ok(None)
        } else {
            Err(ReadError::Truncated {
                available: avail,
                needed: n,
            })
        }
    }
}
