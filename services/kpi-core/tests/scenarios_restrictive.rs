//! Least restrictive care (`indicators.md`): occupied bed days (nights in the period, stays still
//! open counting to period end + 1), bed days by age band at the end of each period,
//! inappropriate out-of-area bed days, and restrictive interventions per 1,000 bed days, on
//! numbers worked out by hand.

mod common;

use common::{close, stratum, Scenario};
use kpi_core::period::PeriodKind;
use kpi_stats::Confidence;
use serde_json::json;

const A: &str = "9434765919";
const B: &str = "9434765870";
const C: &str = "9434765862";
const D: &str = "9434765854";

fn start(s: &mut Scenario, person: &str, date: &str, stay: &str) -> String {
    s.event(person, date, json!({"ward_stay_started": {"ward_stay_id": stay, "ward_code": "W1", "out_of_area": false}}))
}

fn start_out_of_area(s: &mut Scenario, person: &str, date: &str, stay: &str, reason: &str) -> String {
    s.event(
        person,
        date,
        json!({"ward_stay_started": {"ward_stay_id": stay, "ward_code": "OOA1", "out_of_area": true, "out_of_area_reason": reason}}),
    )
}

fn end(s: &mut Scenario, person: &str, date: &str, stay: &str) -> String {
    s.event(person, date, json!({"ward_stay_ended": {"ward_stay_id": stay}}))
}

fn intervention(s: &mut Scenario, person: &str, date: &str, stay: &str, kind: &str) -> String {
    s.event(person, date, json!({"restrictive_intervention": {"ward_stay_id": stay, "kind": kind}}))
}

fn bed_days(s: &Scenario, month: &str) -> i64 {
    s.month("occupied_bed_days", month).numerator
}

#[test]
fn an_open_stay_counts_nights_in_every_month_without_further_events() {
    let mut s = Scenario::default();
    start(&mut s, A, "2024-01-30", "w1");
    // January: nights of the 30th and 31st = 1 Feb − 30 Jan = 2.
    assert_eq!(bed_days(&s, "2024-01"), 2);
    // February 2024 (leap year): 29; March 31; April 30.
    assert_eq!(bed_days(&s, "2024-02"), 29);
    assert_eq!(bed_days(&s, "2024-03"), 31);
    assert_eq!(bed_days(&s, "2024-04"), 30);
    // Still open 17 months later: June 2025 has 30 nights, February 2025 28.
    assert_eq!(bed_days(&s, "2025-02"), 28);
    assert_eq!(bed_days(&s, "2025-06"), 30);
    assert_eq!(bed_days(&s, "2023-12"), 0);
    // R12 to December 2024: 30 Jan 2024 → 1 Jan 2025 = 2 + 335 (Feb–Dec of a leap year) = 337.
    assert_eq!(s.r12("occupied_bed_days", "2024-12").numerator, 337);
    // R12 to June 2025 (1 Jul 2024 → 1 Jul 2025): 365.
    assert_eq!(s.r12("occupied_bed_days", "2025-06").numerator, 365);
    // No out-of-area stay: no inappropriate OAP bed days.
    assert_eq!(s.month("inappropriate_oap_bed_days", "2024-02").numerator, 0);
}

#[test]
fn a_stay_closed_mid_month_stops_counting_on_its_end_date() {
    let mut s = Scenario::default();
    start(&mut s, A, "2024-03-10", "w1");
    end(&mut s, A, "2024-05-20", "w1");
    // March: 1 Apr − 10 Mar = 22; April 30; May: 20 May − 1 May = 19; June 0.
    assert_eq!(bed_days(&s, "2024-02"), 0);
    assert_eq!(bed_days(&s, "2024-03"), 22);
    assert_eq!(bed_days(&s, "2024-04"), 30);
    assert_eq!(bed_days(&s, "2024-05"), 19);
    assert_eq!(bed_days(&s, "2024-06"), 0);
    assert_eq!(bed_days(&s, "2025-06"), 0);
    // R12: 20 May − 10 Mar = 71, from R12 to May 2024 until R12 to Feb 2025; R12 to Mar 2025
    // (Apr 2024 – Mar 2025) keeps 30 + 19 = 49, R12 to Apr 2025 19, R12 to May 2025 none.
    assert_eq!(s.r12("occupied_bed_days", "2024-05").numerator, 71);
    assert_eq!(s.r12("occupied_bed_days", "2025-02").numerator, 71);
    assert_eq!(s.r12("occupied_bed_days", "2025-03").numerator, 49);
    assert_eq!(s.r12("occupied_bed_days", "2025-04").numerator, 19);
    assert_eq!(s.r12("occupied_bed_days", "2025-05").numerator, 0);
}

