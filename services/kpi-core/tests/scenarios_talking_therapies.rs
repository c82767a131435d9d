//! Checks the NHS Talking Therapies indicators (`indicators.md`) against cases worked by hand:
//! the finished-treatment cohort, recovery, reliable improvement, reliable recovery and reliable
//! deterioration, their cut-offs and edges, breakdowns and disclosure control.
//!
//! Every expected number below was worked out on paper from the catalogue text before the test
//! was run; the working is in the comments next to each assertion.

mod common;

use common::{assert_pct, items, stratum, Scenario};
use kpi_core::period::PeriodKind;
use kpi_core::strata::Stratum;
use kpi_core::values::publish;
use kpi_stats::Confidence;
use serde_json::{json, Value};

const COHORT: &str = "tt_finished_treatment";
const RECOVERY: &str = "tt_recovery_rate";
const IMPROVEMENT: &str = "tt_reliable_improvement_rate";
const RELIABLE_RECOVERY: &str = "tt_reliable_recovery_rate";
const DETERIORATION: &str = "tt_reliable_deterioration_rate";

fn received(referral: &str) -> Value {
    json!({"referral_received": {"referral_id": referral, "service": "talking_therapies"}})
}

fn contact(referral: &str, attended: bool, purpose: &str) -> Value {
    json!({"care_contact": {"referral_id": referral, "attended": attended, "purpose": purpose}})
}

fn treatment(referral: &str) -> Value {
    contact(referral, true, "treatment")
}

fn phq9(referral: &str, total: u32) -> Value {
    json!({"outcome_measure": {"referral_id": referral, "instrument": "PHQ9", "items": items(total, 9, 3)}})
}

fn gad7(referral: &str, total: u32) -> Value {
    json!({"outcome_measure": {"referral_id": referral, "instrument": "GAD7", "items": items(total, 7, 3)}})
}

fn discharged(referral: &str) -> Value {
    json!({"referral_discharged": {"referral_id": referral}})
}

/// A whole course: received 2024-01-05, attended treatment on 2024-01-12 and 2024-02-09, first
/// PHQ-9 and GAD-7 on 2024-01-12, last on 2024-02-23, and discharged on `discharge` (if any).
fn course(s: &mut Scenario, person: &str, referral: &str, phq: (u32, u32), gad: (u32, u32), discharge: Option<&str>) {
    s.event(person, "2024-01-05", received(referral));
    s.event(person, "2024-01-12", treatment(referral));
    s.event(person, "2024-02-09", treatment(referral));
    s.event(person, "2024-01-12", phq9(referral, phq.0));
    s.event(person, "2024-01-12", gad7(referral, gad.0));
    s.event(person, "2024-02-23", phq9(referral, phq.1));
    s.event(person, "2024-02-23", gad7(referral, gad.1));
    if let Some(date) = discharge {
        s.event(person, date, discharged(referral));
    }
}

fn month_tally(s: &Scenario, cell: &'static str, month: &str) -> (i64, i64) {
    let t = s.tally(cell, PeriodKind::Month, month, Stratum::ALL);
    (t.numerator, t.denominator)
}

