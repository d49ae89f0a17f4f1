//! The HTTP/1 framing core (`keepsight_http::framing`), against two other implementations:
//! a whole-buffer reference decoder of the same grammar written here from RFC 9112 §7.1 and the
//! decisions listed in `framing.rs`, and httparse (chunk sizes, header sections). The chunked
//! decoder must also give the same result however its input is split, and the tolerant policy
//! must accept everything the strict one does, with the same body.
//!
//! The input is read twice: as a chunked body, and as a response (head by httparse, framing by
//! the core, then the body).

use crate::input::piece_lengths;
use keepsight_http::framing::{
    parse_chunk_size_line, parse_decimal, trim_ows, Answering, Chunked, ChunkedDecoder, Framing,
    FramingHeaders, Role, Strictness,
};

/// How a decoder run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The body ended after this many input bytes.
    Done(usize),
    /// The input ended inside the body.
    NeedMore,
    /// Malformed: this kind, at this body offset.
    Error(&'static str, u64),
}

/// Decodes `input` fed in pieces of `pieces` lengths: the body bytes and how it ended.
fn decode(strictness: Strictness, max_line: u32, input: &[u8], pieces: &[usize]) -> (Vec<u8>, End) {
    let mut d = ChunkedDecoder::new(strictness, max_line);
    let mut body = Vec::new();
    let mut at = 0;
    for &len in pieces {
        let mut piece = &input[at..at + len];
        let base = at;
        at += len;
        loop {
            match d.decode(piece) {
                Chunked::Data(r) => {
                    assert!(
                        r.start <= r.end && r.end <= piece.len(),
                        "data range outside the input"
                    );
                    body.extend_from_slice(&piece[r.clone()]);
                    piece = &piece[r.end..];
                }
                Chunked::NeedMore => break,
                Chunked::Done { consumed } => {
                    assert!(consumed <= piece.len(), "consumed more than given");
                    let used = base + (len - piece.len()) + consumed;
                    assert_eq!(
                        d.offset(),
                        used as u64,
                        "offset() disagrees with bytes consumed"
                    );
                    return (body, End::Done(used));
                }
                Chunked::Error { error, at } => {
                    assert!(at <= piece.len(), "error index outside the input");
                    return (body, End::Error(error.kind.token(), error.offset));
                }
            }
        }
    }
    (body, End::NeedMore)
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The reference reading of one chunk-size line's content (no line end): the size, or `None`.
fn reference_size_line(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 {
        return None;
    }
    let significant = line[..digits].iter().skip_while(|&&c| c == b'0').count();
    if significant > 16 {
        return None;
    }
    let size = line[..digits].iter().fold(0u64, |n, &c| {
        n << 4 | u64::from((c as char).to_digit(16).expect("hex digit"))
    });
    let mut i = digits;
    let skip_ws = |i: &mut usize| {
        while line.get(*i).is_some_and(|&c| is_ws(c)) {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while line.get(*i).is_some_and(|&c| is_tchar(c)) {
            *i += 1;
        }
        *i > start
    };
    skip_ws(&mut i);
    while i < line.len() {
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
        if line[i] != b';' {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        if !token(&mut i) {
            return None;
        }
        skip_ws(&mut i);
        if line.get(i) == Some(&b'=') {
            i += 1;
            skip_ws(&mut i);
            if line.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'"' => break,
                        b'\\' => {
                            let c = *line.get(i + 1)?;
                            if !(c == b'\t' || c == b' ' || (0x21..=0x7e).contains(&c) || c >= 0x80)
                            {
                                return None;
                            }
                            i += 2;
                        }
                        c if c == b'\t'
                            || c == b' '
                            || c == 0x21
                            || (0x23..=0x7e).contains(&c) && c != b'\\'
                            || c >= 0x80 =>
                        {
                            i += 1
                        }
                        _ => return None,
                    }
                }
                i += 1;
            } else if !token(&mut i) {
                return None;
            }
            skip_ws(&mut i);
        }
    }
    Some(size)
}

/// The reference strict decoding of a whole chunked body: the body and the bytes it used, or
/// `None` when it is malformed or incomplete.
pub(super) fn reference_strict(input: &[u8], max_line: u32) -> Option<(Vec<u8>, usize)> {
    // One line: its content, and where the next begins. CR and LF only as the CRLF ending it.
    let line_at = |at: usize| -> Option<(&[u8], usize)> {
        let rest = input.get(at..)?;
        let end = rest.iter().position(|&c| c == b'\r' || c == b'\n')?;
        if rest[end] != b'\r' || rest.get(end + 1) != Some(&b'\n') {
            return None;
        }
        // The limit counts the line's bytes and its CR.
        if end + 1 > max_line as usize {
            return None;
        }
        Some((&rest[..end], at + end + 2))
    };
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (line, next) = line_at(at)?;
        let size = reference_size_line(line)?;
        at = next;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).ok()?;
        let data = input.get(at..at.checked_add(size)?)?;
        body.extend_from_slice(data);
        at += size;
        if input.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
    loop {
        let (line, next) = line_at(at)?;
        at = next;
        if line.is_empty() {
            return Some((body, at));
        }
        // field-line: a token, a colon, then anything but NUL (CR and LF end the line).
        let name = line.iter().take_while(|&&c| is_tchar(c)).count();
        if name == 0 || line.get(name) != Some(&b':') || line[name..].contains(&0) {
            return None;
        }
    }
}

