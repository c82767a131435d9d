//! Why a raw event was refused at the ingest boundary: a stable, machine-readable reason code
//! (the `kpi-reason` header on the dead-letter topic, and a bounded metric label) and a detail
//! for the person who fixes the feed. No detail quotes an identifier field; `unknown_code` and
//! `invalid_value` quote (at most 32 characters of) the bad value, which a broken extract could
//! fill with an identifier, so details go only to the restricted dead-letter topic, never to logs.

use std::fmt;

/// A stable reason code. Codes are part of the interface with informatics teams: add new ones,
/// never rename or reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The message is over 64 KiB.
    PayloadTooLarge,
    /// The `content-type` header names a format the contract does not accept.
    UnsupportedContentType,
    /// A JSON message that is not valid UTF-8.
    InvalidUtf8,
    /// Not a JSON object, or JSON that does not parse (including nesting too deep).
    MalformedJson,
    /// Bytes with the protobuf header that do not decode as an `Event`, or that repeat a
    /// top-level field (protobuf would silently keep the last; two events concatenated).
    MalformedProtobuf,
    /// None of the payload fields is present.
    MissingPayload,
    /// More than one payload field is present.
    MultiplePayloads,
    /// A required field is absent or empty.
    MissingField,
    /// A field has the wrong JSON type (a number where a string belongs, ...).
    IllTypedField,
    /// A field's value breaks its format or length (dates, ids over 64 characters, a NUL
    /// character, which PostgreSQL cannot store, ...).
    InvalidValue,
    /// A coded field holds a code the contract does not list.
    UnknownCode,
    /// A timestamp that is not RFC 3339 with an offset, or out of the supported range.
    InvalidTimestamp,
    /// A 10-digit NHS number whose Modulus 11 check digit is wrong.
    InvalidNhsNumber,
    /// A person id that is neither an NHS number nor `local:` followed by an id.
    InvalidPersonId,
    /// An outcome rating with the wrong number of items for its instrument.
    WrongItemCount,
    /// An outcome item outside its instrument's range.
    ItemOutOfRange,
    /// A HoNOS rating with more than 2 items "not known".
    TooManyUnknownItems,
    /// An episode's end dated before its start (found by the engine, which knows both).
    EndedBeforeStarted,
}

impl RejectReason {
    pub const ALL: &'static [RejectReason] = &[
        Self::PayloadTooLarge,
        Self::UnsupportedContentType,
        Self::InvalidUtf8,
        Self::MalformedJson,
        Self::MalformedProtobuf,
        Self::MissingPayload,
        Self::MultiplePayloads,
        Self::MissingField,
        Self::IllTypedField,
        Self::InvalidValue,
        Self::UnknownCode,
        Self::InvalidTimestamp,
        Self::InvalidNhsNumber,
        Self::InvalidPersonId,
        Self::WrongItemCount,
        Self::ItemOutOfRange,
        Self::TooManyUnknownItems,
        Self::EndedBeforeStarted,
    ];

    /// The stable code, snake_case.
    pub fn code(self) -> &'static str {
        match self {
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedContentType => "unsupported_content_type",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MalformedJson => "malformed_json",
            Self::MalformedProtobuf => "malformed_protobuf",
            Self::MissingPayload => "missing_payload",
            Self::MultiplePayloads => "multiple_payloads",
            Self::MissingField => "missing_field",
            Self::IllTypedField => "ill_typed_field",
            Self::InvalidValue => "invalid_value",
            Self::UnknownCode => "unknown_code",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::InvalidNhsNumber => "invalid_nhs_number",
            Self::InvalidPersonId => "invalid_person_id",
            Self::WrongItemCount => "wrong_item_count",
            Self::ItemOutOfRange => "item_out_of_range",
            Self::TooManyUnknownItems => "too_many_unknown_items",
            Self::EndedBeforeStarted => "ended_before_started",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused event: its reason and a human-readable detail naming the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection { reason, detail: detail.into() }
    }
}
