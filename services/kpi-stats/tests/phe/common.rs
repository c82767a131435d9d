//! Data flow: warehouse counts → kpi-stats → publisher; shared helpers for the PHE test-vector
//! tests: locating `shared/testdata/phe`, reading CSV rows, and comparing to 1e-9.

use std::collections::HashMap;
use std::path::PathBuf;

use kpi_stats::{Confidence, Estimate};

/// Required relative accuracy (statistics.md, "Test vectors").
const REL_TOL: f64 = 1e-9;
/// Absolute accuracy accepted instead when the expected value is near zero.
const ABS_TOL: f64 = 1e-12;

/// `$KPI_SHARED_DIR/testdata/phe` if that is set, else `../../../shared/testdata/phe` from this
/// crate's manifest (the repository checkout sits beside `shared/`). Panics if missing.
pub fn data_dir() -> PathBuf {
    let dir = match std::env::var_os("KPI_SHARED_DIR") {
        Some(shared) => PathBuf::from(shared).join("testdata/phe"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/phe"),
    };
    assert!(
        dir.is_dir(),
        "PHE test vectors not found at {}: set KPI_SHARED_DIR to the shared/ directory \
         (the one holding testdata/phe/*.csv)",
        dir.display()
    );
    dir
}

/// One CSV row, by column name.
pub struct Row {
    pub line: usize,
    fields: HashMap<String, String>,
}

impl Row {
    /// The raw text of `col`; panics if the column does not exist.
    pub fn text(&self, col: &str) -> &str {
        match self.fields.get(col) {
            Some(v) => v.trim(),
            None => panic!("line {}: no column {col:?}", self.line),
        }
    }

    /// `None` for an empty cell (R's NA), else the number; panics if it does not parse.
    pub fn num(&self, col: &str) -> Option<f64> {
        let t = self.text(col);
        if t.is_empty() || t == "NA" {
            return None;
        }
        match t.parse() {
            Ok(v) => Some(v),
            Err(e) => panic!("line {}: column {col} = {t:?}: {e}", self.line),
        }
    }

    /// A count: empty → `None`; panics unless a non-negative whole number.
    pub fn count(&self, col: &str) -> Option<u64> {
        self.num(col).map(|v| {
            assert!(v >= 0.0 && v.fract() == 0.0, "line {}: {col} = {v} is not a count", self.line);
            v as u64
        })
    }

    /// The expected estimate in the PHE layout (`value`, `lower95_0cl`, `upper95_0cl`,
    /// `lower99_8cl`, `upper99_8cl`), or `None` if the row is marked not computable (all empty).
    pub fn expected(&self, c: Confidence) -> Option<Estimate> {
        let (lo, hi) = match c {
            Confidence::P95 => ("lower95_0cl", "upper95_0cl"),
            Confidence::P99_8 => ("lower99_8cl", "upper99_8cl"),
        };
        let cells = [self.num("value"), self.num(lo), self.num(hi)];
        match cells {
            [Some(value), Some(lower), Some(upper)] => Some(Estimate { value, lower, upper }),
            [None, None, None] => None,
            _ => panic!("line {}: partly empty value/limits {cells:?}", self.line),
        }
    }
}

/// Every row of `file` in the PHE data directory. Panics if the file is missing or empty.
pub fn read_rows(file: &str) -> Vec<Row> {
    let path = data_dir().join(file);
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let headers: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{}: bad header: {e}", path.display()))
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let rows: Vec<Row> = reader
        .records()
        .enumerate()
        .map(|(i, rec)| {
            let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let fields = headers.iter().cloned().zip(rec.iter().map(str::to_owned)).collect();
            Row { line: i + 2, fields }
        })
        .collect();
    assert!(!rows.is_empty(), "{} has no data rows", path.display());
    rows
}

/// Compares values and records the worst relative error seen.
pub struct Checker {
    file: &'static str,
    compared: usize,
    worst_rel: f64,
}

impl Checker {
    pub fn new(file: &'static str) -> Self {
        Checker { file, compared: 0, worst_rel: 0.0 }
    }

    /// Asserts `got` is within 1e-9 relative (or 1e-12 absolute) of `want`.
    pub fn close(&mut self, what: &str, got: f64, want: f64) {
        let err = (got - want).abs();
        let rel = if want == 0.0 { err } else { err / want.abs() };
        assert!(
            got.is_finite() && (err <= REL_TOL * want.abs() || err <= ABS_TOL),
            "{}: {what}: got {got:e}, want {want:e} (relative error {rel:e})",
            self.file
        );
        self.compared += 1;
        self.worst_rel = self.worst_rel.max(rel);
    }

    /// Compares an optional result with an optional expectation: both absent, or both close.
    pub fn estimate(&mut self, what: &str, got: Option<Estimate>, want: Option<Estimate>) {
        match (got, want) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                self.close(&format!("{what} value"), g.value, w.value);
                self.close(&format!("{what} lower"), g.lower, w.lower);
                self.close(&format!("{what} upper"), g.upper, w.upper);
            }
            (g, w) => panic!("{}: {what}: got {g:?}, want {w:?}", self.file),
        }
    }

    /// Prints the summary (shown with `--nocapture`).
    pub fn report(&self, rows: usize) {
        println!(
            "{}: {rows} rows, {} values compared, worst relative error {:.3e}",
            self.file, self.compared, self.worst_rel
        );
    }
}

/// The confidence level named in a CSV cell ("95%" or "99.8%").
pub fn confidence(label: &str) -> Confidence {
    Confidence::ALL
        .into_iter()
        .find(|c| c.label() == label)
        .unwrap_or_else(|| panic!("unknown confidence level {label:?}"))
}
