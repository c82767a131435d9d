//! The `kpi` binary's commands, at the edges of the data flow: it starts the services that move
//! events from the raw topic to the warehouse and `/metrics`, and the tools that feed the raw
//! topic.
//!
//! # Layout
//!
//! - [`cli`]: the command line (`--help` documents every command) and error reporting.
//! - [`serve`]: `kpi ingest|engine|publisher|all`: settings checked, admin servers, services,
//!   shutdown on SIGINT/SIGTERM with a deadline.
//! - [`demo`]: `kpi demo`, the whole flow in one process over in-process queues, with an SQLite
//!   warehouse file: the first thing to run, needing nothing but the build.
//! - [`generate`]: `kpi generate`, seeded synthetic EPR events as NDJSON.
//! - [`produce`]: `kpi produce FILE`, NDJSON lines to the raw topic keyed as the contract says.
//! - [`alert_rules`]: `kpi alert-rules`, the Prometheus alert rules generated from the catalogue.

pub mod alert_rules;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod generate;
pub mod produce;
pub mod serve;
