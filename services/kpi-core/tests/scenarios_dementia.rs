//! Dementia: recorded prevalence among people aged 65+ and deaths at the usual residence,
//! checked against numbers worked out by hand from `indicators.md`.
//!
//! Worked by hand from the catalogue: prevalence at a month end counts people aged 65+ at that
//! end (whole years), alive at it (a death dated on or before it ends the count), with an
//! `F00`–`F03` or `G30` diagnosis dated on or before it; the value is that count over the
//! stratum's population aged 65+ × 100. The test population (`common::population`) has 10
//! people per ethnic category A–S (16) × sex (2) × age 0–90, so aged 65+ (ages 65 … 90, 26
//! single years): all = 16 × 2 × 26 × 10 = 8,320; age band 65+ the same; one sex 4,160; one
//! ethnic category 2 × 26 × 10 = 520; a broad group of three categories 1,560. Other age bands
//! have nobody aged 65+ and IMD quintiles have no ages, so no value there. Wilson limits where
//! given come from the formula of `statistics.md` evaluated separately.

mod common;

use common::{stratum, Scenario};
use kpi_core::contrib::Tally;
use kpi_core::period::PeriodKind;
use kpi_core::strata::Stratum;
use kpi_core::values::IndicatorValue;
use serde_json::json;

const PREVALENCE: &str = "dementia_recorded_prevalence";
const DEATHS: &str = "dementia_deaths_usual_residence_pct";
const AGED_65_PLUS: f64 = 8_320.0;

fn demographics(s: &mut Scenario, person: &str, birth: &str, sex: &str, ethnic: &str, imd: Option<u8>) {
    let mut d = json!({"birth_date": birth, "sex": sex, "ethnic_category": ethnic});
    if let Some(imd) = imd {
        d["imd_decile"] = json!(imd);
    }
    s.event(person, "2023-01-01", json!({ "demographics": d }));
}

fn diagnose(s: &mut Scenario, person: &str, date: &str, icd10: &str) {
    s.event(person, date, json!({"diagnosis": {"icd10": icd10}}));
}

fn die(s: &mut Scenario, person: &str, date: &str, cause: &str, place: &str) -> String {
    s.event(person, date, json!({"death": {"cause": cause, "place": place}}))
}

/// A woman of ethnic category A, born `birth`, with dementia (F03) diagnosed on `diagnosed`.
fn with_dementia(s: &mut Scenario, person: &str, birth: &str, diagnosed: &str) {
    demographics(s, person, birth, "2", "A", Some(5));
    diagnose(s, person, diagnosed, "F03");
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{actual} != {expected}");
}

/// Asserts a prevalence value: `x` people over population `n` aged 65+ (`None`: no value).
fn assert_prevalence(v: &IndicatorValue, x: i64, n: Option<f64>) {
    let label = format!("{:?} {} {:?}", v.period.kind, v.period.end, v.stratum);
    assert_eq!(v.numerator, x, "numerator of {label}");
    assert_eq!(v.denominator, n, "population aged 65+ of {label}");
    match n {
        Some(n) => assert_close(v.value.unwrap_or_else(|| panic!("a value for {label}")), 100.0 * x as f64 / n),
        None => assert_eq!(v.value, None, "no value for {label}"),
    }
}

/// Asserts numerator `x` and counted denominator `n` of a percentage (no value when n = 0).
fn assert_pct(v: &IndicatorValue, x: i64, n: i64) {
    let label = format!("{:?} {} {:?}", v.period.kind, v.period.end, v.stratum);
    assert_eq!((v.numerator, v.denominator), (x, Some(n as f64)), "{label}");
    match n {
        0 => assert_eq!(v.value, None, "{label}"),
        n => assert_close(v.value.unwrap_or_else(|| panic!("a value for {label}")), 100.0 * x as f64 / n as f64),
    }
}

