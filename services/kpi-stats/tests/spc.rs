//! Data flow: warehouse indicator values → kpi-stats SPC → publisher (`indicator_spc`, metrics);
//! these tests check `kpi_stats::spc` against statistics.md, "Statistical process control", on
//! series built by hand so that every mean, limit and flag below is derived on paper in the
//! comments, not copied from the code's output.

use kpi_stats::spc::{
    analyse, AssuranceIcon, Direction, Reading, Rules, Side, SpcChart, SpcSettings, SpcSettingsError, VariationIcon,
};

const UP: Direction = Direction::HigherIsBetter;
const DOWN: Direction = Direction::LowerIsBetter;
const NEITHER: Direction = Direction::Neither;

fn chart(values: &[f64], direction: Direction, target: Option<f64>) -> SpcChart {
    analyse(values, direction, target, SpcSettings::default()).expect("a chart")
}

fn chart_with(values: &[f64], settings: SpcSettings) -> SpcChart {
    analyse(values, UP, None, settings).expect("a chart")
}

/// Indices of the special-cause points.
fn flagged(c: &SpcChart) -> Vec<usize> {
    c.points.iter().enumerate().filter(|(_, p)| p.is_special_cause()).map(|(i, _)| i).collect()
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want} ± {tol}");
}

/// `times` copies of `pair`, flattened: alternate(&[1.0, 2.0], 3) = 1, 2, 1, 2, 1, 2.
fn alternate(pair: &[f64; 2], times: usize) -> Vec<f64> {
    pair.iter().copied().cycle().take(2 * times).collect()
}

fn negate(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| -v).collect()
}

const SPEC_EXAMPLE: [f64; 18] = [1., 2., 1., 2., 10., 1., 2., 1., 2., 1., 2., 1., 2., 1., 2., 1., 2., 1.];

// ---------------------------------------------------------------------------------------------
// The spec's worked example (NHSRplotthedots vignette)
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_worked_example() {
    // 18 points. Before the 10: 1+2+1+2 = 6. After it, 13 points alternating from 1: seven 1s
    // and six 2s = 19. Sum = 6 + 10 + 19 = 35; mean = 35/18 = 1.94444.
    // 17 moving ranges: 1, 1, 1 (1→2→1→2), 8 (2→10), 9 (10→1), then twelve 1s = 32;
    // mR̄ = 32/17 = 1.88235.
    // 2.66·mR̄ = 5.00706: upper = 6.95150 → 6.95, lower = −3.06261 → −3.06.
    let c = chart(&SPEC_EXAMPLE, UP, None);
    assert_close(c.mean, 35.0 / 18.0, 1e-12, "mean");
    assert_close(c.mr_bar, 32.0 / 17.0, 1e-12, "mR̄");
    assert_eq!(format!("{:.4}", c.mean), "1.9444");
    assert_eq!(format!("{:.4}", c.mr_bar), "1.8824");
    assert_eq!(format!("{:.2}", c.upper_limit), "6.95");
    assert_eq!(format!("{:.2}", c.lower_limit), "-3.06");
    // 2σ lines: (2/3)·5.00706 = 3.33804 → 5.28248 and −1.39359.
    assert_close(c.upper_two_sigma, 35.0 / 18.0 + 2.0 / 3.0 * 2.66 * 32.0 / 17.0, 1e-12, "upper 2σ");
    assert_close(c.lower_two_sigma, 35.0 / 18.0 - 2.0 / 3.0 * 2.66 * 32.0 / 17.0, 1e-12, "lower 2σ");
    assert!(!c.run_chart);
    assert_eq!(c.baseline_points, 18);

    // Rule 1: only 10 > 6.95; nothing below −3.06.
    let rule1: Vec<usize> =
        c.points.iter().enumerate().filter(|(_, p)| p.rules.outside_limits).map(|(i, _)| i).collect();
    assert_eq!(rule1, vec![4]);
    // And nothing else fires: 1s are below the mean and 2s above, alternating (no shift; "2, 10"
    // is the longest run above, 2 points); the longest rise is 1, 2, 10 (3 points); only the 10
    // is beyond the upper 2σ line 5.28 and nothing is below −1.39 (no two-in-three).
    assert_eq!(flagged(&c), vec![4]);
    assert_eq!(c.points[4].rules, Rules { outside_limits: true, ..Rules::default() });
    for p in &c.points {
        assert_eq!((p.mean, p.lower_limit, p.upper_limit), (c.mean, c.lower_limit, c.upper_limit));
    }
    // The last point (1) is common cause.
    assert_eq!(c.variation, VariationIcon::CommonCause);
    assert_eq!(c.variation.code(), "common_cause");
}

