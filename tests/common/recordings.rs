//! Shared by the tests that check the JSON against the recordings field by field: a
//! trace's input lines, and the traces README's table of which events carry which key.

use super::json_schema::shared_traces_dir;
use flate2::read::MultiGzDecoder;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The input lines of a trace, parsed on their own (not by the replay's reader).
pub fn input_lines(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap();
    BufReader::new(MultiGzDecoder::new(file)).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
}

/// The README's table of events carrying each optional key, as key → column → count.
pub fn readme_counts() -> Option<HashMap<String, HashMap<String, u64>>> {
    let text = std::fs::read_to_string(shared_traces_dir().join("README.md")).ok()?;
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Events that carry each optional key"));
    let header = lines.find(|l| l.starts_with("| key |"))?;
    let columns: Vec<String> = header.split('|').map(str::trim).skip(2).map(str::to_owned).collect();
    let mut table = HashMap::new();
    for row in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let counts = columns.iter().zip(&cells[2..]).filter_map(|(c, n)| Some((c.clone(), n.parse().ok()?))).collect();
        table.insert(cells[1].to_owned(), counts);
    }
    Some(table)
}

/// The README column of a trace file: the one whose words are all words of the file name
/// (`lsass_01` for `otrf_lsass_campaign_01`, `run_keys` for `otrf_2020_run_keys_…`).
pub fn readme_column<'a>(columns: impl Iterator<Item = &'a String>, file: &str) -> String {
    let words: Vec<&str> = file.trim_end_matches(".jsonl.gz").split('_').collect();
    let matching: Vec<&String> =
        columns.filter(|c| !c.is_empty() && c.split('_').all(|w| words.contains(&w))).collect();
    assert_eq!(matching.len(), 1, "README column of {file}: {matching:?}");
    matching[0].clone()
}
