//! Data flow: warehouse counts → kpi-stats → publisher; checks crude rates against every row of
//! `rate.csv` (PHEindicatormethods `phe_rate`: Byar's limits from 10 events, exact below).
//!
//! Columns: Area, Numerator, Denominator, value, lower95_0cl, upper95_0cl, lower99_8cl,
//! upper99_8cl, statistic, method ("Exact"/"Byars", empty when not computable), multiplier.

use kpi_stats::{crude_rate, Confidence};

use crate::common::{read_rows, Checker};

const FILE: &str = "rate.csv";

#[test]
fn every_row_matches() {
    let rows = read_rows(FILE);
    let mut check = Checker::new(FILE);
    let (mut exact, mut absent) = (0, 0);
    for row in &rows {
        let multiplier = row.num("multiplier").expect("multiplier");
        let x = row.count("Numerator");
        // A missing denominator reaches the function as NaN and must give no value.
        let n = row.num("Denominator").unwrap_or(f64::NAN);
        if let Some(x) = x {
            // The package's method column agrees with the switch at 10 events.
            let method = row.text("method");
            if !method.is_empty() {
                assert_eq!(method, if x < 10 { "Exact" } else { "Byars" }, "line {}", row.line);
                exact += usize::from(x < 10);
            }
        }
        for c in Confidence::ALL {
            // A missing count cannot be passed at all: upstream it has no value.
            let got = x.and_then(|x| crude_rate(x, n, multiplier, c));
            let want = row.expected(c);
            absent += usize::from(want.is_none());
            let what = format!("line {} {} {}", row.line, row.text("Area"), c.label());
            check.estimate(&what, got, want);
        }
    }
    assert!(exact > 0 && absent > 0, "exact limits and not-computable rows are exercised");
    check.report(rows.len());
}