#[test]
fn a_stay_ending_on_the_first_of_a_month_has_no_nights_in_that_month() {
    let mut s = Scenario::default();
    start(&mut s, A, "2024-03-10", "w1");
    end(&mut s, A, "2024-04-01", "w1");
    // March: 1 Apr − 10 Mar = 22, the night of 31 March included; April: 1 Apr − 1 Apr = 0.
    assert_eq!(bed_days(&s, "2024-03"), 22);
    assert_eq!(bed_days(&s, "2024-04"), 0);
    assert_eq!(s.r12("occupied_bed_days", "2024-03").numerator, 22);
    assert_eq!(s.r12("occupied_bed_days", "2024-04").numerator, 22);
    assert_eq!(s.r12("occupied_bed_days", "2025-02").numerator, 22);
    assert_eq!(s.r12("occupied_bed_days", "2025-03").numerator, 0);
}

#[test]
fn a_stay_started_and_ended_the_same_day_has_no_nights() {
    let mut s = Scenario::default();
    start(&mut s, A, "2024-04-10", "w1");
    end(&mut s, A, "2024-04-10", "w1");
    assert_eq!(bed_days(&s, "2024-04"), 0);
    assert_eq!(bed_days(&s, "2024-05"), 0);
    assert_eq!(s.r12("occupied_bed_days", "2024-04").numerator, 0);
    assert_eq!(s.r12("occupied_bed_days", "2025-03").numerator, 0);
}

#[test]
fn an_end_dated_before_the_start_has_no_effect() {
    let mut s = Scenario::default();
    start(&mut s, A, "2024-01-10", "w1");
    end(&mut s, A, "2024-01-05", "w1");
    // The stay is still open: January 1 Feb − 10 Jan = 22, February 29, March 31.
    assert_eq!(bed_days(&s, "2024-01"), 22);
    assert_eq!(bed_days(&s, "2024-02"), 29);
    assert_eq!(bed_days(&s, "2024-03"), 31);
    // A valid end then closes it: February 15 Feb − 1 Feb = 14, March 0.
    end(&mut s, A, "2024-02-15", "w1");
    assert_eq!(bed_days(&s, "2024-01"), 22);
    assert_eq!(bed_days(&s, "2024-02"), 14);
    assert_eq!(bed_days(&s, "2024-03"), 0);
}

#[test]
fn rolling_twelve_bed_days_are_the_sum_of_its_months() {
    let mut s = Scenario::default();
    // A: 30 Jan 2024, still open. B: 10 Mar – 20 May 2024. C: same day 10 Apr 2024.
    // D: 15 Nov 2023 – 2 Feb 2024.
    start(&mut s, A, "2024-01-30", "w1");
    start(&mut s, B, "2024-03-10", "w1");
    end(&mut s, B, "2024-05-20", "w1");
    start(&mut s, C, "2024-04-10", "w1");
    end(&mut s, C, "2024-04-10", "w1");
    start(&mut s, D, "2023-11-15", "w1");
    end(&mut s, D, "2024-02-02", "w1");
    // R12 to December 2024 (calendar 2024): A 337, B 71, C 0, D 1 Jan → 2 Feb = 32: 440.
    assert_eq!(s.r12("occupied_bed_days", "2024-12").numerator, 440);
    // January 2024: A 2 + D 31 = 33; February: A 29 + D 1 = 30.
    assert_eq!(bed_days(&s, "2024-01"), 33);
    assert_eq!(bed_days(&s, "2024-02"), 30);
    // December 2023: D 31; R12 to December 2023: D 15 Nov → 1 Jan = 47.
    assert_eq!(bed_days(&s, "2023-12"), 31);
    assert_eq!(s.r12("occupied_bed_days", "2023-12").numerator, 47);
    for last in ["2023-12", "2024-03", "2024-06", "2024-12", "2025-01", "2025-03", "2025-06"] {
        let end = common::period_end(last);
        let months: Vec<String> = (0..12)
            .map(|back| {
                let m = end - chrono::Months::new(back);
                m.format("%Y-%m").to_string()
            })
            .collect();
        let sum: i64 = months.iter().map(|m| bed_days(&s, m)).sum();
        assert_eq!(s.r12("occupied_bed_days", last).numerator, sum, "R12 to {last}");
    }
}

