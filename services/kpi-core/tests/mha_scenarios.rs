//! The core's semantics against numbers worked out on paper: the hand-checked scenario feed
//! (`tests/fixtures/mha_scenarios.ndjson`, working in `mha_scenarios_expected.csv`) replayed
//! in memory, in its arrival order and in many shuffled orders.

use std::path::PathBuf;

use kpi_core::contrib::{levels, Counts, Key};
use kpi_core::period::{month_ends, Period, PeriodKind};
use kpi_core::replay::Replay;
use kpi_core::strata::{Stratum, StratumType};
use kpi_core::validate::decode;
use kpi_core::{Event, Pseudonymiser};
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn events(pseudonymiser: &Pseudonymiser) -> Vec<Event> {
    let text = std::fs::read_to_string(fixtures().join("mha_scenarios.ndjson")).unwrap();
    text.lines()
        .map(|line| {
            let mut event = decode(line.as_bytes(), None).unwrap_or_else(|r| panic!("fixture line invalid: {r}"));
            pseudonymiser.pseudonymise(&mut event);
            event
        })
        .collect()
}

/// (key, numerator) rows of the expected file.
fn expected() -> Vec<(Key, i64)> {
    let mut reader =
        csv::ReaderBuilder::new().comment(Some(b'#')).from_path(fixtures().join("mha_scenarios_expected.csv")).unwrap();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            let indicator = kpi_core::indicators::indicator(&row[0]).unwrap().id;
            let kind = PeriodKind::parse(&row[1]).unwrap();
            let end = row[2].parse().unwrap();
            let stratum_type = StratumType::parse(&row[3]).unwrap();
            let value = stratum_type.intern(&row[4]).unwrap();
            let key = Key { indicator, period: Period { kind, end }, stratum: Stratum { kind: stratum_type, value } };
            (key, row[5].parse().unwrap())
        })
        .collect()
}

fn replay(events: impl IntoIterator<Item = Event>) -> Counts {
    let mut replay = Replay::default();
    for event in events {
        replay.apply(event);
    }
    // The expected file has rolling periods up to 2025, past the feed's last event.
    let months: Vec<_> = month_ends("2023-01-01".parse().unwrap(), "2025-12-31".parse().unwrap()).collect();
    levels(&replay.counts(), &months)
}

fn assert_matches_paper(counts: &Counts) {
    let expected = expected();
    for (key, numerator) in &expected {
        let got = counts.get(key).map_or(0, |t| t.numerator);
        assert_eq!(got, *numerator, "{key:?}");
    }
    // Every month cell the feed produces is on paper: nothing is counted that should not be.
    for (key, tally) in counts.iter().filter(|(k, _)| k.period.kind == PeriodKind::Month) {
        assert!(expected.iter().any(|(k, _)| k == key), "unexpected month cell {key:?} = {tally:?}");
    }
}

#[test]
fn scenario_feed_gives_the_numbers_worked_on_paper() {
    let pseudonymiser = Pseudonymiser::new(&[1; 32]).unwrap();
    assert_matches_paper(&replay(events(&pseudonymiser)));
}

#[test]
fn any_arrival_order_gives_the_same_numbers() {
    let pseudonymiser = Pseudonymiser::new(&[1; 32]).unwrap();
    let in_order = replay(events(&pseudonymiser));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..200 {
        let mut shuffled = events(&pseudonymiser);
        shuffled.shuffle(&mut rng);
        // Duplicate a few events; a repeat must change nothing.
        let repeats: Vec<Event> = shuffled.iter().take(3).cloned().collect();
        shuffled.extend(repeats);
        shuffled.shuffle(&mut rng);
        assert_eq!(replay(shuffled), in_order);
    }
}
