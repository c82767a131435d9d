//! Binary protobuf (`content-type: application/x-protobuf`) → contract event.

use kpi_contract::v1;
use prost::Message;

use super::json::PAYLOAD_FIELDS;
use crate::reject::{RejectReason, Rejection};

/// Decodes an `Event`, refusing a message that carries two different payload fields, or any
/// field of the `Event` more than once.
///
/// Protobuf itself keeps only the last member of a `oneof` seen on the wire, and merges a field
/// sent twice; accepting that silently would let a buggy producer lose an event (two encoded
/// events sent as one message merge into one, the first lost), and would accept in binary what
/// the JSON path refuses (two payloads, a key given twice). [`Fields`] re-reads the tags to tell.
pub(super) fn decode(bytes: &[u8]) -> Result<v1::Event, Rejection> {
    let malformed = |problem: String| {
        Rejection::new(
            RejectReason::MalformedProtobuf,
            format!(
                "{problem}; encode it with code generated from proto/kpi/events/v1/events.proto, \
                 or send JSON without the application/x-protobuf header"
            ),
        )
    };
    let event = v1::Event::decode(bytes)
        .map_err(|e| malformed(format!("the message does not decode as a kpi.events.v1.Event ({e})")))?;
    // Cannot fail where the `Event` decode succeeded: same tags, same wire types.
    let fields = Fields::decode(bytes).unwrap_or_default();
    let present = fields.payload_names();
    if present.len() > 1 {
        return Err(Rejection::new(
            RejectReason::MultiplePayloads,
            format!("the event has {} payload fields ({}); send exactly one", present.len(), present.join(", ")),
        ));
    }
    if let Some((name, times)) = fields.repeated() {
        return Err(malformed(format!(
            "the field `{name}` appears {times} times, so the message is not one event (two encoded \
             events sent as one message merge into one); send each field once, one event per message"
        )));
    }
    Ok(event)
}

/// The `Event` fields read as opaque bytes, only to see which are present and how often: every
/// one of them (strings, timestamps, payloads) is length-delimited on the wire.
#[derive(Clone, PartialEq, Message)]
#[rustfmt::skip]
struct Fields {
    #[prost(bytes = "vec", repeated, tag = "1")] f1: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")] f2: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "3")] f3: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "4")] f4: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "5")] f5: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "6")] f6: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "10")] f10: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "11")] f11: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "12")] f12: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "13")] f13: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "14")] f14: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "15")] f15: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "16")] f16: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "17")] f17: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "18")] f18: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "19")] f19: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "20")] f20: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "21")] f21: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "22")] f22: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "23")] f23: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "24")] f24: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "25")] f25: Vec<Vec<u8>>,
}

const ENVELOPE_FIELDS: [&str; 6] =
    ["event_id", "occurred_at", "recorded_at", "source_system", "provider_code", "person_id"];

impl Fields {
    /// Every field with its contract name, envelope (tags 1–6) then payloads (tags 10–25, in
    /// `PAYLOAD_FIELDS`'s order), and how many times it was sent.
    fn counts(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        let fields = [
            &self.f1, &self.f2, &self.f3, &self.f4, &self.f5, &self.f6, &self.f10, &self.f11, &self.f12, &self.f13,
            &self.f14, &self.f15, &self.f16, &self.f17, &self.f18, &self.f19, &self.f20, &self.f21, &self.f22,
            &self.f23, &self.f24, &self.f25,
        ];
        ENVELOPE_FIELDS.iter().chain(PAYLOAD_FIELDS).zip(fields).map(|(name, f)| (*name, f.len()))
    }

    /// Contract names of the payload fields present, in tag order.
    fn payload_names(&self) -> Vec<&'static str> {
        self.counts().skip(ENVELOPE_FIELDS.len()).filter(|(_, n)| *n > 0).map(|(name, _)| name).collect()
    }

    /// The first field sent more than once, and how many times.
    fn repeated(&self) -> Option<(&'static str, usize)> {
        self.counts().find(|(_, n)| *n > 1)
    }
}
