//! One raw message in, one record out: the canonical event (pseudonymised JSON keyed by the
//! person's pseudonym) or a dead-letter record (original bytes, original headers, and the
//! reason). Pure, so it is tested without a broker.

use kpi_core::validate::decode;
use kpi_core::{Pseudonymiser, Rejection};

/// Header naming the payload format on the raw topic.
pub const CONTENT_TYPE: &str = "content-type";
/// Dead-letter header: the stable reason code.
pub const REASON_HEADER: &str = "kpi-reason";
/// Dead-letter header: what is wrong and how to fix it.
pub const DETAIL_HEADER: &str = "kpi-detail";
/// Canonical header: the event type (a bounded label).
pub const EVENT_TYPE_HEADER: &str = "kpi-event-type";

/// What becomes of one raw message.
#[derive(Debug)]
pub enum Outcome {
    Canonical { key: String, event_type: &'static str, payload: Vec<u8> },
    DeadLetter(Rejection),
}

/// Validates and pseudonymises one raw message.
pub fn transform(pseudonymiser: &Pseudonymiser, payload: &[u8], content_type: Option<&str>) -> Outcome {
    let mut event = match decode(payload, content_type) {
        Ok(event) => event,
        Err(rejection) => return Outcome::DeadLetter(rejection),
    };
    pseudonymiser.pseudonymise(&mut event);
    // One person's events share a key, so they stay on one partition of the canonical topic;
    // a retraction sent without a person is keyed by its own (pseudonymised) id.
    let key = event.person.clone().unwrap_or_else(|| event.event_id.clone());
    let event_type = event.payload.kind();
    let payload = serde_json::to_vec(&event).expect("a domain event always serialises");
    Outcome::Canonical { key, event_type, payload }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudonymiser() -> Pseudonymiser {
        Pseudonymiser::new(&[42; 32]).unwrap()
    }

    #[test]
    fn canonical_record_holds_no_identifier_in_clear() {
        let raw = br#"{"event_id": "rio-88213", "occurred_at": "2024-03-01T10:15:00Z", "person_id": "9434765919",
                      "mha_detention_started": {"detention_id": "rio-d-551", "section": "3"}}"#;
        let Outcome::Canonical { key, event_type, payload } = transform(&pseudonymiser(), raw, None) else {
            panic!("a valid event must be accepted")
        };
        let text = String::from_utf8(payload).unwrap();
        for clear in ["9434765919", "rio-88213", "rio-d-551"] {
            assert!(!text.contains(clear) && !key.contains(clear), "{clear} leaked into {text}");
        }
        assert_eq!(key, pseudonymiser().pseudonym("person", "9434765919"));
        assert_eq!(event_type, "mha_detention_started");
        let back: kpi_core::Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back.date.to_string(), "2024-03-01");
    }

    #[test]
    fn invalid_event_is_dead_lettered_with_its_reason() {
        let raw = br#"{"event_id": "e1", "occurred_at": "2024-03-01T10:15:00Z", "person_id": "9434765918",
                      "smoking_status": {"status": "current"}}"#;
        match transform(&pseudonymiser(), raw, None) {
            Outcome::DeadLetter(r) => assert_eq!(r.reason.code(), "invalid_nhs_number"),
            other => panic!("expected a dead letter, got {other:?}"),
        }
    }
}
