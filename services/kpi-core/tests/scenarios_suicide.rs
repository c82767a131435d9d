//! Suicide prevention (`indicators.md`): who counts as "in contact within the 12 months before
//! death" (window [death − 365 days, death]), and the suspected suicide rate over the people with
//! an open referral during the period, on numbers worked out by hand.

mod common;

use common::{close, Scenario};
use kpi_core::period::PeriodKind;
use kpi_core::strata::Stratum;
use kpi_stats::Confidence;
use serde_json::json;

const A: &str = "9434765919";
const B: &str = "9434765870";
const C: &str = "9434765862";

fn referral(s: &mut Scenario, person: &str, date: &str, id: &str) -> String {
    s.event(person, date, json!({"referral_received": {"referral_id": id, "service": "community_mental_health"}}))
}

fn discharge(s: &mut Scenario, person: &str, date: &str, id: &str) -> String {
    s.event(person, date, json!({"referral_discharged": {"referral_id": id}}))
}

fn contact(s: &mut Scenario, person: &str, date: &str, id: &str, attended: bool) -> String {
    s.event(person, date, json!({"care_contact": {"referral_id": id, "attended": attended, "purpose": "treatment"}}))
}

fn death(s: &mut Scenario, person: &str, date: &str, cause: &str) -> String {
    s.event(person, date, json!({"death": {"cause": cause, "place": "usual_residence"}}))
}

#[test]
fn death_thirteen_months_after_last_contact_and_over_a_year_after_discharge_is_not_counted() {
    let mut s = Scenario::default();
    referral(&mut s, A, "2022-01-10", "r1");
    contact(&mut s, A, "2022-12-20", "r1", true);
    discharge(&mut s, A, "2023-01-15", "r1");
    death(&mut s, A, "2024-01-20", "suspected_suicide");
    // Window: [2024-01-20 − 365 days, 2024-01-20] = [2023-01-20, 2024-01-20] (no 29 February in
    // between). The discharge (2023-01-15) is 370 days before death, the last attended contact
    // (2022-12-20) 396 days, 13 months: not in contact, not counted anywhere.
    assert_eq!(s.month("suspected_suicides", "2024-01").numerator, 0);
    assert_eq!(s.r12("suspected_suicides", "2024-01").numerator, 0);
    assert_eq!(s.r12("suspected_suicides", "2024-12").numerator, 0);
}

#[test]
fn discharge_364_or_365_days_before_death_is_in_contact_366_is_not() {
    let mut s = Scenario::default();
    // A: discharged 2022-06-16, died 2023-06-15: 364 days → counted in June 2023.
    referral(&mut s, A, "2021-01-04", "r1");
    discharge(&mut s, A, "2022-06-16", "r1");
    death(&mut s, A, "2023-06-15", "suspected_suicide");
    // B: discharged 2022-07-15, died 2023-07-15: 365 days, the first day of the window
    // (discharge on the window start is "not discharged before" it) → counted in July 2023.
    referral(&mut s, B, "2021-01-04", "r1");
    discharge(&mut s, B, "2022-07-15", "r1");
    death(&mut s, B, "2023-07-15", "suspected_suicide");
    // C: discharged 2022-08-14, died 2023-08-15: 366 days → not counted.
    referral(&mut s, C, "2021-01-04", "r1");
    discharge(&mut s, C, "2022-08-14", "r1");
    death(&mut s, C, "2023-08-15", "suspected_suicide");

    assert_eq!(s.month("suspected_suicides", "2023-06").numerator, 1);
    assert_eq!(s.month("suspected_suicides", "2023-07").numerator, 1);
    assert_eq!(s.month("suspected_suicides", "2023-08").numerator, 0);
    // R12 to August 2023 (Sep 2022 – Aug 2023): A and B.
    assert_eq!(s.r12("suspected_suicides", "2023-08").numerator, 2);
    // R12 to June 2024 (Jul 2023 – Jun 2024): B only; to July 2024: nobody.
    assert_eq!(s.r12("suspected_suicides", "2024-06").numerator, 1);
    assert_eq!(s.r12("suspected_suicides", "2024-07").numerator, 0);
}

