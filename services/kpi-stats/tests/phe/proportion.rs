//! Data flow: warehouse counts → kpi-stats → publisher; checks Wilson proportions and
//! percentages against every row of `proportion.csv` (PHEindicatormethods `phe_proportion`).
//!
//! Columns: Area, Numerator, Denominator, value, lower95_0cl, upper95_0cl, lower99_8cl,
//! upper99_8cl, statistic, method, multiplier (1 for a proportion, 100 for a percentage).
//! Rows with a missing numerator or denominator are marked not computable (all values empty).

use kpi_stats::{wilson, wilson_f64, Confidence};

use crate::common::{read_rows, Checker};

const FILE: &str = "proportion.csv";

#[test]
fn every_row_matches() {
    let rows = read_rows(FILE);
    let mut check = Checker::new(FILE);
    let mut absent = 0;
    for row in &rows {
        assert_eq!(row.text("method"), "Wilson", "line {}", row.line);
        let multiplier = row.num("multiplier").expect("multiplier");
        let x = row.count("Numerator");
        let n = row.count("Denominator");
        for c in Confidence::ALL {
            let got = match (x, n) {
                (Some(x), Some(n)) => wilson(x, n, c),
                // A missing denominator reaches the function as NaN and must give no value.
                (Some(x), None) => wilson_f64(x as f64, f64::NAN, c),
                // A missing count cannot be passed at all: upstream it has no value.
                (None, _) => None,
            }
            .map(|e| e.scaled(multiplier));
            let want = row.expected(c);
            absent += usize::from(want.is_none());
            let what = format!("line {} {} {}", row.line, row.text("Area"), c.label());
            check.estimate(&what, got, want);
        }
    }
    assert!(absent > 0, "the not-computable rows are exercised");
    check.report(rows.len());
}
