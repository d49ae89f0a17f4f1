use super::*;

fn pcap_le(records: &[(u32, u32, &[u8])], nanos: bool) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&if nanos { 0xa1b23c4du32 } else { 0xa1b2c3d4u32 }.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    for (s, f, d) in records {
        for x in [*s, *f, d.len() as u32, d.len() as u32] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(d);
    }
    v
}

#[test]
fn reads_pcap_records_and_stops_cleanly() {
    let bytes = pcap_le(&[(1, 500_000, b"abc"), (2, 0, b"de")], false);
    let mut r = CaptureReader::from_bytes(bytes).unwrap();
    let a = r.next_record().unwrap().unwrap();
    assert_eq!(
        (a.ts_ns, a.data, a.ts_digits),
        (Some(1_500_000_000), &b"abc"[..], 6)
    );
    let b = r.next_record().unwrap().unwrap();
    assert_eq!(b.data, b"de");
    assert!(r.next_record().unwrap().is_none());
}

#[test]
fn truncated_record_reports_frame_and_offset() {
    let mut bytes = pcap_le(&[(1, 0, b"abcd"), (2, 0, b"efgh")], true);
    bytes.truncate(bytes.len() - 2);
    let mut r = CaptureReader::from_bytes(bytes).unwrap();
    assert!(r.next_record().unwrap().is_some());
    let err = r.next_record().unwrap_err();
    assert_eq!((err.frame, err.offset), (2, 24 + 16 + 4));
    assert!(err.is_damage(), "{err}");
    assert!(
        r.next_record().unwrap().is_none(),
        "reader stays finished after an error"
    );
}

#[test]
fn gzip_is_read_transparently() {
    use std::io::Write;
    let plain = pcap_le(&[(7, 1, b"xyz")], false);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let mut r = CaptureReader::from_bytes(gz.finish().unwrap()).unwrap();
    assert!(r.compressed());
    assert_eq!(r.next_record().unwrap().unwrap().data, b"xyz");
    assert!(r.next_record().unwrap().is_none());
}

#[test]
fn garbage_is_not_a_capture() {
    let err = CaptureReader::from_bytes(b"hello world, not a capture".to_vec())
        .err()
        .unwrap();
    assert!(matches!(err.kind, ErrorKind::UnknownFormat { .. }), "{err}");
}