#[test]
fn a_person_who_turns_65_counts_from_the_month_end_at_which_they_are_65() {
    let mut s = Scenario::default();
    // NHS number 9434765919 (Modulus 11: 299 mod 11 = 2, 11 − 2 = 9 ✓). Born 1959-06-15,
    // dementia diagnosed 2023-11-01 at 64.
    let p = "9434765919";
    demographics(&mut s, p, "1959-06-15", "2", "M", Some(2));
    diagnose(&mut s, p, "2023-11-01", "F03");

    // At 2023-11-30 … 2024-05-31 the person is 64: not counted anywhere.
    for month in ["2023-11", "2024-01", "2024-05"] {
        assert_prevalence(&s.month(PREVALENCE, month), 0, Some(AGED_65_PLUS));
        assert_prevalence(&s.r12(PREVALENCE, month), 0, Some(AGED_65_PLUS));
    }
    assert_close(s.month(PREVALENCE, "2024-05").value.unwrap(), 0.0);
    // 50-64 has no population aged 65+: no value, and no count either.
    assert_prevalence(&s.value(PREVALENCE, PeriodKind::Month, "2024-05", stratum("age_band", "50-64")), 0, None);

    // At 2024-06-30 the person is 65 (birthday 15 June): 1 / 8,320 × 100 = 0.01201923076923077%.
    let june = s.month(PREVALENCE, "2024-06");
    assert_prevalence(&june, 1, Some(AGED_65_PLUS));
    assert_close(june.value.unwrap(), 0.01201923076923077);
    // Wilson x = 1, n = 8,320, 95%: (0.002121720870602227, 0.06805571883188019).
    assert_close(june.limits95.unwrap().0, 0.002121720870602227);
    assert_close(june.limits95.unwrap().1, 0.06805571883188019);
    assert_prevalence(
        &s.value(PREVALENCE, PeriodKind::Month, "2024-06", stratum("age_band", "65+")),
        1,
        Some(AGED_65_PLUS),
    );
    // Point in time: the rolling 12 months ending June 2024 has the June value.
    assert_prevalence(&s.r12(PREVALENCE, "2024-06"), 1, Some(AGED_65_PLUS));
    // And later months, with no new events.
    assert_prevalence(&s.month(PREVALENCE, "2024-07"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2026-01"), 1, Some(AGED_65_PLUS));
}

#[test]
fn death_ends_prevalence_from_the_month_of_death() {
    let mut s = Scenario::default();
    // A: Alzheimer's G30.1 since 2023-05-01, died 2024-04-20. B: vascular F01 since 2023-05-01,
    // died 2024-05-31 (the last day of May). Both born 1940-03-01 (84 in 2024).
    demographics(&mut s, "local:a", "1940-03-01", "1", "C", None);
    diagnose(&mut s, "local:a", "2023-05-01", "G30.1");
    let a_death = die(&mut s, "local:a", "2024-04-20", "natural", "care_home");
    demographics(&mut s, "local:b", "1940-03-01", "2", "C", None);
    diagnose(&mut s, "local:b", "2023-05-01", "F01");
    die(&mut s, "local:b", "2024-05-31", "natural", "hospital");

    // 2024-03-31: A and B alive → 2. 2024-04-30: A dead → 1. 2024-05-31: B died that day → 0.
    assert_prevalence(&s.month(PREVALENCE, "2024-03"), 2, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-04"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-05"), 0, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-06"), 0, Some(AGED_65_PLUS));
    assert_prevalence(&s.r12(PREVALENCE, "2024-06"), 0, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2025-04"), 0, Some(AGED_65_PLUS));

    // A's death was recorded in error: A is counted again at every later month end.
    // 2024-04: A, B → 2; 2024-05: A → 1; 2025-04: A → 1.
    s.retract("local:a", "2024-06-01", &a_death);
    assert_prevalence(&s.month(PREVALENCE, "2024-04"), 2, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-05"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2025-04"), 1, Some(AGED_65_PLUS));
}

#[test]
fn g30_and_f00_to_f03_are_dementia_and_f04_is_not() {
    let mut s = Scenario::default();
    // Eight people aged 80, one diagnosis each dated 2024-02-05.
    let codes = ["G30.9", "F00.1", "F01", "F02.3", "F03", "F04", "G31.0", "F05"];
    for (n, code) in codes.iter().enumerate() {
        let p = format!("local:p{n}");
        demographics(&mut s, &p, "1944-01-10", "2", "A", None);
        diagnose(&mut s, &p, "2024-02-05", code);
    }
    // A ninth: F04 on 2024-01-10 (not dementia), then F03 on 2024-03-20: counted from March.
    demographics(&mut s, "local:p9", "1944-01-10", "2", "A", None);
    diagnose(&mut s, "local:p9", "2024-01-10", "F04");
    diagnose(&mut s, "local:p9", "2024-03-20", "F03");

    // January 2024: 0. February: G30.9, F00.1, F01, F02.3, F03 → 5 (F04, G31.0, F05 not).
    // 5 / 8,320 × 100 = 0.06009615384615385%. March: + p9 → 6.
    assert_prevalence(&s.month(PREVALENCE, "2024-01"), 0, Some(AGED_65_PLUS));
    let feb = s.month(PREVALENCE, "2024-02");
    assert_prevalence(&feb, 5, Some(AGED_65_PLUS));
    assert_close(feb.value.unwrap(), 0.06009615384615385);
    assert_prevalence(&s.month(PREVALENCE, "2024-03"), 6, Some(AGED_65_PLUS));
    // All are category A women: ethnic category A has 2 × 26 × 10 = 520 aged 65+, women 4,160.
    assert_prevalence(
        &s.value(PREVALENCE, PeriodKind::Month, "2024-03", stratum("ethnic_category", "A")),
        6,
        Some(520.0),
    );
    assert_prevalence(&s.value(PREVALENCE, PeriodKind::Month, "2024-03", stratum("sex", "female")), 6, Some(4_160.0));
}

#[test]
fn a_diagnosis_dated_after_the_period_end_is_not_counted() {
    let mut s = Scenario::default();
    // A: aged 80, F03 dated 2024-05-10. B: aged 80, F03 dated 2024-06-30 (a month end).
    with_dementia(&mut s, "local:a", "1944-01-10", "2024-05-10");
    with_dementia(&mut s, "local:b", "1944-01-10", "2024-06-30");

    // 2024-04-30: neither → 0. 2024-05-31: A → 1. 2024-06-30: A, B (on or before the end) → 2.
    assert_prevalence(&s.month(PREVALENCE, "2024-04"), 0, Some(AGED_65_PLUS));
    assert_prevalence(&s.r12(PREVALENCE, "2024-04"), 0, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-05"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.r12(PREVALENCE, "2024-05"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-06"), 2, Some(AGED_65_PLUS));
    assert_eq!(s.tally(PREVALENCE, PeriodKind::Month, "2024-05", Stratum::ALL), Tally { numerator: 1, denominator: 0 });
}

#[test]
fn prevalence_is_over_the_population_aged_65_and_over_of_the_stratum() {
    let mut s = Scenario::default();
    // P1 (NHS 9434765870; Modulus 11: 308 mod 11 = 0 → check digit 0 ✓): woman, category M,
    // IMD decile 2 (quintile 1), born 1944-01-10 (80 at 2024-03-31).
    demographics(&mut s, "9434765870", "1944-01-10", "2", "M", Some(2));
    diagnose(&mut s, "9434765870", "2023-06-01", "F03");
    // P2: man, category A, decile 9 (quintile 5), born 1954-01-10 (70).
    demographics(&mut s, "local:p2", "1954-01-10", "1", "A", Some(9));
    diagnose(&mut s, "local:p2", "2023-06-01", "G30");
    // P3: woman, category N, no decile, born 1934-01-10 (90).
    demographics(&mut s, "local:p3", "1934-01-10", "2", "N", None);
    diagnose(&mut s, "local:p3", "2023-06-01", "F00.0");
    // P4: dementia but no demographics: no age, so never in an age-restricted count.
    diagnose(&mut s, "local:p4", "2023-06-01", "F03");
    // P5: early-onset dementia at 60: not in a 65+ indicator.
    demographics(&mut s, "local:p5", "1964-01-10", "2", "M", Some(2));
    diagnose(&mut s, "local:p5", "2023-06-01", "F03");

    let at = |s: &Scenario, kind, value| s.value(PREVALENCE, PeriodKind::Month, "2024-03", stratum(kind, value));
    // all: P1, P2, P3 → 3 / 8,320 × 100 = 0.03605769230769231%.
    let all = s.month(PREVALENCE, "2024-03");
    assert_prevalence(&all, 3, Some(AGED_65_PLUS));
    assert_close(all.value.unwrap(), 0.03605769230769231);
    // Wilson x = 3, n = 8,320: 95% (0.012263609943043244, 0.1059685653017799),
    // 99.8% (0.007237252328168059, 0.1794419388985293).
    assert_close(all.limits95.unwrap().0, 0.012263609943043244);
    assert_close(all.limits95.unwrap().1, 0.1059685653017799);
    assert_close(all.limits998.unwrap().0, 0.007237252328168059);
    assert_close(all.limits998.unwrap().1, 0.1794419388985293);
    // Age band 65+: the same 3 / 8,320. Other bands: nobody aged 65+ in their population.
    assert_prevalence(&at(&s, "age_band", "65+"), 3, Some(AGED_65_PLUS));
    assert_prevalence(&at(&s, "age_band", "50-64"), 0, None);
    assert_prevalence(&at(&s, "age_band", "unknown"), 0, None);
    // Sex: women P1, P3 → 2 / 4,160 = 0.04807692307692308%; men P2 → 1 / 4,160.
    assert_prevalence(&at(&s, "sex", "female"), 2, Some(4_160.0));
    assert_close(at(&s, "sex", "female").value.unwrap(), 0.04807692307692308);
    assert_prevalence(&at(&s, "sex", "male"), 1, Some(4_160.0));
    // Broad group black (M, N, P): P1, P3 → 2 / 1,560 = 0.1282051282051282%; white (A, B, C):
    // P2 → 1 / 1,560.
    assert_prevalence(&at(&s, "ethnic_group", "black"), 2, Some(1_560.0));
    assert_close(at(&s, "ethnic_group", "black").value.unwrap(), 0.1282051282051282);
    assert_prevalence(&at(&s, "ethnic_group", "white"), 1, Some(1_560.0));
    // Category M: P1 → 1 / 520 = 0.19230769230769232%.
    assert_prevalence(&at(&s, "ethnic_category", "M"), 1, Some(520.0));
    assert_close(at(&s, "ethnic_category", "M").value.unwrap(), 0.19230769230769232);
    // IMD quintiles: counted, but the IMD population has no ages → no value.
    assert_prevalence(&at(&s, "imd_quintile", "1"), 1, None);
    assert_prevalence(&at(&s, "imd_quintile", "5"), 1, None);
    assert_prevalence(&at(&s, "imd_quintile", "unknown"), 1, None);
}

#[test]
fn dementia_deaths_at_usual_residence_or_care_home_over_all_qualifying_deaths() {
    let mut s = Scenario::default();
    // Unless said otherwise: born 1944-01-10 (80), F03 diagnosed 2023-06-01, died in March 2024.
    let deaths = [
        ("local:p1", "natural", "usual_residence"), // numerator and denominator
        ("local:p2", "other", "care_home"),         // numerator and denominator
        ("local:p3", "natural", "hospital"),        // denominator only
        ("local:p4", "unknown", "hospice"),         // denominator only
        ("local:p5", "suspected_suicide", "usual_residence"), // cause excluded
        ("local:p6", "accident", "care_home"),      // cause excluded
    ];
    for (p, cause, place) in deaths {
        with_dementia(&mut s, p, "1944-01-10", "2023-06-01");
        die(&mut s, p, "2024-03-10", cause, place);
    }
    // P7: aged 64 at death (born 1959-09-01): excluded.
    with_dementia(&mut s, "local:p7", "1959-09-01", "2023-06-01");
    die(&mut s, "local:p7", "2024-03-10", "natural", "usual_residence");
    // P8: born 1959-03-25, died 2024-03-10 aged 64, though 65 would be reached at the period
    // end (2024-03-31): the catalogue says aged 65+ at death → excluded.
    with_dementia(&mut s, "local:p8", "1959-03-25", "2023-06-01");
    die(&mut s, "local:p8", "2024-03-10", "natural", "usual_residence");
    // P9: dementia diagnosed 2024-03-15, after the death on 2024-03-10: excluded.
    with_dementia(&mut s, "local:p9", "1944-01-10", "2024-03-15");
    die(&mut s, "local:p9", "2024-03-10", "natural", "usual_residence");
    // P10: F04 only, not dementia: excluded.
    demographics(&mut s, "local:p10", "1944-01-10", "2", "A", None);
    diagnose(&mut s, "local:p10", "2023-06-01", "F04");
    die(&mut s, "local:p10", "2024-03-10", "natural", "usual_residence");
    // P11: dementia, no demographics (age unknown): excluded.
    diagnose(&mut s, "local:p11", "2023-06-01", "F03");
    die(&mut s, "local:p11", "2024-03-10", "natural", "usual_residence");
    // P12: dies in May 2024 at home.
    with_dementia(&mut s, "local:p12", "1944-01-10", "2023-06-01");
    die(&mut s, "local:p12", "2024-05-02", "natural", "usual_residence");

    // March 2024: qualifying deaths P1–P4; at usual residence or care home P1, P2 → 2/4 = 50%,
    // Wilson 95% (15.003898915214947, 84.99610108478505).
    let march = s.month(DEATHS, "2024-03");
    assert_pct(&march, 2, 4);
    assert_close(march.limits95.unwrap().0, 15.003898915214947);
    assert_close(march.limits95.unwrap().1, 84.99610108478505);
    assert_pct(&s.value(DEATHS, PeriodKind::Month, "2024-03", stratum("age_band", "65+")), 2, 4);
    assert_pct(&s.value(DEATHS, PeriodKind::Month, "2024-03", stratum("age_band", "unknown")), 0, 0);
    assert_pct(&s.value(DEATHS, PeriodKind::Month, "2024-03", stratum("age_band", "50-64")), 0, 0);
    // April 2024: no deaths → no value. May 2024: P12 → 1/1 = 100%.
    assert_pct(&s.month(DEATHS, "2024-04"), 0, 0);
    assert_pct(&s.month(DEATHS, "2024-05"), 1, 1);
    // Rolling 12 months (deaths are events in the period, so they add up over the months):
    //   ending May 2024 (Jun 2023 – May 2024): 3/5 = 60%.
    //   ending Feb 2025 (Mar 2024 – Feb 2025): 3/5.
    //   ending Mar 2025 (Apr 2024 – Mar 2025): P12 only → 1/1.
    //   ending Jun 2025 (Jul 2024 – Jun 2025): none → no value.
    assert_pct(&s.r12(DEATHS, "2024-05"), 3, 5);
    assert_close(s.r12(DEATHS, "2024-05").value.unwrap(), 60.0);
    assert_pct(&s.r12(DEATHS, "2025-02"), 3, 5);
    assert_pct(&s.r12(DEATHS, "2025-03"), 1, 1);
    assert_pct(&s.r12(DEATHS, "2025-06"), 0, 0);
    // Prevalence at 2024-02-29 counts those alive and aged 65+ with dementia diagnosed by then:
    // P1–P6, P12 (80) → 7; P7, P8 are 64, P9 not yet diagnosed, P10 no dementia, P11 no age.
    // At 2024-03-31 only P12 is alive → 1. At 2024-05-31: 0.
    assert_prevalence(&s.month(PREVALENCE, "2024-02"), 7, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-03"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-05"), 0, Some(AGED_65_PLUS));
}

