//! Shared plumbing for the three services of the data flow (ingest, engine, publisher): nothing
//! here decides a number.
//!
//! # Layout
//!
//! - [`settings`]: typed settings, loaded once from a file then `KPI__` environment variables,
//!   and checked at start-up with errors that say what to fix.
//! - [`telemetry`]: logging (text or JSON) through `tracing`.
//! - [`admin`]: the admin HTTP server: `/metrics`, `/healthz`, `/readyz`.
//! - [`kafka`]: librdkafka client configuration (security settings pass through).
//! - [`keep_polling`]: keeps a consumer in its group while its downstream write is slow.
//! - [`shutdown`]: how a service stops: a cancellation token, cancelled by SIGINT/SIGTERM, and a
//!   deadline after which the process stops waiting for work in flight.

pub mod admin;
pub mod kafka;
pub mod keep_polling;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
