//! `kpi bench`, phase 9, the whole data flow at once: a second set of topics, database and
//! services, all three running and warmed up before the feed is produced, timed from the first
//! produced event until values computed from every event are published. This is the end-to-end
//! time as production would see it; the sum of phases 2 and 4-6 is its sequential upper bound.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::producer::FutureProducer;
use sqlx::PgPool;

use kpi_runtime::settings::Settings;

use super::database::BenchDb;
use super::host_cpu::{self, Shared};
use super::metrics::Metrics;
use super::report::ProcessCpu;
use super::services::{service_env, Running, Service};
use super::topics::Topics;
use super::wait::{self, Seen};
use super::{latency, produce};

/// What the overlapped run needs from the main one.
pub struct Overlap<'a> {
    pub settings: &'a Settings,
    pub exe: &'a Path,
    pub config: Option<&'a Path>,
    pub run_id: &'a str,
    pub partitions: i32,
    pub keep: bool,
    /// Where the services' logs go (a subdirectory is made).
    pub dir: &'a Path,
    pub feed: &'a Path,
    pub lines: u64,
    /// Events ingest accepted in the main run (the same file gives the same number).
    pub accepted: u64,
    pub timeout: Duration,
}

/// What the phase measured.
pub struct Overlapped {
    /// From the first produced event to published values.
    pub seconds: f64,
    /// CPU time of each service, then of PostgreSQL, the broker and the bench, over them.
    pub cpu: Vec<ProcessCpu>,
    /// Refreshes the publisher made over them.
    pub publisher_refreshes: u64,
}

/// Runs the phase on topics and a database of its own.
pub async fn run(o: Overlap<'_>, producer: &FutureProducer, client: &reqwest::Client) -> anyhow::Result<Overlapped> {
    let topics = Topics::for_run(&format!("{}o", o.run_id));
    topics.create(&o.settings.kafka, o.partitions).await?;
    let db = match BenchDb::create(&o.settings.postgres.url, &format!("kpi_bench_{}o", o.run_id)).await {
        Ok(db) => db,
        Err(error) => {
            topics.delete(&o.settings.kafka).await.ok();
            return Err(error);
        }
    };
    let result = measure(&o, &topics, &db, producer, client).await;
    if !o.keep {
        db.drop_database().await.ok();
        topics.delete(&o.settings.kafka).await.ok();
    }
    result
}

async fn measure(
    o: &Overlap<'_>,
    topics: &Topics,
    db: &BenchDb,
    producer: &FutureProducer,
    client: &reqwest::Client,
) -> anyhow::Result<Overlapped> {
    let dir = o.dir.join("overlapped");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let env = service_env(o.settings, topics, db);
    let mut services = [Service::Ingest, Service::Engine, Service::Publisher]
        .into_iter()
        .map(|s| Running::start(o.exe, s, o.config, &env, &dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pool = db.pool().await?;
    let hint = format!("see the logs in {}", dir.display());

    // Warm-up: one valid event through ingest and engine, so that group joins and migrations
    // are behind us, as they are for a service that has been running.
    let warm_up = latency::load_lines(o.feed, 1)?;
    let bar = indicatif::ProgressBar::hidden();
    produce::lines(producer, &topics.raw, warm_up.into_iter().map(Ok), None, &bar, |_, _| {})
        .await?
        .all(&topics.raw)?;
    until_engine(&mut services, client, 1, "warming up", &hint, o.timeout).await?;

    let cpu_before = cpu_seconds(&services)?;
    let shared_before = Shared::now();
    let own_before = host_cpu::own_seconds()?;
    let publisher = services[2].admin;
    let refreshes = || async {
        Ok::<_, anyhow::Error>(Metrics::scrape(client, publisher).await?.sum("kpi_publisher_refreshes_total"))
    };
    let refreshes_before = refreshes().await?;
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(o.lines);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed:>4} overlapped: producing {pos}/{len} [{bar:30}] {eta}",
        )
        .expect("valid template"),
    );
    produce::lines(producer, &topics.raw, super::feed::file_lines(o.feed)?, None, &bar, |_, _| {})
        .await?
        .all(&topics.raw)?;
    bar.finish_and_clear();
    until_engine(&mut services, client, o.accepted + 1, "overlapped: engine", &hint, o.timeout).await?;
    let (_, at) = wait::until("overlapped: publisher", o.timeout, &hint, || fresh(&pool)).await?;
    let seconds = at.duration_since(started).as_secs_f64();
    let mut cpu: Vec<ProcessCpu> = cpu_seconds(&services)?
        .into_iter()
        .zip(cpu_before)
        .map(|((process, after), (_, before))| ProcessCpu { process, seconds: after - before })
        .collect();
    cpu.extend(shared_before.since()?);
    cpu.push(ProcessCpu { process: "bench (producer)", seconds: host_cpu::own_seconds()? - own_before });
    let publisher_refreshes = (refreshes().await? - refreshes_before) as u64;
    Ok(Overlapped { seconds, cpu, publisher_refreshes })
}

fn cpu_seconds(services: &[Running]) -> anyhow::Result<Vec<(&'static str, f64)>> {
    services.iter().map(|s| Ok((s.service.name(), s.cpu_seconds()?))).collect()
}

/// Waits until the engine (`services[1]`) has committed `expected` events.
async fn until_engine(
    services: &mut [Running],
    client: &reqwest::Client,
    expected: u64,
    what: &str,
    hint: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait::until(what, timeout, hint, || {
        let alive: anyhow::Result<()> = services.iter_mut().try_for_each(Running::check_alive);
        let admin = services[1].admin;
        async move {
            alive?;
            let done = Metrics::scrape(client, admin).await?.sum("kpi_engine_events_total") as u64;
            Ok(Seen { done: (done >= expected).then_some(()), progress: format!("{done} of {expected} events") })
        }
    })
    .await?;
    Ok(())
}

/// Values computed from the counts as they are now (the publication names the counts version).
pub async fn fresh(pool: &PgPool) -> anyhow::Result<Seen<()>> {
    let fresh: Option<bool> =
        sqlx::query_scalar("SELECT (SELECT counts_version FROM publication) = (SELECT version FROM counts_version)")
            .fetch_one(pool)
            .await?;
    Ok(Seen { done: fresh.filter(|f| *f).map(|_| ()), progress: "waiting for a refresh after the last commit".into() })
}
