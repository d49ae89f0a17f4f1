//! Which files continue one another: dumpcap ring-buffer names, else contiguous times.

use keepsight_capture::CaptureReader;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest silence between the last frame of a file and the first frame of the next for
/// files without ring-buffer names to count as one capture: a writer that rotates files loses
/// no time between them, while two captures taken one after the other by hand are seconds
/// apart. (A ring-buffer set keeps dumpcap's names and is joined whatever its silences.)
pub const MAX_GAP_NS: i64 = 2_000_000_000;

/// Extensions of the files taken from a directory (a file named on the command line is taken
/// whatever its name).
const CAPTURE_EXTENSIONS: [&str; 6] = [
    ".pcap",
    ".pcapng",
    ".cap",
    ".pcap.gz",
    ".pcapng.gz",
    ".cap.gz",
];

/// Why files were read as one capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Joined {
    /// One file.
    Single,
    /// dumpcap ring-buffer names with the same prefix and extension.
    RingBuffer,
    /// Times that follow one another on the same link types.
    Contiguous,
}

impl Joined {
    /// How the text says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Joined::Single => "one file",
            Joined::RingBuffer => "a dumpcap ring buffer",
            Joined::Contiguous => "contiguous times",
        }
    }
}

/// One capture: a file, or files that continue one another, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// What reports call it: the file, or for a ring buffer `DIR/PREFIX_*.EXT`.
    pub name: String,
    /// Its files, in time order.
    pub files: Vec<PathBuf>,
    /// Why the files belong together.
    pub joined: Joined,
}

/// A path given that is neither a file nor a directory with capture files.
#[derive(Debug)]
pub struct PlanError {
    /// The path as given.
    pub path: PathBuf,
    /// What is wrong with it.
    pub what: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

impl std::error::Error for PlanError {}

/// The parts of a dumpcap ring-buffer file name `PREFIX_NNNNN_YYYYMMDDhhmmss.EXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingName {
    /// Everything before `_NNNNN_`, directory included.
    pub prefix: String,
    /// The file's number in the ring (`NNNNN`).
    pub number: u64,
    /// The extension after the time stamp (`pcapng`, `pcap.gz`), possibly empty.
    pub extension: String,
}

/// The ring-buffer parts of `path`'s name, when dumpcap's `-b` could have written it.
pub fn ring_name(path: &Path) -> Option<RingName> {
    let name = path.file_name()?.to_str()?;
    let (body, extension) = match name.split_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    let (rest, stamp) = body.rsplit_once('_')?;
    let (prefix, number) = rest.rsplit_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if stamp.len() != 14 || !digits(stamp) || number.len() < 5 || !digits(number) {
        return None;
    }
    let dir = path
        .parent()
        .map(|d| d.join(prefix))
        .unwrap_or(prefix.into());
    Some(RingName {
        prefix: dir.display().to_string(),
        number: number.parse().ok()?,
        extension: extension.to_string(),
    })
}

/// The captures in `inputs` (files, and directories whose capture files are taken in name
/// order): ring-buffer sets and files with contiguous times joined, each other file alone. The
/// captures come in the order their first file was given. Joining by time reads the records'
/// times of every file without a ring-buffer name (no dissection), `jobs` files at a time (0:
/// one per core).
pub fn plan(inputs: &[PathBuf], jobs: usize) -> Result<Vec<Capture>, PlanError> {
    let files = expand(inputs)?;
    // Each file's capture, by the index of the first file given of that capture.
    let mut captures: BTreeMap<usize, Capture> = BTreeMap::new();
    let mut rings: BTreeMap<(String, String), Vec<(u64, usize)>> = BTreeMap::new();
    let mut others = Vec::new();
    for (i, path) in files.iter().enumerate() {
        match ring_name(path) {
            Some(r) => rings
                .entry((r.prefix, r.extension))
                .or_default()
                .push((r.number, i)),
            None => others.push(i),
        }
    }
    for ((prefix, extension), mut members) in rings {
        members.sort();
        let first_given = members.iter().map(|&(_, i)| i).min().unwrap_or(0);
        let joined = if members.len() > 1 {
            Joined::RingBuffer
        } else {
            Joined::Single
        };
        let name = if members.len() > 1 {
            let dot = if extension.is_empty() { "" } else { "." };
            format!("{prefix}_*{dot}{extension}")
        } else {
            files[members[0].1].display().to_string()
        };
        let files = members.iter().map(|&(_, i)| files[i].clone()).collect();
        captures.insert(
            first_given,
            Capture {
                name,
                files,
                joined,
            },
        );
    }
    for chain in contiguous(&files, &others, jobs) {
        let first_given = *chain.iter().min().unwrap_or(&0);
        let joined = if chain.len() > 1 {
            Joined::Contiguous
        } else {
            Joined::Single
        };
        captures.insert(
            first_given,
            Capture {
                name: files[chain[0]].display().to_string(),
                files: chain.iter().map(|&i| files[i].clone()).collect(),
                joined,
            },
        );
    }
    Ok(captures.into_values().collect())
}

/// The files named and those found in the directories named, each once.
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, PlanError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| PlanError {
            path: input.clone(),
            what: e.to_string(),
        })?;
        if !meta.is_dir() {
            if !files.contains(input) {
                files.push(input.clone());
            }
            continue;
        }
        let entries = std::fs::read_dir(input).map_err(|e| PlanError {
            path: input.clone(),
            what: e.to_string(),
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            // Followed: a directory of links to captures is a directory of captures.
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| CAPTURE_EXTENSIONS.iter().any(|x| n.ends_with(x)))
            })
            .collect();
        if found.is_empty() {
            return Err(PlanError {
                path: input.clone(),
                what: format!(
                    "the directory holds no capture file (names ending in {})",
                    CAPTURE_EXTENSIONS.join(", ")
                ),
            });
        }
        found.sort();
        for f in found {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    Ok(files)
}

