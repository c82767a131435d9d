//! `kpi-ingest`: the first service of the data flow. It reads the raw topic, validates each
//! event against the contract, pseudonymises every identifier, and writes the canonical topic
//! (keyed by the person's pseudonym); what fails validation goes to the dead-letter topic with
//! its original bytes and a reason.
//!
//! # Layout
//!
//! - [`transform`]: one raw message → a canonical record or a dead-letter record (pure).
//! - [`internal_events`]: every observable occurrence, which logs and counts together.
//! - [`service`]: the Kafka loop: consume a batch, produce it, and commit the consumer offsets
//!   only once every produce of the batch is acknowledged.

pub mod internal_events;
pub mod service;
pub mod transform;

pub use service::run;
