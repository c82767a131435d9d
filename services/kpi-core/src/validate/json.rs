//! JSON (the protobuf JSON mapping) → contract event, in three steps so each failure gets its
//! own reason: parse to a [`Value`] (UTF-8, syntax, nesting, duplicate keys), count the payload
//! fields, then deserialize the contract type with the failing field's path.
//!
//! serde's own messages quote the offending value (`invalid type: integer 9434765919`), which
//! may be an identifier, so type errors are described from the path and the parsed value's
//! JSON type instead, never by passing serde's message on.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use kpi_contract::v1;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_path_to_error::{Path, Segment};

use super::fields::truncated;
use crate::reject::{RejectReason, Rejection};

/// The payload field names, in tag order (10–25); exactly one must be present.
pub(super) const PAYLOAD_FIELDS: &[&str] = &[
    "demographics",
    "referral_received",
    "referral_discharged",
    "care_contact",
    "diagnosis",
    "mha_detention_started",
    "mha_detention_ended",
    "death",
    "outcome_measure",
    "fft_response",
    "accommodation_status",
    "smoking_status",
    "ward_stay_started",
    "ward_stay_ended",
    "restrictive_intervention",
    "event_retracted",
];

const TIMESTAMP_FIELDS: &[&str] = &["occurred_at", "occurredAt", "recorded_at", "recordedAt"];

pub(super) fn decode(bytes: &[u8]) -> Result<v1::Event, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidUtf8,
            format!(
                "the message is not valid UTF-8 (first bad byte at offset {}); encode the JSON \
                 as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    let object = parse_object(text)?;
    let present: Vec<&str> = object.keys().filter(|key| payload_name(key).is_some()).map(String::as_str).collect();
    match present.len() {
        0 => return Err(missing_payload()),
        1 => {}
        n => {
            return Err(Rejection::new(
                RejectReason::MultiplePayloads,
                format!("the event has {n} payload fields ({}); send exactly one", present.join(", ")),
            ))
        }
    }
    let value = Value::Object(object);
    serde_path_to_error::deserialize::<_, v1::Event>(&value).map_err(|e| type_error(e.path(), &value))
}

/// No payload field at all (JSON, binary, or a contract event built in code).
pub(super) fn missing_payload() -> Rejection {
    Rejection::new(
        RejectReason::MissingPayload,
        format!("the event has no payload field; add exactly one of: {}", PAYLOAD_FIELDS.join(", ")),
    )
}

/// The contract name of a payload field given in either JSON spelling (the protobuf JSON
/// mapping accepts the original name and its lowerCamelCase form).
fn payload_name(key: &str) -> Option<&'static str> {
    PAYLOAD_FIELDS
        .iter()
        .zip(PAYLOAD_CAMEL.iter())
        .find(|(name, camel)| **name == key || *camel == key)
        .map(|(name, _)| *name)
}

/// [`PAYLOAD_FIELDS`] in lowerCamelCase, made once: every key of every event is looked up
/// (spelling them out per lookup was a sixth of ingest's CPU).
static PAYLOAD_CAMEL: LazyLock<Vec<String>> = LazyLock::new(|| PAYLOAD_FIELDS.iter().map(|name| camel(name)).collect());

/// `referral_received` → `referralReceived`.
fn camel(name: &str) -> String {
    let mut parts = name.split('_');
    let mut out = String::with_capacity(name.len());
    out.push_str(parts.next().unwrap_or_default());
    for part in parts {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// Parses the message as one JSON object. serde_json's nesting limit (128) turns deeply nested
/// input into an error rather than a stack overflow.
fn parse_object(text: &str) -> Result<Map<String, Value>, Rejection> {
    let malformed = |problem: String| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!("{problem}; the message must be one JSON object as the contract describes"),
        )
    };
    match serde_json::from_str::<Strict>(text) {
        Ok(Strict(Value::Object(object))) => Ok(object),
        Ok(Strict(other)) => Err(malformed(format!("the message is JSON {}, not an object", json_type(&other)))),
        // Syntax and duplicate-key messages quote no input value, only positions and key names.
        Err(e) => Err(malformed(format!("the message is not valid JSON ({e})"))),
    }
}