#[test]
fn an_attended_contact_in_the_window_counts_a_missed_one_does_not() {
    let mut s = Scenario::default();
    // Both referrals were discharged in 2021, long before the windows, so only the contacts
    // (follow-ups recorded on the discharged referral) can put the person in contact.
    referral(&mut s, A, "2020-02-03", "r1");
    discharge(&mut s, A, "2021-02-01", "r1");
    // A died 2024-03-01: window [2023-03-02, 2024-03-01] (365 days back crosses 29 Feb 2024).
    // Attended contact on 2023-03-02, exactly 365 days before: in the window → counted.
    let attended = contact(&mut s, A, "2023-03-02", "r1", true);
    death(&mut s, A, "2024-03-01", "suspected_suicide");

    referral(&mut s, B, "2020-02-03", "r1");
    discharge(&mut s, B, "2021-02-01", "r1");
    // B died 2024-04-10: window [2023-04-11, 2024-04-10]. A contact B did not attend in it
    // (2023-10-01) does not count; an attended one on 2023-04-10 (366 days before) is outside.
    contact(&mut s, B, "2023-10-01", "r1", false);
    contact(&mut s, B, "2023-04-10", "r1", true);
    death(&mut s, B, "2024-04-10", "suspected_suicide");

    assert_eq!(s.month("suspected_suicides", "2024-03").numerator, 1);
    assert_eq!(s.month("suspected_suicides", "2024-04").numerator, 0);
    assert_eq!(s.r12("suspected_suicides", "2024-04").numerator, 1);

    // Retracting A's attended contact takes A out of contact.
    s.retract(A, "2024-05-01", &attended);
    assert_eq!(s.month("suspected_suicides", "2024-03").numerator, 0);
    assert_eq!(s.r12("suspected_suicides", "2024-04").numerator, 0);
}

#[test]
fn only_suspected_suicide_is_counted() {
    let mut s = Scenario::default();
    // Three people on an open caseload; only C's death is a suspected suicide.
    for p in [A, B, C] {
        referral(&mut s, p, "2024-01-15", "r1");
    }
    death(&mut s, A, "2024-05-03", "natural");
    death(&mut s, B, "2024-05-04", "accident");
    death(&mut s, C, "2024-05-05", "suspected_suicide");
    assert_eq!(s.month("suspected_suicides", "2024-05").numerator, 1);
    // Rate: 1 of the 3 people with an open referral in May 2024.
    let rate = s.month("suspected_suicide_rate", "2024-05");
    assert_eq!(rate.numerator, 1);
    assert_eq!(rate.denominator, Some(3.0));
}

