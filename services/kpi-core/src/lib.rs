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

pub mod codes;
pub mod event;
pub mod pseudonym;
pub mod reject;
pub mod validate;

pub use event::{Event, Payload};
pub use pseudonym::Pseudonymiser;
pub use reject::{RejectReason, Rejection};
