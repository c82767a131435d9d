//! The command line. Every command loads the same settings (file, then `KPI__` variables) and
//! reports failure as one readable message with its causes, exit code 1 (2 for usage errors).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{alert_rules, bench, demo, generate, produce, serve};

/// NHS mental health indicators from EPR events: Kafka in, PostgreSQL and Prometheus out.
#[derive(Debug, Parser)]
#[command(
    name = "kpi",
    version,
    about = "NHS mental health indicators from EPR events: Kafka in, PostgreSQL and Prometheus out."
)]
pub struct Cli {
    /// Settings file (TOML). Without it, ./kpi.toml is read if present. Every setting can also be
    /// given as an environment variable KPI__SECTION__KEY, e.g. KPI__KAFKA__BROKERS=host:9092.
    #[arg(long, short, global = true, env = "KPI_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try it with nothing installed: synthetic events through ingest, engine and publisher in
    /// one process (no Kafka, no PostgreSQL), an SQLite warehouse file, /metrics while it runs,
    /// and a table of every indicator with its SPC reading at the end.
    Demo(demo::DemoArgs),
    /// Run the ingest service: raw topic → validated, pseudonymised canonical topic (+ dead letters).
    Ingest,
    /// Run the engine: canonical topic → person state → indicator counts in PostgreSQL.
    Engine,
    /// Run the publisher: counts → values, limits, disclosure control → warehouse and /metrics.
    Publisher,
    /// Run all three services in one process.
    All,
    /// Create or upgrade the warehouse schema and roles, then exit.
    Migrate,
    /// Write seeded synthetic EPR events (NDJSON, one raw event per line).
    Generate(generate::GenerateArgs),
    /// Publish an NDJSON file of raw events to the raw topic (key: person_id, else event_id).
    Produce(produce::ProduceArgs),
    /// Print the Prometheus alert rules generated from the catalogue (deploy/prometheus/rules/kpi-alerts.yml).
    AlertRules(alert_rules::AlertRulesArgs),
    /// Measure the whole data flow on this machine: broker read speed, ingest, engine, end to end, an SQL batch peer, latency at a steady rate, peak memory (see PERFORMANCE.md).
    Bench(bench::BenchArgs),
}

/// How long the runtime waits for its remaining tasks once the command has returned.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Past the shutdown deadline a task may still be stuck, e.g. closing a Kafka consumer whose
    // broker is gone (librdkafka waits for the group coordinator without end): dropping the
    // runtime would wait for it, and the process would never exit (seen after an e2e test's
    // broker stopped first). Give what is left a moment, then exit regardless.
    runtime.shutdown_timeout(EXIT_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Ingest => serve::serve(config, serve::Services::INGEST).await,
        Command::Engine => serve::serve(config, serve::Services::ENGINE).await,
        Command::Publisher => serve::serve(config, serve::Services::PUBLISHER).await,
        Command::All => serve::serve(config, serve::Services::ALL).await,
        Command::Migrate => serve::migrate(config).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Generate(args) => generate::run(args),
        Command::Produce(args) => produce::run(config, args).await,
        Command::AlertRules(args) => alert_rules::run(args),
        Command::Bench(args) => bench::run(config, args).await,
    }
}
