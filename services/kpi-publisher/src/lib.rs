//! `kpi-publisher`: the last service of the data flow. Whenever the engine's counts change it
//! brings every indicator value (rates, limits, ratios) up to date from the unrounded counts
//! (reading the counts changed, computing again the values they change), writes the restricted
//! and the published (disclosure-controlled) warehouse tables, and sets the indicator gauges on
//! `/metrics` from the published values only.
//!
//! # Layout
//!
//! - [`gauges`]: the indicator gauges (bounded labels: indicator, period kind, stratum).
//! - [`internal_events`]: the publisher's own operational metrics and logs.
//! - [`service`]: the refresh loop.
//! - [`wake`]: the warehouse's notifications of new counts, which start a refresh early.

pub mod gauges;
pub mod internal_events;
pub mod service;
pub mod wake;

pub use service::run;
