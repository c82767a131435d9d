//! The pure core of the KPI pipeline: everything that decides a number, with no I/O, so that
//! the services, the in-process replay and the tests all run the same code.
//!
//! # Layout
//!
//! - [`codes`]: the contract's coded values as closed enums.
//! - [`event`]: the domain event that validation produces and the canonical topic carries.
//! - [`reject`]: why an event was refused (stable reason codes for the dead-letter topic).
//! - [`validate`]: raw bytes (JSON or protobuf) → domain [`event::Event`] or [`reject::Rejection`].
//! - [`pseudonym`]: keyed HMAC-SHA-256 replacement of every patient identifier.
//! - [`period`] and [`strata`]: the reporting periods and the breakdowns.
//! - [`person`]: one person's events in effect, latest-wins demographics.
//! - [`indicators`]: the catalogue (one table) and the families that count from person state.
//! - [`contrib`]: a person's contributions to (indicator, period, stratum) cells, and deltas.
//! - [`reach`]: from which month a batch's additions can change a person's contributions.
//! - [`replay`]: the engine's semantics in memory, the reference the services are tested against.
//! - [`population`]: the reference population files behind rates per population.
//! - [`values`]: counts → values with confidence limits, and disclosure control.
//! - [`spc`]: Making Data Count charts of the monthly series, suppressed with their counts.

pub mod codes;
pub mod contrib;
pub mod event;
pub mod indicators;
pub mod period;
pub mod person;
pub mod population;
pub mod pseudonym;
pub mod reach;
pub mod reject;
pub mod replay;
pub mod spc;
pub mod strata;
pub mod validate;
pub mod values;

pub use event::{Event, Payload};
pub use pseudonym::Pseudonymiser;
pub use reject::{RejectReason, Rejection};