#[test]
fn rate_is_over_people_with_an_open_referral_during_the_period() {
    let mut s = Scenario::default();
    // A: open 2024-01-05 to 2024-03-10.
    referral(&mut s, A, "2024-01-05", "r1");
    discharge(&mut s, A, "2024-03-10", "r1");
    // B: referred 2024-06-01, died by suspected suicide 2024-06-20, discharged the same day.
    referral(&mut s, B, "2024-06-01", "r1");
    death(&mut s, B, "2024-06-20", "suspected_suicide");
    discharge(&mut s, B, "2024-06-20", "r1");
    // C: two referrals open for years with no other events; one person, counted once.
    referral(&mut s, C, "2019-05-10", "r1");
    referral(&mut s, C, "2020-01-01", "r2");
    // D: referred 2024-09-01, still open.
    referral(&mut s, "local:d", "2024-09-01", "r1");

    let n = |s: &Scenario, kind, month| s.tally("people_with_open_referral", kind, month, Stratum::ALL).numerator;
    use PeriodKind::{Month, Rolling12};
    // Months: Feb 2024 A, C; Apr 2024 C; Jun 2024 B, C; Sep 2024 C, D; Jun 2025 C, D
    // (no event of C's since 2020, still open).
    assert_eq!(n(&s, Month, "2019-04"), 0);
    assert_eq!(n(&s, Month, "2019-05"), 1);
    assert_eq!(n(&s, Month, "2024-02"), 2);
    assert_eq!(n(&s, Month, "2024-03"), 2);
    assert_eq!(n(&s, Month, "2024-04"), 1);
    assert_eq!(n(&s, Month, "2024-06"), 2);
    assert_eq!(n(&s, Month, "2024-07"), 1);
    assert_eq!(n(&s, Month, "2024-09"), 2);
    assert_eq!(n(&s, Month, "2025-06"), 2);
    assert_eq!(n(&s, Month, "2030-01"), 2);
    // R12 to June 2024 (Jul 2023 – Jun 2024): A, B, C. R12 to Feb 2025 (Mar 2024 – Feb 2025):
    // A (discharged 10 March), B, C, D = 4; to Mar 2025 (Apr 2024 – Mar 2025): B, C, D = 3;
    // to May 2025 (Jun 2024 – May 2025): B (discharged 20 June 2024) still in, 3; to Jun 2025
    // (Jul 2024 – Jun 2025): C, D = 2.
    assert_eq!(n(&s, Rolling12, "2024-06"), 3);
    assert_eq!(n(&s, Rolling12, "2025-02"), 4);
    assert_eq!(n(&s, Rolling12, "2025-03"), 3);
    assert_eq!(n(&s, Rolling12, "2025-05"), 3);
    assert_eq!(n(&s, Rolling12, "2025-06"), 2);

    // June 2024 month: 1 / 2 × 100,000 = 50,000. Exact limits for x = 1 (95%):
    // O_lower = χ²_{0.025}(2)/2 = −ln(0.975) = 0.0253178080, O_upper = χ²_{0.975}(4)/2 = t with
    // e^{−t}(1 + t) = 0.025, t = 5.5716433909; over 2 × 100,000: 1,265.8904 and 278,582.1695.
    let month = s.month("suspected_suicide_rate", "2024-06");
    assert_eq!((month.numerator, month.denominator), (1, Some(2.0)));
    assert!(close(month.value.unwrap(), 50_000.0));
    let (lower, upper) = month.limits95.unwrap();
    assert!((lower - 1_265.890399).abs() < 1e-3, "{lower}");
    assert!((upper - 278582.1695).abs() < 1e-2, "{upper}");
    let stats = kpi_stats::crude_rate(1, 2.0, 100000.0, Confidence::P95).unwrap();
    assert!(close(lower, stats.lower) && close(upper, stats.upper));
    let stats998 = kpi_stats::crude_rate(1, 2.0, 100000.0, Confidence::P99_8).unwrap();
    assert_eq!(month.limits998, Some((stats998.lower, stats998.upper)));

    // R12 to June 2024: 1 / 3 × 100,000 = 33,333.33; limits 843.9269 and 185,721.4464.
    let r12 = s.r12("suspected_suicide_rate", "2024-06");
    assert_eq!((r12.numerator, r12.denominator), (1, Some(3.0)));
    assert!(close(r12.value.unwrap(), 100000.0 / 3.0));
    let (lower, upper) = r12.limits95.unwrap();
    assert!((lower - 843.926933).abs() < 1e-3 && (upper - 185721.4464).abs() < 1e-2, "{lower} {upper}");

    // Months with no suicide: 0 per 100,000 over the people open; no one open → no value.
    let april = s.month("suspected_suicide_rate", "2024-04");
    assert_eq!((april.numerator, april.denominator, april.value), (0, Some(1.0), Some(0.0)));
    assert_eq!(s.month("suspected_suicide_rate", "2019-04").value, None);
    // The death stays in R12 up to May 2025, out from June 2025.
    assert_eq!(s.r12("suspected_suicides", "2025-05").numerator, 1);
    assert_eq!(s.r12("suspected_suicides", "2025-06").numerator, 0);
}

