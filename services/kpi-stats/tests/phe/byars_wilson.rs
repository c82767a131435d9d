//! Data flow: warehouse counts → kpi-stats → publisher; checks Byar's limits on a count and Wilson
//! limits on a proportion against every row of `byars_wilson.csv` (PHEindicatormethods
//! `byars_lower`/`byars_upper`, `wilson_lower`/`wilson_upper`).
//!
//! Columns: x, n (Wilson only), lowercl, uppercl, confidence ("95%"/"99.8%"),
//! method ("Byars"/"Wilson"). An empty lowercl marks a lower limit the package does not give
//! (Byar's formula is negative for x = 1 at 99.8%).

use kpi_stats::{byars_lower, byars_upper, wilson, wilson_f64};

use crate::common::{confidence, read_rows, Checker};

const FILE: &str = "byars_wilson.csv";

#[test]
fn every_row_matches() {
    let rows = read_rows(FILE);
    let mut check = Checker::new(FILE);
    let (mut byars, mut wilsons) = (0, 0);
    for row in &rows {
        let c = confidence(row.text("confidence"));
        let x = row.num("x").unwrap_or_else(|| panic!("line {}: no x", row.line));
        let want_lower = row.num("lowercl");
        let want_upper = row.num("uppercl").expect("every row has an upper limit");
        let what = format!("line {} {} x={x} {}", row.line, row.text("method"), c.label());
        match row.text("method") {
            "Byars" => {
                byars += 1;
                let x = row.count("x").unwrap();
                match (byars_lower(x, c), want_lower) {
                    (Some(g), Some(w)) => check.close(&format!("{what} lower"), g, w),
                    (None, None) => {}
                    (g, w) => panic!("{what}: lower got {g:?}, want {w:?}"),
                }
                check.close(&format!("{what} upper"), byars_upper(x, c), want_upper);
            }
            "Wilson" => {
                wilsons += 1;
                let n = row.num("n").unwrap_or_else(|| panic!("{what}: no n"));
                let got = wilson_f64(x, n, c).unwrap_or_else(|| panic!("{what}: no value"));
                let want_lower = want_lower.unwrap_or_else(|| panic!("{what}: no lower"));
                check.close(&format!("{what} lower"), got.lower, want_lower);
                check.close(&format!("{what} upper"), got.upper, want_upper);
                // Whole counts go through the u64 entry point too, with the same result.
                if x.fract() == 0.0 && n.fract() == 0.0 {
                    assert_eq!(wilson(x as u64, n as u64, c), Some(got), "{what}");
                }
            }
            other => panic!("line {}: unknown method {other:?}", row.line),
        }
    }
    assert_eq!(byars + wilsons, rows.len());
    assert!(byars > 0 && wilsons > 0, "both methods are exercised");
    check.report(rows.len());
}