#[test]
fn prevalence_persists_with_no_new_events_and_its_rolling_12_value_is_the_month_value() {
    let mut s = Scenario::default();
    // A: born 1954-01-10, F03 on 2024-01-15, no more events. B: same, dies 2024-09-05.
    with_dementia(&mut s, "local:a", "1954-01-10", "2024-01-15");
    with_dementia(&mut s, "local:b", "1954-01-10", "2024-01-15");
    die(&mut s, "local:b", "2024-09-05", "natural", "hospital");

    // Month ends: 2023-12 → 0; 2024-01 … 2024-08 → 2; 2024-09 onwards → 1 (A), years later too.
    // The rolling 12 months ending December 2024 is the state at 2024-12-31 (1), not the
    // number of people prevalent at some time in the year (2).
    for (month, x) in
        [("2023-12", 0), ("2024-01", 2), ("2024-08", 2), ("2024-09", 1), ("2024-12", 1), ("2025-06", 1), ("2027-01", 1)]
    {
        assert_prevalence(&s.month(PREVALENCE, month), x, Some(AGED_65_PLUS));
        assert_prevalence(&s.r12(PREVALENCE, month), x, Some(AGED_65_PLUS));
        for st in [stratum("age_band", "65+"), stratum("sex", "female"), stratum("imd_quintile", "3")] {
            let m = s.value(PREVALENCE, PeriodKind::Month, month, st);
            let r = s.value(PREVALENCE, PeriodKind::Rolling12, month, st);
            assert_eq!((m.numerator, m.denominator, m.value), (r.numerator, r.denominator, r.value), "{month} {st:?}");
            assert_eq!(m.numerator, x, "{month} {st:?}");
        }
    }
}

