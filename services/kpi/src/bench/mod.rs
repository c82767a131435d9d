//! `kpi bench`: the whole data flow measured in one run on one machine (issue 6). Synthetic raw
//! events → raw topic → `kpi ingest` → canonical topic → `kpi engine` → PostgreSQL →
//! `kpi publisher`, each service a child process of this executable, on topics and a database
//! made for the run; beside it, a plain consumer (the broker's read speed) and the SQL batch
//! peer. Phases, one after another: generate, produce, broker read, ingest, engine, publisher,
//! SQL peer, steady-rate latency, and end to end with all services running at once. See PERFORMANCE.md for what each number means.

mod broker_read;
mod database;
mod feed;
mod host_cpu;
mod latency;
mod metrics;
mod overlapped;
mod produce;
mod report;
mod run;
mod services;
mod sql_peer;
mod table;
mod topics;
mod wait;

use std::path::PathBuf;

use clap::Args;

pub use run::run;

/// What to run; the broker and PostgreSQL come from --brokers/--postgres-url, else the settings
/// (file, then KPI__ variables), as for the services.
#[derive(Debug, Args)]
#[command(
    after_help = "Phases: (1) generate a synthetic feed to a file; (2) produce it to a raw topic; (3) read it back \
with a plain consumer (the broker's read speed, the yardstick); (4) kpi ingest alone until every event is accepted or \
refused; (5) kpi engine until every event is committed; (6) kpi publisher until values are published; (7) the SQL \
batch peer: the same events COPYed into PostgreSQL and counted with SQL, checked against the pipeline's values; \
(8) latency from produce to committed counts and to the publisher's gauges at a steady rate; (9) end to end with all services running at once. \
Prints a table and, with --json, writes the same as JSON.\n\nNothing else is needed: topics and a database are \
created for the run and removed after it (--keep keeps them). Peak memory is read from /proc (Linux).\n\nAgainst \
the Tansu test broker (memory storage) leave producers batching, as by default: its fetch lists every batch of a \
partition, so one message per batch (\"batch.num.messages\" = \"1\" under [kafka.properties]) measures the \
broker's cost per request instead of the pipeline. Use the build scripts/setup.sh makes: Tansu 0.6.0 as released \
skips the rest of a batch when a consumer resumes inside it."
)]
pub struct BenchArgs {
    /// Kafka bootstrap servers, host:port[,host:port] (default: kafka.brokers).
    #[arg(long)]
    pub brokers: Option<String>,
    /// PostgreSQL URL of a role that may CREATE DATABASE; the bench makes its own database on
    /// that server (default: postgres.url).
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// Raw events to generate and produce (the feed's first N lines, in arrival order; the
    /// generator's people × months give about 20 lines a person over 36 months).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// People in the synthetic feed.
    #[arg(long, default_value_t = 100_000)]
    pub people: u32,
    /// Months the synthetic feed covers, from 2023-01.
    #[arg(long, default_value_t = 36)]
    pub months: u32,
    /// Random seed of the feed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 2)]
    pub partitions: i32,
    /// Events per second of the steady load of the latency phase.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u32,
    /// Length of the latency phase in seconds (0 skips it).
    #[arg(long, default_value_t = 30)]
    pub latency_seconds: u32,
    /// Longest any one phase may take before the run fails, in seconds.
    #[arg(long, default_value_t = 1_800)]
    pub phase_timeout: u64,
    /// Skip the last phase, end to end with all services running while the feed is produced (it
    /// needs a second set of topics and database, and as long again as phases 2 to 6).
    #[arg(long)]
    pub no_overlap: bool,
    /// Write the report as JSON to this file too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Keep the run's topics, database and working directory (service logs) instead of removing them.
    #[arg(long)]
    pub keep: bool,
}