#[test]
fn readings_follow_the_direction() {
    // The 10 above the upper limit is a high special cause.
    let up = chart(&SPEC_EXAMPLE, UP, None).points[4];
    let down = chart(&SPEC_EXAMPLE, DOWN, None).points[4];
    let neither = chart(&SPEC_EXAMPLE, NEITHER, None).points[4];
    for p in [up, down, neither] {
        assert_eq!(p.special_cause.unwrap().side, Side::High);
    }
    assert_eq!(up.special_cause.unwrap().reading, Reading::Improvement);
    assert_eq!(up.variation(), VariationIcon::ImprovementHigh);
    assert_eq!(down.special_cause.unwrap().reading, Reading::Concern);
    assert_eq!(down.variation(), VariationIcon::ConcernHigh);
    assert_eq!(neither.special_cause.unwrap().reading, Reading::Neither);
    assert_eq!(neither.variation(), VariationIcon::NeitherHigh);
}

// ---------------------------------------------------------------------------------------------
// Variation icons: the status of the last point
// ---------------------------------------------------------------------------------------------

#[test]
fn variation_icon_last_point_high() {
    // 1, 2, …, 1 (17 points: nine 1s, eight 2s = 25), then 10. n = 18, sum 35, mean 1.94444.
    // Moving ranges: sixteen 1s + 9 = 25; mR̄ = 25/17 = 1.47059; 2.66·mR̄ = 3.91176.
    // Upper limit 5.85621 < 10 (rule 1, high); lower −1.96732. Upper 2σ 1.94444 + 2.60784
    // = 4.55229: only the 10. 1s below the mean, 2s above, alternating: no shift, no trend.
    let mut v = alternate(&[1.0, 2.0], 8);
    v.extend([1.0, 10.0]);
    for (direction, icon, code) in [
        (UP, VariationIcon::ImprovementHigh, "improvement_high"),
        (DOWN, VariationIcon::ConcernHigh, "concern_high"),
        (NEITHER, VariationIcon::NeitherHigh, "neither_high"),
    ] {
        let c = chart(&v, direction, None);
        assert_close(c.mean, 35.0 / 18.0, 1e-12, "mean");
        assert_close(c.mr_bar, 25.0 / 17.0, 1e-12, "mR̄");
        assert_eq!(flagged(&c), vec![17]);
        assert_eq!(c.variation, icon);
        assert_eq!(c.variation.code(), code);
        assert_eq!(c.variation.to_string(), code);
    }
}

#[test]
fn variation_icon_last_point_low() {
    // 10, 9, …, 10 (17 points: nine 10s = 90, eight 9s = 72), then 1. n = 18, sum 163,
    // mean 9.05556. Moving ranges: sixteen 1s + 9 = 25; mR̄ = 25/17 = 1.47059; 2.66·mR̄ = 3.91176.
    // Lower limit 5.14379 > 1 (rule 1, low); upper 12.96732. Lower 2σ 9.05556 − 2.60784 = 6.44771:
    // only the 1. 10s above the mean, 9s below, alternating: no shift, no trend.
    let mut v = alternate(&[10.0, 9.0], 8);
    v.extend([10.0, 1.0]);
    for (direction, icon, code) in [
        (UP, VariationIcon::ConcernLow, "concern_low"),
        (DOWN, VariationIcon::ImprovementLow, "improvement_low"),
        (NEITHER, VariationIcon::NeitherLow, "neither_low"),
    ] {
        let c = chart(&v, direction, None);
        assert_close(c.mean, 163.0 / 18.0, 1e-12, "mean");
        assert_eq!(flagged(&c), vec![17]);
        assert_eq!(c.points[17].special_cause.unwrap().side, Side::Low);
        assert_eq!(c.variation, icon);
        assert_eq!(c.variation.code(), code);
    }
}

// ---------------------------------------------------------------------------------------------
// Rule 2: shift
// ---------------------------------------------------------------------------------------------

/// 4, 0, 4, 0, 4, 0, 4, 0, then six 3s, then 0, 2 (16 points).
fn six_above() -> Vec<f64> {
    let mut v = alternate(&[4.0, 0.0], 4);
    v.extend([3.0; 6]);
    v.extend([0.0, 2.0]);
    v
}

