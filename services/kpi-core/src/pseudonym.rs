//! The ingest boundary's de-identification: every patient identifier is replaced by a keyed
//! HMAC-SHA-256 pseudonym before an event leaves `kpi-ingest`. Same key, same pseudonym, so a
//! person's events still join up; without the key the pseudonym cannot be reversed or
//! recomputed from a guessed NHS number (which a plain SHA-256 could).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::{Event, Payload};

/// Minimum key length: 32 bytes, the HMAC-SHA-256 block security level.
pub const MIN_KEY_BYTES: usize = 32;

/// Keyed pseudonymiser. Deliberately not `Debug`, so the key cannot reach a log line.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

#[derive(Debug, thiserror::Error)]
#[error("the pseudonymisation key is {0} bytes; it must be at least {MIN_KEY_BYTES} bytes of secret random data (for example `openssl rand -hex 32`)")]
pub struct KeyTooShort(pub usize);

impl Pseudonymiser {
    pub fn new(key: &[u8]) -> Result<Self, KeyTooShort> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort(key.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        Ok(Pseudonymiser { mac })
    }

    /// The pseudonym of one identifier: 64 lowercase hex characters. The `domain` separates
    /// kinds of identifier, so that a referral id equal to an event id gets another pseudonym.
    pub fn pseudonym(&self, domain: &str, identifier: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(identifier.as_bytes());
        // Into a buffer at once: `hex::encode` builds the string a character at a time, and
        // ingest spells out three or four pseudonyms an event.
        let mut digits = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut digits).expect("32 bytes are 64 hex digits");
        std::str::from_utf8(&digits).expect("hex digits are ASCII").to_owned()
    }

    /// Replaces every identifier of a validated event with its pseudonym.
    pub fn pseudonymise(&self, event: &mut Event) {
        event.event_id = self.pseudonym("event", &event.event_id);
        if let Some(person) = event.person.as_mut() {
            *person = self.pseudonym("person", person);
        }
        // A retraction's target must hash exactly as that event's own id did; every other
        // payload id names a referral, detention or ward stay.
        let id_domain = match event.payload {
            Payload::EventRetracted { .. } => "event",
            _ => "episode",
        };
        for id in event.payload.identifiers_mut() {
            *id = self.pseudonym(id_domain, id);
        }
    }
}

/// Whether `text` is spelled as [`Pseudonymiser::pseudonym`] spells a pseudonym: 64 lowercase
/// hex digits. The warehouse keeps event ids and person pseudonyms as the 32 bytes they spell
/// (migration 0012), so an id spelled otherwise could not be kept, or read back, as sent.
pub fn is_pseudonym(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether every id the warehouse keeps of `event` is a pseudonym ([`is_pseudonym`]): its own
/// id, its person's and, for a retraction, its target's. True of every event kpi-ingest writes.
pub fn has_pseudonymous_ids(event: &Event) -> bool {
    let target_ok = match &event.payload {
        Payload::EventRetracted { retracted_event_id } => is_pseudonym(retracted_event_id),
        _ => true,
    };
    is_pseudonym(&event.event_id) && event.person.as_deref().is_none_or(is_pseudonym) && target_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_keys_and_separates_domains() {
        assert!(Pseudonymiser::new(&[7; 16]).is_err());
        let p = Pseudonymiser::new(&[7; 32]).unwrap();
        let a = p.pseudonym("person", "9434765919");
        assert_eq!(a.len(), 64);
        assert_eq!(a, p.pseudonym("person", "9434765919"));
        assert_ne!(a, p.pseudonym("event", "9434765919"));
        let other = Pseudonymiser::new(&[8; 32]).unwrap();
        assert_ne!(a, other.pseudonym("person", "9434765919"));
    }

    #[test]
    fn only_the_spelling_of_a_pseudonym_is_one() {
        let p = Pseudonymiser::new(&[7; 32]).unwrap();
        let id = p.pseudonym("event", "E1");
        assert!(is_pseudonym(&id));
        assert!(!is_pseudonym(&id.to_uppercase()), "upper case would not read back as sent");
        assert!(!is_pseudonym(&id[1..]), "63 digits");
        assert!(!is_pseudonym(&format!("{id}0")), "65 digits");
        assert!(!is_pseudonym(&format!("g{}", &id[1..])), "not a hex digit");
        assert!(!is_pseudonym("E1"));
    }

    #[test]
    fn an_event_has_pseudonymous_ids_only_when_every_id_kept_is_one() {
        let sent: Event = serde_json::from_str(
            r#"{"event_id": "E1", "occurred_at": "2024-03-01T10:00:00Z", "recorded_at": "2024-03-01T10:00:00Z",
                "date": "2024-03-01", "person": "P1", "payload": {"type": "event_retracted", "retracted_event_id": "E0"}}"#,
        )
        .expect("a canonical event");
        assert!(!has_pseudonymous_ids(&sent), "as the source sent it");
        let mut written = sent.clone();
        Pseudonymiser::new(&[7; 32]).unwrap().pseudonymise(&mut written);
        assert!(has_pseudonymous_ids(&written), "as kpi-ingest writes it");

        // Each kept id in turn left as the source sent it.
        let mut own_id = written.clone();
        own_id.event_id = sent.event_id.clone();
        assert!(!has_pseudonymous_ids(&own_id), "its own id");
        let mut person = written.clone();
        person.person = sent.person.clone();
        assert!(!has_pseudonymous_ids(&person), "its person");
        let mut target = written.clone();
        target.payload = sent.payload.clone();
        assert!(!has_pseudonymous_ids(&target), "a retraction's target");
        let mut no_person = written;
        no_person.person = None;
        assert!(has_pseudonymous_ids(&no_person), "a retraction may come without a person");
    }
}
