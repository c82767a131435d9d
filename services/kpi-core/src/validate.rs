//! Ingest boundary: raw bytes from the raw topic → a validated domain event, or a rejection.
//!
//! [`decode`] is the whole boundary (size, content type, JSON or protobuf decoding, then
//! [`validate`]); [`validate`] applies every rule of the contract (`docs/events.md`) to an
//! already decoded contract event, so both wire formats are held to exactly the same rules.
//!
//! Rejection details name the field and the fix but never quote an identifier (`person_id`,
//! `event_id` and the ids inside payloads): they end up on the dead-letter topic, in logs and in
//! front of people who must not see them. Coded values may be quoted, truncated.

mod fields;
mod json;
mod payload;
mod protobuf;

use chrono_tz::Europe::London;
use kpi_contract::v1;

use crate::event::Event;
use crate::reject::{RejectReason, Rejection};

pub use fields::nhs_number_is_valid;

/// Largest accepted message, in bytes (the contract's 64 KiB), checked before any parsing.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Decodes and validates one raw-topic message.
///
/// `content_type` is the Kafka `content-type` header: absent or `application/json` (with
/// optional parameters; a `charset` must be UTF-8) selects JSON, `application/x-protobuf`
/// selects binary protobuf. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Result<Event, Rejection> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(
            RejectReason::PayloadTooLarge,
            format!(
                "the message is {} bytes; the contract allows at most {MAX_EVENT_BYTES} bytes \
                 (64 KiB) per event: send one event per message",
                bytes.len()
            ),
        ));
    }
    let raw = match Format::of(content_type)? {
        Format::Json => json::decode(bytes)?,
        Format::Protobuf => protobuf::decode(bytes)?,
    };
    validate(raw)
}

/// Applies every contract rule to a decoded contract event and builds the domain event.
///
/// The payload's presence is checked first, then the envelope, then the payload's fields: the
/// first problem reported is the one a feed engineer would look at first.
pub fn validate(raw: v1::Event) -> Result<Event, Rejection> {
    let v1::Event { event_id, occurred_at, recorded_at, source_system, provider_code, person_id, payload } = raw;
    let Some(payload) = payload else {
        return Err(json::missing_payload());
    };
    let event_id = fields::identifier("event_id", event_id)?;
    let occurred_at = fields::timestamp("occurred_at", occurred_at)?;
    let recorded_at = match recorded_at {
        Some(t) => fields::timestamp("recorded_at", Some(t))?,
        None => occurred_at,
    };
    let retraction = matches!(payload, v1::event::Payload::EventRetracted(_));
    let person = if retraction && person_id.is_empty() { None } else { Some(fields::person_id(person_id)?) };
    let source_system = fields::optional("source_system", source_system)?;
    let provider_code = fields::optional("provider_code", provider_code)?;
    let date = occurred_at.with_timezone(&London).date_naive();
    let payload = payload::convert(payload, date)?;
    Ok(Event { event_id, occurred_at, recorded_at, date, person, source_system, provider_code, payload })
}

/// The wire formats the contract accepts.
enum Format {
    Json,
    Protobuf,
}

impl Format {
    /// Reads the `content-type` header: media type case-insensitive, parameters allowed, but a
    /// JSON `charset` other than UTF-8 is refused (the contract's JSON is UTF-8 only).
    fn of(content_type: Option<&str>) -> Result<Format, Rejection> {
        let Some(header) = content_type else {
            return Ok(Format::Json);
        };
        let mut parts = header.split(';');
        let media_type = parts.next().unwrap_or("").trim();
        let unsupported = || {
            Rejection::new(
                RejectReason::UnsupportedContentType,
                format!(
                    "content-type {:?} is not accepted; send `application/json` (UTF-8), \
                     `application/x-protobuf`, or no content-type header for JSON",
                    fields::truncated(header)
                ),
            )
        };
        if media_type.eq_ignore_ascii_case("application/x-protobuf") {
            return Ok(Format::Protobuf);
        }
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(unsupported());
        }
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset")
                && !(value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8"))
            {
                return Err(unsupported());
            }
        }
        Ok(Format::Json)
    }
}
