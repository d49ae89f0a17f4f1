//! The filter lists of the differential test, checked for acceptance alone: every line of
//! tests/filters/accept.txt must compile and every line of reject.txt must not. tshark 4.0.17
//! made both lists (crates/cli/tests/filter_oracle.rs re-checks them against tshark and compares
//! matching frames); this test keeps the verdicts honest where tshark or the CLI is missing.

use keepsight_filter::Filter;
use std::path::PathBuf;

fn list(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/filters")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_accepted_filter_compiles() {
    let accept = list("accept.txt");
    assert!(
        accept.len() >= 150,
        "the issue asks for at least 150 filters, found {}",
        accept.len()
    );
    let failures: Vec<String> = accept
        .iter()
        .filter_map(|f| Filter::compile(f).err().map(|e| format!("{f}\n{e}\n")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} filters tshark accepts are rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rejected_filter_is_refused() {
    let reject = list("reject.txt");
    let wrongly: Vec<&String> = reject
        .iter()
        .filter(|f| Filter::compile(f).is_ok())
        .collect();
    assert!(
        wrongly.is_empty(),
        "filters tshark rejects but keepsight accepts: {wrongly:#?}"
    );
}