/// Every check of a chunked body.
fn check_chunked(input: &[u8], max_line: u32) {
    let whole = [input.len()];
    let split = piece_lengths(input, input.len());
    let strict = decode(Strictness::Strict, max_line, input, &whole);
    let strict_split = decode(Strictness::Strict, max_line, input, &split);
    assert_eq!(
        strict, strict_split,
        "strict decoding depends on how the input is split"
    );
    let tolerant = decode(Strictness::Tolerant, max_line, input, &whole);
    let tolerant_split = decode(Strictness::Tolerant, max_line, input, &split);
    assert_eq!(
        tolerant, tolerant_split,
        "tolerant decoding depends on how the input is split"
    );
    if let End::Done(_) = strict.1 {
        assert_eq!(
            strict, tolerant,
            "the tolerant policy read a strict-valid body differently"
        );
    }
    let reference = reference_strict(input, max_line);
    match (&strict, &reference) {
        ((body, End::Done(used)), Some((ref_body, ref_used))) => {
            assert_eq!(
                body, ref_body,
                "core and reference decoded different bodies"
            );
            assert_eq!(
                used, ref_used,
                "core and reference ended the body at different bytes"
            );
        }
        ((_, End::Done(used)), None) => {
            panic!("the core accepted a body (ending at {used}) the reference refuses")
        }
        (_, Some((_, used))) => {
            panic!(
                "the reference accepted a body (ending at {used}) the core ended with {:?}",
                strict.1
            )
        }
        _ => {}
    }
    // The first line, if whole, by the line parser, the reference and httparse.
    if let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
        let line = &input[..end];
        if !line.contains(&b'\r') && !line.contains(&b'\n') {
            let core = parse_chunk_size_line(line).ok();
            assert_eq!(
                core,
                reference_size_line(line),
                "chunk-size line read differently"
            );
            if let (Some(size), Ok(httparse::Status::Complete((_, theirs)))) =
                (core, httparse::parse_chunk_size(&input[..end + 2]))
            {
                assert_eq!(size, theirs, "httparse reads another chunk size");
            }
        }
    }
}

/// The reference reading of `Content-Length` values: every comma element of every value is
/// `1*DIGIT` within 64 bits and all are equal.
fn reference_length(values: &[&[u8]]) -> Option<u64> {
    let mut seen: Option<u64> = None;
    for v in values {
        for element in v.split(|&c| c == b',') {
            let e = trim_ows(element);
            if e.is_empty() || !e.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let digits = e.iter().skip_while(|&&c| c == b'0');
            let mut n: u64 = 0;
            for &c in digits {
                n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            }
            match seen {
                Some(s) if s != n => return None,
                _ => seen = Some(n),
            }
        }
    }
    seen
}

/// A response head by httparse, its framing by the core, compared with the reference reading
/// of its length headers; then its chunked body, if any.
fn check_message(input: &[u8]) {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut slots);
    let Ok(httparse::Status::Complete(head_len)) = resp.parse(input) else {
        return;
    };
    let mut headers = FramingHeaders::new();
    let mut lengths: Vec<&[u8]> = Vec::new();
    let mut encodings = 0;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            lengths.push(h.value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
        }
        let framing = headers.add(h.name.as_bytes(), h.value);
        assert_eq!(
            framing,
            h.name.eq_ignore_ascii_case("content-length")
                || h.name.eq_ignore_ascii_case("transfer-encoding"),
            "FramingHeaders::add took or left the wrong header"
        );
    }
    let status = resp.code.unwrap_or(0);
    let minor = resp.version.unwrap_or(1);
    let decision = headers.decide(
        Role::Response {
            status,
            answering: Answering::Other,
        },
        minor,
    );
    let a = decision.anomalies;
    if encodings == 0 && !lengths.is_empty() {
        let reference = reference_length(&lengths);
        let clean = !a.some_length_invalid && !a.lengths_differ;
        assert_eq!(
            clean,
            reference.is_some(),
            "Content-Length {lengths:?} judged differently (core {a:?})"
        );
        if let Some(n) = reference {
            let bodyless = (100..200).contains(&status) || status == 204 || status == 304;
            if !bodyless {
                assert_eq!(decision.framing, Framing::ContentLength(n));
            }
            assert_eq!(
                parse_decimal(trim_ows(
                    lengths[0].split(|&c| c == b',').next().unwrap_or(b"")
                )),
                Some(n)
            );
        }
    }
    if decision.framing == Framing::Chunked {
        check_chunked(&input[head_len..], 4096);
    }
}

pub(super) fn http_framing(data: &[u8]) {
    let (max_line, body) = match data.split_first() {
        // A small line limit now and then, so the limit's edge is reached.
        Some((&b, rest)) if b < 16 => (u32::from(b) + 1, rest),
        _ => (4096, data),
    };
    check_chunked(body, max_line);
    check_message(data);
}