#[test]
fn a_cohort_of_six_gives_the_rates_worked_by_hand() {
    let mut s = Scenario::default();
    let march = Some("2024-03-15");
    // R1: PHQ 15 → 5, GAD 12 → 4. Caseness at first (15 ≥ 10). Last 5 < 10 and 4 < 8: recovered.
    //     PHQ −10 (≥ 6) and GAD −8 (≥ 4): reliable decrease, no increase → reliably improved and
    //     reliably recovered; not deteriorated.
    course(&mut s, "9434765919", "r1", (15, 5), (12, 4), march);
    // R2: PHQ 10 → 9, GAD 7 → 7. Caseness by PHQ 10 alone. Last 9 < 10 and 7 < 8: recovered.
    //     PHQ −1, GAD 0: no reliable change → recovered but not reliably recovered.
    course(&mut s, "9434765870", "r2", (10, 9), (7, 7), march);
    // R3: PHQ 9 → 3, GAD 7 → 2. Not at caseness (9 < 10, 7 < 8): in the cohort, out of both
    //     recovery denominators. PHQ −6 (exactly 6) → reliably improved.
    course(&mut s, "9434765889", "r3", (9, 3), (7, 2), march);
    // R4: PHQ 20 → 14 (−6, reliable decrease), GAD 5 → 9 (+4, reliable increase). Caseness yes,
    //     last PHQ 14 ≥ 10: not recovered. Decrease on one and increase on the other: neither
    //     improved nor deteriorated.
    course(&mut s, "9434765897", "r4", (20, 14), (5, 9), march);
    // R5: PHQ 12 → 17 (+5, not reliable), GAD 8 → 12 (+4, reliable). Caseness yes, not
    //     recovered; increase on GAD, decrease on neither → reliably deteriorated.
    course(&mut s, "9434765900", "r5", (12, 17), (8, 12), march);
    // R6: PHQ 16 → 11 (−5), GAD 11 → 8 (−3): just short of reliable change. Caseness yes, last
    //     PHQ 11 and GAD 8 at caseness: not recovered. Nothing.
    course(&mut s, "local:tt-r6", "r6", (16, 11), (11, 8), march);
    // R7: would be recovered and improved, but only one attended treatment contact (the other
    //     contacts are an assessment, a review and a treatment not attended): not in the cohort.
    let r7 = "local:tt-r7";
    s.event(r7, "2024-01-05", received("r7"));
    s.event(r7, "2024-01-08", contact("r7", true, "assessment"));
    s.event(r7, "2024-01-12", treatment("r7"));
    s.event(r7, "2024-01-19", contact("r7", false, "treatment"));
    s.event(r7, "2024-01-26", contact("r7", true, "review"));
    s.event(r7, "2024-01-12", phq9("r7", 18));
    s.event(r7, "2024-01-12", gad7("r7", 15));
    s.event(r7, "2024-02-23", phq9("r7", 2));
    s.event(r7, "2024-02-23", gad7("r7", 1));
    s.event(r7, "2024-03-15", discharged("r7"));

    // Cohort R1–R6 = 6. At caseness at first: R1, R2, R4, R5, R6 = 5 (R3 is not).
    let cohort = s.month(COHORT, "2024-03");
    assert_eq!(cohort.numerator, 6);
    assert_eq!(cohort.value, Some(6.0));
    // Recovery: R1, R2 of 5 → 2/5 = 40%.
    let recovery = s.month(RECOVERY, "2024-03");
    assert_pct(&recovery, 2, 5, Some(40.0));
    // Reliable improvement: R1, R3 of the cohort of 6 → 2/6 = 33.333…%.
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 2, 6, Some(100.0 / 3.0));
    // Reliable recovery: R1 only (R2 recovered without reliable change) of 5 → 20%.
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 1, 5, Some(20.0));
    // Reliable deterioration: R5 only of 6 → 16.666…%.
    assert_pct(&s.month(DETERIORATION, "2024-03"), 1, 6, Some(100.0 / 6.0));

    // Wilson 95% for 2/5, by hand (statistics.md): z² = 3.841458820694124;
    // 2x + z² = 7.841458820694124; z·sqrt(z² + 4·2·(1 − 2/5)) = z·sqrt(8.641458820694124)
    // = 5.761502… ; 2(n + z²) = 17.682917641388248 → (0.117621, 0.769276) → 11.762%, 76.928%.
    // At 99.8% (z = 3.090232306167813) the same formula gives 6.335%, 86.792%.
    let (lo, hi) = recovery.limits95.unwrap();
    assert!((lo - 11.762077423264788).abs() < 1e-9 && (hi - 76.9275718723987).abs() < 1e-9, "{lo} {hi}");
    let (lo, hi) = recovery.limits998.unwrap();
    assert!((lo - 6.335234383248219).abs() < 1e-9 && (hi - 86.79169406174748).abs() < 1e-9, "{lo} {hi}");
    // And 2/6 against the statistics crate.
    let improvement = s.month(IMPROVEMENT, "2024-03");
    let w = kpi_stats::wilson(2, 6, Confidence::P95).unwrap().scaled(100.0);
    assert_eq!(improvement.limits95, Some((w.lower, w.upper)));
    // By hand: 9.677% to 70.001%.
    assert!((w.lower - 9.677141110578045).abs() < 1e-9 && (w.upper - 70.0006684861608).abs() < 1e-9);
}

