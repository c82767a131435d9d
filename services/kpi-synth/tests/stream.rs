//! Tests of the generated stream's form (kpi-synth → `kpi generate` → NDJSON → `kpi produce` →
//! raw topic): reproducible, in arrival order, every line checked against the contract by an
//! independent reader, the summary's counts right, ids unique, retractions and duplicates as
//! a feed sends them.

mod common;

use chrono::{DateTime, FixedOffset};
use common::runs::{default_run, run, small, valid_lines};
use common::{classify, nhs_ok};
use kpi_synth::{generate, generate_with_memory_budget, SynthConfig, INVALID_KINDS};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn same_config_gives_identical_bytes() {
    let cfg = SynthConfig { duplicate_share: 0.01, ..small(1_500, 12) };
    let a = run(&cfg);
    let b = run(&cfg);
    assert!(a.text == b.text, "two runs differ");
    assert_eq!(a.summary, b.summary);
    let other = run(&SynthConfig { seed: 2, ..cfg });
    assert!(other.text != a.text, "another seed gives other data");
}

#[test]
fn output_does_not_depend_on_memory_budget() {
    let cfg = SynthConfig { duplicate_share: 0.02, ..small(800, 14) };
    let mut one_pass = Vec::new();
    let mut many_passes = Vec::new();
    let a = generate_with_memory_budget(&cfg, 1 << 30, &mut one_pass, |_| {}).unwrap();
    let b = generate_with_memory_budget(&cfg, 64 << 10, &mut many_passes, |_| {}).unwrap();
    assert_eq!(a, b);
    assert!(one_pass == many_passes, "the pass plan changed the bytes");
}

#[test]
fn lines_keep_the_contract_and_match_the_summary() {
    let r = default_run();
    let mut by_kind: BTreeMap<&str, u64> = INVALID_KINDS.iter().map(|&k| (k, 0)).collect();
    let (mut lines, mut valid) = (0_u64, 0_u64);
    for line in r.text.split_terminator('\n') {
        lines += 1;
        assert!(!line.is_empty() && !line.contains('\r'));
        match classify(line) {
            Ok(_) => valid += 1,
            Err(kind) => {
                if kind != "malformed_json" {
                    assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "{line}");
                }
                *by_kind.get_mut(kind).unwrap_or_else(|| panic!("unexpected verdict {kind}: {line}")) += 1;
            }
        }
    }
    let s = &r.summary;
    assert_eq!(lines, s.lines);
    assert_eq!(valid, s.valid);
    assert_eq!(s.valid + s.invalid, s.lines);
    assert_eq!(by_kind, s.invalid_by_kind, "the checker's verdicts are the generator's kinds");
    assert!(by_kind.values().all(|&n| n > 0), "every kind of mistake occurs: {by_kind:?}");
    let share = s.invalid as f64 / s.lines as f64;
    assert!((0.0085..0.0115).contains(&share), "invalid share {share}");
    assert_eq!(s.people, 5_000);
    assert!(s.lines > 50_000, "{} lines", s.lines);
}

#[test]
fn person_ids_are_nhs_numbers_or_local_ids() {
    let mut people = BTreeSet::new();
    for v in valid_lines(&default_run().text) {
        if let Some(p) = v.person_id {
            assert!(nhs_ok(&p) || p.starts_with("local:"), "{p}");
            assert!(kpi_synth::nhs_number_is_valid(&p) == nhs_ok(&p));
            people.insert(p);
        }
    }
    let local = people.iter().filter(|p| p.starts_with("local:")).count() as f64 / people.len() as f64;
    assert!((0.03..0.07).contains(&local), "local ids {local}");
    assert!((4_800..=5_000).contains(&people.len()), "{} people", people.len());
}

fn arrival(line: &str) -> Option<DateTime<FixedOffset>> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let field = if v.get("recorded_at").is_some() { "recorded_at" } else { "occurred_at" };
    DateTime::parse_from_rfc3339(v.get(field)?.as_str()?).ok()
}