#[test]
fn bed_days_follow_the_age_band_at_the_end_of_each_period() {
    let mut s = Scenario::default();
    // Born 15 March 1990: 34 until 14 March 2025, 35 from 15 March 2025.
    s.event(
        A,
        "2024-01-01",
        json!({"demographics": {"birth_date": "1990-03-15", "sex": "1", "ethnic_category": "A", "imd_decile": 3}}),
    );
    start(&mut s, A, "2024-11-01", "w1");
    // B has no demographics: age band unknown.
    start(&mut s, B, "2025-03-20", "w1");
    let band = |s: &Scenario, kind, month, band| {
        s.value("occupied_bed_days", kind, month, stratum("age_band", band)).numerator
    };
    use PeriodKind::{Month, Rolling12};
    // Months to February 2025 end at age 34: November 30, February 28 in 18-34.
    assert_eq!(band(&s, Month, "2024-11", "18-34"), 30);
    assert_eq!(band(&s, Month, "2025-02", "18-34"), 28);
    assert_eq!(band(&s, Month, "2025-02", "35-49"), 0);
    // March 2025 ends at age 35: all 31 nights in 35-49, none in 18-34.
    assert_eq!(band(&s, Month, "2025-03", "35-49"), 31);
    assert_eq!(band(&s, Month, "2025-03", "18-34"), 0);
    // R12 to February 2025: 30 + 31 + 31 + 28 = 120 in 18-34.
    assert_eq!(band(&s, Rolling12, "2025-02", "18-34"), 120);
    assert_eq!(band(&s, Rolling12, "2025-02", "35-49"), 0);
    // R12 to March 2025: the whole stay, 1 Nov 2024 → 1 Apr 2025 = 151, in 35-49.
    assert_eq!(band(&s, Rolling12, "2025-03", "35-49"), 151);
    assert_eq!(band(&s, Rolling12, "2025-03", "18-34"), 0);
    // B: 1 Apr − 20 Mar = 12 in March, unknown band; all = 31 + 12 = 43.
    assert_eq!(band(&s, Month, "2025-03", "unknown"), 12);
    assert_eq!(bed_days(&s, "2025-03"), 43);
    // Other breakdowns of A use current demographics: male, white, IMD quintile 2.
    assert_eq!(s.value("occupied_bed_days", Month, "2025-03", stratum("sex", "male")).numerator, 31);
    assert_eq!(s.value("occupied_bed_days", Month, "2025-03", stratum("ethnic_group", "white")).numerator, 31);
    assert_eq!(s.value("occupied_bed_days", Month, "2025-03", stratum("imd_quintile", "2")).numerator, 31);
    assert_eq!(s.value("occupied_bed_days", Month, "2025-03", stratum("imd_quintile", "unknown")).numerator, 12);
}

#[test]
fn inappropriate_out_of_area_bed_days_only_for_no_local_bed() {
    let mut s = Scenario::default();
    // A: out of area, no local bed, 1 – 11 May 2024: 10 nights.
    start_out_of_area(&mut s, A, "2024-05-01", "w1", "no_local_bed");
    end(&mut s, A, "2024-05-11", "w1");
    // B: out of area by patient choice, from 1 May 2024, open: May 31, June 30.
    start_out_of_area(&mut s, B, "2024-05-01", "w1", "patient_choice");
    // C: local, from 20 May 2024, open: May 12, June 30.
    start(&mut s, C, "2024-05-20", "w1");
    // D: out of area, no local bed, from 25 June 2024, open: June 6, July 31.
    start_out_of_area(&mut s, D, "2024-06-25", "w1", "no_local_bed");

    assert_eq!(s.month("inappropriate_oap_bed_days", "2024-05").numerator, 10);
    assert_eq!(bed_days(&s, "2024-05"), 10 + 31 + 12);
    assert_eq!(s.month("inappropriate_oap_bed_days", "2024-06").numerator, 6);
    assert_eq!(bed_days(&s, "2024-06"), 30 + 30 + 6);
    assert_eq!(s.month("inappropriate_oap_bed_days", "2024-07").numerator, 31);
    // R12 to July 2024: A 10 + D 37 = 47.
    assert_eq!(s.r12("inappropriate_oap_bed_days", "2024-07").numerator, 47);
}