#[test]
fn one_attended_treatment_contact_is_not_a_finished_course() {
    let mut s = Scenario::default();
    let p = "9434765919";
    // Paired scores on both measures and a discharge, but the contacts are: one attended
    // treatment, one attended assessment, one treatment not attended, one attended review.
    s.event(p, "2024-01-05", received("tt-1"));
    s.event(p, "2024-01-08", contact("tt-1", true, "assessment"));
    s.event(p, "2024-01-12", treatment("tt-1"));
    s.event(p, "2024-01-19", contact("tt-1", false, "treatment"));
    s.event(p, "2024-02-02", contact("tt-1", true, "review"));
    s.event(p, "2024-01-12", phq9("tt-1", 14));
    s.event(p, "2024-01-12", gad7("tt-1", 10));
    s.event(p, "2024-02-23", phq9("tt-1", 4));
    s.event(p, "2024-02-23", gad7("tt-1", 3));
    s.event(p, "2024-03-15", discharged("tt-1"));
    // One attended treatment contact < 2: nobody in the cohort, every tally empty.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 0);
    assert_eq!(month_tally(&s, RECOVERY, "2024-03"), (0, 0));
    assert_eq!(month_tally(&s, IMPROVEMENT, "2024-03"), (0, 0));
    assert_eq!(s.month(RECOVERY, "2024-03").value, None);

    // A second attended treatment contact (arriving late, dated before the discharge) makes it a
    // finished course: PHQ 14 → 4, GAD 10 → 3: caseness, recovered, reliably improved (−10, −7).
    s.event(p, "2024-02-16", treatment("tt-1"));
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 1, Some(0.0));
}

#[test]
fn not_at_caseness_at_first_is_in_the_cohort_but_not_the_recovery_denominators() {
    let mut s = Scenario::default();
    // PHQ 9 → 2 (−7, reliable), GAD 7 → 1 (−6, reliable); first 9 < 10 and 7 < 8: not at caseness.
    course(&mut s, "9434765870", "tt-1", (9, 2), (7, 1), Some("2024-03-15"));
    // In the cohort: 1. Reliable improvement 1/1 = 100%, deterioration 0/1 = 0%.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 1, Some(0.0));
    // Recovery and reliable recovery: cohort − not at caseness = 1 − 1 = 0 → no value.
    assert_pct(&s.month(RECOVERY, "2024-03"), 0, 0, None);
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 0, 0, None);
}

