//! Refused events: every reason code the ingest boundary can give, hostile input without a
//! panic, and details that never quote an identifier.

use kpi_contract::{v1, Message, Timestamp};
use kpi_core::validate::{decode, validate, MAX_EVENT_BYTES};
use kpi_core::{RejectReason as R, Rejection};
use serde_json::{json, Value};

const PROTOBUF: Option<&str> = Some("application/x-protobuf");
/// Distinctive identifier values: no rejection detail may contain them.
const SECRET: &str = "SECRET-ID-123";
const SECRET_NHS: &str = "9434765918"; // fails Modulus 11

fn envelope(payload_field: &str, payload: Value) -> Value {
    json!({
        "event_id": SECRET,
        "occurred_at": "2024-03-01T10:15:00Z",
        "person_id": "local:SECRET-ID-123",
        payload_field: payload,
    })
}

/// `envelope` with one member replaced (or removed, for `Value::Null`).
fn with(mut v: Value, key: &str, value: Value) -> Value {
    let object = v.as_object_mut().unwrap();
    if value.is_null() {
        object.remove(key)
    } else {
        object.insert(key.into(), value)
    };
    v
}

fn contact() -> Value {
    envelope("care_contact", json!({"referral_id": SECRET, "attended": true, "purpose": "treatment"}))
}

fn outcome(instrument: &str, items: Value) -> Value {
    envelope("outcome_measure", json!({"referral_id": SECRET, "instrument": instrument, "items": items}))
}

