//! Test helpers for the monitoring end of the data flow (`deploy/prometheus`,
//! `deploy/alertmanager`): running promtool and amtool on files, and reading what the rule and
//! rule-test files name (metrics, alerts, tested cases) from their text. The files are in the
//! block style `kpi alert-rules` writes (`expr: |-` blocks, one key per line), which is all
//! these readers handle.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

pub use crate::promtool::promtool_bin;

pub fn amtool_bin() -> String {
    std::env::var("KPI_AMTOOL_BIN").unwrap_or_else(|_| "amtool".to_owned())
}

/// Runs a tool in `dir`; panics with its output unless it succeeds. Returns its stdout.
pub fn run_tool(bin: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(bin).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("running {bin} ({e}): run scripts/setup.sh (Debian's prometheus and prometheus-alertmanager)")
    });
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{bin} {} failed:\n{text}", args.join(" "));
    text
}

/// Every `"kpi_…"` string literal in the Rust sources under `dir`: the metric names the
/// services register (plus any other such literal, which is harmless here).
pub fn metric_names_in_sources(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).expect("readable dir").map(|e| e.expect("dir entry").path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            for (start, _) in text.match_indices("\"kpi_") {
                let rest = &text[start + 1..];
                let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
                if let Some(end) = end.filter(|&end| rest[end..].starts_with('"')) {
                    names.insert(rest[..end].to_owned());
                }
            }
        }
    }
    names
}

/// Whether `name` is one of `defined` or a histogram's `_bucket`, `_sum` or `_count` series.
pub fn is_defined(name: &str, defined: &BTreeSet<String>) -> bool {
    defined.contains(name)
        || ["_bucket", "_sum", "_count"].iter().any(|s| name.strip_suffix(s).is_some_and(|base| defined.contains(base)))
}

/// The PromQL of every `expr:` in a rules file (block scalars or one-line values).
pub fn exprs(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else { continue };
        let rest = rest.trim();
        if !(rest.starts_with('|') || rest.starts_with('>')) {
            out.push(rest.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join("\n");
        out.push(block);
    }
    out
}

/// Identifiers of a PromQL expression outside string literals: metric, label and function
/// names, keywords, and recording-rule names (with colons). Numbers and durations are skipped.
pub fn identifiers(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let (mut out, mut i) = (Vec::new(), 0);
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if word(c) {
            let start = i;
            while i < chars.len() && (word(chars[i]) || (chars[start].is_ascii_digit() && chars[i] == '.')) {
                i += 1;
            }
            if !c.is_ascii_digit() {
                out.push(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The value of a `key: value` line, unquoted.
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.trim_start().trim_start_matches("- ").strip_prefix(key)?.strip_prefix(':')?;
    Some(rest.trim().trim_matches('"').trim_matches('\''))
}

/// Names of the recording rules of a rules file.
pub fn recorded_names(rules: &str) -> BTreeSet<String> {
    rules.lines().filter_map(|l| value_of(l, "record")).map(str::to_owned).collect()
}

/// Static rule labels that tell apart rules of one alert name (one rule per indicator, or per
/// direction).
pub const DISTINGUISHING_LABELS: [&str; 2] = ["indicator", "direction"];

/// A `key: value` line's key and value, unquoted.
fn key_value(line: &str) -> Option<(String, String)> {
    let (key, value) = line.trim_start().trim_start_matches("- ").split_once(':')?;
    Some((key.trim().to_owned(), value.trim().trim_matches('"').trim_matches('\'').to_owned()))
}

/// An alert rule: its name and its distinguishing static label, if any.
pub type AlertKey = (String, Option<(String, String)>);

/// Every alert rule of a rules file.
pub fn alerts(rules: &str) -> BTreeSet<AlertKey> {
    let mut out = BTreeSet::new();
    let (mut current, mut in_labels): (Option<AlertKey>, bool) = (None, false);
    for line in rules.lines() {
        if let Some(name) = value_of(line, "alert") {
            out.extend(current.take());
            current = Some((name.to_owned(), None));
            in_labels = false;
        } else if line.trim() == "labels:" || line.trim() == "annotations:" {
            in_labels = line.trim() == "labels:";
        } else if let (true, Some(rule), Some((k, v))) = (in_labels, current.as_mut(), key_value(line)) {
            if DISTINGUISHING_LABELS.contains(&k.as_str()) {
                rule.1 = Some((k, v));
            }
        }
    }
    out.extend(current);
    out
}

/// What a promtool rule-test file checks: alerts expected to fire (name and every expected
/// label), and the names of alerts expected not to fire (`exp_alerts: []`) at some time.
#[derive(Debug, Default)]
pub struct Tested {
    pub firing: Vec<(String, BTreeSet<(String, String)>)>,
    pub not_firing: BTreeSet<String>,
}

impl Tested {
    /// Whether some case expects this rule's alert to fire.
    pub fn fires(&self, (name, label): &AlertKey) -> bool {
        self.firing.iter().any(|(n, labels)| n == name && label.as_ref().is_none_or(|l| labels.contains(l)))
    }
}

pub fn tested_alerts(tests: &str) -> Tested {
    let mut tested = Tested::default();
    let mut name: Option<String> = None;
    let mut expected: Option<(String, BTreeSet<(String, String)>)> = None;
    for line in tests.lines() {
        let item = line.trim_start().starts_with("- ");
        if item || value_of(line, "alertname").is_some() || line.trim() == "exp_annotations:" {
            tested.firing.extend(expected.take());
        }
        if let Some(n) = value_of(line, "alertname") {
            name = Some(n.to_owned());
        } else if let (Some("[]"), Some(n)) = (value_of(line, "exp_alerts"), &name) {
            tested.not_firing.insert(n.clone());
        } else if line.trim_start().starts_with("- exp_labels:") {
            expected = name.clone().map(|n| (n, BTreeSet::new()));
        } else if let (Some(e), Some(kv)) = (expected.as_mut(), key_value(line)) {
            e.1.insert(kv);
        }
    }
    tested.firing.extend(expected);
    tested
}

/// The metric name of every `series:` of a promtool rule-test file.
pub fn test_series_names(tests: &str) -> BTreeSet<String> {
    tests
        .lines()
        .filter_map(|l| value_of(l, "series"))
        .map(|s| s.split('{').next().unwrap_or(s).trim().to_owned())
        .collect()
}
