//! Tests of the generated data's shape (kpi-synth → `kpi generate` → NDJSON → `kpi produce` →
//! raw topic): the ethnic disparity in detentions, every event type and pathway exercised,
//! England-like demographics, and episodes that open once and end after they start.

mod common;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use common::runs::{default_run, run, small, valid_lines};
use common::{Valid, PAYLOADS};
use std::collections::{BTreeMap, BTreeSet};

/// Latest demographics per person (occurred, then recorded, then event id).
fn ethnicity(valid: &[Valid]) -> BTreeMap<String, String> {
    let mut latest: BTreeMap<String, (DateTime<FixedOffset>, DateTime<FixedOffset>, String, String)> = BTreeMap::new();
    for v in valid.iter().filter(|v| v.kind == "demographics") {
        let key = (v.occurred, v.recorded, v.event_id.clone(), v.str("ethnic_category").to_string());
        let p = v.person_id.clone().unwrap();
        if latest.get(&p).is_none_or(|old| (old.0, old.1, &old.2) < (key.0, key.1, &key.2)) {
            latest.insert(p, key);
        }
    }
    latest.into_iter().map(|(p, k)| (p, k.3)).collect()
}

#[test]
fn black_people_are_detained_about_four_times_as_often_as_white_people() {
    let r = run(&small(20_000, 24));
    let valid = valid_lines(&r.text);
    let detained: BTreeSet<&str> = valid
        .iter()
        .filter(|v| v.kind == "mha_detention_started" && matches!(v.str("section"), "2" | "3"))
        .filter_map(|v| v.person_id.as_deref())
        .collect();
    let (mut white, mut black) = ((0, 0), (0, 0));
    for (p, e) in ethnicity(&valid) {
        let d = usize::from(detained.contains(p.as_str()));
        match e.as_str() {
            "A" | "B" | "C" => white = (white.0 + 1, white.1 + d),
            "M" | "N" | "P" => black = (black.0 + 1, black.1 + d),
            _ => {}
        }
    }
    let rate = |(n, d): (usize, usize)| d as f64 / n as f64;
    let ratio = rate(black) / rate(white);
    assert!((2.5..6.5).contains(&ratio), "Black {black:?} White {white:?} ratio {ratio}");
    let any = detained.len() as f64 / 20_000.0;
    assert!((0.01..0.08).contains(&any), "share detained under 2 or 3: {any}");
}