fn ward_stay(payload: Value) -> Value {
    envelope("ward_stay_started", payload)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn refused(bytes: &[u8], content_type: Option<&str>) -> Rejection {
    match decode(bytes, content_type) {
        Ok(event) => panic!("accepted: {event:?}"),
        Err(rejection) => rejection,
    }
}

fn refused_json(v: &Value) -> Rejection {
    refused(&bytes(v), None)
}

fn proto_event() -> v1::Event {
    v1::Event {
        event_id: SECRET.into(),
        occurred_at: Some(Timestamp { seconds: 1_709_288_100, nanos: 0 }),
        person_id: "9434765919".into(),
        payload: Some(v1::event::Payload::SmokingStatus(v1::SmokingStatus { status: "ex".into() })),
        ..Default::default()
    }
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut b = vec![b'['; depth];
    b.extend(std::iter::repeat_n(b']', depth));
    b
}

/// One refused message per reason (and then some), with its expected reason.
#[rustfmt::skip]
fn samples() -> Vec<(R, Vec<u8>, Option<&'static str>)> {
    type Input = (Vec<u8>, Option<&'static str>);
    let j = |v: Value| (bytes(&v), None);
    let mut two_payloads = proto_event().encode_to_vec();
    let death = v1::Death { cause: "natural".into(), place: "hospital".into() };
    two_payloads.extend(v1::Event { payload: Some(v1::event::Payload::Death(death)), ..Default::default() }.encode_to_vec());
    let bad_nanos = v1::Event { occurred_at: Some(Timestamp { seconds: 0, nanos: -1 }), ..proto_event() };
    let long_id = SECRET.repeat(5);
    let mut null_payload = contact();
    null_payload["care_contact"] = Value::Null; // a member set to null, not removed
    let cases: Vec<(R, Input)> = vec![
        (R::PayloadTooLarge, (vec![b' '; 10 * 1024 * 1024], None)),
        (R::PayloadTooLarge, (vec![b' '; MAX_EVENT_BYTES + 1], PROTOBUF)),
        (R::UnsupportedContentType, (bytes(&contact()), Some("text/plain"))),
        (R::UnsupportedContentType, (bytes(&contact()), Some("application/json; charset=latin1"))),
        (R::UnsupportedContentType, (bytes(&contact()), Some(""))),
        (R::InvalidUtf8, (b"{\"event_id\": \"SECRET-ID-123\xff\"}".to_vec(), None)),
        (R::MalformedJson, (b"{\"event_id\": ".to_vec(), None)),
        (R::MalformedJson, (b"".to_vec(), None)),
        (R::MalformedJson, (b"[1, 2]".to_vec(), None)),
        (R::MalformedJson, (b"{} {}".to_vec(), None)),
        (R::MalformedJson, (nested_arrays(10_000), None)),
        (R::MalformedJson, (b"{\"event_id\": \"a\", \"event_id\": \"b\"}".to_vec(), None)),
        (R::MalformedJson, (b"{\"event_id\": \"a\", \"eventId\": \"b\"}".to_vec(), None)),
        (R::MalformedProtobuf, (vec![0xff; 64], PROTOBUF)),
        (R::MalformedProtobuf, (b"\x0a\x05ab".to_vec(), PROTOBUF)), // truncated string
        (R::MissingPayload, j(with(contact(), "care_contact", Value::Null))),
        (R::MissingPayload, j(null_payload)),
        (R::MissingPayload, (v1::Event { payload: None, ..proto_event() }.encode_to_vec(), PROTOBUF)),
        (R::MissingPayload, (Vec::new(), PROTOBUF)),
        (R::MultiplePayloads, j(with(contact(), "death", json!({"cause": "natural", "place": "hospital"})))),
        (R::MultiplePayloads, (two_payloads, PROTOBUF)),
        (R::MissingField, j(with(contact(), "event_id", Value::Null))),
        (R::MissingField, j(with(contact(), "event_id", json!("")))),
        (R::MissingField, j(with(contact(), "occurred_at", Value::Null))),
        (R::MissingField, j(with(contact(), "person_id", Value::Null))),
        (R::MissingField, j(envelope("care_contact", json!({"referral_id": SECRET, "purpose": "review"})))),
        (R::MissingField, j(envelope("care_contact", json!({"referral_id": "", "attended": true, "purpose": "review"})))),
        (R::MissingField, j(envelope("death", json!({"cause": "", "place": "hospital"})))),
        (R::MissingField, j(ward_stay(json!({"ward_stay_id": SECRET, "ward_code": "OAK", "out_of_area": true})))),
        (R::MissingField, j(ward_stay(json!({"ward_stay_id": SECRET, "ward_code": "OAK"})))),
        (R::MissingField, j(ward_stay(json!({"ward_stay_id": SECRET, "out_of_area": false})))),
        (R::MissingField, j(envelope("diagnosis", json!({"referral_id": SECRET})))),
        (R::IllTypedField, j(envelope("mha_detention_started", json!({"detention_id": SECRET, "section": 3})))),
        (R::IllTypedField, j(with(contact(), "person_id", json!(9434765918u64)))),
        (R::IllTypedField, j(with(contact(), "care_contact", json!({"referral_id": SECRET, "attended": "yes", "purpose": "review"})))),
        (R::IllTypedField, j(with(contact(), "care_contact", json!([1])))),
        (R::IllTypedField, j(outcome("PHQ9", json!([0, 0, "x", 0, 0, 0, 0, 0, 0])))),
        (R::IllTypedField, j(outcome("PHQ9", json!([0, 0, 1.5, 0, 0, 0, 0, 0, 0])))),
        (R::IllTypedField, j(outcome("PHQ9", json!([0, 0, 1e12, 0, 0, 0, 0, 0, 0])))),
        (R::IllTypedField, j(outcome("PHQ9", json!("000000000")))),
        (R::IllTypedField, j(with(contact(), "occurred_at", json!(1709288100)))),
        (R::InvalidValue, j(envelope("demographics", json!({"birth_date": "1984-02-29", "sex": "1", "ethnic_category": "A", "imd_decile": 11})))),
        (R::InvalidValue, j(envelope("demographics", json!({"birth_date": "1984-02-29", "sex": "1", "ethnic_category": "A", "imd_decile": 0})))),
        (R::InvalidValue, j(envelope("demographics", json!({"birth_date": "1984-2-29", "sex": "1", "ethnic_category": "A"})))),
        (R::InvalidValue, j(envelope("demographics", json!({"birth_date": "1985-02-29", "sex": "1", "ethnic_category": "A"})))),
        (R::InvalidValue, j(envelope("demographics", json!({"birth_date": "2024-03-02", "sex": "1", "ethnic_category": "A"})))),
        (R::InvalidValue, j(envelope("demographics", json!({"birth_date": "1899-12-31", "sex": "1", "ethnic_category": "A"})))),
        (R::InvalidValue, j(with(contact(), "event_id", json!(long_id)))),
        (R::InvalidValue, j(envelope("event_retracted", json!({"retracted_event_id": long_id})))),
        (R::InvalidValue, j(envelope("diagnosis", json!({"icd10": "F20.0", "referral_id": long_id})))),
        (R::InvalidValue, j(envelope("diagnosis", json!({"icd10": "F2"})))),
        (R::InvalidValue, j(envelope("diagnosis", json!({"icd10": "f20.0"})))),
        (R::InvalidValue, j(envelope("diagnosis", json!({"icd10": "F20."})))),
        (R::InvalidValue, j(envelope("diagnosis", json!({"icd10": " F20.0"})))),
        (R::InvalidValue, j(envelope("diagnosis", json!({"icd10": "F20.012"})))),
        (R::UnknownCode, j(envelope("demographics", json!({"birth_date": "1984-02-29", "sex": "M", "ethnic_category": "A"})))),
        (R::UnknownCode, j(envelope("demographics", json!({"birth_date": "1984-02-29", "sex": "1", "ethnic_category": "I"})))),
        (R::UnknownCode, j(envelope("mha_detention_started", json!({"detention_id": SECRET, "section": "5(3)"})))),
        (R::UnknownCode, j(envelope("smoking_status", json!({"status": "Current"})))),
        (R::UnknownCode, j(outcome("PHQ-9", json!(vec![0; 9])))),
        (R::UnknownCode, j(ward_stay(json!({"ward_stay_id": SECRET, "ward_code": "OAK", "out_of_area": true, "out_of_area_reason": "beds"})))),
        (R::InvalidTimestamp, j(with(contact(), "occurred_at", json!("9999-12-31T00:00:00Z")))),
        (R::InvalidTimestamp, j(with(contact(), "occurred_at", json!("1899-12-31T23:59:59Z")))),
        (R::InvalidTimestamp, j(with(contact(), "recorded_at", json!("9999-12-31T00:00:00Z")))),
        (R::InvalidTimestamp, j(with(contact(), "occurred_at", json!("2024-03-01T10:15:00")))),
        (R::InvalidTimestamp, j(with(contact(), "occurred_at", json!("2024-03-01")))),
        (R::InvalidTimestamp, j(with(contact(), "recordedAt", json!("yesterday")))),
        (R::InvalidTimestamp, (bad_nanos.encode_to_vec(), PROTOBUF)),
        (R::InvalidTimestamp, (v1::Event { occurred_at: Some(Timestamp { seconds: i64::MAX, nanos: 0 }), ..proto_event() }.encode_to_vec(), PROTOBUF)),
        (R::InvalidNhsNumber, j(with(contact(), "person_id", json!(SECRET_NHS)))),
        (R::InvalidNhsNumber, j(with(envelope("event_retracted", json!({"retracted_event_id": SECRET})), "person_id", json!(SECRET_NHS)))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!("943 476 5919")))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!("12345")))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!("local:")))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!("local:SECRET ID 123")))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!("LOCAL:SECRET-ID-123")))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!(format!("local:{long_id}"))))),
        (R::InvalidPersonId, j(with(contact(), "person_id", json!(" 9434765919")))),
        (R::WrongItemCount, j(outcome("PHQ9", json!(vec![0; 8])))),
        (R::WrongItemCount, j(outcome("HONOS", json!(vec![0; 13])))),
        (R::WrongItemCount, j(envelope("outcome_measure", json!({"referral_id": SECRET, "instrument": "GAD7"})))),
        (R::ItemOutOfRange, j(outcome("PHQ9", json!([0, 0, 0, 0, 4, 0, 0, 0, 0])))),
        (R::ItemOutOfRange, j(outcome("PHQ9", json!([0, 0, 0, 0, 9, 0, 0, 0, 0])))),
        (R::ItemOutOfRange, j(outcome("GAD7", json!([0, 0, 0, 0, 0, 0, -1])))),
        (R::ItemOutOfRange, j(outcome("REQOL10", json!([0, 0, 0, 0, 0, 0, 0, 0, 0, 256])))),
        (R::ItemOutOfRange, j(outcome("HONOS", json!([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5])))),
        (R::TooManyUnknownItems, j(outcome("HONOS", json!([9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0])))),
    ];
    cases.into_iter().map(|(reason, (bytes, ct))| (reason, bytes, ct)).collect()
}

