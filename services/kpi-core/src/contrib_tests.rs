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
use crate::strata::strata_of;

fn direct(state: &PersonState, periods: &[Period]) -> Counts {
    let view = state.view();
    let mut dated = Emitter::default();
    let mut cells = StateCells::new(periods.len());
    for family in FAMILIES {
        match family.shape {
            Shape::Dated(contribute) => contribute(&view, &mut dated),
            Shape::State(contribute) => contribute(&view, periods, &mut cells),
        }
    }
    let mut out = Counts::default();
    let mut put = |cell, period: Period, tally| {
        for stratum in strata_of(view.attributes.as_ref(), period.end) {
            add_tally(&mut out, Key { indicator: cell, period, stratum }, tally);
        }
    };
    let values = cells.by_period();
    for (period, values) in periods.iter().zip(values.lists()) {
        for &(cell, tally) in values {
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

/// Records the families read in ways `random_person` does not make: detentions (sections 2 and
/// 3, short-term orders, ends before starts), contacts dated before their referral, scores and
/// interventions of episodes that may not exist, responses, a second death and demographics.
fn awkward_events(rng: &mut ChaCha8Rng) -> Vec<Event> {
    let mut n = 1000;
    let mut events = Vec::new();
    for d in 0..rng.gen_range(0..4) {
        let id = format!("d{d}");
        let section = [MhaSection::S2, MhaSection::S3, MhaSection::S136, MhaSection::S37][rng.gen_range(0..4)];
        let start = date(rng);
        events.push(event(&mut n, start, Payload::MhaDetentionStarted { detention_id: id.clone(), section }));
        if rng.gen_bool(0.7) {
            let end = if rng.gen_bool(0.2) { start - Days::new(3) } else { start + Days::new(rng.gen_range(0..60)) };
            events.push(event(&mut n, end, Payload::MhaDetentionEnded { detention_id: id }));
        }
    }
    for _ in 0..rng.gen_range(0..4) {
        let referral_id = format!("r{}", rng.gen_range(0..4));
        let payload = match rng.gen_range(0..3) {
            0 => Payload::CareContact { referral_id, attended: true, purpose: ContactPurpose::Treatment },
            1 => Payload::ReferralDischarged { referral_id },
            _ => {
                let instrument = [Instrument::Phq9, Instrument::Gad7, Instrument::Reqol10][rng.gen_range(0..3)];
                let items = (0..instrument.item_count()).map(|_| rng.gen_range(0..=instrument.max_item())).collect();
                Payload::OutcomeMeasure { referral_id, instrument, items }
            }
        };
        events.push(event(&mut n, date(rng), payload));
    }
    for _ in 0..rng.gen_range(0..3) {
        let ward_stay_id = format!("w{}", rng.gen_range(0..3));
        let payload = Payload::RestrictiveIntervention { ward_stay_id, kind: InterventionKind::PhysicalRestraint };
        events.push(event(&mut n, date(rng), payload));
    }
    for _ in 0..rng.gen_range(0..3) {
        let response = [FftAnswer::Good, FftAnswer::Poor][rng.gen_range(0..2)];
        events.push(event(&mut n, date(rng), Payload::FftResponse { response, team_code: None }));
    }
    if rng.gen_bool(0.2) {
        let payload = Payload::Death { cause: DeathCause::SuspectedSuicide, place: DeathPlace::UsualResidence };
        events.push(event(&mut n, date(rng), payload));
    }
    if rng.gen_bool(0.1) {
        let payload = Payload::Demographics {
            birth_date: NaiveDate::from_ymd_opt(1958, 6, 30).unwrap(),
            sex: Sex::Male,
            ethnic_category: EthnicCategory::parse("M").unwrap(),
            imd_decile: None,
        };
        events.push(event(&mut n, date(rng), payload));
    }
    events
}

/// The engine computes a touched person's contributions only from the month `reach_of` gives:
/// for random people fed in random order, in random batches with retractions (of known, later
/// and unknown events), the change it computes equals new minus old contributions in full,
/// whether it takes the difference of the stratified contributions or, as it does, before
/// stratifying ([`add_change`]).
#[test]
fn contributions_from_the_reach_change_as_the_full_contributions_do() {
    use crate::person::Additions;
    use crate::reach::{reach_of, Reach};
    use rand::seq::SliceRandom;

    let mut rng = ChaCha8Rng::seed_from_u64(2027);
    let (mut batches, mut restricted, mut compared) = (0, 0, 0);
    let (mut new_persons, mut demographics_changed) = (0, 0);
    for person in 0..400 {
        let mut events: Vec<Event> = random_person(&mut rng).all_events().cloned().collect();
        events.extend(awkward_events(&mut rng));
        events.shuffle(&mut rng);
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).chain(["nowhere".to_owned()]).collect();
        let mut state = PersonState::default();
        let mut arriving = events.into_iter().peekable();
        while arriving.peek().is_some() {
            let before = state.clone();
            let mut additions = Additions::default();
            for event in arriving.by_ref().take(rng.gen_range(1..6)) {
                state.insert_noting(event, &mut additions);
            }
            for _ in 0..rng.gen_range(0..3) {
                if rng.gen_bool(0.3) {
                    state.retract_noting(&ids[rng.gen_range(0..ids.len())], &mut additions);
                }
            }
            let full = {
                let mut change = Counts::default();
                add_difference(&mut change, &person_contributions(&before), &person_contributions(&state));
                change
            };
            let from = match reach_of(&state, &additions) {
                Reach::Nothing => {
                    assert!(full.is_empty(), "person {person}: nothing in effect changed, yet {full:?}");
                    continue;
                }
                Reach::From(date) => Some(date),
                Reach::Everything => None,
            };
            let new = contributions_from(&state.view(), from);
            let mut expected = person_contributions(&state);
            expected.retain(|key, _| from.is_none_or(|from| key.period.end >= from));
            assert_eq!(new, expected, "person {person}: the changes from {from:?} on are the full ones");
            let mut change = Counts::default();
            add_difference(&mut change, &contributions_from(&before.view(), from), &new);
            for key in full.keys().chain(change.keys()) {
                assert_eq!(change.get(key), full.get(key), "person {person}, from {from:?}: {key:?}\n{state:#?}");
            }
            // What the engine adds: the difference taken before stratifying (or, for a person
            // new to it, against nothing).
            let (was, is) = (before.view(), state.view());
            let was = (!was.events.is_empty()).then_some(was);
            let mut engine = Counts::default();
            add_change(&mut engine, was.as_ref(), &is, from);
            assert_eq!(engine, full, "person {person}, from {from:?}: the engine's change\n{state:#?}");
            new_persons += usize::from(was.is_none());
            demographics_changed += usize::from(was.as_ref().is_some_and(|was| was.attributes != is.attributes));
            batches += 1;
            compared += full.len();
            restricted +=
                usize::from(from.is_some() && state.view().events.first().is_some_and(|e| Some(e.date) < from));
        }
    }
    assert!(compared > 50_000, "the batches must change many cells: {compared}");
    assert!(
        restricted * 3 > batches,
        "a third of the batches must leave earlier months out: {restricted} of {batches}"
    );
    assert!(
        new_persons >= 300 && demographics_changed >= 100,
        "both of add_change's other paths must be taken: {new_persons} new persons, \
         {demographics_changed} batches changing demographics"
    );
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

/// The change points' month ends, counted in month numbers, against their definition in dates:
/// the month ends of each date and the days either side, then of one and twelve months later.
#[test]
fn change_point_ends_are_the_month_ends_the_dates_define() {
    let by_dates = |dates: &[NaiveDate]| -> Vec<NaiveDate> {
        let months: std::collections::BTreeSet<NaiveDate> = dates
            .iter()
            .flat_map(|d| {
                [-1i64, 0, 1].into_iter().filter_map(move |s| d.checked_add_signed(chrono::Duration::days(s)))
            })
            .map(month_end)
            .collect();
        let ends: std::collections::BTreeSet<NaiveDate> = months
            .iter()
            .flat_map(|m| [0, 1, 12].into_iter().filter_map(move |ahead| m.checked_add_months(Months::new(ahead))))
            .map(month_end)
            .collect();
        ends.into_iter().collect()
    };
    // Every day of 1999-2004 alone (month and year ends, 29 February 2000 and 2004).
    let mut day = NaiveDate::from_ymd_opt(1999, 1, 1).unwrap();
    while day.year() < 2005 {
        assert_eq!(change_point_ends(std::iter::once(day)), by_dates(&[day]), "{day}");
        day = day.succ_opt().unwrap();
    }
    // Random sets of dates, as people's events are.
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for _ in 0..2_000 {
        let dates: Vec<NaiveDate> = (0..rng.gen_range(0..30)).map(|_| date(&mut rng)).collect();
        assert_eq!(change_point_ends(dates.iter().copied()), by_dates(&dates), "{dates:?}");
    }
}

/// State values come back grouped by their period's index, in the order of the periods, with an
/// empty list for a period that has none: the walk over periods takes each list as that
/// period's values.
#[test]
fn state_values_come_back_by_period() {
    let mut cells = StateCells::new(4);
    cells.add(2, "b", Tally::ONE);
    cells.add(0, "a", Tally::of(true));
    cells.add(2, "c", Tally::of(false));
    cells.add(3, "d", Tally::default()); // zero: not kept
    cells.add(0, "e", Tally::ONE);
    let grouped = cells.by_period();
    // Within a period the order is free (the walk sorts each list by cell).
    let lists: Vec<Vec<(&str, Tally)>> = grouped
        .lists()
        .map(|list| {
            let mut list = list.to_vec();
            list.sort_by_key(|(cell, _)| *cell);
            list
        })
        .collect();
    assert_eq!(
        lists,
        [
            vec![("a", Tally::of(true)), ("e", Tally::ONE)],
            vec![],
            vec![("b", Tally::ONE), ("c", Tally::of(false))],
            vec![]
        ]
    );
}
