//! The change-by-month encoding against direct evaluation: for random people, the level of
//! every cell in every period from 2018 to 2032 (summed changes) equals the families evaluated
//! at that period directly. This is what proves the change points cover every date a family
//! compares with a period (event dates, a year after them, birthdays).

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::codes::*;
use crate::event::{Event, Payload};
use crate::period::month_ends;

fn direct(state: &PersonState, periods: &[Period]) -> Counts {
    let view = state.view();
    let mut dated = Emitter::default();
    let mut cells = StateCells { cells: vec![Vec::new(); periods.len()] };
    for family in FAMILIES {
        match family.shape {
            Shape::Dated(contribute) => contribute(&view, &mut dated),
            Shape::State(contribute) => contribute(&view, periods, &mut cells),
        }
    }
    let mut out = Counts::default();
    let mut put = |cell, period: Period, tally| {
        for stratum in strata_of(view.attributes.as_ref(), period.end) {
            add(&mut out, Key { indicator: cell, period, stratum }, tally);
        }
    };
    for (period, values) in periods.iter().zip(cells.cells) {
        for (cell, tally) in values {
            put(cell, *period, tally);
        }
    }
    for ((cell, period), tally) in dated.cells {
        if periods.contains(&period) {
            put(cell, period, tally);
        }
    }
    out.retain(|_, t| !t.is_zero());
    out
}

/// A date in 2020–2024, often on or next to a month boundary, where off-by-one errors live.
fn date(rng: &mut ChaCha8Rng) -> NaiveDate {
    let month_start = NaiveDate::from_ymd_opt(rng.gen_range(2020..=2024), rng.gen_range(1..=12), 1).unwrap();
    match rng.gen_range(0..4) {
        0 => month_start,
        1 => month_start - Days::new(1),
        2 => month_start + Days::new(1),
        _ => month_start + Days::new(rng.gen_range(0..28)),
    }
}

fn event(n: &mut u32, date: NaiveDate, payload: Payload) -> Event {
    *n += 1;
    let at: DateTime<Utc> = date.and_hms_opt(12, 0, 0).unwrap().and_utc();
    Event {
        event_id: format!("e{n}"),
        occurred_at: at,
        recorded_at: at,
        date,
        person: None,
        source_system: None,
        provider_code: None,
        payload,
    }
}

fn random_person(rng: &mut ChaCha8Rng) -> PersonState {
    let mut state = PersonState::default();
    let mut n = 0;
    let pick = |rng: &mut ChaCha8Rng, options: &[&str]| options[rng.gen_range(0..options.len())].to_owned();
    if rng.gen_bool(0.85) {
        // Birthdays that cross age edges during 2020–2024, 29 February included.
        let year = 2024 - [17, 18, 34, 35, 49, 50, 64, 65, 69, 70, 40][rng.gen_range(0..11)];
        let birth = if rng.gen_bool(0.2) && NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
            NaiveDate::from_ymd_opt(year, 2, 29).unwrap()
        } else {
            date(rng).with_year(year).unwrap_or(NaiveDate::from_ymd_opt(year, 3, 1).unwrap())
        };
        let category = EthnicCategory::parse(&pick(rng, &["A", "M", "H", "Z"])).unwrap();
        let payload = Payload::Demographics {
            birth_date: birth,
            sex: Sex::Female,
            ethnic_category: category,
            imd_decile: Some(3),
        };
        state.insert(event(&mut n, date(rng), payload));
    }
    for r in 0..rng.gen_range(0..3) {
        let id = format!("r{r}");
        let service =
            Service::parse(&pick(rng, &["community_mental_health", "talking_therapies", "inpatient"])).unwrap();
        let received = date(rng);
        state.insert(event(
            &mut n,
            received,
            Payload::ReferralReceived { referral_id: id.clone(), service, team_code: None },
        ));
        for _ in 0..rng.gen_range(0..4) {
            let payload = Payload::CareContact {
                referral_id: id.clone(),
                attended: rng.gen_bool(0.8),
                purpose: ContactPurpose::Treatment,
            };
            state.insert(event(&mut n, received + Days::new(rng.gen_range(0..60)), payload));
        }
        for instrument in [Instrument::Phq9, Instrument::Gad7, Instrument::Honos] {
            for _ in 0..rng.gen_range(0..3) {
                let items = (0..instrument.item_count()).map(|_| rng.gen_range(0..=instrument.max_item())).collect();
                let payload = Payload::OutcomeMeasure { referral_id: id.clone(), instrument, items };
                state.insert(event(&mut n, received + Days::new(rng.gen_range(0..200)), payload));
            }
        }
        if rng.gen_bool(0.6) {
            state.insert(event(&mut n, date(rng), Payload::ReferralDischarged { referral_id: id }));
        }
    }
    for _ in 0..rng.gen_range(0..3) {
        let icd10 = pick(rng, &["F20.0", "F31", "F32.1", "F03", "G30.1"]);
        state.insert(event(&mut n, date(rng), Payload::Diagnosis { icd10, referral_id: None }));
    }
    for _ in 0..rng.gen_range(0..4) {
        let status =
            Accommodation::parse(&pick(rng, &["settled_mainstream", "homeless", "unknown", "temporary"])).unwrap();
        state.insert(event(&mut n, date(rng), Payload::AccommodationStatus { status }));
        let status = Smoking::parse(&pick(rng, &["current", "ex", "unknown"])).unwrap();
        state.insert(event(&mut n, date(rng), Payload::SmokingStatus { status }));
    }
    for w in 0..rng.gen_range(0..3) {
        let id = format!("w{w}");
        let start = date(rng);
        let payload = Payload::WardStayStarted {
            ward_stay_id: id.clone(),
            ward_code: "W".into(),
            out_of_area: rng.gen_bool(0.5),
            out_of_area_reason: Some(OutOfAreaReason::NoLocalBed),
        };
        state.insert(event(&mut n, start, payload));
        state.insert(event(
            &mut n,
            start + Days::new(rng.gen_range(0..40)),
            Payload::RestrictiveIntervention { ward_stay_id: id.clone(), kind: InterventionKind::Seclusion },
        ));
        if rng.gen_bool(0.6) {
            let end = start + Days::new(rng.gen_range(0..120));
            state.insert(event(&mut n, end, Payload::WardStayEnded { ward_stay_id: id }));
        }
    }
    if rng.gen_bool(0.3) {
        let cause = DeathCause::parse(&pick(rng, &["suspected_suicide", "natural"])).unwrap();
        state.insert(event(&mut n, date(rng), Payload::Death { cause, place: DeathPlace::CareHome }));
    }
    state
}

