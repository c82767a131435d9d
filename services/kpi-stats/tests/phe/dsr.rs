//! Data flow: warehouse counts by age band → kpi-stats → publisher; checks Dobson DSRs against
//! every row of `dsr_input.csv` / `dsr_expected.csv` (PHEindicatormethods `phe_dsr`, ESP2013).
//!
//! `dsr_input.csv`: area, ageband, count, pop; 19 bands per area, given ESP2013 weights by
//! position ("bands in file order", statistics.md). The package's file labels the twelfth band
//! "55-69"; it is the 55-59 band, and is weighted as such. One count is empty (NA) and is
//! taken as 0, as the package does.
//! `dsr_expected.csv`: area, total_count, total_pop, value and limits, statistic
//! ("dsr per 100000", or "dsr NA ..." when not computable), method.

use kpi_stats::{dobson_dsr, AgeBand, Confidence, ESP2013_WEIGHTS};

use crate::common::{read_rows, Checker};

const INPUT: &str = "dsr_input.csv";
const EXPECTED: &str = "dsr_expected.csv";
/// Index and label of the band the input file mislabels.
const MISLABELLED: (usize, &str) = (11, "55-69");

/// Areas in file order, each with its bands in file order.
fn areas() -> Vec<(String, Vec<AgeBand>)> {
    let mut areas: Vec<(String, Vec<AgeBand>)> = Vec::new();
    for row in read_rows(INPUT) {
        let area = row.text("area").to_owned();
        if areas.last().map(|(a, _)| a != &area).unwrap_or(true) {
            assert!(areas.iter().all(|(a, _)| a != &area), "{area} is not contiguous");
            areas.push((area.clone(), Vec::new()));
        }
        let bands = &mut areas.last_mut().unwrap().1;
        let i = bands.len();
        let (label, weight) =
            *ESP2013_WEIGHTS.get(i).unwrap_or_else(|| panic!("line {}: {area} has more than 19 bands", row.line));
        let file_label = row.text("ageband");
        assert!(
            file_label == label || (i, file_label) == MISLABELLED,
            "line {}: band {i} is {file_label:?}, expected {label:?}",
            row.line
        );
        bands.push(AgeBand {
            // One count is empty (R's NA); phe_dsr sums with na.rm = TRUE, so it counts as 0
            // (the expected total_count, checked below, confirms this).
            count: row.count("count").unwrap_or(0),
            population: row.num("pop").expect("pop"),
            weight,
        });
    }
    for (area, bands) in &areas {
        assert_eq!(bands.len(), ESP2013_WEIGHTS.len(), "{area}");
    }
    areas
}

/// "dsr per 100000" → 100000.
fn multiplier(statistic: &str) -> Option<f64> {
    statistic.strip_prefix("dsr per ").map(|m| m.trim().parse().expect("multiplier"))
}

#[test]
fn every_row_matches() {
    let areas = areas();
    let rows = read_rows(EXPECTED);
    let mut check = Checker::new(EXPECTED);
    let mut absent = 0;
    for row in &rows {
        let area = row.text("area");
        let bands = &areas
            .iter()
            .find(|(a, _)| a == area)
            .unwrap_or_else(|| panic!("line {}: no input for {area}", row.line))
            .1;
        let total: u64 = bands.iter().map(|b| b.count).sum();
        let pop: f64 = bands.iter().map(|b| b.population).sum();
        assert_eq!(Some(total), row.count("total_count"), "line {}", row.line);
        assert_eq!(Some(pop), row.num("total_pop"), "line {}", row.line);

        let statistic = row.text("statistic");
        // A not-computable row has no multiplier; any will do, the answer must be None.
        let m = multiplier(statistic).unwrap_or(100_000.0);
        for c in Confidence::ALL {
            let want = row.expected(c);
            assert_eq!(want.is_none(), multiplier(statistic).is_none(), "line {}", row.line);
            absent += usize::from(want.is_none());
            let what = format!("line {} {area} {statistic} {}", row.line, c.label());
            check.estimate(&what, dobson_dsr(bands, m, c), want);
        }
    }
    assert!(absent > 0, "the total < 10 rows are exercised");
    check.report(rows.len());
}