#[test]
fn lines_arrive_in_recorded_order() {
    let r = default_run();
    let start = DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z").unwrap();
    let end = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let mut last = start;
    for line in r.text.lines() {
        if let Some(t) = arrival(line) {
            assert!(t >= last, "{t} after {last}: {line}");
            last = t;
        }
    }
    assert!(last < end);
    let valid = valid_lines(&r.text);
    let late = valid.iter().filter(|v| (v.recorded - v.occurred).num_days() >= 2).count() as f64;
    let share = late / valid.len() as f64;
    assert!((0.02..0.05).contains(&share), "backdated share {share}");
    assert!(valid.iter().all(|v| v.occurred >= start && v.occurred < end && v.recorded >= v.occurred));
}

#[test]
fn retractions_target_earlier_valid_events() {
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    let (mut retractions, mut anonymous) = (0, 0);
    let valid = valid_lines(&default_run().text);
    for v in &valid {
        if v.kind == "event_retracted" {
            let target = v.str("retracted_event_id");
            let person = seen.get(target).unwrap_or_else(|| panic!("{target} not emitted before"));
            match &v.person_id {
                Some(p) => assert_eq!(Some(p), person.as_ref()),
                None => anonymous += 1,
            }
            retractions += 1;
        }
        seen.insert(v.event_id.clone(), v.person_id.clone());
    }
    let share = retractions as f64 / valid.len() as f64;
    assert!((0.003..0.007).contains(&share), "retraction share {share}");
    let anonymous = anonymous as f64 / retractions as f64;
    assert!((0.35..0.65).contains(&anonymous), "share without person_id {anonymous}");
}

#[test]
fn event_ids_are_unique_and_invalid_ids_distinct() {
    let text = &default_run().text;
    let mut valid_ids = BTreeSet::new();
    for v in valid_lines(text) {
        assert!(!v.event_id.is_empty() && v.event_id.len() <= 64);
        assert!(valid_ids.insert(v.event_id.clone()), "duplicate id {}", v.event_id);
    }
    for line in text.lines().filter(|l| classify(l).is_err()) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(id) = v.get("event_id").and_then(|i| i.as_str()) {
                assert!(!valid_ids.contains(id), "invalid line reuses {id}");
            }
        }
    }
    // Payload ids are unique per kind: each referral is received once.
    let mut refs = BTreeSet::new();
    for v in valid_lines(text).iter().filter(|v| v.kind == "referral_received") {
        assert!(refs.insert(v.str("referral_id").to_string()));
    }
}

#[test]
fn duplicates_are_byte_identical_resends() {
    let r = run(&SynthConfig { duplicate_share: 0.02, ..small(2_000, 12) });
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    let mut last: Option<DateTime<FixedOffset>> = None;
    for line in r.text.lines() {
        if !seen.insert(line) {
            duplicates += 1;
            continue;
        }
        if let Some(t) = arrival(line) {
            assert!(last.is_none_or(|l| t >= l));
            last = Some(t);
        }
    }
    let share = duplicates as f64 / r.summary.lines as f64;
    assert!((0.015..0.025).contains(&share), "duplicate share {share}");
}

#[test]
fn progress_rises_to_the_number_of_people() {
    let mut calls = Vec::new();
    let cfg = small(3_000, 6);
    generate_with_memory_budget(&cfg, 128 << 10, &mut std::io::sink(), |d| calls.push(d)).unwrap();
    assert!(calls.windows(2).all(|w| w[0] <= w[1]), "monotone");
    assert_eq!(calls.last(), Some(&3_000));
}

#[test]
fn bad_configuration_is_refused() {
    for cfg in [small(10, 0), SynthConfig { invalid_share: 1.0, ..small(10, 1) }] {
        let err = generate(&cfg, &mut std::io::sink(), |_| {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
    let empty = run(&small(0, 3));
    assert_eq!(empty.summary.lines, 0);
    assert!(empty.text.is_empty());
}