#[test]
fn summed_changes_equal_every_family_evaluated_at_every_period() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let ends: Vec<NaiveDate> =
        month_ends(NaiveDate::from_ymd_opt(2018, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2032, 12, 31).unwrap())
            .collect();
    let periods: Vec<Period> =
        PeriodKind::ALL.into_iter().flat_map(|kind| ends.iter().map(move |&end| Period { kind, end })).collect();
    let mut checked_cells = 0;
    for person in 0..250 {
        let state = random_person(&mut rng);
        let expected = direct(&state, &periods);
        let got = levels(&person_contributions(&state), &ends);
        for key in expected.keys().chain(got.keys()) {
            assert_eq!(got.get(key), expected.get(key), "person {person}: {key:?}\n{state:#?}");
        }
        checked_cells += expected.len();
    }
    assert!(checked_cells > 100_000, "the random people must exercise the families: {checked_cells} cells");
}

/// A record dated 1 March 2023 leaves the 12-month window at the end of February 2024 (a leap
/// year), a month before its anniversary month: only the `+365 days` change point sees it.
#[test]
fn a_record_leaving_the_window_in_a_leap_february_changes_that_month() {
    let mut state = PersonState::default();
    let mut n = 0;
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    let referral =
        Payload::ReferralReceived { referral_id: "r".into(), service: Service::CommunityMentalHealth, team_code: None };
    state.insert(event(&mut n, day("2022-06-10"), referral));
    state.insert(event(&mut n, day("2023-03-01"), Payload::AccommodationStatus { status: Accommodation::Homeless }));
    let ends: Vec<NaiveDate> = month_ends(day("2023-01-01"), day("2024-06-30")).collect();
    let levels = levels(&person_contributions(&state), &ends);
    let homeless = |month: &str| {
        let key = Key {
            indicator: "homelessness_pct",
            period: Period { kind: PeriodKind::Month, end: day(month) },
            stratum: Stratum::ALL,
        };
        levels.get(&key).copied().unwrap_or_default()
    };
    assert_eq!(homeless("2024-01-31"), Tally { numerator: 1, denominator: 1 });
    assert_eq!(homeless("2024-02-29"), Tally { numerator: 0, denominator: 1 });
}

/// Prints how long contributions take per person (run with `--release --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn contributions_per_person_timing() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let people: Vec<PersonState> = (0..5_000).map(|_| random_person(&mut rng)).collect();
    let started = std::time::Instant::now();
    let cells: usize = people.iter().map(|p| person_contributions(p).len()).sum();
    let elapsed = started.elapsed();
    println!(
        "{} people, {cells} changes, {:.1} µs per person",
        people.len(),
        elapsed.as_secs_f64() * 1e6 / people.len() as f64
    );
}
