//! Living well with SMI: settled accommodation, accommodation recorded, smoking and homelessness,
//! checked against numbers worked out by hand from `indicators.md`.
//!
//! Every number below was worked out on paper from the catalogue text, not read from the code:
//! the caseload at a month end is people with a referral received on or before it and not
//! discharged before it; "latest status within 12 months of d" is the latest record dated in
//! `(d − 365 days, d]`, a status `unknown` being no record; age is whole years at the period
//! end. These are point-in-time indicators: the rolling-12 value is the value at its last
//! month end. Percentages are 100·x/n; Wilson limits where given come from the formula of
//! `statistics.md` evaluated separately (z = 1.959963984540054 and 3.090232306167813).

mod common;

use common::{stratum, Scenario};
use kpi_core::contrib::Tally;
use kpi_core::period::PeriodKind;
use kpi_core::strata::Stratum;
use kpi_core::values::IndicatorValue;
use serde_json::json;

const SETTLED: &str = "smi_settled_accommodation_pct";
const RECORDED: &str = "accommodation_recorded_pct";
const SMOKING: &str = "smi_smoking_pct";
const HOMELESS: &str = "homelessness_pct";

/// Demographics: female, Black Caribbean (`M`), IMD decile 2, born on `birth`.
fn demographics(s: &mut Scenario, person: &str, birth: &str) {
    s.event(
        person,
        "2023-01-01",
        json!({"demographics": {"birth_date": birth, "sex": "2", "ethnic_category": "M", "imd_decile": 2}}),
    );
}

/// A referral to community mental health received on `date`, with id `r-<person>`.
fn refer(s: &mut Scenario, person: &str, date: &str) {
    s.event(
        person,
        date,
        json!({"referral_received": {"referral_id": format!("r-{person}"), "service": "community_mental_health"}}),
    );
}

fn discharge(s: &mut Scenario, person: &str, date: &str) {
    s.event(person, date, json!({"referral_discharged": {"referral_id": format!("r-{person}")}}));
}

fn diagnose(s: &mut Scenario, person: &str, date: &str, icd10: &str) {
    s.event(person, date, json!({"diagnosis": {"icd10": icd10}}));
}

fn housing(s: &mut Scenario, person: &str, date: &str, status: &str) -> String {
    s.event(person, date, json!({"accommodation_status": {"status": status}}))
}

fn smokes(s: &mut Scenario, person: &str, date: &str, status: &str) -> String {
    s.event(person, date, json!({"smoking_status": {"status": status}}))
}

/// A person born on `birth`, referred on `referred` and diagnosed with schizophrenia (F20.0)
/// the same day.
fn smi_patient(s: &mut Scenario, person: &str, birth: &str, referred: &str) {
    demographics(s, person, birth);
    refer(s, person, referred);
    diagnose(s, person, referred, "F20.0");
}

