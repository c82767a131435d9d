//! Checks the "Outcomes that matter to people" indicators (`indicators.md`) against cases worked
//! by hand: HoNOS reliable improvement and deterioration (unknown items, change of 8), ReQoL-10
//! reliable improvement (rise of 5), pairing and discharge dating, the Friends and Family Test,
//! a breakdown and disclosure control.
//!
//! Every expected number below was worked out on paper from the catalogue text before the test
//! was run; the working is in the comments next to each assertion.

mod common;

use common::{assert_pct, items, stratum, Scenario};
use kpi_core::period::PeriodKind;
use kpi_core::reject::RejectReason;
use kpi_core::strata::Stratum;
use kpi_core::validate::decode;
use kpi_core::values::publish;
use kpi_stats::Confidence;
use serde_json::{json, Value};

const HONOS_IMPROVEMENT: &str = "honos_reliable_improvement_pct";
const HONOS_DETERIORATION: &str = "honos_reliable_deterioration_pct";
const REQOL_IMPROVEMENT: &str = "reqol_reliable_improvement_pct";
const FFT: &str = "fft_positive_pct";

fn received(referral: &str) -> Value {
    json!({"referral_received": {"referral_id": referral, "service": "community_mental_health"}})
}

fn discharged(referral: &str) -> Value {
    json!({"referral_discharged": {"referral_id": referral}})
}

fn honos_items(referral: &str, items: &[u32]) -> Value {
    json!({"outcome_measure": {"referral_id": referral, "instrument": "HONOS", "items": items}})
}

fn honos(referral: &str, total: u32) -> Value {
    honos_items(referral, &items(total, 12, 4))
}

fn reqol(referral: &str, total: u32) -> Value {
    json!({"outcome_measure": {"referral_id": referral, "instrument": "REQOL10", "items": items(total, 10, 4)}})
}

fn fft(response: &str) -> Value {
    json!({"fft_response": {"response": response}})
}

/// A referral received 2024-01-05 with a first rating on 2024-01-15 and a last on 2024-04-15
/// (`rating` builds each from its total), discharged on `discharge` if given.
fn rated(
    s: &mut Scenario,
    person: &str,
    referral: &str,
    rating: fn(&str, u32) -> Value,
    totals: (u32, u32),
    discharge: Option<&str>,
) {
    s.event(person, "2024-01-05", received(referral));
    s.event(person, "2024-01-15", rating(referral, totals.0));
    s.event(person, "2024-04-15", rating(referral, totals.1));
    if let Some(date) = discharge {
        s.event(person, date, discharged(referral));
    }
}

fn denominator(s: &Scenario, cell: &'static str, kind: PeriodKind, month: &str) -> i64 {
    s.tally(cell, kind, month, Stratum::ALL).denominator
}