#[test]
fn shift_of_six_above_the_mean_is_flagged() {
    // Sum = 16 + 18 + 0 + 2 = 36, n = 16, mean = 2.25.
    // Moving ranges: seven 4s = 28, 0→3 = 3, five 0s, 3→0 = 3, 0→2 = 2: total 36 over 15,
    // mR̄ = 2.4; 2.66·mR̄ = 6.384: limits 8.634 / −4.134; 2σ ± 4.256: 6.506 / −2.006. Nothing
    // beyond any of them. 4s above the mean and 0s below, alternating; the six 3s (indices
    // 8..=13) are above 2.25, preceded by a 0 and followed by a 0: a run of exactly 6. The last
    // 0, 2 are 2 below. Longest rise: 0, 3 or 0, 2 (2 points): no trend.
    let c = chart(&six_above(), UP, None);
    assert_close(c.mean, 2.25, 1e-12, "mean");
    assert_close(c.mr_bar, 2.4, 1e-12, "mR̄");
    assert_eq!(flagged(&c), (8..=13).collect::<Vec<_>>());
    for p in &c.points[8..=13] {
        assert_eq!(p.rules, Rules { shift: true, ..Rules::default() });
        assert_eq!(p.special_cause.unwrap().side, Side::High);
        assert_eq!(p.variation(), VariationIcon::ImprovementHigh);
    }
    assert_eq!(c.variation, VariationIcon::CommonCause);
}

#[test]
fn shift_below_the_mean_is_low() {
    // The mirror image: mean −2.25, the six −3s below it, same moving ranges.
    let c = chart(&negate(&six_above()), UP, None);
    assert_close(c.mean, -2.25, 1e-12, "mean");
    assert_eq!(flagged(&c), (8..=13).collect::<Vec<_>>());
    for p in &c.points[8..=13] {
        assert!(p.rules.shift);
        assert_eq!(p.special_cause.unwrap().side, Side::Low);
        assert_eq!(p.variation(), VariationIcon::ConcernLow);
    }
}

#[test]
fn shift_length_setting_of_seven_ignores_a_run_of_six() {
    let c = chart_with(&six_above(), SpcSettings::new(None, 7, 6).unwrap());
    assert!(flagged(&c).is_empty());
}

#[test]
fn five_in_a_row_is_not_a_shift() {
    // 4, 0 ×4, then five 3s, then 0, 2 (15 points). Sum = 16 + 15 + 2 = 33, mean 2.2.
    // Moving ranges: 28 + 3 + four 0s + 3 + 2 = 36 over 14, mR̄ = 2.57143; 2.66·mR̄ = 6.84:
    // limits 9.04 / −4.64; 2σ ± 4.56: 6.76 / −2.36. Nothing beyond. The 3s are a run of 5 above
    // 2.2: one short. No trend (as above).
    let mut v = alternate(&[4.0, 0.0], 4);
    v.extend([3.0; 5]);
    v.extend([0.0, 2.0]);
    let c = chart(&v, UP, None);
    assert_close(c.mean, 2.2, 1e-12, "mean");
    assert_close(c.mr_bar, 36.0 / 14.0, 1e-12, "mR̄");
    assert!(flagged(&c).is_empty());
}