/// Asserts numerator `x` and counted denominator `n` of a percentage, and its value 100·x/n
/// (no value when n = 0).
fn assert_pct(v: &IndicatorValue, x: i64, n: i64) {
    let label = format!("{} {:?} {} {:?}", v.indicator, v.period.kind, v.period.end, v.stratum);
    assert_eq!(v.numerator, x, "numerator of {label}");
    assert_eq!(v.denominator, Some(n as f64), "denominator of {label}");
    if n == 0 {
        assert_eq!(v.value, None, "no value for an empty denominator: {label}");
        assert_eq!(v.limits95, None, "{label}");
    } else {
        let value = v.value.unwrap_or_else(|| panic!("a value for {label}"));
        assert!((value - 100.0 * x as f64 / n as f64).abs() < 1e-9, "value of {label}: {value}");
    }
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn accommodation_dated_365_days_before_period_end_is_out_and_364_days_is_in() {
    let mut s = Scenario::default();
    // Both aged 40, schizophrenia, on the caseload since 5 January 2023.
    // NHS numbers checked by hand (Modulus 11, weights 10..2):
    // 9434765919: 90+36+24+28+42+30+20+27+2 = 299, 299 mod 11 = 2, 11 − 2 = 9 ✓.
    // 9434765870: 90+36+24+28+42+30+20+24+14 = 308, 308 mod 11 = 0, 11 − 0 = 11 → 0 ✓.
    let (a, b) = ("9434765919", "9434765870");
    smi_patient(&mut s, a, "1984-02-10", "2023-01-05");
    smi_patient(&mut s, b, "1984-02-10", "2023-01-05");
    housing(&mut s, a, "2023-07-01", "settled_mainstream");
    housing(&mut s, b, "2023-07-02", "settled_supported");

    // June 2024 ends 2024-06-30; 365 days earlier is 2023-07-01 (the year contains 29 Feb
    // 2024), so the window is (2023-07-01, 2024-06-30]: A's record (365 days old) is out, B's
    // (364 days old) is in. Settled 1/2, recorded 1/2, homeless 0/2.
    let june = s.month(SETTLED, "2024-06");
    assert_pct(&june, 1, 2);
    assert_close(june.value.unwrap(), 50.0);
    let (lo, hi) = june.limits95.unwrap();
    // Wilson x = 1, n = 2, 95%: (9.453120573423071, 90.54687942657694).
    assert_close(lo, 9.453120573423071);
    assert_close(hi, 90.54687942657694);
    assert_pct(&s.month(RECORDED, "2024-06"), 1, 2);
    assert_pct(&s.month(HOMELESS, "2024-06"), 0, 2);

    // May 2024 (window (2023-06-01, 2024-05-31]): both in. 2/2.
    assert_pct(&s.month(SETTLED, "2024-05"), 2, 2);
    assert_pct(&s.month(RECORDED, "2024-05"), 2, 2);
    // July 2024 (window (2023-08-01, 2024-07-31]): both out: not recorded = not settled. 0/2.
    assert_pct(&s.month(SETTLED, "2024-07"), 0, 2);
    assert_pct(&s.month(RECORDED, "2024-07"), 0, 2);
    assert_close(s.month(SETTLED, "2024-07").value.unwrap(), 0.0);
    // June 2023: both records are dated after the period end. 0/2. July 2023: 2/2.
    assert_pct(&s.month(SETTLED, "2023-06"), 0, 2);
    assert_pct(&s.month(SETTLED, "2023-07"), 2, 2);
}

#[test]
fn unknown_status_is_no_record_and_an_earlier_known_record_in_the_window_still_counts() {
    let mut s = Scenario::default();
    // Four people aged 40 with SMI on the caseload since 2023-01-05.
    for p in ["local:a", "local:b", "local:c", "local:d"] {
        smi_patient(&mut s, p, "1984-02-10", "2023-01-05");
    }
    // A: settled_supported, then unknown (the unknown is no record: settled stands).
    housing(&mut s, "local:a", "2024-01-10", "settled_supported");
    housing(&mut s, "local:a", "2024-03-05", "unknown");
    smokes(&mut s, "local:a", "2024-01-10", "current");
    smokes(&mut s, "local:a", "2024-03-05", "unknown");
    // B: only unknown (not recorded, not in the smoking denominator).
    housing(&mut s, "local:b", "2024-03-05", "unknown");
    smokes(&mut s, "local:b", "2024-03-05", "unknown");
    // C: homeless, then unknown.
    housing(&mut s, "local:c", "2023-05-01", "homeless");
    housing(&mut s, "local:c", "2024-03-05", "unknown");
    smokes(&mut s, "local:c", "2024-02-01", "never");
    // D: homeless 2023-03-15, then unknown; the unknown does not keep the old record alive.
    housing(&mut s, "local:d", "2023-03-15", "homeless");
    housing(&mut s, "local:d", "2024-03-05", "unknown");

    // March 2024, window (2023-04-01, 2024-03-31]:
    //   A settled_supported (2024-01-10), B none, C homeless (2023-05-01), D none (2023-03-15 is out).
    //   settled 1/4 = 25%, recorded 2/4 = 50%, homeless 1/4 = 25%.
    //   smoking: A current, B none, C never, D none: 1/2.
    assert_pct(&s.month(SETTLED, "2024-03"), 1, 4);
    assert_close(s.month(SETTLED, "2024-03").value.unwrap(), 25.0);
    assert_pct(&s.month(RECORDED, "2024-03"), 2, 4);
    assert_pct(&s.month(HOMELESS, "2024-03"), 1, 4);
    assert_pct(&s.month(SMOKING, "2024-03"), 1, 2);

    // February 2024 ends 2024-02-29, window (2023-03-01, 2024-02-29]: the unknowns are not yet
    // there; A settled, B none, C homeless, D homeless (2023-03-15 is in).
    //   settled 1/4, recorded 3/4, homeless 2/4; smoking A current, C never: 1/2.
    assert_pct(&s.month(SETTLED, "2024-02"), 1, 4);
    assert_pct(&s.month(RECORDED, "2024-02"), 3, 4);
    assert_pct(&s.month(HOMELESS, "2024-02"), 2, 4);
    assert_pct(&s.month(SMOKING, "2024-02"), 1, 2);
}

#[test]
fn the_latest_status_wins_whatever_the_arrival_order_and_a_retraction_restores_the_earlier() {
    let mut s = Scenario::default();
    let a = "9434765919";
    smi_patient(&mut s, a, "1984-02-10", "2023-06-01");
    // The later-dated records arrive first; the backdated ones arrive after them.
    let settled = housing(&mut s, a, "2024-02-20", "settled_mainstream");
    smokes(&mut s, a, "2024-02-20", "ex");
    housing(&mut s, a, "2024-01-10", "homeless");
    smokes(&mut s, a, "2024-01-10", "current");

    // January 2024: latest is homeless / current. homeless 1/1, settled 0/1, recorded 1/1,
    // smoking 1/1.
    assert_pct(&s.month(HOMELESS, "2024-01"), 1, 1);
    assert_pct(&s.month(SETTLED, "2024-01"), 0, 1);
    assert_pct(&s.month(RECORDED, "2024-01"), 1, 1);
    assert_pct(&s.month(SMOKING, "2024-01"), 1, 1);
    // February 2024: latest is settled_mainstream / ex. homeless 0/1, settled 1/1, smoking 0/1.
    assert_pct(&s.month(HOMELESS, "2024-02"), 0, 1);
    assert_pct(&s.month(SETTLED, "2024-02"), 1, 1);
    assert_pct(&s.month(SMOKING, "2024-02"), 0, 1);

    // The settled record was entered in error: February falls back to homeless (2024-01-10).
    s.retract(a, "2024-03-01", &settled);
    assert_pct(&s.month(HOMELESS, "2024-02"), 1, 1);
    assert_pct(&s.month(SETTLED, "2024-02"), 0, 1);
    assert_pct(&s.month(RECORDED, "2024-02"), 1, 1);
    assert_pct(&s.month(SMOKING, "2024-02"), 0, 1);
}

#[test]
fn age_limits_apply_at_the_end_of_the_period_with_birthdays_during_the_month() {
    let mut s = Scenario::default();
    // A turns 18 on 2024-03-20; B turns 70 on 2024-05-10; C turns 18 on 2024-04-30 (the last
    // day of the month). All with SMI, on the caseload since 2023-10-01.
    smi_patient(&mut s, "local:a", "2006-03-20", "2023-10-01");
    smi_patient(&mut s, "local:b", "1954-05-10", "2023-10-01");
    smi_patient(&mut s, "local:c", "2006-04-30", "2023-10-01");
    housing(&mut s, "local:a", "2024-01-15", "settled_mainstream");
    smokes(&mut s, "local:a", "2024-01-15", "current");
    housing(&mut s, "local:b", "2024-01-15", "settled_supported");
    smokes(&mut s, "local:b", "2024-01-15", "never");
    housing(&mut s, "local:c", "2024-01-15", "settled_mainstream");

    // Ages at 2024-02-29: A 17, B 69, C 17. Settled (18–69): B → 1/1. Smoking (18+): B never →
    // 0/1. Homeless (any age): 0/3; A and C in age band 0-17, B in 65+.
    assert_pct(&s.month(SETTLED, "2024-02"), 1, 1);
    assert_pct(&s.month(SMOKING, "2024-02"), 0, 1);
    assert_pct(&s.month(HOMELESS, "2024-02"), 0, 3);
    assert_pct(&s.value(HOMELESS, PeriodKind::Month, "2024-02", stratum("age_band", "0-17")), 0, 2);
    assert_pct(&s.value(HOMELESS, PeriodKind::Month, "2024-02", stratum("age_band", "65+")), 0, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-02", stratum("age_band", "65+")), 1, 1);

    // At 2024-03-31: A 18 (birthday 20 March), B 69, C 17. Settled A, B → 2/2. Smoking A
    // current, B never → 1/2. Age bands: A moves to 18-34.
    assert_pct(&s.month(SETTLED, "2024-03"), 2, 2);
    assert_pct(&s.month(SMOKING, "2024-03"), 1, 2);
    assert_pct(&s.value(HOMELESS, PeriodKind::Month, "2024-03", stratum("age_band", "0-17")), 0, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-03", stratum("age_band", "18-34")), 1, 1);

    // At 2024-04-30: A 18, B 69, C 18 (birthday that very day). Settled 3/3; smoking 1/2
    // (C has no smoking record).
    assert_pct(&s.month(SETTLED, "2024-04"), 3, 3);
    assert_pct(&s.month(RECORDED, "2024-04"), 3, 3);
    assert_pct(&s.month(SMOKING, "2024-04"), 1, 2);
    assert_pct(&s.value(HOMELESS, PeriodKind::Month, "2024-04", stratum("age_band", "0-17")), 0, 0);

    // At 2024-05-31: B is 70 (birthday 10 May): out of settled accommodation (18–69) but still in
    // smoking (18+). Settled A, C → 2/2; smoking A current, B never → 1/2.
    assert_pct(&s.month(SETTLED, "2024-05"), 2, 2);
    assert_pct(&s.month(RECORDED, "2024-05"), 2, 2);
    assert_pct(&s.month(SMOKING, "2024-05"), 1, 2);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-05", stratum("age_band", "65+")), 0, 0);
    assert_pct(&s.value(SMOKING, PeriodKind::Month, "2024-05", stratum("age_band", "65+")), 0, 1);
    // Rolling 12 months ending May 2024: the same people at the same end date.
    assert_pct(&s.r12(SETTLED, "2024-05"), 2, 2);
}

#[test]
fn smi_counts_from_the_diagnosis_date_and_f32_is_not_smi() {
    let mut s = Scenario::default();
    for p in ["local:a", "local:b", "local:c", "local:d"] {
        demographics(&mut s, p, "1984-02-10");
        refer(&mut s, p, "2024-01-05");
    }
    // A: schizophrenia diagnosed 2024-03-10 (the event arrives first, dated later).
    diagnose(&mut s, "local:a", "2024-03-10", "F20.0");
    housing(&mut s, "local:a", "2024-01-20", "settled_mainstream");
    smokes(&mut s, "local:a", "2024-01-20", "current");
    // B: depressive episode F32.1 only: not SMI.
    diagnose(&mut s, "local:b", "2024-01-05", "F32.1");
    housing(&mut s, "local:b", "2024-01-20", "settled_mainstream");
    smokes(&mut s, "local:b", "2024-01-20", "current");
    // C: bipolar F31.2 (SMI), homeless.
    diagnose(&mut s, "local:c", "2024-01-05", "F31.2");
    housing(&mut s, "local:c", "2024-01-20", "homeless");
    // D: manic episode F30.1 (SMI), temporary accommodation.
    diagnose(&mut s, "local:d", "2024-01-05", "F30.1");
    housing(&mut s, "local:d", "2024-01-20", "temporary");

    // January and February 2024: SMI people are C and D (A's diagnosis is after the period
    // end). settled 0/2, recorded 2/2, no smoking record among them → no value. Homelessness
    // is the whole caseload: C of A, B, C, D → 1/4.
    for month in ["2024-01", "2024-02"] {
        assert_pct(&s.month(SETTLED, month), 0, 2);
        assert_pct(&s.month(RECORDED, month), 2, 2);
        assert_pct(&s.month(SMOKING, month), 0, 0);
        assert_pct(&s.month(HOMELESS, month), 1, 4);
    }
    // March 2024: A is diagnosed (2024-03-10 ≤ 2024-03-31). settled A → 1/3, recorded 3/3,
    // smoking A current → 1/1. B (F32.1) is never in these denominators.
    let settled = s.month(SETTLED, "2024-03");
    assert_pct(&settled, 1, 3);
    assert_close(settled.value.unwrap(), 100.0 / 3.0);
    // Wilson x = 1, n = 3, 95%: (6.149194472039624, 79.23403991979524).
    assert_close(settled.limits95.unwrap().0, 6.149194472039624);
    assert_close(settled.limits95.unwrap().1, 79.23403991979524);
    assert_pct(&s.month(RECORDED, "2024-03"), 3, 3);
    assert_pct(&s.month(SMOKING, "2024-03"), 1, 1);
    assert_pct(&s.month(HOMELESS, "2024-03"), 1, 4);
}

#[test]
fn a_referral_discharged_on_the_last_day_of_the_month_is_on_that_months_caseload() {
    let mut s = Scenario::default();
    // A: SMI, homeless, discharged on 2024-03-31 (the last day of March).
    smi_patient(&mut s, "local:a", "1984-02-10", "2024-01-10");
    housing(&mut s, "local:a", "2024-01-15", "homeless");
    discharge(&mut s, "local:a", "2024-03-31");
    // B: no SMI, settled, discharged on 2024-03-30.
    demographics(&mut s, "local:b", "1984-02-10");
    refer(&mut s, "local:b", "2024-01-10");
    housing(&mut s, "local:b", "2024-01-15", "settled_mainstream");
    discharge(&mut s, "local:b", "2024-03-30");
    // C: no SMI, no accommodation record, referred on 2024-03-31.
    demographics(&mut s, "local:c", "1984-02-10");
    refer(&mut s, "local:c", "2024-03-31");

    // Caseload at 2024-02-29: A, B. Homeless A → 1/2. Settled (A only has SMI) 0/1.
    assert_pct(&s.month(HOMELESS, "2024-02"), 1, 2);
    assert_pct(&s.month(SETTLED, "2024-02"), 0, 1);
    // Caseload at 2024-03-31: A (discharged that day, not before it), C (received that day);
    // not B (discharged the day before). Homeless 1/2; settled 0/1, recorded 1/1.
    assert_pct(&s.month(HOMELESS, "2024-03"), 1, 2);
    assert_pct(&s.month(SETTLED, "2024-03"), 0, 1);
    assert_pct(&s.month(RECORDED, "2024-03"), 1, 1);
    // Caseload at 2024-04-30: C only. Homeless 0/1; nobody with SMI → no value.
    assert_pct(&s.month(HOMELESS, "2024-04"), 0, 1);
    assert_pct(&s.month(SETTLED, "2024-04"), 0, 0);
    assert_pct(&s.month(RECORDED, "2024-04"), 0, 0);
}

#[test]
fn an_open_referral_keeps_the_person_counted_long_after_the_last_event() {
    let mut s = Scenario::default();
    let a = "9434765919";
    smi_patient(&mut s, a, "1984-02-10", "2024-01-10");
    housing(&mut s, a, "2024-01-15", "settled_mainstream");
    smokes(&mut s, a, "2024-01-15", "current");
    // No more events. The records of 2024-01-15 are within 12 months of d while
    // d < 2024-01-15 + 365 days = 2025-01-14.

    // January and December 2024: settled 1/1, recorded 1/1, smoking 1/1, homeless 0/1.
    for month in ["2024-01", "2024-06", "2024-12"] {
        assert_pct(&s.month(SETTLED, month), 1, 1);
        assert_pct(&s.month(RECORDED, month), 1, 1);
        assert_pct(&s.month(SMOKING, month), 1, 1);
        assert_pct(&s.month(HOMELESS, month), 0, 1);
    }
    // January 2025 (end 2025-01-31, window (2024-02-01, 2025-01-31]) onwards, e.g. July 2025
    // (18 months on) and January 2030: still on the caseload and aged 18–69 (45 in 2030), so
    // in the denominator, but the records have aged out: settled 0/1, recorded 0/1, no smoking
    // record → no value, homeless 0/1.
    for month in ["2025-01", "2025-07", "2030-01"] {
        assert_pct(&s.month(SETTLED, month), 0, 1);
        assert_pct(&s.month(RECORDED, month), 0, 1);
        assert_pct(&s.month(SMOKING, month), 0, 0);
        assert_pct(&s.month(HOMELESS, month), 0, 1);
        assert_pct(&s.r12(SETTLED, month), 0, 1);
    }
    assert_eq!(s.tally(SETTLED, PeriodKind::Month, "2025-07", Stratum::ALL), Tally { numerator: 0, denominator: 1 });
    assert_eq!(s.tally(SETTLED, PeriodKind::Month, "2024-12", Stratum::ALL), Tally { numerator: 1, denominator: 1 });
    // The person's strata persist too: Black (M), female, IMD quintile 1, age band 35-49.
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2025-07", stratum("ethnic_group", "black")), 0, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2025-07", stratum("imd_quintile", "1")), 0, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2025-07", stratum("age_band", "35-49")), 0, 1);
}

#[test]
fn homelessness_counts_the_whole_caseload_at_any_age_with_or_without_demographics() {
    let mut s = Scenario::default();
    // A: no demographics at all, SMI diagnosis, rough sleeping.
    let a = "local:no-demographics";
    refer(&mut s, a, "2024-02-01");
    diagnose(&mut s, a, "2024-02-01", "F20.0");
    housing(&mut s, a, "2024-02-10", "rough_sleeping");
    // B: a child aged 10, homeless.
    demographics(&mut s, "local:b", "2014-01-05");
    refer(&mut s, "local:b", "2024-02-01");
    housing(&mut s, "local:b", "2024-02-10", "homeless");
    // C: aged 40, settled. D: aged 40, no record.
    for p in ["local:c", "local:d"] {
        demographics(&mut s, p, "1984-02-10");
        refer(&mut s, p, "2024-02-01");
    }
    housing(&mut s, "local:c", "2024-02-10", "settled_mainstream");

    // February 2024: caseload A, B, C, D; homeless or rough sleeping A, B → 2/4 = 50%.
    let homeless = s.month(HOMELESS, "2024-02");
    assert_pct(&homeless, 2, 4);
    assert_close(homeless.value.unwrap(), 50.0);
    // Wilson x = 2, n = 4: 95% (15.003898915214947, 84.99610108478505),
    // 99.8% (8.024205414735583, 91.97579458526441).
    assert_close(homeless.limits95.unwrap().0, 15.003898915214947);
    assert_close(homeless.limits95.unwrap().1, 84.99610108478505);
    assert_close(homeless.limits998.unwrap().0, 8.024205414735583);
    assert_close(homeless.limits998.unwrap().1, 91.97579458526441);
    // A is unknown in every breakdown; B is 0-17; C and D 35-49.
    let month = |s: &Scenario, kind, value| s.value(HOMELESS, PeriodKind::Month, "2024-02", stratum(kind, value));
    assert_pct(&month(&s, "age_band", "unknown"), 1, 1);
    assert_pct(&month(&s, "ethnic_group", "unknown"), 1, 1);
    assert_pct(&month(&s, "sex", "other_or_unknown"), 1, 1);
    assert_pct(&month(&s, "imd_quintile", "unknown"), 1, 1);
    assert_pct(&month(&s, "age_band", "0-17"), 1, 1);
    assert_pct(&month(&s, "age_band", "35-49"), 0, 2);
    assert_pct(&month(&s, "ethnic_group", "black"), 1, 3);
    // A has SMI but no age, so is never in the age-restricted SMI indicators: no SMI person
    // aged 18–69 → no value.
    assert_pct(&s.month(SETTLED, "2024-02"), 0, 0);
    assert_pct(&s.month(RECORDED, "2024-02"), 0, 0);
}

#[test]
fn the_smoking_denominator_is_only_people_with_a_smoking_status_recorded() {
    let mut s = Scenario::default();
    // Everyone referred on 2024-01-05; statuses dated 2024-02-01.
    // Aged 40 with SMI: A current, B ex, C never, D no record, E unknown.
    for (p, status) in [
        ("local:a", Some("current")),
        ("local:b", Some("ex")),
        ("local:c", Some("never")),
        ("local:d", None),
        ("local:e", Some("unknown")),
    ] {
        smi_patient(&mut s, p, "1984-02-10", "2024-01-05");
        if let Some(status) = status {
            smokes(&mut s, p, "2024-02-01", status);
        }
    }
    // F: aged 75 with SMI, current (18+ has no upper limit).
    smi_patient(&mut s, "local:f", "1948-08-01", "2024-01-05");
    smokes(&mut s, "local:f", "2024-02-01", "current");
    // G: aged 17 with SMI, current (under 18: out).
    smi_patient(&mut s, "local:g", "2006-09-01", "2024-01-05");
    smokes(&mut s, "local:g", "2024-02-01", "current");
    // H: aged 40, F32 only (not SMI), current: out.
    demographics(&mut s, "local:h", "1984-02-10");
    refer(&mut s, "local:h", "2024-01-05");
    diagnose(&mut s, "local:h", "2024-01-05", "F32.1");
    smokes(&mut s, "local:h", "2024-02-01", "current");

    // February 2024: recorded among SMI 18+: A, B, C, F → denominator 4; current A, F → 2.
    // 2/4 = 50%.
    let smoking = s.month(SMOKING, "2024-02");
    assert_pct(&smoking, 2, 4);
    assert_close(smoking.limits95.unwrap().0, 15.003898915214947);
    assert_close(smoking.limits95.unwrap().1, 84.99610108478505);
    assert_pct(&s.value(SMOKING, PeriodKind::Month, "2024-02", stratum("age_band", "65+")), 1, 1);
    assert_pct(&s.value(SMOKING, PeriodKind::Month, "2024-02", stratum("age_band", "35-49")), 1, 3);
    // January 2024: nobody has a smoking status yet → no value.
    assert_pct(&s.month(SMOKING, "2024-01"), 0, 0);
    // Settled accommodation, same month: SMI aged 18–69 are A, B, C, D, E (F is 75, G 17, H
    // not SMI); nobody has an accommodation record → 0/5.
    assert_pct(&s.month(SETTLED, "2024-02"), 0, 5);
    // Homelessness: all eight on the caseload, nobody homeless → 0/8.
    assert_pct(&s.month(HOMELESS, "2024-02"), 0, 8);
}

#[test]
fn the_rolling_12_value_of_a_point_in_time_indicator_is_the_month_value_of_its_last_month() {
    let mut s = Scenario::default();
    // A: SMI from 2024-01-05; homeless and smoking on 2024-01-10, settled and ex-smoker on
    // 2024-04-10; discharged 2024-08-20. B: SMI from 2024-03-01, no records.
    smi_patient(&mut s, "local:a", "1984-02-10", "2024-01-05");
    housing(&mut s, "local:a", "2024-01-10", "homeless");
    smokes(&mut s, "local:a", "2024-01-10", "current");
    housing(&mut s, "local:a", "2024-04-10", "settled_mainstream");
    smokes(&mut s, "local:a", "2024-04-10", "ex");
    discharge(&mut s, "local:a", "2024-08-20");
    smi_patient(&mut s, "local:b", "1990-07-01", "2024-03-01");

    // Hand-worked month values (x/n):
    //            homeless  settled  recorded  smoking
    //   2024-01    1/1       0/1      1/1       1/1
    //   2024-03    1/2       0/2      1/2       1/1
    //   2024-04    0/2       1/2      1/2       0/1
    //   2024-08    0/1       0/1      0/1       0/0   (A discharged 2024-08-20)
    let expected = [
        ("2024-01", [(1, 1), (0, 1), (1, 1), (1, 1)]),
        ("2024-03", [(1, 2), (0, 2), (1, 2), (1, 1)]),
        ("2024-04", [(0, 2), (1, 2), (1, 2), (0, 1)]),
        ("2024-08", [(0, 1), (0, 1), (0, 1), (0, 0)]),
    ];
    for (month, tallies) in expected {
        for (indicator, (x, n)) in [HOMELESS, SETTLED, RECORDED, SMOKING].into_iter().zip(tallies) {
            // The rolling-12 value is the state at its end, not a sum over its twelve months.
            assert_pct(&s.month(indicator, month), x, n);
            assert_pct(&s.r12(indicator, month), x, n);
        }
    }
    // And month by month, in a few strata, the two kinds agree exactly.
    for month in ["2023-12", "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-08", "2024-09", "2025-04"] {
        for indicator in [HOMELESS, SETTLED, RECORDED, SMOKING] {
            for st in [
                Stratum::ALL,
                stratum("ethnic_category", "M"),
                stratum("age_band", "35-49"),
                stratum("age_band", "18-34"),
            ] {
                let m = s.value(indicator, PeriodKind::Month, month, st);
                let r = s.value(indicator, PeriodKind::Rolling12, month, st);
                assert_eq!(
                    (m.numerator, m.denominator, m.value),
                    (r.numerator, r.denominator, r.value),
                    "{indicator} {month} {st:?}"
                );
            }
        }
    }
}

#[test]
fn a_person_with_two_open_referrals_is_one_person_on_the_caseload() {
    let mut s = Scenario::default();
    // A: SMI, two referrals open at once (community team from 2024-01-05, early intervention
    // from 2024-02-10), homeless. B: SMI, settled, one referral.
    smi_patient(&mut s, "local:a", "1984-02-10", "2024-01-05");
    s.event(
        "local:a",
        "2024-02-10",
        json!({"referral_received": {"referral_id": "eip-a", "service": "early_intervention_psychosis"}}),
    );
    housing(&mut s, "local:a", "2024-01-20", "homeless");
    smi_patient(&mut s, "local:b", "1984-02-10", "2024-01-05");
    housing(&mut s, "local:b", "2024-01-20", "settled_mainstream");

    // February 2024: people, not referrals: homeless 1/2, settled 1/2.
    assert_pct(&s.month(HOMELESS, "2024-02"), 1, 2);
    assert_pct(&s.month(SETTLED, "2024-02"), 1, 2);
    // A's first referral is discharged 2024-03-15; the second keeps A on the caseload at the
    // end of March: still 1/2 and 1/2.
    discharge(&mut s, "local:a", "2024-03-15");
    assert_pct(&s.month(HOMELESS, "2024-03"), 1, 2);
    assert_pct(&s.month(SETTLED, "2024-03"), 1, 2);
}

#[test]
fn the_date_of_a_record_is_its_london_date_and_same_day_records_go_by_time() {
    let mut s = Scenario::default();
    smi_patient(&mut s, "local:a", "1984-02-10", "2023-01-05");
    smi_patient(&mut s, "local:b", "1984-02-10", "2023-01-05");
    smi_patient(&mut s, "local:c", "1984-02-10", "2023-01-05");
    // A: a record at 23:30 UTC on 1 July 2023 is 00:30 BST on 2 July: dated 2023-07-02, which is
    // 364 days before 2024-06-30 → in the June 2024 window (2023-07-01, 2024-06-30].
    s.apply_raw(r#"{"event_id": "raw-1", "occurred_at": "2023-07-01T23:30:00Z", "person_id": "local:a", "accommodation_status": {"status": "settled_mainstream"}}"#);
    // B: two records on the same day; the later time wins although it arrived first.
    s.apply_raw(r#"{"event_id": "raw-2", "occurred_at": "2024-06-20T15:00:00Z", "person_id": "local:b", "accommodation_status": {"status": "settled_supported"}}"#);
    s.apply_raw(r#"{"event_id": "raw-3", "occurred_at": "2024-06-20T09:00:00Z", "person_id": "local:b", "accommodation_status": {"status": "homeless"}}"#);
    // C: same occurred_at; the later recorded_at wins (homeless, recorded a day later).
    s.apply_raw(r#"{"event_id": "raw-4", "occurred_at": "2024-06-20T09:00:00Z", "recorded_at": "2024-06-21T09:00:00Z", "person_id": "local:c", "accommodation_status": {"status": "homeless"}}"#);
    s.apply_raw(r#"{"event_id": "raw-5", "occurred_at": "2024-06-20T09:00:00Z", "recorded_at": "2024-06-20T09:00:00Z", "person_id": "local:c", "accommodation_status": {"status": "settled_mainstream"}}"#);

    // June 2024: A settled, B settled_supported, C homeless. Settled 2/3, recorded 3/3,
    // homeless 1/3.
    assert_pct(&s.month(SETTLED, "2024-06"), 2, 3);
    assert_pct(&s.month(RECORDED, "2024-06"), 3, 3);
    assert_pct(&s.month(HOMELESS, "2024-06"), 1, 3);
    // June 2023 (end 2023-06-30): A's record is dated 2 July, after the end → 0/3 recorded.
    assert_pct(&s.month(RECORDED, "2023-06"), 0, 3);
    // July 2024 (window (2023-08-01, 2024-07-31]): A's record has aged out. Settled B → 1/3.
    assert_pct(&s.month(SETTLED, "2024-07"), 1, 3);
    assert_pct(&s.month(RECORDED, "2024-07"), 2, 3);
}

#[test]
fn corrected_demographics_re_stratify_and_re_age_every_period() {
    let mut s = Scenario::default();
    // Born 1954-03-01 per the first record (70 from 2024-03-01), SMI, settled.
    smi_patient(&mut s, "local:a", "1954-03-01", "2023-06-01");
    housing(&mut s, "local:a", "2024-01-15", "settled_mainstream");
    // April 2024: aged 70 → not in the 18–69 denominator. February 2024: 69 → 1/1.
    assert_pct(&s.month(SETTLED, "2024-04"), 0, 0);
    assert_pct(&s.month(SETTLED, "2024-02"), 1, 1);
    // A later demographics record corrects the birth date to 1964-03-01 and the ethnicity to A:
    // every period is re-aged (60 in April 2024) and re-stratified (white, not black).
    s.event(
        "local:a",
        "2024-05-01",
        json!({"demographics": {"birth_date": "1964-03-01", "sex": "1", "ethnic_category": "A"}}),
    );
    assert_pct(&s.month(SETTLED, "2024-04"), 1, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-02", stratum("ethnic_group", "white")), 1, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-02", stratum("ethnic_group", "black")), 0, 0);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-04", stratum("age_band", "50-64")), 1, 1);
    assert_pct(&s.value(SETTLED, PeriodKind::Month, "2024-04", stratum("imd_quintile", "unknown")), 1, 1);
}
