//! `kpi demo`: the whole data flow in one process, with nothing to install. Synthetic EPR events
//! go through the ingest transform, the engine's semantics and the publisher's computation over
//! in-process queues (no Kafka), into an SQLite warehouse file (no PostgreSQL), with `/metrics`
//! served while it runs, and a table of every indicator printed at the end.
//!
//! The stages are the services' own code: `kpi_ingest::transform` (validation and
//! pseudonymisation), `kpi_core::replay::Replay` (the engine's semantics, which the engine must
//! always agree with, as the end-to-end tests check), `kpi_publisher::service::Publication`
//! (values, disclosure control, SPC) and the services' metrics. What the demo leaves out is the
//! delivery machinery: broker offsets, transactions, partitions.

mod flow;
mod table;
mod warehouse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::generate::FeedArgs;

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub feed: FeedArgs,
    /// SQLite file the warehouse tables are written to (replaced if it exists).
    #[arg(long, default_value = "kpi-demo.sqlite")]
    pub warehouse: PathBuf,
    /// Address for /metrics, /healthz and /readyz while the demo runs (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub metrics_listen: SocketAddr,
    /// Keep serving /metrics after the table is printed, until Ctrl-C (to point Prometheus at it).
    #[arg(long)]
    pub keep_serving: bool,
    /// Reference population by ethnic category, sex and age (default: deploy/reference/population.csv, built in).
    #[arg(long, requires = "population_imd")]
    pub population: Option<PathBuf>,
    /// Reference population by deprivation quintile (default: deploy/reference/population_imd.csv, built in).
    #[arg(long, requires = "population")]
    pub population_imd: Option<PathBuf>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    kpi_runtime::telemetry::init(&kpi_runtime::settings::LogSettings { level: "error".into(), ..Default::default() });
    let population = flow::population(args.population.as_deref(), args.population_imd.as_deref())?;
    let outcome = flow::run(&args, &population).await?;
    let publication = &outcome.publication;
    warehouse::write(&args.warehouse, publication, &outcome.dead_letters)
        .await
        .with_context(|| format!("writing the demo warehouse {}", args.warehouse.display()))?;

    println!("{}", table::render(&publication.published, &publication.spc));
    println!(
        "{} lines for {} people: {} events applied, {} duplicates, {} dead-lettered ({}).",
        outcome.lines,
        args.feed.people,
        outcome.applied,
        outcome.duplicates,
        outcome.dead_letters.total(),
        outcome.dead_letters.summary(),
    );
    println!(
        "Values for every month, rolling 12 months and stratum: {} (warehouse tables in {}). Done in {:.1} s.",
        publication.published.len(),
        args.warehouse.display(),
        started.elapsed().as_secs_f64()
    );
    println!("Metrics were served on http://{}/metrics.", outcome.metrics_addr);
    if args.keep_serving {
        println!("Serving /metrics until Ctrl-C.");
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    outcome.admin_shutdown.cancel();
    Ok(())
}