#[test]
fn restrictive_interventions_per_thousand_bed_days() {
    let mut s = Scenario::default();
    // One stay, 1 Jan – 10 Apr 2024: 31 + 29 + 31 + 9 = 100 nights.
    start(&mut s, A, "2024-01-01", "w1");
    end(&mut s, A, "2024-04-10", "w1");
    intervention(&mut s, A, "2024-01-10", "w1", "physical_restraint");
    intervention(&mut s, A, "2024-02-14", "w1", "physical_restraint");
    intervention(&mut s, A, "2024-03-05", "w1", "mechanical_restraint");
    intervention(&mut s, A, "2024-03-12", "w1", "seclusion");
    intervention(&mut s, A, "2024-03-20", "w1", "segregation");
    intervention(&mut s, A, "2024-04-02", "w1", "rapid_tranquillisation");
    intervention(&mut s, A, "2024-04-05", "w1", "other_chemical_restraint");

    // R12 to April 2024: 7 interventions / 100 bed days × 1,000 = 70; restraint (2 physical +
    // 1 mechanical) 30; seclusion 10; rapid tranquillisation 10.
    let all = s.r12("restrictive_interventions_rate", "2024-04");
    assert_eq!((all.numerator, all.denominator), (7, Some(100.0)));
    assert!(close(all.value.unwrap(), 70.0));
    for (id, x, rate) in
        [("restraint_rate", 3, 30.0), ("seclusion_rate", 1, 10.0), ("rapid_tranquillisation_rate", 1, 10.0)]
    {
        let v = s.r12(id, "2024-04");
        assert_eq!((v.numerator, v.denominator), (x, Some(100.0)), "{id}");
        assert!(close(v.value.unwrap(), rate), "{id}");
    }
    // Exact limits for x = 7 (95%): O = 2.8143631, 14.4226754 (Poisson), per 100 × 1,000.
    let (lower, upper) = all.limits95.unwrap();
    assert!((lower - 28.143631).abs() < 1e-5 && (upper - 144.226754).abs() < 1e-5, "{lower} {upper}");
    let stats = kpi_stats::crude_rate(7, 100.0, 1_000.0, Confidence::P95).unwrap();
    assert!(close(lower, stats.lower) && close(upper, stats.upper));

    // March 2024: 31 bed days; mechanical, seclusion, segregation = 3 → 3/31 × 1,000 = 96.774;
    // restraint 1 → 32.258; seclusion 1 → 32.258; rapid tranquillisation 0 → 0.
    let march = s.month("restrictive_interventions_rate", "2024-03");
    assert_eq!((march.numerator, march.denominator), (3, Some(31.0)));
    assert!(close(march.value.unwrap(), 3_000.0 / 31.0));
    assert!(close(s.month("restraint_rate", "2024-03").value.unwrap(), 1_000.0 / 31.0));
    assert!(close(s.month("seclusion_rate", "2024-03").value.unwrap(), 1_000.0 / 31.0));
    assert_eq!(s.month("rapid_tranquillisation_rate", "2024-03").value, Some(0.0));
    // April 2024: 9 bed days; rapid tranquillisation + other chemical = 2 → 222.22.
    let april = s.month("restrictive_interventions_rate", "2024-04");
    assert_eq!((april.numerator, april.denominator), (2, Some(9.0)));
    assert!(close(april.value.unwrap(), 2_000.0 / 9.0));
    assert!(close(s.month("rapid_tranquillisation_rate", "2024-04").value.unwrap(), 1_000.0 / 9.0));
    assert_eq!(s.month("restraint_rate", "2024-04").numerator, 0);
}

#[test]
fn an_intervention_on_an_unknown_ward_stay_waits_for_the_stay() {
    let mut s = Scenario::default();
    // The intervention and the end arrive before the stay's start.
    intervention(&mut s, A, "2024-06-05", "w9", "physical_restraint");
    end(&mut s, A, "2024-06-21", "w9");
    let june = s.month("restrictive_interventions_rate", "2024-06");
    assert_eq!((june.numerator, june.denominator, june.value), (0, Some(0.0), None));
    assert_eq!(s.month("restraint_rate", "2024-06").numerator, 0);
    assert_eq!(bed_days(&s, "2024-06"), 0);

    // The start arrives: 1 – 21 June = 20 nights, 1 intervention → 1/20 × 1,000 = 50.
    let started = start(&mut s, A, "2024-06-01", "w9");
    let june = s.month("restrictive_interventions_rate", "2024-06");
    assert_eq!((june.numerator, june.denominator), (1, Some(20.0)));
    assert!(close(june.value.unwrap(), 50.0));
    assert!(close(s.month("restraint_rate", "2024-06").value.unwrap(), 50.0));

    // Retracting the start undoes the stay, its end and its intervention.
    s.retract(A, "2024-06-30", &started);
    let june = s.month("restrictive_interventions_rate", "2024-06");
    assert_eq!((june.numerator, june.denominator), (0, Some(0.0)));
    assert_eq!(bed_days(&s, "2024-06"), 0);
}