/// A JSON value parsed strictly: a key given twice in one object (also as its snake_case and
/// camelCase spellings) is an error rather than "last one wins", so that two parsers cannot
/// read two different events out of one message. Members set to `null` are dropped, which is
/// what the protobuf JSON mapping says null means (the field's default, i.e. absent).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(camel(&key)) {
                return Err(de::Error::custom(format_args!(
                    "key {:?} appears twice in one object (counting snake_case and camelCase \
                     spellings as the same field)",
                    truncated(&key)
                )));
            }
            let Strict(value) = map.next_value()?;
            if !value.is_null() {
                object.insert(key, value);
            }
        }
        Ok(Value::Object(object))
    }
}

/// The rejection for a field that the contract type would not accept. The reason comes from
/// the field (a timestamp string that does not parse is `InvalidTimestamp`), the detail from the
/// path and the JSON type actually sent, never from the value.
fn type_error(path: &Path, root: &Value) -> Rejection {
    let segments: Vec<&Segment> = path.iter().collect();
    let found = lookup(root, &segments);
    let field = segments.iter().rev().find_map(|s| match s {
        Segment::Map { key } => Some(key.as_str()),
        _ => None,
    });
    let in_array = matches!(segments.last(), Some(Segment::Seq { .. }));
    if let (Some(field), Some(Value::String(_))) = (field, found) {
        if TIMESTAMP_FIELDS.contains(&field) {
            return Rejection::new(
                RejectReason::InvalidTimestamp,
                format!(
                    "`{path}` is not an RFC 3339 timestamp with an offset; write it like \
                     2024-03-01T10:15:00Z or 2024-03-01T11:15:00+01:00"
                ),
            );
        }
    }
    let expected = match field.unwrap_or("") {
        f if TIMESTAMP_FIELDS.contains(&f) => "an RFC 3339 timestamp string",
        "attended" | "out_of_area" | "outOfArea" => "true or false",
        "items" if in_array => "a whole number in the int32 range",
        "items" => "an array of whole numbers",
        "imd_decile" | "imdDecile" => "a whole number",
        f if payload_name(f).is_some() && !in_array => "an object",
        _ => "a string",
    };
    let found = found.map(|v| format!(", but it is {}", json_type(v))).unwrap_or_default();
    Rejection::new(
        RejectReason::IllTypedField,
        format!("`{path}` must be {expected}{found}; fix the producer to send that JSON type"),
    )
}

/// The value at `segments`, if the path leads to one.
fn lookup<'v>(root: &'v Value, segments: &[&Segment]) -> Option<&'v Value> {
    segments.iter().try_fold(root, |value, segment| match segment {
        Segment::Map { key } => value.get(key.as_str()),
        Segment::Seq { index } => value.get(*index),
        _ => None,
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number with a fraction or exponent",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spelling rule one character at a time, as `camel` was first written.
    fn camel_by_chars(name: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in name.chars() {
            match c {
                '_' => upper = true,
                c if upper => {
                    out.extend(c.to_uppercase());
                    upper = false;
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn camel_spells_every_key_as_the_rule_says() {
        assert_eq!(camel("referral_received"), "referralReceived");
        assert_eq!(camel("imd_decile"), "imdDecile");
        let awkward = ["", "_", "a__b", "_a", "a_", "ward_stay_ended", "x_ß", "é_é", "already_camelCase", "__"];
        for key in PAYLOAD_FIELDS.iter().chain(TIMESTAMP_FIELDS).chain(&awkward) {
            assert_eq!(camel(key), camel_by_chars(key), "{key:?}");
        }
    }

    #[test]
    fn payload_fields_are_found_in_both_spellings_and_nothing_else_is() {
        for name in PAYLOAD_FIELDS {
            assert_eq!(payload_name(name), Some(*name));
            assert_eq!(payload_name(&camel_by_chars(name)), Some(*name));
        }
        for key in ["event_id", "eventId", "occurred_at", "person_id", "Demographics", "referral_Received", ""] {
            assert_eq!(payload_name(key), None, "{key:?}");
        }
    }
}
