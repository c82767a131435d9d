//! Checks the scenario helpers themselves on a case worked by hand: one detention.

mod common;

use common::Scenario;
use serde_json::json;

#[test]
fn one_detention_is_one_count_in_its_month_and_twelve_rolling_periods() {
    let mut s = Scenario::default();
    s.event("9434765919", "2024-01-10", json!({"mha_detention_started": {"detention_id": "d1", "section": "2"}}));
    assert_eq!(s.month("mha_detentions", "2024-01").numerator, 1);
    assert_eq!(s.month("mha_detentions", "2024-02").numerator, 0);
    assert_eq!(s.r12("mha_detentions", "2024-12").numerator, 1);
    assert_eq!(s.r12("mha_detentions", "2025-01").numerator, 0);
    // 1 over the test population of 16 × 2 × 91 × 10 = 29,120, per 100,000.
    let rate = s.month("mha_detention_rate", "2024-01");
    assert!((rate.value.unwrap() - 100_000.0 / 29_120.0).abs() < 1e-9);
}