#[test]
fn honos_not_known_items_are_left_out_of_the_total() {
    let mut s = Scenario::default();
    let p = "9434765919";
    // R1: first 1×10 + two 9s = 10 (9s left out); last 1×12 = 12 → +2: neither.
    //     (Counting the 9s would give 28 → 12 = −16, an improvement.)
    s.event(p, "2024-01-05", received("r1"));
    s.event(p, "2024-01-15", honos_items("r1", &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9]));
    s.event(p, "2024-04-15", honos_items("r1", &[1; 12]));
    s.event(p, "2024-05-20", discharged("r1"));
    // R2: first 1×12 = 12; last 1×10 + two 9s = 10 → −2: neither. (Counted: +16, deterioration.)
    s.event(p, "2024-01-05", received("r2"));
    s.event(p, "2024-01-15", honos_items("r2", &[1; 12]));
    s.event(p, "2024-04-15", honos_items("r2", &[9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9]));
    s.event(p, "2024-05-20", discharged("r2"));
    // R3: first 4×6 + two 9s = 24; last 2×6 + one 9 = 12 → −12: improvement.
    s.event(p, "2024-01-05", received("r3"));
    s.event(p, "2024-01-15", honos_items("r3", &[4, 4, 4, 4, 4, 4, 9, 9, 0, 0, 0, 0]));
    s.event(p, "2024-04-15", honos_items("r3", &[2, 2, 2, 2, 2, 2, 9, 0, 0, 0, 0, 0]));
    s.event(p, "2024-05-20", discharged("r3"));
    // R4: first two 9s and zeros = 0; last 1×8 + one 9 = 8 → +8: deterioration.
    //     (Counted: 18 → 17 = −1, neither.)
    s.event(p, "2024-01-05", received("r4"));
    s.event(p, "2024-01-15", honos_items("r4", &[9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    s.event(p, "2024-04-15", honos_items("r4", &[1, 1, 1, 1, 1, 1, 1, 1, 9, 0, 0, 0]));
    s.event(p, "2024-05-20", discharged("r4"));
    // Denominator 4 paired referrals; improvement R3 → 1/4 = 25%; deterioration R4 → 1/4 = 25%.
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-05"), 1, 4, Some(25.0));
    assert_pct(&s.month(HONOS_DETERIORATION, "2024-05"), 1, 4, Some(25.0));
    // No ReQoL-10 here: no ReQoL denominator.
    assert_pct(&s.month(REQOL_IMPROVEMENT, "2024-05"), 0, 0, None);
}

#[test]
fn a_honos_rating_with_more_than_two_unknown_items_is_rejected() {
    let line = |items: &[u32]| {
        json!({"event_id": "h", "occurred_at": "2024-01-15T12:00:00Z", "person_id": "9434765919",
               "outcome_measure": {"referral_id": "r", "instrument": "HONOS", "items": items}})
        .to_string()
    };
    // Two 9s: valid.
    assert!(decode(line(&[9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).as_bytes(), None).is_ok());
    // Three 9s: not a valid rating.
    let rejected = decode(line(&[9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]).as_bytes(), None).unwrap_err();
    assert_eq!(rejected.reason, RejectReason::TooManyUnknownItems);
    // 9 is "not known" only for HoNOS: a ReQoL-10 item of 9 is out of range.
    let reqol = json!({"event_id": "q", "occurred_at": "2024-01-15T12:00:00Z", "person_id": "9434765919",
                       "outcome_measure": {"referral_id": "r", "instrument": "REQOL10", "items": [9, 0, 0, 0, 0, 0, 0, 0, 0, 0]}});
    assert_eq!(decode(reqol.to_string().as_bytes(), None).unwrap_err().reason, RejectReason::ItemOutOfRange);
}

#[test]
fn a_honos_change_of_eight_is_reliable_both_ways_and_seven_is_not() {
    let mut s = Scenario::default();
    let p = "9434765870";
    let may = Some("2024-05-20");
    // Four referrals of one person: 20 → 12 (−8, improvement), 20 → 13 (−7, neither),
    // 10 → 18 (+8, deterioration), 10 → 17 (+7, neither).
    rated(&mut s, p, "down8", honos, (20, 12), may);
    rated(&mut s, p, "down7", honos, (20, 13), may);
    rated(&mut s, p, "up8", honos, (10, 18), may);
    rated(&mut s, p, "up7", honos, (10, 17), may);
    // Improvement 1/4 = 25%, deterioration 1/4 = 25%.
    let improvement = s.month(HONOS_IMPROVEMENT, "2024-05");
    assert_pct(&improvement, 1, 4, Some(25.0));
    assert_pct(&s.month(HONOS_DETERIORATION, "2024-05"), 1, 4, Some(25.0));
    // Wilson 95% for 1/4 by hand: z² = 3.841458820694124; 2x + z² = 5.841458820694124;
    // z·sqrt(z² + 4·1·(3/4)) = z·sqrt(6.841458820694124) = 5.126452…; 2(n + z²) = 15.682917641388248
    // → (0.045587, 0.699358).
    let (lo, hi) = improvement.limits95.unwrap();
    assert!((lo - 4.558726080970057).abs() < 1e-9 && (hi - 69.93581574175981).abs() < 1e-9, "{lo} {hi}");
    // 99.8% from the statistics crate.
    let w = kpi_stats::wilson(1, 4, Confidence::P99_8).unwrap().scaled(100.0);
    assert_eq!(improvement.limits998, Some((w.lower, w.upper)));
    // By hand: 2.223% to 83.017%.
    assert!((w.lower - 2.2225399238293453).abs() < 1e-9 && (w.upper - 83.01680669745691).abs() < 1e-9);
}

#[test]
fn a_reqol_rise_of_five_is_reliable_and_four_is_not() {
    let mut s = Scenario::default();
    let may = Some("2024-05-20");
    // +5 (20 → 25): improvement; +4 (20 → 24): not; −5 (25 → 20): a fall, not an improvement.
    rated(&mut s, "local:q1", "q", reqol, (20, 25), may);
    rated(&mut s, "local:q2", "q", reqol, (20, 24), may);
    rated(&mut s, "local:q3", "q", reqol, (25, 20), may);
    // 1/3 = 33.333…%.
    let v = s.month(REQOL_IMPROVEMENT, "2024-05");
    assert_pct(&v, 1, 3, Some(100.0 / 3.0));
    let w = kpi_stats::wilson(1, 3, Confidence::P95).unwrap().scaled(100.0);
    assert_eq!(v.limits95, Some((w.lower, w.upper)));
    // By hand: 6.149% to 79.234%.
    assert!((w.lower - 6.149194472039624).abs() < 1e-9 && (w.upper - 79.23403991979524).abs() < 1e-9);
    // No HoNOS here.
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-05"), 0, 0, None);
}

#[test]
fn only_referrals_discharged_in_the_period_count() {
    let mut s = Scenario::default();
    let p = "9434765889";
    // Discharged 2024-05-20: HoNOS 20 → 10 (−10, improvement), ReQoL 10 → 20 (+10, improvement).
    s.event(p, "2024-01-05", received("done"));
    s.event(p, "2024-01-15", honos("done", 20));
    s.event(p, "2024-04-15", honos("done", 10));
    s.event(p, "2024-01-15", reqol("done", 10));
    s.event(p, "2024-04-15", reqol("done", 20));
    s.event(p, "2024-05-20", discharged("done"));
    // The same scores on a referral that stays open: counted nowhere.
    let q = "9434765897";
    s.event(q, "2024-01-05", received("open"));
    s.event(q, "2024-01-15", honos("open", 20));
    s.event(q, "2024-04-15", honos("open", 10));
    s.event(q, "2024-01-15", reqol("open", 10));
    s.event(q, "2024-04-15", reqol("open", 20));

    // May: 1/1 on each; April and June: nothing (no value).
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-05"), 1, 1, Some(100.0));
    assert_pct(&s.month(HONOS_DETERIORATION, "2024-05"), 0, 1, Some(0.0));
    assert_pct(&s.month(REQOL_IMPROVEMENT, "2024-05"), 1, 1, Some(100.0));
    for month in ["2024-04", "2024-06"] {
        assert_pct(&s.month(HONOS_IMPROVEMENT, month), 0, 0, None);
        assert_pct(&s.month(REQOL_IMPROVEMENT, month), 0, 0, None);
    }
    // Rolling 12: the periods ending 2024-05 … 2025-04 contain 2024-05-20; not 2024-04 or 2025-05.
    assert_eq!(denominator(&s, HONOS_IMPROVEMENT, PeriodKind::Rolling12, "2024-04"), 0);
    for month in ["2024-05", "2024-11", "2025-04"] {
        assert_pct(&s.r12(HONOS_IMPROVEMENT, month), 1, 1, Some(100.0));
        assert_pct(&s.r12(REQOL_IMPROVEMENT, month), 1, 1, Some(100.0));
    }
    assert_eq!(denominator(&s, HONOS_IMPROVEMENT, PeriodKind::Rolling12, "2025-05"), 0);
    assert_eq!(denominator(&s, REQOL_IMPROVEMENT, PeriodKind::Rolling12, "2025-05"), 0);

    // The open referral is discharged on 2024-07-02: July 1/1; R12 2025-04 now 2/2 (May and
    // July), R12 2025-05 and 2025-06 1/1 (July), R12 2025-07 0.
    s.event(q, "2024-07-02", discharged("open"));
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-07"), 1, 1, Some(100.0));
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-06"), 0, 0, None);
    assert_pct(&s.r12(HONOS_IMPROVEMENT, "2025-04"), 2, 2, Some(100.0));
    assert_pct(&s.r12(REQOL_IMPROVEMENT, "2025-05"), 1, 1, Some(100.0));
    assert_pct(&s.r12(HONOS_IMPROVEMENT, "2025-06"), 1, 1, Some(100.0));
    assert_eq!(denominator(&s, HONOS_IMPROVEMENT, PeriodKind::Rolling12, "2025-07"), 0);
}

#[test]
fn pairs_need_a_later_day_and_use_the_earliest_and_latest_score() {
    let mut s = Scenario::default();
    let p = "9434765900";
    s.event(p, "2024-01-05", received("r"));
    // HoNOS twice on one day (2024-01-15): 24 and 10, no later rating → no HoNOS pair.
    s.event(p, "2024-01-15", honos("r", 24));
    s.event(p, "2024-01-15", honos("r", 10));
    // ReQoL-10 arriving out of order. By date: 10 (01-10), 12 (02-10), 30 (03-01).
    let late = s.event(p, "2024-03-01", reqol("r", 30));
    s.event(p, "2024-01-10", reqol("r", 10));
    let middle = s.event(p, "2024-02-10", reqol("r", 12));
    // Ratings for a referral the person does not have: no effect.
    s.event(p, "2024-01-15", honos("unknown", 30));
    s.event(p, "2024-04-15", honos("unknown", 5));
    s.event(p, "2024-05-20", discharged("r"));
    s.event(p, "2024-05-20", discharged("unknown"));

    // HoNOS: no pair on r, and "unknown" is not a referral → denominator 0, no value.
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-05"), 0, 0, None);
    assert_pct(&s.month(HONOS_DETERIORATION, "2024-05"), 0, 0, None);
    // ReQoL: first = earliest 10, last = latest 30 → +20: 1/1. (In arrival order it would be
    // 30 → 12, a fall.)
    assert_pct(&s.month(REQOL_IMPROVEMENT, "2024-05"), 1, 1, Some(100.0));

    // Retract the 03-01 rating: last is now 12 (02-10); 10 → 12 is +2 → 0/1.
    s.retract(p, "2024-05-21", &late);
    assert_pct(&s.month(REQOL_IMPROVEMENT, "2024-05"), 0, 1, Some(0.0));
    // And with the middle one gone too, a single rating: no pair, no denominator.
    s.retract(p, "2024-05-21", &middle);
    assert_pct(&s.month(REQOL_IMPROVEMENT, "2024-05"), 0, 0, None);

    // A later HoNOS rating (2024-04-15, total 2) pairs with the first of 01-15; whichever of the
    // two same-day ratings comes first (24 or 10), the fall is 22 or 8, both ≥ 8 → 1/1.
    s.event(p, "2024-04-15", honos("r", 2));
    assert_pct(&s.month(HONOS_IMPROVEMENT, "2024-05"), 1, 1, Some(100.0));
}

#[test]
fn fft_positive_is_very_good_and_good_over_all_responses_by_month() {
    let mut s = Scenario::default();
    // January 2024, seven responses from different people: very_good, good, good, neither,
    // poor, very_poor, dont_know → positive 3 of 7 (dont_know is in the denominator).
    let january = [
        ("9434765919", "very_good"),
        ("9434765870", "good"),
        ("9434765889", "good"),
        ("9434765897", "neither"),
        ("9434765900", "poor"),
        ("local:f1", "very_poor"),
        ("local:f2", "dont_know"),
    ];
    for (i, (person, response)) in january.iter().enumerate() {
        s.event(person, &format!("2024-01-{:02}", 3 + i), fft(response));
    }
    // February: dont_know, very_good → 1/2.
    s.event("local:f3", "2024-02-14", fft("dont_know"));
    s.event("local:f1", "2024-02-20", fft("very_good"));

    // January 3/7 = 42.857142…%; Wilson 95% by hand: 2x + z² = 9.841458820694124,
    // z·sqrt(z² + 12·(4/7)) = z·sqrt(10.69860167783698) = 6.410…, 2(n + z²) = 21.682917641388248
    // → 15.822%, 74.954%.
    let jan = s.month(FFT, "2024-01");
    assert_pct(&jan, 3, 7, Some(300.0 / 7.0));
    let (lo, hi) = jan.limits95.unwrap();
    assert!((lo - 15.82198552514697).abs() < 1e-9 && (hi - 74.95416354723427).abs() < 1e-9, "{lo} {hi}");
    // February 1/2 = 50%; March nothing.
    assert_pct(&s.month(FFT, "2024-02"), 1, 2, Some(50.0));
    assert_pct(&s.month(FFT, "2024-03"), 0, 0, None);
    // R12 ending 2024-02: 4/9 = 44.444…%; R12 ending 2024-12 (2024-01 … 2024-12): still both
    // months; R12 ending 2025-01 (2024-02 … 2025-01): February only, 1/2; R12 ending 2025-02
    // (2024-03 … 2025-02): none.
    let r12 = s.r12(FFT, "2024-02");
    assert_pct(&r12, 4, 9, Some(400.0 / 9.0));
    let w = kpi_stats::wilson(4, 9, Confidence::P95).unwrap().scaled(100.0);
    assert_eq!(r12.limits95, Some((w.lower, w.upper)));
    assert_pct(&s.r12(FFT, "2024-12"), 4, 9, Some(400.0 / 9.0));
    assert_pct(&s.r12(FFT, "2025-01"), 1, 2, Some(50.0));
    assert_pct(&s.r12(FFT, "2025-02"), 0, 0, None);
}

#[test]
fn fft_breakdowns_follow_the_respondent_and_small_strata_are_suppressed() {
    let mut s = Scenario::default();
    // A woman, ethnic category H (asian), born 1950-01-01 (74 on 2024-01-31: 65+), IMD decile 9
    // (quintile 5): six responses in January, very_good ×3, good ×2, dont_know → 5/6.
    let woman = "9434765919";
    s.event(
        woman,
        "2023-06-01",
        json!({"demographics": {"birth_date": "1950-01-01", "sex": "2", "ethnic_category": "H", "imd_decile": 9}}),
    );
    for (day, response) in
        [(2, "very_good"), (5, "very_good"), (9, "very_good"), (12, "good"), (16, "good"), (20, "dont_know")]
    {
        s.event(woman, &format!("2024-01-{day:02}"), fft(response));
    }
    // A man, category A (white), born 1990-01-01 (34: 18-34), no IMD: good, poor → 1/2.
    let man = "9434765870";
    s.event(
        man,
        "2023-06-01",
        json!({"demographics": {"birth_date": "1990-01-01", "sex": "1", "ethnic_category": "A"}}),
    );
    s.event(man, "2024-01-10", fft("good"));
    s.event(man, "2024-01-11", fft("poor"));
    // Someone with no demographics: neither → 0/1.
    s.event("local:anon", "2024-01-15", fft("neither"));

    let jan = |s: &Scenario, kind: &str, value: &str| s.value(FFT, PeriodKind::Month, "2024-01", stratum(kind, value));
    // all: 6/9 = 66.666…%.
    assert_pct(&s.month(FFT, "2024-01"), 6, 9, Some(200.0 / 3.0));
    assert_pct(&jan(&s, "ethnic_group", "asian"), 5, 6, Some(500.0 / 6.0));
    assert_pct(&jan(&s, "ethnic_group", "white"), 1, 2, Some(50.0));
    assert_pct(&jan(&s, "ethnic_group", "unknown"), 0, 1, Some(0.0));
    assert_pct(&jan(&s, "ethnic_category", "H"), 5, 6, Some(500.0 / 6.0));
    assert_pct(&jan(&s, "age_band", "65+"), 5, 6, Some(500.0 / 6.0));
    assert_pct(&jan(&s, "age_band", "18-34"), 1, 2, Some(50.0));
    assert_pct(&jan(&s, "age_band", "unknown"), 0, 1, Some(0.0));
    assert_pct(&jan(&s, "sex", "female"), 5, 6, Some(500.0 / 6.0));
    assert_pct(&jan(&s, "sex", "male"), 1, 2, Some(50.0));
    assert_pct(&jan(&s, "imd_quintile", "5"), 5, 6, Some(500.0 / 6.0));
    assert_pct(&jan(&s, "imd_quintile", "unknown"), 1, 3, Some(100.0 / 3.0));
    assert_pct(&jan(&s, "age_band", "35-49"), 0, 0, None);

    // Disclosure: female 5/6 — both counts ≥ 5: shown, counts rounded (5 → 5, 6 → 5), the
    // value from the unrounded counts (83.333…%), limits as computed.
    let female_value = jan(&s, "sex", "female");
    let female = publish(&female_value);
    assert!(!female.suppressed);
    assert_eq!((female.numerator, female.denominator), (Some(5), Some(5.0)));
    assert!((female.value.unwrap() - 500.0 / 6.0).abs() < 1e-9);
    assert_eq!(female.limits95, female_value.limits95);
    // By hand, Wilson 95% for 5/6: 43.650% to 96.995%.
    let (lo, hi) = female.limits95.unwrap();
    assert!((lo - 43.64971778135298).abs() < 1e-9 && (hi - 96.99466302516933).abs() < 1e-9, "{lo} {hi}");
    // Male 1/2: counts below 5 → suppressed, nothing shown.
    let male = publish(&jan(&s, "sex", "male"));
    assert!(male.suppressed);
    assert_eq!((male.numerator, male.denominator, male.value, male.limits95), (None, None, None, None));
    // imd_quintile unknown 1/3: suppressed.
    assert!(publish(&jan(&s, "imd_quintile", "unknown")).suppressed);
    // all 6/9: the trust-wide stratum is never suppressed or rounded.
    let all = publish(&s.month(FFT, "2024-01"));
    assert!(!all.suppressed);
    assert_eq!((all.numerator, all.denominator), (Some(6), Some(9.0)));
}
