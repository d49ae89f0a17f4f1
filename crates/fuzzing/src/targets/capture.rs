//! Capture files (pcap, pcapng, plain or gzip): the reader over bytes in memory and the
//! streaming reader (standard input's path, fed in uneven pieces) must read the same records
//! and end the same way; every frame then goes through the whole engine with every field of
//! every frame visited.

use crate::input::piece_lengths;
use keepsight_capture::CaptureReader;
use keepsight_engine::Engine;
use keepsight_fields::{all_fields, Packet};
use std::io::Read;

/// A record's time, original length, link type, interface, file offset and bytes.
type RecordSeen = (Option<i64>, u32, u32, u32, u64, Vec<u8>);

/// What a reader returned, record by record, for comparing two readers.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    records: Vec<RecordSeen>,
    /// The error that ended the reading, as its message.
    end: Option<String>,
}

fn read_all(reader: Result<CaptureReader, keepsight_capture::CaptureError>) -> Seen {
    let mut reader = match reader {
        Ok(r) => r,
        Err(e) => {
            return Seen {
                records: Vec::new(),
                end: Some(e.to_string()),
            }
        }
    };
    let mut records = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(r)) => records.push((
                r.ts_ns,
                r.orig_len,
                r.link_type,
                r.interface_id,
                r.file_offset,
                r.data.to_vec(),
            )),
            Ok(None) => return Seen { records, end: None },
            Err(e) => {
                return Seen {
                    records,
                    end: Some(e.to_string()),
                }
            }
        }
    }
}

/// A `Read` that hands out its bytes in the given piece lengths, as a pipe does.
struct Pieces {
    data: Vec<u8>,
    at: usize,
    lengths: std::vec::IntoIter<usize>,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.lengths.next().unwrap_or(usize::MAX);
        let n = want.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads `file` both ways and compares, then runs it through the engine.
pub(super) fn check_file(file: &[u8]) {
    let whole = read_all(CaptureReader::from_bytes(file.to_vec()));
    let streamed = read_all(CaptureReader::from_read(Box::new(Pieces {
        data: file.to_vec(),
        at: 0,
        lengths: piece_lengths(file, file.len()).into_iter(),
    })));
    assert_eq!(
        whole.records, streamed.records,
        "the streaming reader read other records than the reader over bytes"
    );
    assert_eq!(
        whole.end.is_some(),
        streamed.end.is_some(),
        "one reader failed and the other did not: {:?} vs {:?}",
        whole.end,
        streamed.end
    );
    let Ok(reader) = CaptureReader::from_bytes(file.to_vec()) else {
        return;
    };
    let mut engine = Engine::from_reader(reader);
    let mut frames = 0u32;
    while let Ok(Some(frame)) = engine.next_frame() {
        frames += 1;
        for (id, _) in all_fields() {
            frame.visit(id, &mut |_| {});
        }
        let _ = frame.segment();
    }
    assert_eq!(
        engine.frames(),
        frames,
        "frame count differs from frames handed out"
    );
}

/// Any bytes as a capture file.
pub(super) fn capture(data: &[u8]) {
    check_file(data);
}

/// Any bytes gzip-compressed, then cut where the first byte says (a truncated download): the
/// decompressing path of both readers.
pub(super) fn capture_gzip(data: &[u8]) {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, body).expect("writing to a Vec");
    let mut file = gz.finish().expect("writing to a Vec");
    if cut != 0 {
        let keep = file.len() * usize::from(cut) / 256;
        file.truncate(keep);
    }
    check_file(&file);
}