#[test]
fn caseness_cut_offs_are_phq_ten_and_gad_eight() {
    let mut s = Scenario::default();
    let march = Some("2024-03-15");
    // A: PHQ 10 → 9, GAD 5 → 7: caseness (PHQ 10 ≥ 10); last 9 < 10 and 7 < 8 → recovered.
    course(&mut s, "local:a", "a", (10, 9), (5, 7), march);
    // B: PHQ 5 → 5, GAD 8 → 7: caseness (GAD 8 ≥ 8); last 5 and 7 below → recovered.
    course(&mut s, "local:b", "b", (5, 5), (8, 7), march);
    // C: PHQ 9 → 8, GAD 7 → 6: not at caseness (9 < 10, 7 < 8); out of the denominator.
    course(&mut s, "local:c", "c", (9, 8), (7, 6), march);
    // D: PHQ 12 → 10, GAD 3 → 3: caseness; last PHQ 10 is at caseness → not recovered.
    course(&mut s, "local:d", "d", (12, 10), (3, 3), march);
    // E: PHQ 6 → 6, GAD 9 → 8: caseness; last GAD 8 is at caseness → not recovered.
    course(&mut s, "local:e", "e", (6, 6), (9, 8), march);
    // No change reaches 6 (PHQ) or 4 (GAD): A +2 on GAD, the rest at most 2.
    // Cohort 5; recovery A, B over A, B, D, E → 2/4 = 50%; reliable recovery 0/4;
    // improvement and deterioration 0/5.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 5);
    assert_pct(&s.month(RECOVERY, "2024-03"), 2, 4, Some(50.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 0, 4, Some(0.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 0, 5, Some(0.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 5, Some(0.0));
}

#[test]
fn reliable_change_is_six_on_phq_and_four_on_gad() {
    let mut s = Scenario::default();
    let march = Some("2024-03-15");
    // P1: PHQ 16 → 10 (−6), GAD 2 → 2: reliable decrease → improved. Caseness; last PHQ 10 → not recovered.
    course(&mut s, "local:p1", "p1", (16, 10), (2, 2), march);
    // P2: PHQ 16 → 11 (−5), GAD 10 → 7 (−3): neither. Caseness; last PHQ 11 → not recovered.
    course(&mut s, "local:p2", "p2", (16, 11), (10, 7), march);
    // P3: PHQ 5 → 5, GAD 12 → 8 (−4): improved. Caseness; last GAD 8 → not recovered.
    course(&mut s, "local:p3", "p3", (5, 5), (12, 8), march);
    // P4: PHQ 4 → 10 (+6), GAD 3 → 3: deteriorated. Not at caseness (4, 3).
    course(&mut s, "local:p4", "p4", (4, 10), (3, 3), march);
    // P5: PHQ 4 → 4, GAD 3 → 7 (+4): deteriorated. Not at caseness.
    course(&mut s, "local:p5", "p5", (4, 4), (3, 7), march);
    // P6: PHQ 4 → 9 (+5), GAD 3 → 6 (+3): neither. Not at caseness.
    course(&mut s, "local:p6", "p6", (4, 9), (3, 6), march);
    // Cohort 6; improved P1, P3 → 2/6; deteriorated P4, P5 → 2/6;
    // recovery denominator P1, P2, P3 = 3, none recovered → 0/3.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 6);
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 2, 6, Some(100.0 / 3.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 2, 6, Some(100.0 / 3.0));
    assert_pct(&s.month(RECOVERY, "2024-03"), 0, 3, Some(0.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 0, 3, Some(0.0));
}

#[test]
fn improvement_on_one_measure_and_deterioration_on_the_other_is_neither() {
    let mut s = Scenario::default();
    // X: PHQ 20 → 14 (−6) and GAD 3 → 7 (+4). Caseness; last PHQ 14 → not recovered.
    course(&mut s, "local:x", "x", (20, 14), (3, 7), Some("2024-03-15"));
    // Y: PHQ 2 → 8 (+6) and GAD 12 → 8 (−4). Caseness (GAD 12); last GAD 8 → not recovered.
    course(&mut s, "local:y", "y", (2, 8), (12, 8), Some("2024-03-20"));
    // Both in the cohort (2), both have a reliable decrease and a reliable increase:
    // improvement 0/2, deterioration 0/2, recovery 0/2, reliable recovery 0/2.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 2);
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 0, 2, Some(0.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 2, Some(0.0));
    assert_pct(&s.month(RECOVERY, "2024-03"), 0, 2, Some(0.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 0, 2, Some(0.0));
}

#[test]
fn a_referral_counts_in_its_discharge_month_and_the_twelve_rolling_periods_that_include_it() {
    let mut s = Scenario::default();
    // Discharged 2024-03-15: PHQ 15 → 5, GAD 12 → 4: recovered and reliably improved.
    course(&mut s, "9434765919", "done", (15, 5), (12, 4), Some("2024-03-15"));
    // The same course never discharged: still open, counted nowhere.
    course(&mut s, "9434765870", "open", (15, 5), (12, 4), None);

    // Month values: March 1; February (before the discharge) and April (after) 0.
    assert_eq!(s.month(COHORT, "2024-02").numerator, 0);
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_eq!(s.month(COHORT, "2024-04").numerator, 0);
    assert_eq!(month_tally(&s, RECOVERY, "2024-04"), (0, 0));
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    // Rolling 12: the periods ending 2024-03 … 2025-02 contain 2024-03-15; the one ending
    // 2024-02 ends before it, the one ending 2025-03 starts on 2024-04-01.
    assert_eq!(s.r12(COHORT, "2024-02").numerator, 0);
    for month in ["2024-03", "2024-06", "2024-12", "2025-01", "2025-02"] {
        assert_eq!(s.r12(COHORT, month).numerator, 1, "R12 {month}");
        assert_pct(&s.r12(RECOVERY, month), 1, 1, Some(100.0));
    }
    assert_eq!(s.r12(COHORT, "2025-03").numerator, 0);
    assert_eq!(s.tally(RECOVERY, PeriodKind::Rolling12, "2025-03", Stratum::ALL).denominator, 0);

    // Discharging the open referral on 2024-05-02 adds it to May (and R12 2024-05 … 2025-04).
    s.event("9434765870", "2024-05-02", discharged("open"));
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_eq!(s.month(COHORT, "2024-04").numerator, 0);
    assert_eq!(s.month(COHORT, "2024-05").numerator, 1);
    // R12 2024-05 holds both (March and May); R12 2025-03 only May; R12 2025-05 neither.
    assert_eq!(s.r12(COHORT, "2024-05").numerator, 2);
    assert_eq!(s.r12(COHORT, "2025-03").numerator, 1);
    assert_eq!(s.r12(COHORT, "2025-04").numerator, 1);
    assert_eq!(s.r12(COHORT, "2025-05").numerator, 0);

    // A third course discharged 2024-06-10: June 1, R12 2024-06 = March + May + June = 3.
    // Retracting that discharge leaves the referral open: June 0, R12 2024-06 back to 2.
    let p = "local:retracted-discharge";
    course(&mut s, p, "r", (15, 5), (12, 4), None);
    let discharge = s.event(p, "2024-06-10", discharged("r"));
    assert_eq!(s.month(COHORT, "2024-06").numerator, 1);
    assert_eq!(s.r12(COHORT, "2024-06").numerator, 3);
    s.retract(p, "2024-06-11", &discharge);
    assert_eq!(s.month(COHORT, "2024-06").numerator, 0);
    assert_eq!(s.r12(COHORT, "2024-06").numerator, 2);
}

#[test]
fn scores_on_only_one_day_are_not_paired() {
    let mut s = Scenario::default();
    let p = "9434765889";
    s.event(p, "2024-01-05", received("tt-1"));
    s.event(p, "2024-01-12", treatment("tt-1"));
    s.event(p, "2024-02-09", treatment("tt-1"));
    // PHQ-9 twice, both on 2024-01-12: no score dated after the first → no PHQ-9 pair.
    s.event(p, "2024-01-12", phq9("tt-1", 15));
    s.event(p, "2024-01-12", phq9("tt-1", 5));
    // GAD-7 paired across days.
    s.event(p, "2024-01-12", gad7("tt-1", 12));
    s.event(p, "2024-02-23", gad7("tt-1", 4));
    s.event(p, "2024-03-15", discharged("tt-1"));

    let q = "9434765897";
    // The mirror image: PHQ-9 paired, GAD-7 only on one day.
    s.event(q, "2024-01-05", received("tt-2"));
    s.event(q, "2024-01-12", treatment("tt-2"));
    s.event(q, "2024-02-09", treatment("tt-2"));
    s.event(q, "2024-01-12", phq9("tt-2", 15));
    s.event(q, "2024-02-23", phq9("tt-2", 5));
    s.event(q, "2024-02-23", gad7("tt-2", 12));
    s.event(q, "2024-02-23", gad7("tt-2", 4));
    s.event(q, "2024-03-15", discharged("tt-2"));

    // Neither has paired scores on both measures: cohort 0.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 0);
    assert_eq!(month_tally(&s, IMPROVEMENT, "2024-03"), (0, 0));

    // A later PHQ-9 for the first (2024-03-01, total 5): now paired on both. First PHQ-9 is one
    // of the two on 2024-01-12 (15 or 5) and last is 5; GAD 12 → 4 (−8 reliable, caseness 12).
    // Either way the last scores 5 and 4 are below both cut-offs and GAD gives reliable
    // improvement with no reliable increase: recovered, improved.
    s.event(p, "2024-03-01", phq9("tt-1", 5));
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
}

#[test]
fn first_is_the_earliest_score_and_last_the_latest_whatever_the_arrival_order() {
    let mut s = Scenario::default();
    let p = "9434765900";
    s.event(p, "2024-01-05", received("tt-1"));
    s.event(p, "2024-01-10", treatment("tt-1"));
    s.event(p, "2024-02-10", treatment("tt-1"));
    // Arrival order differs from event time. By date: PHQ 18 (01-10), 12 (02-10), 4 (03-01);
    // GAD 10 (01-10), 9 (02-10), 3 (03-01).
    s.event(p, "2024-03-01", phq9("tt-1", 4));
    s.event(p, "2024-01-10", phq9("tt-1", 18));
    s.event(p, "2024-02-10", phq9("tt-1", 12));
    s.event(p, "2024-02-10", gad7("tt-1", 9));
    s.event(p, "2024-03-01", gad7("tt-1", 3));
    s.event(p, "2024-01-10", gad7("tt-1", 10));
    s.event(p, "2024-03-20", discharged("tt-1"));
    // First = earliest: PHQ 18, GAD 10; last = latest: PHQ 4, GAD 3 (the middle ones ignored).
    // Caseness; 4 < 10 and 3 < 8 → recovered; PHQ −14, GAD −7 → improved and reliably recovered.
    // (Taken in arrival order instead, PHQ would be 4 → 12, +8: deterioration.)
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 1, Some(0.0));

    // A backdated PHQ-9 of 8 on 2024-01-08 becomes the first: not at caseness on PHQ but GAD 10
    // still is; PHQ 8 → 4 is −4 (not reliable), GAD −7 still is → still recovered and improved.
    // Backdated GAD-7 of 5 on 2024-01-08 then becomes the first GAD: first PHQ 8 < 10 and GAD
    // 5 < 8 → not at caseness; GAD 5 → 3 is −2; PHQ −4: no reliable change at all.
    s.event(p, "2024-01-08", phq9("tt-1", 8));
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    s.event(p, "2024-01-08", gad7("tt-1", 5));
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(RECOVERY, "2024-03"), 0, 0, None);
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 0, 1, Some(0.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 1, Some(0.0));
}

#[test]
fn contacts_and_scores_for_an_unknown_referral_have_no_effect_until_it_arrives() {
    let mut s = Scenario::default();
    let a = "9434765919";
    let b = "9434765870";
    // A's referral tt-a: one treatment contact of its own, paired scores, discharged.
    s.event(a, "2024-01-05", received("tt-a"));
    s.event(a, "2024-01-12", treatment("tt-a"));
    s.event(a, "2024-01-12", phq9("tt-a", 15));
    s.event(a, "2024-01-12", gad7("tt-a", 12));
    s.event(a, "2024-02-23", phq9("tt-a", 5));
    s.event(a, "2024-02-23", gad7("tt-a", 4));
    s.event(a, "2024-03-15", discharged("tt-a"));
    // A second treatment contact, but for a referral A does not have (tt-x).
    s.event(a, "2024-02-09", treatment("tt-x"));
    // B has no referral at all; B's contact names A's referral id: still not A's referral.
    s.event(b, "2024-02-09", treatment("tt-a"));
    // tt-a still has one treatment contact: nobody in the cohort.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 0);

    // B's referral tt-b: everything except its referral_received arrives first.
    s.event(b, "2024-01-12", treatment("tt-b"));
    s.event(b, "2024-02-09", treatment("tt-b"));
    s.event(b, "2024-01-12", phq9("tt-b", 12));
    s.event(b, "2024-01-12", gad7("tt-b", 9));
    s.event(b, "2024-02-23", phq9("tt-b", 3));
    s.event(b, "2024-02-23", gad7("tt-b", 2));
    s.event(b, "2024-03-20", discharged("tt-b"));
    assert_eq!(s.month(COHORT, "2024-03").numerator, 0);
    // Then the referral arrives (dated before them all) and everything takes effect:
    // PHQ 12 → 3 (−9), GAD 9 → 2 (−7): caseness, recovered, improved. Cohort 1 (tt-a still out,
    // B's stray contact for "tt-a" is not tt-b's either: tt-b has exactly its own two).
    s.event(b, "2024-01-05", received("tt-b"));
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
}

#[test]
fn a_retracted_score_is_undone() {
    let mut s = Scenario::default();
    let p = "9434765897";
    s.event(p, "2024-01-05", received("tt-1"));
    s.event(p, "2024-01-12", treatment("tt-1"));
    s.event(p, "2024-02-09", treatment("tt-1"));
    s.event(p, "2024-01-12", phq9("tt-1", 15));
    let phq_feb = s.event(p, "2024-02-09", phq9("tt-1", 12));
    let phq_mar = s.event(p, "2024-03-01", phq9("tt-1", 4));
    s.event(p, "2024-01-12", gad7("tt-1", 10));
    s.event(p, "2024-03-01", gad7("tt-1", 3));
    s.event(p, "2024-03-15", discharged("tt-1"));
    // PHQ 15 → 4 (−11), GAD 10 → 3 (−7): caseness, recovered, improved, reliably recovered.
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 1, 1, Some(100.0));

    // Retract the March PHQ-9: last PHQ is now 12 (02-09). PHQ −3 (not reliable), GAD −7 still
    // reliable → improved; last PHQ 12 ≥ 10 → not recovered, not reliably recovered.
    s.retract(p, "2024-03-16", &phq_mar);
    assert_eq!(s.month(COHORT, "2024-03").numerator, 1);
    assert_pct(&s.month(RECOVERY, "2024-03"), 0, 1, Some(0.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 0, 1, Some(0.0));

    // Retract the February PHQ-9 too: one PHQ-9 left, no pair → out of the cohort.
    s.retract(p, "2024-03-16", &phq_feb);
    assert_eq!(s.month(COHORT, "2024-03").numerator, 0);
    assert_eq!(month_tally(&s, RECOVERY, "2024-03"), (0, 0));
    assert_eq!(month_tally(&s, IMPROVEMENT, "2024-03"), (0, 0));
    assert_eq!(s.r12(COHORT, "2025-02").numerator, 0);
}

#[test]
fn totals_are_the_sum_of_the_items() {
    let mut s = Scenario::default();
    let p = "local:items";
    s.event(p, "2024-01-05", received("tt-1"));
    s.event(p, "2024-01-12", treatment("tt-1"));
    s.event(p, "2024-02-09", treatment("tt-1"));
    let score = |instrument: &str, items: &[u32]| json!({"outcome_measure": {"referral_id": "tt-1", "instrument": instrument, "items": items}});
    // PHQ-9 first 1+1+1+1+1+1+1+1+2 = 10 (caseness, though no item is above 2);
    // last 0+1+0+1+0+1+0+1+0 = 4.
    s.event(p, "2024-01-12", score("PHQ9", &[1, 1, 1, 1, 1, 1, 1, 1, 2]));
    s.event(p, "2024-02-23", score("PHQ9", &[0, 1, 0, 1, 0, 1, 0, 1, 0]));
    // GAD-7 first 0+0+0+0+0+3+3 = 6; last 1+1+1+1+1+1+1 = 7 (+1).
    s.event(p, "2024-01-12", score("GAD7", &[0, 0, 0, 0, 0, 3, 3]));
    s.event(p, "2024-02-23", score("GAD7", &[1, 1, 1, 1, 1, 1, 1]));
    s.event(p, "2024-03-15", discharged("tt-1"));
    // Caseness by PHQ 10; last 4 < 10 and 7 < 8 → recovered; PHQ −6 → improved (GAD +1 is not
    // an increase) → reliably recovered.
    assert_pct(&s.month(RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(IMPROVEMENT, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(RELIABLE_RECOVERY, "2024-03"), 1, 1, Some(100.0));
    assert_pct(&s.month(DETERIORATION, "2024-03"), 0, 1, Some(0.0));
}

#[test]
fn breakdowns_use_the_persons_current_demographics_and_small_strata_are_suppressed() {
    let mut s = Scenario::default();
    let march = Some("2024-03-15");
    // Six White British (A) men born 1980-05-01 (43 on 2024-03-31: 35-49), IMD decile 3
    // (quintile 2): five recovered (PHQ 15 → 5, GAD 12 → 4), one not (PHQ 15 → 12, GAD 12 → 10).
    for i in 0..6 {
        let person = format!("local:white-{i}");
        s.event(
            &person,
            "2023-12-01",
            json!({"demographics": {"birth_date": "1980-05-01", "sex": "1", "ethnic_category": "A", "imd_decile": 3}}),
        );
        let outcome = if i < 5 { ((15, 5), (12, 4)) } else { ((15, 12), (12, 10)) };
        course(&mut s, &person, "tt", outcome.0, outcome.1, march);
    }
    // One Black Caribbean (M) woman born 1989-06-01: 34 on 2024-03-31 (18-34), 35 from
    // 2024-06-01 (35-49); recovered. Her ethnicity was first recorded as Z, then corrected:
    // the latest record applies to every period.
    let black = "9434765919";
    s.event(
        black,
        "2023-11-01",
        json!({"demographics": {"birth_date": "1989-06-01", "sex": "2", "ethnic_category": "Z"}}),
    );
    s.event(
        black,
        "2024-04-01",
        json!({"demographics": {"birth_date": "1989-06-01", "sex": "2", "ethnic_category": "M"}}),
    );
    course(&mut s, black, "tt", (15, 5), (12, 4), march);
    // One person with no demographics: unknown everywhere; recovered.
    course(&mut s, "9434765870", "tt", (15, 5), (12, 4), march);

    let month = |s: &Scenario, indicator, kind: &str, value: &str| {
        s.value(indicator, PeriodKind::Month, "2024-03", stratum(kind, value))
    };
    // all: cohort 8, recovery 7/8 = 87.5%.
    assert_eq!(s.month(COHORT, "2024-03").numerator, 8);
    assert_pct(&s.month(RECOVERY, "2024-03"), 7, 8, Some(87.5));
    // ethnic_group: white 5/6 = 83.333…%, black 1/1, unknown 1/1 (Z would have made her unknown).
    assert_pct(&month(&s, RECOVERY, "ethnic_group", "white"), 5, 6, Some(500.0 / 6.0));
    assert_pct(&month(&s, RECOVERY, "ethnic_group", "black"), 1, 1, Some(100.0));
    assert_pct(&month(&s, RECOVERY, "ethnic_group", "unknown"), 1, 1, Some(100.0));
    assert_eq!(month(&s, COHORT, "ethnic_category", "A").numerator, 6);
    assert_eq!(month(&s, COHORT, "ethnic_category", "M").numerator, 1);
    assert_eq!(month(&s, COHORT, "ethnic_category", "unknown").numerator, 1);
    // age_band at 2024-03-31: 35-49 the six, 18-34 her, unknown the last.
    assert_eq!(month(&s, COHORT, "age_band", "35-49").numerator, 6);
    assert_eq!(month(&s, COHORT, "age_band", "18-34").numerator, 1);
    assert_eq!(month(&s, COHORT, "age_band", "unknown").numerator, 1);
    // sex and IMD quintile.
    assert_eq!(month(&s, COHORT, "sex", "male").numerator, 6);
    assert_eq!(month(&s, COHORT, "sex", "female").numerator, 1);
    assert_eq!(month(&s, COHORT, "sex", "other_or_unknown").numerator, 1);
    assert_eq!(month(&s, COHORT, "imd_quintile", "2").numerator, 6);
    assert_eq!(month(&s, COHORT, "imd_quintile", "unknown").numerator, 2);
    // Age is taken at the end of each period: R12 ending 2024-05-31 she is 34 (18-34), R12
    // ending 2024-06-30 and later she is 35 (35-49).
    let r12_age =
        |month: &str, band: &str| s.value(COHORT, PeriodKind::Rolling12, month, stratum("age_band", band)).numerator;
    assert_eq!(r12_age("2024-05", "18-34"), 1);
    assert_eq!(r12_age("2024-05", "35-49"), 6);
    assert_eq!(r12_age("2024-06", "18-34"), 0);
    assert_eq!(r12_age("2024-06", "35-49"), 7);

    // Disclosure: white recovery 5/6 — smallest count 5, not suppressed; counts rounded to
    // the nearest 5 (5 → 5, 6 → 5); value from the unrounded counts, 83.333…%.
    let white = publish(&month(&s, RECOVERY, "ethnic_group", "white"));
    assert!(!white.suppressed);
    assert_eq!(white.numerator, Some(5));
    assert_eq!(white.denominator, Some(5.0));
    assert!((white.value.unwrap() - 500.0 / 6.0).abs() < 1e-9);
    // White cohort count 6 → published 5, value 5.
    let white_cohort = publish(&month(&s, COHORT, "ethnic_group", "white"));
    assert_eq!((white_cohort.suppressed, white_cohort.numerator, white_cohort.value), (false, Some(5), Some(5.0)));
    // Black: 1/1, counts below 5 → suppressed, nothing shown.
    let black_value = publish(&month(&s, RECOVERY, "ethnic_group", "black"));
    assert!(black_value.suppressed);
    assert_eq!((black_value.numerator, black_value.denominator, black_value.value), (None, None, None));
    assert!(publish(&month(&s, COHORT, "ethnic_group", "black")).suppressed);
    // Reliable deterioration white: 0/6 — the numerator 0 is a count below 5 → suppressed.
    assert!(publish(&month(&s, DETERIORATION, "ethnic_group", "white")).suppressed);
    // The trust-wide `all` stratum is published unsuppressed and unrounded: 7/8.
    let all = publish(&s.month(RECOVERY, "2024-03"));
    assert!(!all.suppressed);
    assert_eq!((all.numerator, all.denominator), (Some(7), Some(8.0)));
    assert!((all.value.unwrap() - 87.5).abs() < 1e-9);
}