#[test]
fn each_sample_is_refused_with_its_reason() {
    for (i, (reason, bytes, ct)) in samples().into_iter().enumerate() {
        let got = refused(&bytes, ct);
        assert_eq!(got.reason, reason, "sample {i}: {got}");
        assert!(!got.detail.is_empty());
    }
}

#[test]
fn every_reason_but_the_engines_is_covered() {
    let covered: std::collections::BTreeSet<R> = samples().into_iter().map(|(r, _, _)| r).collect();
    for reason in R::ALL {
        assert_eq!(covered.contains(reason), *reason != R::EndedBeforeStarted, "{reason}");
    }
}

#[test]
fn no_detail_quotes_an_identifier() {
    for (i, (_, bytes, ct)) in samples().into_iter().enumerate() {
        let shown = refused(&bytes, ct).to_string();
        for secret in [SECRET, SECRET_NHS, "9434765919", "SECRET ID"] {
            assert!(!shown.contains(secret), "sample {i} leaks an identifier: {shown}");
        }
    }
}

#[test]
fn details_name_the_field_and_the_fix() {
    let r = refused_json(&envelope("mha_detention_started", json!({"detention_id": SECRET, "section": 3})));
    assert_eq!(r.reason, R::IllTypedField);
    assert!(r.detail.contains("mha_detention_started.section") && r.detail.contains("must be a string"), "{r}");

    let r = refused_json(&outcome("PHQ9", json!([0, 0, "x", 0, 0, 0, 0, 0, 0])));
    assert!(r.detail.contains("outcome_measure.items[2]"), "{r}");

    let r = refused_json(&envelope("death", json!({"cause": "misadventure-".repeat(10), "place": "hospital"})));
    assert_eq!(r.reason, R::UnknownCode);
    assert!(r.detail.contains("death.cause") && r.detail.contains("suspected_suicide"), "{r}");
    assert!(
        r.detail.contains("misadventure-misadventure-") && !r.detail.contains(&"misadventure-".repeat(3)),
        "code truncated to 32 chars: {r}"
    );

    let r = refused_json(&outcome("PHQ9", json!([0, 0, 0, 0, 4, 0, 0, 0, 0])));
    assert!(r.detail.contains("outcome_measure.items[4]") && r.detail.contains("0–3"), "{r}");

    let r = refused_json(&with(contact(), "occurred_at", json!("9999-12-31T00:00:00Z")));
    assert!(r.detail.contains("occurred_at") && r.detail.contains("1900"), "{r}");
}