#[test]
fn rate_with_ten_or_more_deaths_uses_byars_limits() {
    let mut s = Scenario::default();
    // 40 people referred 2024-02-01, none discharged; 12 of them die by suspected suicide in
    // May 2024 (in contact: referral open at death).
    for i in 0..40 {
        let p = format!("local:p{i}");
        referral(&mut s, &p, "2024-02-01", "r1");
        if i < 12 {
            death(&mut s, &p, &format!("2024-05-{:02}", i + 1), "suspected_suicide");
        }
    }
    // x = 12, n = 40: 12/40 × 100,000 = 30,000. Byar's (x ≥ 10), z = 1.959963984540054:
    // O_lower = 12·(1 − 1/108 − z/(3√12))³ = 6.193510, O_upper = 13·(1 − 1/117 + z/(3√13))³
    // = 20.962858; over 40 × 100,000: 15,483.7746 and 52,407.1451.
    let rate = s.month("suspected_suicide_rate", "2024-05");
    assert_eq!((rate.numerator, rate.denominator), (12, Some(40.0)));
    assert!(close(rate.value.unwrap(), 30_000.0));
    let z = Confidence::P95.z();
    let o_lower = 12.0 * (1.0 - 1.0 / 108.0 - z / (3.0 * 12f64.sqrt())).powi(3);
    let o_upper = 13.0 * (1.0 - 1.0 / 117.0 + z / (3.0 * 13f64.sqrt())).powi(3);
    let (lower, upper) = rate.limits95.unwrap();
    assert!(close(lower, o_lower / 40.0 * 100000.0) && (lower - 15483.7746).abs() < 1e-3, "{lower}");
    assert!(close(upper, o_upper / 40.0 * 100000.0) && (upper - 52407.1451).abs() < 1e-3, "{upper}");
    let stats = kpi_stats::crude_rate(12, 40.0, 100000.0, Confidence::P95).unwrap();
    assert!(close(lower, stats.lower) && close(upper, stats.upper));
    // R12 to May 2024 (Jun 2023 – May 2024): the same 12 over the same 40.
    let r12 = s.r12("suspected_suicide_rate", "2024-05");
    assert_eq!((r12.numerator, r12.denominator), (12, Some(40.0)));
}

#[test]
fn the_denominator_moves_age_band_at_a_birthday_with_no_new_events() {
    let mut s = Scenario::default();
    // A, born 10 July 2006, turns 18 on 10 July 2024; B, born 29 February 2008, turns 18 on
    // 1 March 2026 (age 17 on 28 February 2026). Both referred in 2023 and never discharged.
    s.event(
        A,
        "2023-01-01",
        json!({"demographics": {"birth_date": "2006-07-10", "sex": "1", "ethnic_category": "A", "imd_decile": 3}}),
    );
    referral(&mut s, A, "2023-01-02", "r1");
    s.event(B, "2023-01-01", json!({"demographics": {"birth_date": "2008-02-29", "sex": "2", "ethnic_category": "H"}}));
    referral(&mut s, B, "2023-03-01", "r1");
    let n = |s: &Scenario, kind, month, band| {
        s.tally("people_with_open_referral", kind, month, common::stratum("age_band", band)).numerator
    };
    use PeriodKind::{Month, Rolling12};
    // June 2024: both 0-17; July 2024 (A 18 at 31 July): one in each.
    assert_eq!((n(&s, Month, "2024-06", "0-17"), n(&s, Month, "2024-06", "18-34")), (2, 0));
    assert_eq!((n(&s, Month, "2024-07", "0-17"), n(&s, Month, "2024-07", "18-34")), (1, 1));
    // R12 periods take the age at their end too.
    assert_eq!((n(&s, Rolling12, "2024-06", "0-17"), n(&s, Rolling12, "2024-06", "18-34")), (2, 0));
    assert_eq!((n(&s, Rolling12, "2024-07", "0-17"), n(&s, Rolling12, "2024-07", "18-34")), (1, 1));
    // February 2026: B still 17; March 2026: B 18.
    assert_eq!((n(&s, Month, "2026-02", "0-17"), n(&s, Month, "2026-02", "18-34")), (1, 1));
    assert_eq!((n(&s, Month, "2026-03", "0-17"), n(&s, Month, "2026-03", "18-34")), (0, 2));
    assert_eq!(s.tally("people_with_open_referral", Month, "2026-03", Stratum::ALL).numerator, 2);
    // B has no IMD decile: quintile unknown; A is quintile 2.
    let imd = |q| s.tally("people_with_open_referral", Month, "2026-03", common::stratum("imd_quintile", q)).numerator;
    assert_eq!((imd("2"), imd("unknown")), (1, 1));
}
