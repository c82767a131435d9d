//! Valid events: every payload type in JSON and in binary protobuf gives the same domain event.

use chrono::{NaiveDate, TimeZone, Utc};
use kpi_contract::{v1, Message, Timestamp};
use kpi_core::codes::*;
use kpi_core::validate::{decode, nhs_number_is_valid, validate, MAX_EVENT_BYTES};
use kpi_core::{Event, Payload};
use serde_json::{json, Value};

const PROTOBUF: Option<&str> = Some("application/x-protobuf");

fn envelope(payload_field: &str, payload: Value) -> Value {
    json!({
        "event_id": "rio-88213",
        "occurred_at": "2024-03-01T10:15:00Z",
        "person_id": "9434765919",
        payload_field: payload,
    })
}

fn from_json(v: &Value) -> Event {
    decode(&serde_json::to_vec(v).unwrap(), None).unwrap_or_else(|r| panic!("{v} refused: {r}"))
}

fn from_protobuf(payload: v1::event::Payload) -> Event {
    let raw = v1::Event {
        event_id: "rio-88213".into(),
        occurred_at: Some(Timestamp { seconds: 1_709_288_100, nanos: 0 }), // 2024-03-01T10:15:00Z
        person_id: "9434765919".into(),
        payload: Some(payload),
        ..Default::default()
    };
    decode(&raw.encode_to_vec(), PROTOBUF).unwrap_or_else(|r| panic!("protobuf refused: {r}"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// One case per payload type: its JSON, the same in prost types, and the expected domain value.
#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Value, v1::event::Payload, Payload)> {
    use v1::event::Payload as P;
    let s = |x: &str| x.to_string();
    vec![
        (
            "demographics",
            json!({"birth_date": "1984-02-29", "sex": "2", "ethnic_category": "99", "imd_decile": 3}),
            P::Demographics(v1::Demographics { birth_date: s("1984-02-29"), sex: s("2"), ethnic_category: s("99"), imd_decile: Some(3) }),
            Payload::Demographics { birth_date: d("1984-02-29"), sex: Sex::Female, ethnic_category: EthnicCategory::NotKnown, imd_decile: Some(3) },
        ),
        (
            "referral_received",
            json!({"referral_id": "r-1", "service": "crisis_home_treatment", "team_code": "CRHT1"}),
            P::ReferralReceived(v1::ReferralReceived { referral_id: s("r-1"), service: s("crisis_home_treatment"), team_code: s("CRHT1") }),
            Payload::ReferralReceived { referral_id: s("r-1"), service: Service::CrisisHomeTreatment, team_code: Some(s("CRHT1")) },
        ),
        (
            "referral_discharged",
            json!({"referral_id": "r-1"}),
            P::ReferralDischarged(v1::ReferralDischarged { referral_id: s("r-1") }),
            Payload::ReferralDischarged { referral_id: s("r-1") },
        ),
        (
            "care_contact",
            json!({"referral_id": "r-1", "attended": false, "purpose": "review"}),
            P::CareContact(v1::CareContact { referral_id: s("r-1"), attended: Some(false), purpose: s("review") }),
            Payload::CareContact { referral_id: s("r-1"), attended: false, purpose: ContactPurpose::Review },
        ),
        (
            "diagnosis",
            json!({"icd10": "F20.0"}),
            P::Diagnosis(v1::Diagnosis { icd10: s("F20.0"), referral_id: s("") }),
            Payload::Diagnosis { icd10: s("F20.0"), referral_id: None },
        ),
        (
            "mha_detention_started",
            json!({"detention_id": "d-1", "section": "37/41"}),
            P::MhaDetentionStarted(v1::MhaDetentionStarted { detention_id: s("d-1"), section: s("37/41") }),
            Payload::MhaDetentionStarted { detention_id: s("d-1"), section: MhaSection::S37_41 },
        ),
        (
            "mha_detention_ended",
            json!({"detention_id": "d-1"}),
            P::MhaDetentionEnded(v1::MhaDetentionEnded { detention_id: s("d-1") }),
            Payload::MhaDetentionEnded { detention_id: s("d-1") },
        ),
        (
            "death",
            json!({"cause": "suspected_suicide", "place": "usual_residence"}),
            P::Death(v1::Death { cause: s("suspected_suicide"), place: s("usual_residence") }),
            Payload::Death { cause: DeathCause::SuspectedSuicide, place: DeathPlace::UsualResidence },
        ),
        (
            "outcome_measure",
            json!({"referral_id": "r-1", "instrument": "HONOS", "items": [0, 1, 2, 3, 4, 9, 9, 0, 1, 2, 3, 4]}),
            P::OutcomeMeasure(v1::OutcomeMeasure { referral_id: s("r-1"), instrument: s("HONOS"), items: vec![0, 1, 2, 3, 4, 9, 9, 0, 1, 2, 3, 4] }),
            Payload::OutcomeMeasure { referral_id: s("r-1"), instrument: Instrument::Honos, items: vec![0, 1, 2, 3, 4, 9, 9, 0, 1, 2, 3, 4] },
        ),
        (
            "fft_response",
            json!({"response": "dont_know"}),
            P::FftResponse(v1::FftResponse { response: s("dont_know"), team_code: s("") }),
            Payload::FftResponse { response: FftAnswer::DontKnow, team_code: None },
        ),
        (
            "accommodation_status",
            json!({"status": "rough_sleeping"}),
            P::AccommodationStatus(v1::AccommodationStatus { status: s("rough_sleeping") }),
            Payload::AccommodationStatus { status: Accommodation::RoughSleeping },
        ),
        (
            "smoking_status",
            json!({"status": "ex"}),
            P::SmokingStatus(v1::SmokingStatus { status: s("ex") }),
            Payload::SmokingStatus { status: Smoking::Ex },
        ),
        (
            "ward_stay_started",
            json!({"ward_stay_id": "w-1", "ward_code": "OAK", "out_of_area": true, "out_of_area_reason": "no_local_bed"}),
            P::WardStayStarted(v1::WardStayStarted { ward_stay_id: s("w-1"), ward_code: s("OAK"), out_of_area: Some(true), out_of_area_reason: s("no_local_bed") }),
            Payload::WardStayStarted { ward_stay_id: s("w-1"), ward_code: s("OAK"), out_of_area: true, out_of_area_reason: Some(OutOfAreaReason::NoLocalBed) },
        ),
        (
            "ward_stay_ended",
            json!({"ward_stay_id": "w-1"}),
            P::WardStayEnded(v1::WardStayEnded { ward_stay_id: s("w-1") }),
            Payload::WardStayEnded { ward_stay_id: s("w-1") },
        ),
        (
            "restrictive_intervention",
            json!({"ward_stay_id": "w-1", "kind": "seclusion"}),
            P::RestrictiveIntervention(v1::RestrictiveIntervention { ward_stay_id: s("w-1"), kind: s("seclusion") }),
            Payload::RestrictiveIntervention { ward_stay_id: s("w-1"), kind: InterventionKind::Seclusion },
        ),
        (
            "event_retracted",
            json!({"retracted_event_id": "rio-1"}),
            P::EventRetracted(v1::EventRetracted { retracted_event_id: s("rio-1") }),
            Payload::EventRetracted { retracted_event_id: s("rio-1") },
        ),
    ]
}

#[test]
fn every_payload_type_is_accepted_in_json_and_protobuf_alike() {
    let cases = cases();
    assert_eq!(cases.len(), 16);
    let at = Utc.with_ymd_and_hms(2024, 3, 1, 10, 15, 0).unwrap();
    for (field, json_payload, proto_payload, expected) in cases {
        let from_json = from_json(&envelope(field, json_payload));
        let from_protobuf = from_protobuf(proto_payload);
        assert_eq!(from_json.payload, expected, "{field} (JSON)");
        assert_eq!(from_json.payload.kind(), field);
        assert_eq!(from_json, from_protobuf, "{field}: JSON and protobuf disagree");
        assert_eq!(from_json.event_id, "rio-88213");
        assert_eq!(from_json.person.as_deref(), Some("9434765919"));
        assert_eq!((from_json.occurred_at, from_json.recorded_at), (at, at), "recorded_at defaults to occurred_at");
        assert_eq!(from_json.date, d("2024-03-01"));
        assert_eq!((from_json.source_system, from_json.provider_code), (None, None));
    }
}

#[test]
fn envelope_optional_fields_are_kept_and_empty_means_absent() {
    let mut v = envelope("smoking_status", json!({"status": "never"}));
    v["recorded_at"] = json!("2024-03-04T09:00:00.250+00:00");
    v["source_system"] = json!("rio");
    v["provider_code"] = json!("");
    let event = from_json(&v);
    assert_eq!(
        event.recorded_at,
        Utc.with_ymd_and_hms(2024, 3, 4, 9, 0, 0).unwrap() + chrono::Duration::milliseconds(250)
    );
    assert_eq!(event.source_system.as_deref(), Some("rio"));
    assert_eq!(event.provider_code, None);
}

#[test]
fn date_is_the_europe_london_calendar_date_of_occurred_at() {
    for (occurred_at, date) in [
        ("2024-06-30T23:30:00Z", "2024-07-01"),      // BST: 00:30 the next day in London
        ("2024-07-01T00:30:00+01:00", "2024-07-01"), // the same instant, written with its offset
        ("2024-06-30T22:59:59Z", "2024-06-30"),
        ("2024-01-31T23:30:00Z", "2024-01-31"), // GMT: London is UTC
        ("2024-03-31T00:30:00Z", "2024-03-31"), // before the clocks go forward at 01:00 UTC
        ("2024-10-26T23:30:00Z", "2024-10-27"), // BST, the night the clocks go back
        ("2024-10-27T23:30:00Z", "2024-10-27"), // GMT again
    ] {
        let mut v = envelope("smoking_status", json!({"status": "current"}));
        v["occurred_at"] = json!(occurred_at);
        assert_eq!(from_json(&v).date, d(date), "{occurred_at}");
    }
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let mut v =
        envelope("mha_detention_started", json!({"detention_id": "d-1", "section": "3", "legal_status_code": "03"}));
    v["schema_hint"] = json!({"nested": [1, {"deep": true}]});
    v["feed_version"] = json!(7);
    let event = from_json(&v);
    assert_eq!(event.payload, Payload::MhaDetentionStarted { detention_id: "d-1".into(), section: MhaSection::S3 });
}

#[test]
fn camel_case_names_and_null_members_follow_the_protobuf_json_mapping() {
    let v = json!({
        "eventId": "rio-2", "occurredAt": "2024-03-01T10:15:00Z", "recorded_at": null,
        "personId": "local:RX4-000123", "demographics": null,
        "wardStayStarted": {"wardStayId": "w-1", "wardCode": "OAK", "outOfArea": false, "outOfAreaReason": "not a code"},
    });
    let event = from_json(&v);
    assert_eq!(event.person.as_deref(), Some("local:RX4-000123"));
    assert_eq!(event.recorded_at, event.occurred_at);
    // The reason is ignored, even when not a code, when the stay is not out of area.
    assert_eq!(
        event.payload,
        Payload::WardStayStarted {
            ward_stay_id: "w-1".into(),
            ward_code: "OAK".into(),
            out_of_area: false,
            out_of_area_reason: None
        }
    );
}

#[test]
fn a_retraction_needs_no_person_but_a_given_one_is_checked() {
    let mut v = envelope("event_retracted", json!({"retracted_event_id": "rio-1"}));
    v.as_object_mut().unwrap().remove("person_id");
    assert_eq!(from_json(&v).person, None);
    let raw = v1::Event {
        event_id: "rio-2".into(),
        occurred_at: Some(Timestamp { seconds: 1_709_288_100, nanos: 0 }),
        payload: Some(v1::event::Payload::EventRetracted(v1::EventRetracted { retracted_event_id: "rio-1".into() })),
        ..Default::default()
    };
    assert_eq!(validate(raw.clone()).unwrap().person, None);
    let bad_person = v1::Event { person_id: "9434765918".into(), ..raw };
    assert!(validate(bad_person).is_err());
}

#[test]
fn nhs_numbers_are_checked_with_modulus_11() {
    assert!(nhs_number_is_valid("9434765919"));
    assert!(nhs_number_is_valid("4010232137"));
    assert!(!nhs_number_is_valid("9434765918"), "wrong check digit");
    assert!(!nhs_number_is_valid("4010232138"));
    assert!(!nhs_number_is_valid("1000000010"), "check digit 10 never valid");
    assert!(!nhs_number_is_valid("943476591"), "9 digits");
    assert!(!nhs_number_is_valid("943 476 5919"));
    assert!(!nhs_number_is_valid("943476591٩"), "non-ASCII digit");
    assert!(!nhs_number_is_valid(""));
}

#[test]
fn content_type_parameters_and_case_are_accepted() {
    let bytes = serde_json::to_vec(&envelope("smoking_status", json!({"status": "ex"}))).unwrap();
    for ct in ["application/json", "Application/JSON; charset=UTF-8", "application/json;charset=\"utf-8\""] {
        assert!(decode(&bytes, Some(ct)).is_ok(), "{ct}");
    }
}

#[test]
fn a_message_of_exactly_64_kib_is_accepted() {
    let mut v = envelope("smoking_status", json!({"status": "ex"}));
    v["padding"] = json!("");
    let len = serde_json::to_vec(&v).unwrap().len();
    v["padding"] = json!("x".repeat(MAX_EVENT_BYTES - len));
    let bytes = serde_json::to_vec(&v).unwrap();
    assert_eq!(bytes.len(), MAX_EVENT_BYTES);
    assert!(decode(&bytes, None).is_ok());
}

#[test]
fn icd10_codes_with_and_without_subdivision_are_accepted() {
    for code in ["F20", "F20.0", "F10.2X", "F200", "X60"] {
        let event = from_json(&envelope("diagnosis", json!({"icd10": code, "referral_id": "r-9"})));
        assert_eq!(event.payload, Payload::Diagnosis { icd10: code.into(), referral_id: Some("r-9".into()) });
    }
}