#[test]
fn every_event_type_and_pathway_is_exercised() {
    let valid = valid_lines(&default_run().text);
    let count = |f: &dyn Fn(&Valid) -> bool| valid.iter().filter(|v| f(v)).count();
    for kind in PAYLOADS {
        assert!(count(&|v| v.kind == kind) > 0, "no {kind}");
    }
    let services: BTreeSet<&str> =
        valid.iter().filter(|v| v.kind == "referral_received").map(|v| v.str("service")).collect();
    assert_eq!(services.len(), 10, "{services:?}");
    let sections: BTreeSet<&str> =
        valid.iter().filter(|v| v.kind == "mha_detention_started").map(|v| v.str("section")).collect();
    for s in ["2", "3", "136", "5(2)", "37"] {
        assert!(sections.contains(s), "no section {s}: {sections:?}");
    }
    // Section 3 starting as a section 2 ends: conversions.
    let ends: BTreeMap<&str, DateTime<FixedOffset>> =
        valid.iter().filter(|v| v.kind == "mha_detention_ended").map(|v| (v.str("detention_id"), v.occurred)).collect();
    let s2_ends: BTreeSet<(Option<&str>, DateTime<FixedOffset>)> = valid
        .iter()
        .filter(|v| v.kind == "mha_detention_started" && v.str("section") == "2")
        .filter_map(|v| ends.get(v.str("detention_id")).map(|&e| (v.person_id.as_deref(), e)))
        .collect();
    let conversions = count(&|v| {
        v.kind == "mha_detention_started"
            && v.str("section") == "3"
            && s2_ends.contains(&(v.person_id.as_deref(), v.occurred))
    });
    assert!(conversions > 5, "{conversions} conversions");
    let opened = count(&|v| v.kind == "mha_detention_started");
    assert!(count(&|v| v.kind == "mha_detention_ended") < opened, "some detentions still open");
    let stays = count(&|v| v.kind == "ward_stay_started");
    assert!(count(&|v| v.kind == "ward_stay_ended") < stays, "some stays still open");
    let oap = count(&|v| v.kind == "ward_stay_started" && v.payload["out_of_area"] == true) as f64 / stays as f64;
    assert!((0.05..0.16).contains(&oap), "out of area {oap}");
    assert!(count(&|v| v.kind == "death" && v.str("cause") == "suspected_suicide") > 0);
    assert!(
        count(&|v| v.kind == "outcome_measure"
            && v.str("instrument") == "HONOS"
            && v.payload["items"].as_array().unwrap().iter().any(|i| i == 9))
            > 0
    );
    assert!(count(&|v| v.kind == "diagnosis" && v.str("icd10").starts_with("F20")) > 0);
    assert!(count(&|v| v.kind == "diagnosis" && v.str("icd10").starts_with("G30")) > 0);

    // Demographics: most people, a few corrected, adult-heavy ages with children and 65+.
    let mut demo: BTreeMap<&str, Vec<&Valid>> = BTreeMap::new();
    let mut people = BTreeSet::new();
    for v in &valid {
        if let Some(p) = v.person_id.as_deref() {
            people.insert(p);
            if v.kind == "demographics" {
                demo.entry(p).or_default().push(v);
            }
        }
    }
    let with = demo.len() as f64 / people.len() as f64;
    assert!((0.92..0.98).contains(&with), "with demographics {with}");
    let corrected =
        demo.values().filter(|d| d.len() > 1 && d[0].str("ethnic_category") != d[1].str("ethnic_category")).count();
    let corrected = corrected as f64 / demo.len() as f64;
    assert!((0.015..0.05).contains(&corrected), "corrected {corrected}");
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let ages: Vec<i32> = demo
        .values()
        .map(|d| {
            let b = NaiveDate::parse_from_str(d[0].str("birth_date"), "%Y-%m-%d").unwrap();
            start.year() - b.year()
        })
        .collect();
    let share = |f: &dyn Fn(i32) -> bool| ages.iter().filter(|&&a| f(a)).count() as f64 / ages.len() as f64;
    assert!(share(&|a| a < 18) > 0.05 && share(&|a| a >= 65) > 0.12 && share(&|a| (18..65).contains(&a)) > 0.55);
    let white =
        demo.values().filter(|d| d.last().unwrap().str("ethnic_category") == "A").count() as f64 / demo.len() as f64;
    assert!((0.68..0.8).contains(&white), "A {white}");
}

#[test]
fn episodes_are_opened_once_and_end_after_they_start() {
    type Opened<'a> = BTreeMap<(&'static str, &'a str), (Option<&'a str>, DateTime<FixedOffset>)>;
    let valid = valid_lines(&default_run().text);
    let mut opened: Opened = BTreeMap::new();
    let mut closed: Opened = BTreeMap::new();
    for v in &valid {
        let (map, kind, field) = match v.kind {
            "referral_received" => (&mut opened, "ref", "referral_id"),
            "mha_detention_started" => (&mut opened, "det", "detention_id"),
            "ward_stay_started" => (&mut opened, "ward", "ward_stay_id"),
            "referral_discharged" => (&mut closed, "ref", "referral_id"),
            "mha_detention_ended" => (&mut closed, "det", "detention_id"),
            "ward_stay_ended" => (&mut closed, "ward", "ward_stay_id"),
            _ => continue,
        };
        let old = map.insert((kind, v.str(field)), (v.person_id.as_deref(), v.occurred));
        assert!(old.is_none(), "{kind} {} twice", v.str(field));
    }
    for (key, (person, end)) in &closed {
        let (p, start) = opened.get(key).unwrap_or_else(|| panic!("{key:?} closed, never opened"));
        assert_eq!(p, person);
        assert!(end >= start, "{key:?} ends before it starts");
    }
    // Contacts, scores and interventions fall inside what they refer to.
    for v in &valid {
        let key = match v.kind {
            "care_contact" | "outcome_measure" => ("ref", v.str("referral_id")),
            "restrictive_intervention" => ("ward", v.str("ward_stay_id")),
            _ => continue,
        };
        let (p, start) = opened.get(&key).unwrap_or_else(|| panic!("{key:?} unknown"));
        assert_eq!(*p, v.person_id.as_deref());
        assert!(v.occurred >= *start, "{key:?}: {} before its start", v.kind);
        if let Some((_, end)) = closed.get(&key) {
            assert!(v.occurred <= *end, "{key:?}: {} after its end", v.kind);
        }
    }
}
