//! `kpi ingest|engine|publisher|all` and `kpi migrate`: checks the settings the chosen services
//! need, then runs each with its own admin server and metrics registry until SIGINT/SIGTERM.
//! Shutdown: the signal cancels one token; each service commits the batch in hand and returns;
//! after `shutdown_deadline_ms` the process exits regardless (uncommitted work is redone from
//! the stored offsets on the next start).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use prometheus::Registry;
use tokio::task::JoinSet;

use kpi_engine::internal_events::EngineMetrics;
use kpi_ingest::internal_events::IngestMetrics;
use kpi_publisher::gauges::IndicatorGauges;
use kpi_publisher::internal_events::PublisherMetrics;
use kpi_runtime::admin::{self, Readiness};
use kpi_runtime::settings::{Needs, Settings};
use kpi_runtime::shutdown::{cancel_on_signal, with_deadline, CancellationToken};

/// Which services to run in this process.
#[derive(Debug, Clone, Copy)]
pub struct Services(Needs);

impl Services {
    pub const INGEST: Services = Services(Needs { ingest: true, engine: false, publisher: false });
    pub const ENGINE: Services = Services(Needs { ingest: false, engine: true, publisher: false });
    pub const PUBLISHER: Services = Services(Needs { ingest: false, engine: false, publisher: true });
    pub const ALL: Services = Services(Needs { ingest: true, engine: true, publisher: true });
}

fn load(config: Option<&Path>, needs: Needs) -> anyhow::Result<Settings> {
    let settings = Settings::load(config)?;
    settings.check(needs)?;
    kpi_runtime::telemetry::init(&settings.log);
    Ok(settings)
}

/// Connects and migrates, retrying while the database is unreachable.
async fn warehouse(settings: &Settings, shutdown: &CancellationToken) -> anyhow::Result<Option<sqlx::PgPool>> {
    let pool = kpi_warehouse::pool(&settings.postgres.url, settings.postgres.max_connections)?;
    let mut backoff = Duration::from_millis(500);
    loop {
        match kpi_warehouse::migrate(&pool).await {
            Ok(()) => {
                if let Ok(false) = kpi_warehouse::autovacuum_is_on(&pool).await {
                    tracing::warn!(
                        "PostgreSQL's autovacuum is off: nothing refreshes the warehouse's statistics, and \
                         reading persons back slows down as events_seen grows; turn autovacuum on, or run \
                         ANALYZE events_seen, retractions, indicator_counts regularly"
                    );
                }
                return Ok(Some(pool));
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "warehouse not reachable or not migrated yet; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

pub async fn migrate(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = load(config, Needs { engine: true, ..Needs::default() })?;
    let pool = kpi_warehouse::pool(&settings.postgres.url, 1)?;
    kpi_warehouse::migrate(&pool).await.context("migrating the warehouse (check postgres.url)")?;
    eprintln!("warehouse schema is up to date");
    Ok(())
}

pub async fn serve(config: Option<&Path>, Services(needs): Services) -> anyhow::Result<()> {
    let settings = load(config, needs)?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let mut tasks = JoinSet::new();

    if needs.ingest {
        let registry = Registry::new();
        let metrics = IngestMetrics::register(&registry)?;
        let ready = Readiness::default();
        admin::serve(settings.ingest.admin_listen, registry, vec![ready.clone()], shutdown.clone()).await?;
        let (settings, shutdown) = (settings.clone(), shutdown.clone());
        tasks.spawn(async move { kpi_ingest::run(&settings, metrics, ready, shutdown).await.context("ingest") });
    }
    if needs.engine || needs.publisher {
        let engine_ready = Readiness::default();
        let engine_broker_ready = Readiness::default();
        let publisher_ready = Readiness::default();
        let engine_registry = Registry::new();
        let publisher_registry = Registry::new();
        let engine_metrics = EngineMetrics::register(&engine_registry)?;
        let gauges = IndicatorGauges::register(&publisher_registry)?;
        let publisher_metrics = PublisherMetrics::register(&publisher_registry)?;
        if needs.engine {
            let ready = vec![engine_ready.clone(), engine_broker_ready.clone()];
            admin::serve(settings.engine.admin_listen, engine_registry, ready, shutdown.clone()).await?;
        }
        if needs.publisher {
            kpi_publisher::service::load_population(&settings.publisher)?;
            admin::serve(
                settings.publisher.admin_listen,
                publisher_registry,
                vec![publisher_ready.clone()],
                shutdown.clone(),
            )
            .await?;
        }
        let (settings, shutdown) = (settings.clone(), shutdown.clone());
        tasks.spawn(async move {
            let Some(pool) = warehouse(&settings, &shutdown).await? else { return Ok(()) };
            let mut services = JoinSet::new();
            if needs.engine {
                let (settings, pool, shutdown) = (settings.clone(), pool.clone(), shutdown.clone());
                services.spawn(async move {
                    kpi_engine::run(&settings, pool, engine_metrics, engine_ready, engine_broker_ready, shutdown)
                        .await
                        .context("engine")
                });
            }
            if needs.publisher {
                let (settings, shutdown) = (settings.clone(), shutdown.clone());
                services.spawn(async move {
                    kpi_publisher::run(&settings, pool, gauges, publisher_metrics, publisher_ready, shutdown)
                        .await
                        .context("publisher")
                });
            }
            first_failure(&mut services, &shutdown).await
        });
    }

    let deadline = Duration::from_millis(settings.shutdown_deadline_ms);
    let outcome = with_deadline(&shutdown, deadline, first_failure(&mut tasks, &shutdown)).await;
    outcome.unwrap_or(Ok(()))
}

/// Waits for every task; the first failure cancels the others and is returned.
async fn first_failure(tasks: &mut JoinSet<anyhow::Result<()>>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(error) = result {
            shutdown.cancel();
            failure.get_or_insert(error);
        } else if !shutdown.is_cancelled() {
            // A service that returns on its own is a failure of the whole: stop the rest.
            shutdown.cancel();
        }
    }
    failure.map_or(Ok(()), Err)
}
