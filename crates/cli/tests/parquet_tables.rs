//! `keepsight diagnose --parquet` (issue 19 items 3 and 4): the tables read back by DuckDB, an
//! independent Parquet reader, must hold what the JSON report says, row by row, on every
//! committed capture (tests/corpus, tests/scenarios; with the scenario's log); the segments
//! table and the ISNs must be tshark's; and the README's fleet queries
//! (crates/tables/README.md), run on two scenario captures written as two hosts, must give the
//! answers the scenarios' truth.json files give. The comparison is `tests/parquet/check.py`.

mod common;

use std::process::Command;

#[test]
fn parquet_tables_match_json_tshark_and_truth() {
    if !common::tshark_available() || !keepsight_testlab::require_tool("python3") {
        return;
    }
    let has_duckdb = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_duckdb,
        "Python's duckdb module reads the tables back; install it: python3 -m pip install duckdb (.ci/run does)"
    );
    let scratch = common::scratch("parquet-tables");
    let script = common::repo().join("crates/cli/tests/parquet/check.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_keepsight"))
        .arg(common::repo())
        .arg(&scratch)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the tables differ from the JSON, tshark or the truth:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 differences"), "{stdout}");
    let _ = std::fs::remove_dir_all(&scratch);
}