/// What joining by time needs to know of a file.
struct Span {
    first_ns: i64,
    last_ns: i64,
    link_types: Vec<u32>,
}

/// Reads every record's time (no dissection): `None` for a file without frames or one that
/// cannot be read to its end, which then stays a capture of its own.
fn span(path: &Path) -> Option<Span> {
    let mut reader = CaptureReader::open(path).ok()?;
    let (mut first_ns, mut last_ns) = (None, i64::MIN);
    let mut link_types = Vec::new();
    while let Some(r) = reader.next_record().ok()? {
        let ts = r.ts_ns?;
        first_ns.get_or_insert(ts);
        last_ns = last_ns.max(ts);
        if !link_types.contains(&r.link_type) {
            link_types.push(r.link_type);
        }
    }
    link_types.sort_unstable();
    Some(Span {
        first_ns: first_ns?,
        last_ns,
        link_types,
    })
}

/// Groups `which` (indexes into `files`) into chains of files whose times follow one another
/// on the same link types: each chain in time order.
fn contiguous(files: &[PathBuf], which: &[usize], jobs: usize) -> Vec<Vec<usize>> {
    if which.len() < 2 {
        return which.iter().map(|&i| vec![i]).collect();
    }
    let mut spans: Vec<(usize, Option<Span>)> = Vec::with_capacity(which.len());
    crate::run(
        which.len(),
        jobs,
        |k| span(&files[which[k]]),
        |k, s| spans.push((which[k], s)),
    );
    spans.sort_by_key(|(i, s)| (s.as_ref().map(|s| s.first_ns), *i));
    // Each chain: its file indexes and its last file's span.
    let mut chains: Vec<(Vec<usize>, Option<usize>)> = Vec::new();
    for k in 0..spans.len() {
        let (i, Some(s)) = &spans[k] else {
            chains.push((vec![spans[k].0], None));
            continue;
        };
        let follows = chains.iter().position(|(_, last)| {
            last.and_then(|l| spans[l].1.as_ref()).is_some_and(|prev| {
                prev.link_types == s.link_types
                    && s.first_ns >= prev.last_ns
                    && s.first_ns - prev.last_ns <= MAX_GAP_NS
            })
        });
        match follows {
            Some(c) => {
                chains[c].0.push(*i);
                chains[c].1 = Some(k);
            }
            None => chains.push((vec![*i], Some(k))),
        }
    }
    chains.into_iter().map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumpcap_ring_names_are_recognized() {
        let r = ring_name(Path::new("d/hb_00002_20261208003244.pcapng")).unwrap();
        assert_eq!(r.prefix, "d/hb");
        assert_eq!(r.number, 2);
        assert_eq!(r.extension, "pcapng");
        let r = ring_name(Path::new("a_b_123456_20261208003244.pcap.gz")).unwrap();
        assert_eq!((r.prefix.as_str(), r.number), ("a_b", 123456));
        assert_eq!(r.extension, "pcap.gz");
        for not in [
            "hb.pcapng",
            "hb_0001_20261208003244.pcapng",
            "hb_00001_2026120800324.pcapng",
            "hb_00001_2026120800324x.pcapng",
            "_20261208003244.pcapng",
        ] {
            assert_eq!(ring_name(Path::new(not)), None, "{not}");
        }
    }

    /// A classic pcap with one empty record at each of `seconds`, on `link_type`.
    fn pcap(path: &Path, link_type: u32, seconds: &[u32]) {
        let mut v = Vec::new();
        for x in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, link_type] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for &s in seconds {
            for x in [s, 0, 0, 0] {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        std::fs::write(path, v).unwrap();
    }

    #[test]
    fn files_join_when_times_follow_without_overlap_on_the_same_link() {
        let dir = std::env::temp_dir().join(format!("keepsight-fleet-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let at = |name: &str| dir.join(name);
        pcap(&at("second.pcap"), 1, &[11, 12]); // 1 s after first: continues it
        pcap(&at("first.pcap"), 1, &[5, 10]);
        pcap(&at("overlap.pcap"), 1, &[9, 13]); // overlaps both: another capture
        pcap(&at("later.pcap"), 1, &[16]); // 3 s after overlap, 4 s after second: another
        pcap(&at("raw.pcap"), 101, &[13]); // right after second, other link type
        std::fs::write(at("notes.txt"), "not taken from a directory").unwrap();
        let given = vec![
            at("second.pcap"),
            at("first.pcap"),
            at("overlap.pcap"),
            at("later.pcap"),
            at("raw.pcap"),
        ];
        let captures = plan(&given, 2).unwrap();
        let names: Vec<(Vec<PathBuf>, Joined)> =
            captures.into_iter().map(|c| (c.files, c.joined)).collect();
        assert_eq!(
            names,
            [
                (
                    vec![at("first.pcap"), at("second.pcap")],
                    Joined::Contiguous
                ),
                (vec![at("overlap.pcap")], Joined::Single),
                (vec![at("later.pcap")], Joined::Single),
                (vec![at("raw.pcap")], Joined::Single),
            ]
        );
        // The directory gives the same captures (in name order; the text file is left out).
        let from_dir = plan(std::slice::from_ref(&dir), 1).unwrap();
        assert_eq!(from_dir.len(), 4);
        assert!(from_dir
            .iter()
            .all(|c| c.files.iter().all(|f| f.extension().unwrap() == "pcap")));
        assert!(plan(&[at("none.pcap")], 0)
            .unwrap_err()
            .to_string()
            .contains("none.pcap"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