#[test]
fn honos_allows_two_unknown_items_but_not_three() {
    let two = outcome("HONOS", json!([9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]));
    assert!(decode(&bytes(&two), None).is_ok());
}

#[test]
fn hostile_input_is_refused_without_panic() {
    let big = vec![b'{'; 10 * 1024 * 1024];
    assert_eq!(refused(&big, None).reason, R::PayloadTooLarge);
    assert_eq!(refused(&nested_arrays(10_000), None).reason, R::MalformedJson);
    let deep_objects = "{\"a\":".repeat(10_000) + &"}".repeat(10_000);
    assert_eq!(refused(deep_objects.as_bytes(), None).reason, R::MalformedJson);
    // Deep nesting inside an unknown field of a valid event, within 64 KiB.
    let deep_unknown = format!(
        r#"{{"event_id":"e","occurred_at":"2024-03-01T10:15:00Z","person_id":"9434765919","smoking_status":{{"status":"ex"}},"x":{}}}"#,
        String::from_utf8(nested_arrays(20_000)).unwrap()
    );
    assert_eq!(refused(deep_unknown.as_bytes(), None).reason, R::MalformedJson);
    // Binary garbage of every length up to 256 bytes, with the protobuf header: no panic.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in 0..256 {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = decode(&garbage, PROTOBUF);
        let _ = decode(&garbage, None);
    }
}

#[test]
fn validate_refuses_a_contract_event_without_occurred_at() {
    let raw = v1::Event { occurred_at: None, ..proto_event() };
    assert_eq!(validate(raw).unwrap_err().reason, R::MissingField);
}