#[test]
fn several_dementia_diagnoses_are_one_person_and_a_corrected_birth_date_re_ages_the_past() {
    let mut s = Scenario::default();
    // A: born 1944-01-10, F03 on 2023-06-01 then G30.1 on 2023-09-01: one person.
    with_dementia(&mut s, "local:a", "1944-01-10", "2023-06-01");
    diagnose(&mut s, "local:a", "2023-09-01", "G30.1");
    // B: first recorded as born 1954-01-10 (70 in 2024), F01 on 2023-06-01.
    demographics(&mut s, "local:b", "1954-01-10", "2", "A", Some(5));
    diagnose(&mut s, "local:b", "2023-06-01", "F01");

    // 2023-06-30: A (79), B (69) → 2. 2023-09-30: still 2 (A counted once).
    assert_prevalence(&s.month(PREVALENCE, "2023-06"), 2, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2023-09"), 2, Some(AGED_65_PLUS));
    // B's birth date is corrected to 1964-01-10 (59 in 2023, 60 in 2024): B leaves every period.
    s.event(
        "local:b",
        "2024-02-01",
        json!({"demographics": {"birth_date": "1964-01-10", "sex": "2", "ethnic_category": "A", "imd_decile": 5}}),
    );
    assert_prevalence(&s.month(PREVALENCE, "2023-06"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2024-03"), 1, Some(AGED_65_PLUS));
    // B turns 65 on 2029-01-10: counted again from January 2029.
    assert_prevalence(&s.month(PREVALENCE, "2028-12"), 1, Some(AGED_65_PLUS));
    assert_prevalence(&s.month(PREVALENCE, "2029-01"), 2, Some(AGED_65_PLUS));
}
