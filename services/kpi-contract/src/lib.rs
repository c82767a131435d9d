//! The contract at the very start of the data flow: the types an EPR feed publishes to the raw
//! topic, generated from `proto/kpi/events/v1/events.proto` (the schema of record).
//!
//! Decode JSON with `serde_json::from_slice::<v1::Event>` (the protobuf JSON mapping, original
//! field names, unknown fields ignored) and binary with `prost::Message::decode`. Nothing here
//! validates: `kpi_core::validate` turns a decoded `Event` into a domain event or a rejection.

pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/kpi.events.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/kpi.events.v1.serde.rs"));
}

pub use pbjson_types::Timestamp;
pub use prost::Message;
