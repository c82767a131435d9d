//! Binary protobuf (`content-type: application/x-protobuf`) → contract event.

use kpi_contract::v1;
use prost::Message;

use super::json::PAYLOAD_FIELDS;
use crate::reject::{RejectReason, Rejection};

/// Decodes an `Event`, refusing a message that carries two different payload fields.
///
/// Protobuf itself keeps only the last member of a `oneof` seen on the wire; accepting that
/// silently would let a buggy producer lose an event, and would accept in binary what the JSON
/// path refuses. [`PayloadFields`] re-reads the payload tags to tell.
pub(super) fn decode(bytes: &[u8]) -> Result<v1::Event, Rejection> {
    let event = v1::Event::decode(bytes).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedProtobuf,
            format!(
                "the message does not decode as a kpi.events.v1.Event ({e}); encode it with \
                 code generated from proto/kpi/events/v1/events.proto, or send JSON without \
                 the application/x-protobuf header"
            ),
        )
    })?;
    // Cannot fail where the `Event` decode succeeded: same tags, same wire types.
    let present = PayloadFields::decode(bytes).map(|p| p.names()).unwrap_or_default();
    if present.len() > 1 {
        return Err(Rejection::new(
            RejectReason::MultiplePayloads,
            format!("the event has {} payload fields ({}); send exactly one", present.len(), present.join(", ")),
        ));
    }
    Ok(event)
}

/// The `Event` payload tags (10–25) read as opaque bytes, only to see which are present.
#[derive(Clone, PartialEq, Message)]
#[rustfmt::skip]
struct PayloadFields {
    #[prost(bytes = "vec", optional, tag = "10")] f10: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "11")] f11: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "12")] f12: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "13")] f13: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "14")] f14: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "15")] f15: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "16")] f16: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "17")] f17: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "18")] f18: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "19")] f19: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "20")] f20: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "21")] f21: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "22")] f22: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "23")] f23: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "24")] f24: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "25")] f25: Option<Vec<u8>>,
}

impl PayloadFields {
    /// Contract names of the payload fields present, in tag order (which is `PAYLOAD_FIELDS`'s).
    fn names(&self) -> Vec<&'static str> {
        let fields = [
            &self.f10, &self.f11, &self.f12, &self.f13, &self.f14, &self.f15, &self.f16, &self.f17, &self.f18,
            &self.f19, &self.f20, &self.f21, &self.f22, &self.f23, &self.f24, &self.f25,
        ];
        fields.iter().zip(PAYLOAD_FIELDS).filter(|(f, _)| f.is_some()).map(|(_, name)| *name).collect()
    }
}