#[test]
fn a_point_on_the_mean_breaks_a_shift() {
    // 4, 0 ×4, then 3, 3, 3, m, 3, 3, 3, then 0, 2 (17 points), m chosen equal to the mean:
    // sum = 16 + 18 + m + 2 = 36 + m; mean = m ⇔ 36 + m = 17m ⇔ m = 36/16 = 2.25 (exact in
    // binary, so the computed mean is exactly 38.25/17 = 2.25).
    // Moving ranges: 28 + 3 + 0 + 0 + 0.75 + 0.75 + 0 + 0 + 3 + 2 = 37.5 over 16, mR̄ = 2.34375;
    // 2.66·mR̄ = 6.234375: limits 8.48 / −3.98; 2σ ± 4.15625: 6.41 / −1.91. Nothing beyond.
    // Seven consecutive points not below the mean, but the middle one is on it: runs of 3 and 3.
    // Rises: 0, 3 and 2.25, 3 and 0, 2 (2 points each): no trend.
    let mut v = alternate(&[4.0, 0.0], 4);
    v.extend([3.0, 3.0, 3.0, 2.25, 3.0, 3.0, 3.0, 0.0, 2.0]);
    let c = chart(&v, UP, None);
    assert_eq!(c.mean, 2.25);
    assert_eq!(c.points[11].value, c.mean);
    assert_close(c.mr_bar, 2.34375, 1e-12, "mR̄");
    assert!(flagged(&c).is_empty());

    // Control: the same series with a 3 instead of the mean-valued point has 7 above in a row.
    // (Sum 39, mean 39/17 = 2.294; 3 > 2.294; ranges 28 + 3 + 0 ×6 + 3 + 2 = 36 over 16 = 2.25,
    // 2σ upper 2.294 + 3.99 = 6.28: nothing beyond.)
    v[11] = 3.0;
    let c = chart(&v, UP, None);
    assert_eq!(flagged(&c), (8..=14).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Rule 3: trend
// ---------------------------------------------------------------------------------------------

/// 4, 0, 4, 0, 4, 0, 4, then 1, 1.5, 2, 2.5, 3, 3.5 (6 rising points), then 0, 4, 0 (16 points).
fn six_rising() -> Vec<f64> {
    let mut v = vec![4.0, 0.0, 4.0, 0.0, 4.0, 0.0, 4.0];
    v.extend([1.0, 1.5, 2.0, 2.5, 3.0, 3.5]);
    v.extend([0.0, 4.0, 0.0]);
    v
}

#[test]
fn trend_of_six_rising_points_is_flagged() {
    // Sum = 16 + 13.5 + 4 = 33.5, n = 16, mean = 2.09375.
    // Moving ranges: six 4s = 24, 4→1 = 3, five 0.5s = 2.5, 3.5→0 = 3.5, 4, 4: total 41 over 15,
    // mR̄ = 2.73333; 2.66·mR̄ = 7.27067: limits 9.36 / −5.18; 2σ ± 4.84711: 6.94 / −2.75. Nothing
    // beyond. Shift: 1, 1.5, 2 below the mean (3 points), 2.5, 3, 3.5 above (3 points), 4s and 0s
    // alternate: no shift. Trend: 4 → 1 falls, then 1 < 1.5 < 2 < 2.5 < 3 < 3.5 (6 points,
    // 5 rises, indices 7..=12), then 3.5 → 0 falls.
    let c = chart(&six_rising(), UP, None);
    assert_close(c.mean, 2.09375, 1e-12, "mean");
    assert_close(c.mr_bar, 41.0 / 15.0, 1e-12, "mR̄");
    assert_eq!(flagged(&c), (7..=12).collect::<Vec<_>>());
    for p in &c.points[7..=12] {
        assert_eq!(p.rules, Rules { trend: true, ..Rules::default() });
        // A rising trend is High even for its points below the mean.
        assert_eq!(p.special_cause.unwrap().side, Side::High);
        assert_eq!(p.special_cause.unwrap().reading, Reading::Improvement);
    }
}

#[test]
fn falling_trend_is_low() {
    // The mirror image: −1 > −1.5 > … > −3.5, a falling trend of 6 points.
    let c = chart(&negate(&six_rising()), UP, None);
    assert_eq!(flagged(&c), (7..=12).collect::<Vec<_>>());
    for p in &c.points[7..=12] {
        assert!(p.rules.trend);
        assert_eq!(p.variation(), VariationIcon::ConcernLow);
    }
}

#[test]
fn trend_length_setting_of_seven_ignores_six_points() {
    let c = chart_with(&six_rising(), SpcSettings::new(None, 6, 7).unwrap());
    assert!(flagged(&c).is_empty());
}

#[test]
fn five_rising_points_are_not_a_trend() {
    // 4, 0, 4, 0, 4, 0, 4, then 1, 1.5, 2, 2.5, 3, then 0, 4, 0 (15 points). Sum = 16 + 10 + 4
    // = 30, mean = 2 (the 2 lies on it). Moving ranges: 24 + 3 + four 0.5s = 2 + 3 + 4 + 4 = 40
    // over 14, mR̄ = 2.85714; 2.66·mR̄ = 7.6: limits 9.6 / −5.6; 2σ ± 5.06667: 7.07 / −3.07.
    // Nothing beyond, no shift, and the rise is 5 points (4 rises): one short.
    let mut v = vec![4.0, 0.0, 4.0, 0.0, 4.0, 0.0, 4.0];
    v.extend([1.0, 1.5, 2.0, 2.5, 3.0]);
    v.extend([0.0, 4.0, 0.0]);
    let c = chart(&v, UP, None);
    assert_close(c.mean, 2.0, 1e-12, "mean");
    assert_close(c.mr_bar, 40.0 / 14.0, 1e-12, "mR̄");
    assert!(flagged(&c).is_empty());
}

#[test]
fn turning_point_between_two_trends_is_a_valley_low() {
    // 4, 3, then 6, 5, 4, 3, 2, 1 (falling, indices 2..=7), 2, 3, 4, 5, 6 (rising from the 1,
    // indices 7..=12), then 3. n = 14, sum = 7 + 41 + 3 = 51, mean = 3.64286.
    // Moving ranges: 1, 3, five 1s, five 1s, 3 = 17 over 13, mR̄ = 1.30769; 2.66·mR̄ = 3.47846:
    // limits 7.12 / 0.16, nothing beyond. 2σ ± 2.31897: 5.96 / 1.32: the two 6s are beyond the
    // upper line but 10 points apart, the 1 alone beyond the lower: no two-in-three.
    // Shift: 4 above, 3 below, 6, 5, 4 above, 3, 2, 1, 2, 3 below (5), 4, 5, 6 above, 3 below:
    // longest run 5, no shift. So only the two trends fire, and the 1 (index 7) is in both.
    let v = [4.0, 3.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3.0];
    let c = chart(&v, UP, None);
    assert_close(c.mean, 51.0 / 14.0, 1e-12, "mean");
    assert_close(c.mr_bar, 17.0 / 13.0, 1e-12, "mR̄");
    assert_eq!(flagged(&c), (2..=12).collect::<Vec<_>>());
    for i in 2..=6 {
        assert_eq!(c.points[i].special_cause.unwrap().side, Side::Low, "falling trend, index {i}");
    }
    // The valley: the low extreme of both trends.
    assert_eq!(c.points[7].special_cause.unwrap().side, Side::Low);
    for i in 8..=12 {
        assert_eq!(c.points[i].special_cause.unwrap().side, Side::High, "rising trend, index {i}");
    }
    // And mirrored, the turning point is a peak: High.
    let c = chart(&negate(&v), UP, None);
    assert_eq!(c.points[7].special_cause.unwrap().side, Side::High);
}

#[test]
fn position_rule_wins_over_a_trend() {
    // 6, 2, 6, 2, 6, 2, 6, then 0.5, 1, 1.5, 2, 2.5, 3 (rising), then 2, 6, 2, 6. n = 17,
    // sum = 30 + 10.5 + 16 = 56.5, mean = 3.32353.
    // Moving ranges: six 4s = 24, 5.5, five 0.5s = 2.5, 1, 4, 4, 4: 45 over 16, mR̄ = 2.8125;
    // 2.66·mR̄ = 7.48125: limits 10.80 / −4.16; 2σ ± 4.9875: 8.31 / −1.66. Nothing beyond.
    // Indices 7..=13 (0.5 … 3, 2) are 7 points below the mean: a low shift. Indices 7..=12 rise
    // (6 points, 5 rises): a rising trend. They carry both a low and a high signal: the shift,
    // which says where the points are, wins: Low.
    let mut v = vec![6.0, 2.0, 6.0, 2.0, 6.0, 2.0, 6.0];
    v.extend([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]);
    v.extend([2.0, 6.0, 2.0, 6.0]);
    let c = chart(&v, UP, None);
    assert_close(c.mean, 56.5 / 17.0, 1e-12, "mean");
    assert_close(c.mr_bar, 2.8125, 1e-12, "mR̄");
    assert_eq!(flagged(&c), (7..=13).collect::<Vec<_>>());
    for i in 7..=12 {
        assert_eq!(c.points[i].rules, Rules { shift: true, trend: true, ..Rules::default() });
        assert_eq!(c.points[i].variation(), VariationIcon::ConcernLow);
    }
    assert_eq!(c.points[13].rules, Rules { shift: true, ..Rules::default() });
    assert_eq!(c.points[13].special_cause.unwrap().side, Side::Low);
}

// ---------------------------------------------------------------------------------------------
// Rule 4: two of three beyond 2σ
// ---------------------------------------------------------------------------------------------

#[test]
fn two_of_three_beyond_upper_two_sigma_is_flagged() {
    // 0, 2 ×10 (20 points, sum 20), then 5.5, 2, 5.5. n = 23, sum 33, mean = 1.43478.
    // Moving ranges: nineteen 2s = 38, three 3.5s = 10.5: 48.5 over 22, mR̄ = 2.20455;
    // 2.66·mR̄ = 5.86409: upper limit 7.30 (5.5 is inside), lower −4.43.
    // 2σ: (2/3)·5.86409 = 3.90939: upper line 5.34418 < 5.5; lower −2.47 (no 0 beyond).
    // Window (5.5, 2, 5.5): all above 1.43 and two beyond 5.34: both 5.5s flagged, not the 2.
    // No shift (the last run above is 2, 5.5, 2, 5.5: 4 points), no trend (0, 2, 5.5: 3).
    let mut v = alternate(&[0.0, 2.0], 10);
    v.extend([5.5, 2.0, 5.5]);
    let c = chart(&v, UP, None);
    assert_close(c.mean, 33.0 / 23.0, 1e-12, "mean");
    assert_close(c.mr_bar, 48.5 / 22.0, 1e-12, "mR̄");
    assert_close(c.upper_two_sigma, 5.34418, 1e-5, "upper 2σ");
    assert_eq!(flagged(&c), vec![20, 22]);
    for i in [20, 22] {
        assert_eq!(c.points[i].rules, Rules { two_in_three: true, ..Rules::default() });
        assert_eq!(c.points[i].special_cause.unwrap().side, Side::High);
    }
    assert_eq!(c.variation, VariationIcon::ImprovementHigh);
}

#[test]
fn two_of_three_beyond_lower_two_sigma_is_low() {
    // The mirror image of the test above: both −5.5s below the lower 2σ line −5.34.
    let mut v = alternate(&[0.0, 2.0], 10);
    v.extend([5.5, 2.0, 5.5]);
    let c = chart(&negate(&v), DOWN, None);
    assert_eq!(flagged(&c), vec![20, 22]);
    assert_eq!(c.variation, VariationIcon::ImprovementLow);
}

#[test]
fn two_beyond_opposite_two_sigma_lines_is_not_flagged() {
    // 0, 2 ×10 (sum 20), then 5.5, 1, −3.5 (sum 3). n = 23, mean = 23/23 = 1 exactly.
    // Moving ranges: 38 + 3.5 + 4.5 + 4.5 = 50.5 over 22, mR̄ = 2.29545; 2.66·mR̄ = 6.10591:
    // limits 7.11 / −5.11 (nothing beyond). 2σ ± 4.07061: 5.07 / −3.07. The 5.5 is beyond the
    // upper line and the −3.5 beyond the lower, in the same three points, but they straddle the
    // mean (and beyond *different* lines): not a signal. No shift (0, 2 alternate around 1),
    // no trend (3 points at most).
    let mut v = alternate(&[0.0, 2.0], 10);
    v.extend([5.5, 1.0, -3.5]);
    let c = chart(&v, UP, None);
    assert_eq!(c.mean, 1.0);
    assert_close(c.mr_bar, 50.5 / 22.0, 1e-12, "mR̄");
    assert!(c.points[20].value > c.upper_two_sigma && c.points[22].value < c.lower_two_sigma);
    assert!(flagged(&c).is_empty());
}

#[test]
fn two_beyond_the_same_line_with_the_middle_point_across_the_mean_is_not_flagged() {
    // 0, 2 ×10 (sum 20), then 6, 0, 6. n = 23, sum 32, mean = 1.39130.
    // Moving ranges: 38 + 4 + 6 + 6 = 54 over 22, mR̄ = 2.45455; 2.66·mR̄ = 6.52909: upper limit
    // 7.92 (6 inside). 2σ: 4.35273: upper line 5.74 < 6. Two of the three are beyond the same
    // line, but the 0 between them is below the mean: not all three on one side, not a signal.
    let mut v = alternate(&[0.0, 2.0], 10);
    v.extend([6.0, 0.0, 6.0]);
    let c = chart(&v, UP, None);
    assert_close(c.mean, 32.0 / 23.0, 1e-12, "mean");
    assert!(c.points[20].value > c.upper_two_sigma && c.points[20].value < c.upper_limit);
    assert!(flagged(&c).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Run chart: fewer than 13 points
// ---------------------------------------------------------------------------------------------

#[test]
fn fewer_than_13_points_give_no_signal() {
    // 1, 2, …, 1 (11 points: six 1s, five 2s = 16), then 50. n = 12, sum 66, mean 5.5.
    // Moving ranges: ten 1s + 49 = 59 over 11, mR̄ = 5.36364; upper limit 5.5 + 14.26727 = 19.77.
    // The 50 is far above it and the first 11 points are all below the mean, yet with 12 points
    // it is a run chart: mean and limits reported, no signal, no assurance.
    let mut v = alternate(&[1.0, 2.0], 5);
    v.extend([1.0, 50.0]);
    let c = chart(&v, UP, Some(0.0));
    assert!(c.run_chart);
    assert_close(c.mean, 5.5, 1e-12, "mean");
    assert_close(c.mr_bar, 59.0 / 11.0, 1e-12, "mR̄");
    assert!(c.points[11].value > c.upper_limit);
    assert!(flagged(&c).is_empty());
    assert!(c.points.iter().all(|p| p.rules == Rules::default()));
    assert_eq!(c.variation, VariationIcon::CommonCause);
    assert_eq!(c.assurance, None);
}

#[test]
fn thirteen_points_give_signals() {
    // 1, 2 ×6 (sum 18), then 50. n = 13, sum 68, mean 5.23077.
    // Moving ranges: eleven 1s + 48 = 59 over 12, mR̄ = 4.91667; 2.66·mR̄ = 13.07833: upper
    // limit 18.31 < 50 (rule 1). The twelve 1s and 2s are all below 5.23: a low shift of 12.
    // Lower limit and 2σ line (−3.49) are below every point; only the 50 is beyond the upper 2σ.
    let mut v = alternate(&[1.0, 2.0], 6);
    v.push(50.0);
    let c = chart(&v, UP, None);
    assert!(!c.run_chart);
    assert_close(c.mean, 68.0 / 13.0, 1e-12, "mean");
    assert_close(c.mr_bar, 59.0 / 12.0, 1e-12, "mR̄");
    assert_eq!(flagged(&c), (0..=12).collect::<Vec<_>>());
    for p in &c.points[..12] {
        assert_eq!(p.rules, Rules { shift: true, ..Rules::default() });
        assert_eq!(p.special_cause.unwrap().side, Side::Low);
    }
    assert_eq!(c.points[12].rules, Rules { outside_limits: true, ..Rules::default() });
    assert_eq!(c.variation, VariationIcon::ImprovementHigh);
}

// ---------------------------------------------------------------------------------------------
// Assurance
// ---------------------------------------------------------------------------------------------

#[test]
fn assurance_icons() {
    // Spec example: lower limit −3.06, upper 6.95.
    let icon = |direction, target| chart(&SPEC_EXAMPLE, direction, Some(target)).assurance;
    // Higher is better: the whole process above a target of −4 passes, below 7 fails.
    assert_eq!(icon(UP, -4.0), Some(AssuranceIcon::Pass));
    assert_eq!(icon(UP, 7.0), Some(AssuranceIcon::Fail));
    assert_eq!(icon(UP, 2.0), Some(AssuranceIcon::HitOrMiss));
    // Lower is better: the mirror image.
    assert_eq!(icon(DOWN, 7.0), Some(AssuranceIcon::Pass));
    assert_eq!(icon(DOWN, -4.0), Some(AssuranceIcon::Fail));
    assert_eq!(icon(DOWN, 2.0), Some(AssuranceIcon::HitOrMiss));
    // No icon without a direction or without a target.
    assert_eq!(icon(NEITHER, 2.0), None);
    assert_eq!(chart(&SPEC_EXAMPLE, UP, None).assurance, None);

    assert_eq!(AssuranceIcon::Pass.code(), "pass");
    assert_eq!(AssuranceIcon::Fail.code(), "fail");
    assert_eq!(AssuranceIcon::HitOrMiss.code(), "hit_or_miss");
    assert_eq!(AssuranceIcon::HitOrMiss.to_string(), "hit_or_miss");
}

#[test]
fn assurance_boundaries_are_inclusive() {
    // A target exactly on a limit: ≤ lower → pass, ≥ upper → fail (higher is better).
    let c = chart(&SPEC_EXAMPLE, UP, None);
    let icon = |direction, target| chart(&SPEC_EXAMPLE, direction, Some(target)).assurance;
    assert_eq!(icon(UP, c.lower_limit), Some(AssuranceIcon::Pass));
    assert_eq!(icon(UP, c.upper_limit), Some(AssuranceIcon::Fail));
    assert_eq!(icon(DOWN, c.upper_limit), Some(AssuranceIcon::Pass));
    assert_eq!(icon(DOWN, c.lower_limit), Some(AssuranceIcon::Fail));

    // A constant series: mean 5, every moving range 0, mR̄ 0, both limits 5. A target of 5 is on
    // both limits; every point meets it, and pass is tested first, in either direction.
    let flat = [5.0; 13];
    let c = chart(&flat, UP, Some(5.0));
    assert_eq!((c.mean, c.mr_bar, c.lower_limit, c.upper_limit), (5.0, 0.0, 5.0, 5.0));
    assert!(flagged(&c).is_empty());
    assert_eq!(c.assurance, Some(AssuranceIcon::Pass));
    assert_eq!(chart(&flat, DOWN, Some(5.0)).assurance, Some(AssuranceIcon::Pass));
}

// ---------------------------------------------------------------------------------------------
// Baseline
// ---------------------------------------------------------------------------------------------

/// 1, 2 ×6 (12 points), then 5, 1, 2, 1 (16 points).
fn after_baseline() -> Vec<f64> {
    let mut v = alternate(&[1.0, 2.0], 6);
    v.extend([5.0, 1.0, 2.0, 1.0]);
    v
}

#[test]
fn baseline_fixes_the_limits_on_the_first_points() {
    // Baseline 12: mean = 18/12 = 1.5; the 11 moving ranges inside the baseline are all 1,
    // mR̄ = 1 (the 2→5 range of 3 is outside it). Limits 1.5 ± 2.66 = 4.16 / −1.16; 2σ
    // 1.5 ± 1.77333 = 3.27 / −0.27. The 5 (index 12) > 4.16: rule 1. No other signal: 1s below,
    // 2s above alternate (2, 5 is the longest run above); rises are 3 points at most; the only
    // point beyond 2σ is the 5.
    let c = chart_with(&after_baseline(), SpcSettings::new(Some(12), 6, 6).unwrap());
    assert_eq!(c.baseline_points, 12);
    assert_close(c.mean, 1.5, 1e-12, "mean");
    assert_close(c.mr_bar, 1.0, 1e-12, "mR̄");
    assert_close(c.upper_limit, 4.16, 1e-12, "upper");
    assert_close(c.lower_limit, -1.16, 1e-12, "lower");
    assert_eq!(flagged(&c), vec![12]);
    assert!(c.points[12].rules.outside_limits);
    // Every point, inside the baseline or after it, is judged against the same limits.
    assert!(c.points.iter().all(|p| p.mean == c.mean && p.upper_limit == c.upper_limit));
}

#[test]
fn without_a_baseline_the_same_series_is_common_cause() {
    // All 16 points: sum 18 + 9 = 27, mean 1.6875; moving ranges 11 + 3 + 4 + 1 + 1 = 20 over
    // 15, mR̄ = 1.33333; 2.66·mR̄ = 3.54667: upper limit 5.23 > 5. 2σ upper 1.6875 + 2.36444
    // = 4.05: the 5 alone is beyond it. 1s below and 2s above 1.6875 alternate: no signal.
    let c = chart_with(&after_baseline(), SpcSettings::default());
    assert_eq!(c.baseline_points, 16);
    assert_close(c.mean, 1.6875, 1e-12, "mean");
    assert_close(c.mr_bar, 20.0 / 15.0, 1e-12, "mR̄");
    assert!(flagged(&c).is_empty());
    // A baseline longer than the series uses the whole series.
    let longer = chart_with(&after_baseline(), SpcSettings::new(Some(100), 6, 6).unwrap());
    assert_eq!(longer, c);
}

// ---------------------------------------------------------------------------------------------
// Settings and input validation
// ---------------------------------------------------------------------------------------------

#[test]
fn settings_validation() {
    let d = SpcSettings::default();
    assert_eq!((d.baseline(), d.shift_length(), d.trend_length()), (None, 6, 6));
    assert_eq!(SpcSettings::new(None, 6, 6), Ok(d));
    for n in 6..=8 {
        assert!(SpcSettings::new(None, n, n).is_ok());
    }
    assert_eq!(SpcSettings::new(None, 5, 6), Err(SpcSettingsError::ShiftLength(5)));
    assert_eq!(SpcSettings::new(None, 9, 6), Err(SpcSettingsError::ShiftLength(9)));
    assert_eq!(SpcSettings::new(None, 6, 5), Err(SpcSettingsError::TrendLength(5)));
    assert_eq!(SpcSettings::new(None, 6, 9), Err(SpcSettingsError::TrendLength(9)));
    assert_eq!(SpcSettings::new(Some(1), 6, 6), Err(SpcSettingsError::Baseline(1)));
    assert_eq!(SpcSettings::new(Some(0), 6, 6), Err(SpcSettingsError::Baseline(0)));
    assert!(SpcSettings::new(Some(2), 6, 6).is_ok());

    let shift = SpcSettingsError::ShiftLength(5).to_string();
    assert!(shift.contains("shift_length") && shift.contains("between 6 and 8") && shift.contains('5'), "{shift}");
    let trend = SpcSettingsError::TrendLength(9).to_string();
    assert!(trend.contains("trend_length") && trend.contains("between 6 and 8") && trend.contains('9'), "{trend}");
    let baseline = SpcSettingsError::Baseline(1).to_string();
    assert!(baseline.contains("at least 2"), "{baseline}");
}

#[test]
fn no_chart_without_limits_or_with_non_finite_input() {
    let s = SpcSettings::default();
    assert!(analyse(&[], UP, None, s).is_none());
    assert!(analyse(&[3.0], UP, None, s).is_none());
    assert!(analyse(&[3.0, f64::NAN, 4.0], UP, None, s).is_none());
    assert!(analyse(&[3.0, f64::INFINITY], UP, None, s).is_none());
    assert!(analyse(&[3.0, 4.0], UP, Some(f64::NAN), s).is_none());
    // Two points are enough for limits (a run chart): mean 3.5, mR̄ 1.
    let c = analyse(&[3.0, 4.0], UP, None, s).unwrap();
    assert!(c.run_chart);
    assert_eq!((c.mean, c.mr_bar), (3.5, 1.0));
}