/// A reader that hands out one byte per call, like a slow pipe: the stream reader must
/// assemble headers and records across short reads, and gzip must still be detected.
struct Trickle(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn streams_from_a_pipe_plain_or_gzip() {
    use std::io::Write;
    let plain = pcap_le(&[(7, 1, b"xyz"), (8, 2, b"")], true);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    for (bytes, compressed) in [(plain.clone(), false), (gz.finish().unwrap(), true)] {
        let mut r =
            CaptureReader::from_read(Box::new(Trickle(std::io::Cursor::new(bytes)))).unwrap();
        assert_eq!(r.compressed(), compressed);
        assert_eq!(r.len_hint(), None);
        let a = r.next_record().unwrap().unwrap();
        assert_eq!((a.ts_ns, a.data), (Some(7_000_000_001), &b"xyz"[..]));
        assert_eq!(r.next_record().unwrap().unwrap().data, b"");
        assert!(r.next_record().unwrap().is_none());
    }
    let empty = CaptureReader::from_read(Box::new(std::io::empty()));
    assert!(matches!(
        empty.err().map(|e| e.kind),
        Some(ErrorKind::Empty)
    ));
}

/// Writes every record of `input` in `format` and reads the result back.
fn rewrite(input: Vec<u8>, format: WriteFormat) -> Vec<u8> {
    let mut reader = CaptureReader::from_bytes(input).unwrap();
    let mut writer = CaptureWriter::new(Vec::new(), format, &mut reader);
    while let Some(record) = reader.next_record().unwrap() {
        writer.record(&record, record.data != b"skip").unwrap();
    }
    writer.finish(&reader).unwrap()
}

#[test]
fn writer_copies_same_format_and_converts_across() {
    let records: &[(u32, u32, &[u8])] = &[(7, 123_456_789, b"abcde"), (8, 5, b"skip"), (9, 0, b"")];
    let nanos = pcap_le(records, true);
    // Same format: the kept records exactly as stored, after the file header.
    let copied = rewrite(nanos.clone(), WriteFormat::NsecPcap);
    let mut expected = nanos[..24 + 16 + 5].to_vec();
    expected.extend_from_slice(&nanos[24 + 16 + 5 + 16 + 4..]);
    assert_eq!(copied, expected);
    // Across formats: the times at the resolution the output holds, the data unchanged.
    for (format, ns, digits) in [
        (WriteFormat::PcapNg, 7_123_456_789, 9),
        (WriteFormat::Pcap, 7_123_456_000, 6),
    ] {
        let mut back = CaptureReader::from_bytes(rewrite(nanos.clone(), format)).unwrap();
        let a = back.next_record().unwrap().unwrap();
        assert_eq!(
            (a.ts_ns, a.ts_digits, a.data),
            (Some(ns), digits, &b"abcde"[..])
        );
        let b = back.next_record().unwrap().unwrap();
        assert_eq!((b.ts_ns, b.data), (Some(9_000_000_000), &b""[..]));
        assert!(back.next_record().unwrap().is_none());
    }
    // A pcapng written from a pcap copies itself exactly when written again as pcapng.
    let ng = rewrite(pcap_le(records, false), WriteFormat::PcapNg);
    assert_eq!(rewrite(ng.clone(), WriteFormat::PcapNg), ng);
    // No record kept: still a valid, empty capture.
    let empty = rewrite(pcap_le(&[(1, 0, b"skip")], false), WriteFormat::PcapNg);
    let mut back = CaptureReader::from_bytes(empty).unwrap();
    assert!(back.next_record().unwrap().is_none());
}

/// A set read as one capture: records of every file in order, each file's span in the global
/// numbering, a damaged or missing file recorded with its error and passed over.
#[test]
fn sequence_reads_files_in_order_and_records_each_files_damage() {
    let dir = std::env::temp_dir().join(format!("keepsight-capture-seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.pcap");
    let b = dir.join("b.pcap");
    let c = dir.join("c.pcap");
    let missing = dir.join("missing.pcap");
    std::fs::write(&a, pcap_le(&[(1, 0, b"a1"), (2, 0, b"a2")], false)).unwrap();
    let mut damaged = pcap_le(&[(3, 0, b"b1"), (4, 0, b"b2")], false);
    damaged.truncate(damaged.len() - 1);
    std::fs::write(&b, damaged).unwrap();
    std::fs::write(&c, pcap_le(&[(5, 0, b"c1")], false)).unwrap();

    let paths = vec![a.clone(), missing.clone(), b.clone(), c.clone()];
    let mut r = CaptureReader::open_sequence(&paths).unwrap();
    let mut seen = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => seen.push(rec.data.to_vec()),
            Ok(None) => {
                if !r.next_file(None).unwrap() {
                    break;
                }
            }
            Err(e) => {
                if !r.next_file(Some(e)).unwrap() {
                    break;
                }
            }
        }
    }
    assert_eq!(seen, [&b"a1"[..], b"a2", b"b1", b"c1"]);
    let spans: Vec<(&std::path::Path, u64, u64, bool)> = r
        .parts()
        .iter()
        .map(|p| {
            (
                p.path.as_path(),
                p.first_frame,
                p.frames,
                p.damage.is_some(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            (a.as_path(), 1, 2, false),
            (missing.as_path(), 3, 0, true),
            (b.as_path(), 3, 1, true),
            (c.as_path(), 4, 1, false),
        ]
    );
    // The damage keeps the frame number in its file.
    assert_eq!(r.parts()[2].damage.as_ref().unwrap().frame, 2);
    assert_eq!(sequence::locate(r.parts(), 4), Some((c.as_path(), 1)));
    assert_eq!(sequence::locate(r.parts(), 3), Some((b.as_path(), 1)));

    // No file opens: every error back.
    let none = CaptureReader::open_sequence(&[missing.clone(), missing]);
    assert_eq!(none.err().unwrap().len(), 2);
    // One file: no parts, damage handed back.
    let mut one = CaptureReader::open(&a).unwrap();
    assert!(one.parts().is_empty());
    assert!(!one.next_file(None).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
