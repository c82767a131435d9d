//! `kpi-engine`: the middle of the data flow. It reads the canonical topic, keeps each person's
//! events in effect, and keeps the warehouse's `indicator_counts` equal to the sum of every
//! person's contributions, counting each event exactly once through crashes and rebalances.
//!
//! # Layout
//!
//! - [`partitions`]: the partitions this instance owns, their person states and next offsets.
//! - [`batch`]: one batch applied in one PostgreSQL transaction (seen ids, retractions, person
//!   state, count deltas, fenced offsets), undone in memory if the transaction fails; in two
//!   halves, [`batch::prepare`] and [`batch::finish`].
//! - [`in_flight`]: the pipeline: a batch finishes (counts, offsets, commit) in its own task
//!   while the next is prepared, and what happens when the one in flight fails.
//! - [`steps`]: how long each step of a batch took (`kpi_engine_batch_step_seconds_total`).
//! - [`internal_events`]: every observable occurrence, logged and counted together.
//! - [`service`]: the Kafka loop: batches, claiming partitions, seeking to stored offsets,
//!   retrying with backoff while the warehouse is down (reading at most one batch ahead).
//!
//! Effectively-once: the next offset of every partition is committed in the same transaction as
//! the counts it produced, and each partition carries an epoch that a new owner bumps, so a
//! stale owner's commit fails instead of counting twice. Kafka's committed offsets are a hint.

pub mod batch;
pub mod in_flight;
pub mod internal_events;
pub mod partitions;
pub mod service;
pub mod steps;

pub use service::run;
