//! The fuzz harness of the ingest boundary (raw-topic bytes + `content-type` →
//! `validate::decode` → domain event or dead letter): [`check`] turns fuzz data into one
//! hostile message (see `mutate`), decodes it and asserts what must hold whatever the bytes.
//! The 1,000,000-case test `tests/decode_fuzz.rs` and the cargo-fuzz target
//! `fuzz/fuzz_targets/decode.rs` both call it, so a crash found by either replays in both.
//!
//! What must hold: no panic; a rejection carries one of the ingest reason codes (spelled out
//! below, so renaming one fails here) and a short, non-empty detail that quotes no identifier;
//! an accepted event keeps every contract rule, and the other wire format carrying the same
//! contract event gives the same domain event.
#![allow(dead_code)]

mod mutate;
pub mod seeds;

use arbitrary::Unstructured;
use chrono::Datelike;
use kpi_contract::v1;
use kpi_core::codes::{Instrument, HONOS_NOT_KNOWN};
use kpi_core::validate::{decode, nhs_number_is_valid};
use kpi_core::{Event, Payload, RejectReason, Rejection};
use prost::Message;

/// The codes the ingest boundary may give (`ended_before_started` is the engine's): the
/// dead-letter interface with informatics teams.
pub const INGEST_CODES: [&str; 17] = [
    "payload_too_large",
    "unsupported_content_type",
    "invalid_utf8",
    "malformed_json",
    "malformed_protobuf",
    "missing_payload",
    "multiple_payloads",
    "missing_field",
    "ill_typed_field",
    "invalid_value",
    "unknown_code",
    "invalid_timestamp",
    "invalid_nhs_number",
    "invalid_person_id",
    "wrong_item_count",
    "item_out_of_range",
    "too_many_unknown_items",
];

/// A detail goes into a Kafka header and a log line: it must stay short.
const MAX_DETAIL_BYTES: usize = 1_000;

/// What became of one message: the accepted event's type, or the rejection's reason.
pub type Verdict = Result<&'static str, RejectReason>;

/// Decodes the message `data` describes and panics if any property breaks.
pub fn check(data: &[u8]) -> Verdict {
    let input = mutate::input(&mut Unstructured::new(data)).expect("the mutator never runs out of choices");
    let outcome = decode(&input.bytes, input.content_type);
    match &outcome {
        Ok(event) => accepted(event, &input),
        Err(rejection) => rejected(rejection),
    }
    outcome.map(|e| e.payload.kind()).map_err(|r| r.reason)
}

fn rejected(r: &Rejection) {
    assert!(INGEST_CODES.contains(&r.reason.code()), "{:?} is not an ingest reason code", r.reason);
    assert!(!r.detail.trim().is_empty(), "{}: empty detail", r.reason);
    assert!(r.detail.len() <= MAX_DETAIL_BYTES, "{}: a {}-byte detail", r.reason, r.detail.len());
    // Only coded fields and ICD-10 codes are quoted (truncated): an identifier moved into one
    // is the one way a detail may show it.
    let quotes_values = matches!(r.reason, RejectReason::UnknownCode | RejectReason::InvalidValue);
    for id in seeds::IDENTIFIERS {
        assert!(
            quotes_values || !r.detail.contains(id),
            "{} detail quotes the identifier {id:?}: {}",
            r.reason,
            r.detail
        );
    }
}

fn accepted(event: &Event, input: &mutate::Input) {
    let id_ok = |id: &str| (1..=64).contains(&id.chars().count());
    assert!(id_ok(&event.event_id), "accepted event_id of {} characters", event.event_id.chars().count());
    let mut payload = event.payload.clone();
    assert!(payload.identifiers_mut().iter().all(|id| id_ok(id)), "accepted a payload id out of 1–64 characters");
    // The warehouse can store U+0000 in no text (see `fields::no_nul`).
    let free_text = match &event.payload {
        Payload::WardStayStarted { ward_code, .. } => Some(ward_code),
        Payload::ReferralReceived { team_code, .. } | Payload::FftResponse { team_code, .. } => team_code.as_ref(),
        _ => None,
    };
    let mut texts = vec![Some(&event.event_id), event.person.as_ref(), event.source_system.as_ref()];
    texts.extend([event.provider_code.as_ref(), free_text]);
    texts.extend(payload.identifiers_mut().into_iter().map(|id| Some(&*id)));
    assert!(texts.iter().flatten().all(|t| !t.contains('\0')), "accepted a NUL character in {event:?}");
    assert!((1900..=2100).contains(&event.occurred_at.year()), "accepted occurred_at {}", event.occurred_at);
    assert!((1900..=2100).contains(&event.recorded_at.year()), "accepted recorded_at {}", event.recorded_at);
    match (&event.person, &event.payload) {
        (None, Payload::EventRetracted { .. }) => {}
        (None, _) => panic!("accepted a {} without a person", event.payload.kind()),
        (Some(p), _) => assert!(
            nhs_number_is_valid(p)
                || p.strip_prefix("local:").is_some_and(|l| id_ok(l) && !l.contains(char::is_whitespace)),
            "accepted an invalid person_id"
        ),
    }
    match &event.payload {
        Payload::Demographics { birth_date, imd_decile, .. } => {
            assert!(birth_date.year() >= 1900 && *birth_date <= event.date, "accepted birth date {birth_date}");
            assert!(imd_decile.is_none_or(|d| (1..=10).contains(&d)), "accepted IMD decile {imd_decile:?}");
        }
        Payload::OutcomeMeasure { instrument, items, .. } => {
            assert_eq!(items.len(), instrument.item_count(), "accepted a {instrument:?} of {} items", items.len());
            let honos = *instrument == Instrument::Honos;
            let unknown = items.iter().filter(|&&v| honos && v == HONOS_NOT_KNOWN).count();
            let in_range = |&v: &u8| v <= instrument.max_item() || (honos && v == HONOS_NOT_KNOWN);
            assert!(items.iter().all(in_range) && unknown <= 2, "accepted {instrument:?} items {items:?}");
        }
        _ => {}
    }
    assert_eq!(&other_format(input), &Ok(event.clone()), "the other wire format disagrees");
}

/// The same contract event in the other wire format, decoded.
fn other_format(input: &mutate::Input) -> Result<Event, Rejection> {
    if mutate::PROTOBUF_TYPES.contains(&input.content_type) {
        let raw = v1::Event::decode(input.bytes.as_slice()).expect("accepted protobuf decodes");
        decode(&serde_json::to_vec(&raw).expect("a contract event serialises"), None)
    } else {
        let mut value: serde_json::Value = serde_json::from_slice(&input.bytes).expect("accepted JSON parses");
        drop_null_members(&mut value);
        let raw: v1::Event = serde_json::from_value(value).expect("accepted JSON is contract JSON");
        decode(&raw.encode_to_vec(), Some("application/x-protobuf"))
    }
}

/// The protobuf JSON mapping reads a member set to `null` as absent; pbjson refuses it for
/// strings, so it is dropped here as ingest does.
fn drop_null_members(value: &mut serde_json::Value) {
    if let serde_json::Value::Object(members) = value {
        members.retain(|_, v| !v.is_null());
        members.values_mut().for_each(drop_null_members);
    }
}
