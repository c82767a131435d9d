//! Shared by the scenario tests: a person's events written as contract JSON, run through
//! validation, pseudonymisation and the in-memory replay, and the values read back by
//! indicator, period and stratum.
#![allow(dead_code)]

use chrono::NaiveDate;
use kpi_core::contrib::Key;
use kpi_core::contrib::{levels, Tally};
use kpi_core::period::{month_ends, Period, PeriodKind};
use kpi_core::population::Population;
use kpi_core::replay::Replay;
use kpi_core::strata::{Stratum, StratumType};
use kpi_core::validate::decode;
use kpi_core::values::{compute, IndicatorValue};
use kpi_core::Pseudonymiser;

/// A test population: 10 people for every ethnic category A–S, sex 1 and 2 and age 0–90, so
/// every stratum's population is 10 × its rows (for example 65 and over: 16 × 2 × 26 × 10 = 8,320),
/// and 1,000 per deprivation quintile.
pub fn population() -> Population {
    let mut csv = String::from("ethnic_category,sex,age,population\n");
    for category in ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S"] {
        for sex in ["1", "2"] {
            for age in 0..=90 {
                csv.push_str(&format!("{category},{sex},{age},10\n"));
            }
        }
    }
    let imd = "imd_quintile,population\n1,1000\n2,1000\n3,1000\n4,1000\n5,1000\n";
    Population::from_csv(csv.as_bytes(), imd.as_bytes()).expect("test population")
}

/// The NDJSON feed kpi-synth generates with `cfg`.
pub fn synthetic_feed(cfg: &kpi_synth::SynthConfig) -> String {
    let mut ndjson = Vec::new();
    kpi_synth::generate(cfg, &mut ndjson, |_| {}).expect("in-memory generation");
    String::from_utf8(ndjson).expect("the generator writes UTF-8")
}

/// Raw lines decoded (each must pass validation) and pseudonymised, as ingest would.
pub fn accepted<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<kpi_core::Event> {
    let pseudonymiser = Pseudonymiser::new(&[3; 32]).unwrap();
    lines
        .into_iter()
        .map(|line| {
            let mut event = decode(line.as_bytes(), None).unwrap_or_else(|r| panic!("feed line refused: {r}: {line}"));
            pseudonymiser.pseudonymise(&mut event);
            event
        })
        .collect()
}

/// Events applied in the order given.
pub struct Scenario {
    replay: Replay,
    pseudonymiser: Pseudonymiser,
    next_id: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario { replay: Replay::default(), pseudonymiser: Pseudonymiser::new(&[7; 32]).unwrap(), next_id: 0 }
    }
}

impl Scenario {
    /// Applies one event: `person` (an NHS number or `local:` id), its date (`YYYY-MM-DD`,
    /// noon UTC) and its payload as `{"<type>": {...}}`. Returns the event id it was given.
    pub fn event(&mut self, person: &str, date: &str, payload: serde_json::Value) -> String {
        self.next_id += 1;
        let id = format!("ev-{}", self.next_id);
        let mut json =
            serde_json::json!({ "event_id": id, "occurred_at": format!("{date}T12:00:00Z"), "person_id": person });
        for (field, value) in payload.as_object().expect("payload is an object") {
            json[field] = value.clone();
        }
        self.apply_raw(&json.to_string());
        id
    }

    /// Applies a raw line, which must pass validation.
    pub fn apply_raw(&mut self, line: &str) {
        let mut event =
            decode(line.as_bytes(), None).unwrap_or_else(|r| panic!("scenario event rejected: {r}: {line}"));
        self.pseudonymiser.pseudonymise(&mut event);
        self.replay.apply(event);
    }

    /// Retracts an event applied earlier.
    pub fn retract(&mut self, person: &str, date: &str, event_id: &str) {
        self.event(person, date, serde_json::json!({ "event_retracted": { "retracted_event_id": event_id } }));
    }

    /// A counted cell's numerator and denominator in a period (sum of its changes), for any
    /// period, also past the last event.
    pub fn tally(&self, cell: &'static str, kind: PeriodKind, month: &str, stratum: Stratum) -> Tally {
        let end = period_end(month);
        let months: Vec<NaiveDate> = month_ends(NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), end).collect();
        let levels = levels(&self.replay.counts(), &months);
        levels.get(&Key { indicator: cell, period: Period { kind, end }, stratum }).copied().unwrap_or_default()
    }

    /// An indicator's value in a period (`month` = `YYYY-MM`), with the test [`population`].
    pub fn value(&self, indicator: &str, kind: PeriodKind, month: &str, stratum: Stratum) -> IndicatorValue {
        let end = period_end(month);
        let counts = self.replay.counts();
        compute(&counts, &population(), (end, end))
            .into_iter()
            .find(|v| v.indicator == indicator && v.period == Period { kind, end } && v.stratum == stratum)
            .unwrap_or_else(|| panic!("no value for {indicator} {kind:?} {month} {stratum:?}"))
    }

    /// The month value in the trust-wide stratum.
    pub fn month(&self, indicator: &str, month: &str) -> IndicatorValue {
        self.value(indicator, PeriodKind::Month, month, Stratum::ALL)
    }

    /// The rolling-12 value in the trust-wide stratum.
    pub fn r12(&self, indicator: &str, month: &str) -> IndicatorValue {
        self.value(indicator, PeriodKind::Rolling12, month, Stratum::ALL)
    }
}

/// A stratum by breakdown code and value, e.g. `stratum("age_band", "65+")`.
pub fn stratum(kind: &str, value: &str) -> Stratum {
    let kind = StratumType::parse(kind).expect("a breakdown code");
    Stratum { kind, value: kind.intern(value).expect("a stratum value") }
}

/// The last day of a `YYYY-MM` month.
pub fn period_end(month: &str) -> NaiveDate {
    kpi_core::period::month_end(format!("{month}-01").parse().expect("month as YYYY-MM"))
}

/// Items of a rating with the given total, filled from the first item at the item maximum
/// (PHQ-9 15 → [3, 3, 3, 3, 3, 0, 0, 0, 0]).
pub fn items(total: u32, count: usize, max: u32) -> Vec<u32> {
    assert!(total <= count as u32 * max, "total {total} does not fit {count} items of at most {max}");
    let mut left = total;
    (0..count)
        .map(|_| {
            let item = left.min(max);
            left -= item;
            item
        })
        .collect()
}

/// Equal to a relative 1e-9 (an absolute 1e-9 near zero).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// A percentage value: numerator `x`, counted denominator `n`, and the value worked by hand
/// (`None` when n = 0).
pub fn assert_pct(v: &IndicatorValue, x: i64, n: i64, pct: Option<f64>) {
    assert_eq!(v.numerator, x, "{} numerator", v.indicator);
    assert_eq!(v.denominator, Some(n as f64), "{} denominator", v.indicator);
    match (v.value, pct) {
        (Some(got), Some(want)) => assert!((got - want).abs() < 1e-9, "{} value {got}, expected {want}", v.indicator),
        (got, want) => assert_eq!(got, want, "{} value", v.indicator),
    }
}
