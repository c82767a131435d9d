//! The refresh loop: every interval, if the counts changed since the last refresh, recompute
//! all values from the counts and the reference populations and publish them.

use std::fs::File;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use kpi_core::population::Population;
use kpi_core::spc::{spc_rows, SpcSettings};
use kpi_core::values::{compute, month_range, publish};
use kpi_runtime::admin::Readiness;
use kpi_runtime::settings::PublisherSettings;
use kpi_runtime::shutdown::CancellationToken;
use kpi_warehouse::publish::{counts_version, read_counts, read_horizon, write_catalogue, write_values};
use kpi_warehouse::WarehouseError;

use crate::gauges::IndicatorGauges;
use crate::internal_events::PublisherMetrics;

/// Reads the reference populations named in the settings.
pub fn load_population(settings: &PublisherSettings) -> anyhow::Result<Population> {
    let open = |path: &std::path::Path| File::open(path).with_context(|| format!("opening {}", path.display()));
    Population::from_csv(open(&settings.population_file)?, open(&settings.population_imd_file)?)
        .context("reading the reference population (publisher.population_file, publisher.population_imd_file)")
}

/// Runs the publisher until `shutdown` is cancelled.
pub async fn run(
    settings: &PublisherSettings,
    pool: PgPool,
    gauges: IndicatorGauges,
    metrics: PublisherMetrics,
    ready: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let population = load_population(settings)?;
    let spc = SpcSettings::new(settings.spc_baseline, settings.spc_shift_length, settings.spc_trend_length)
        .context("publisher.spc_* settings")?;
    let interval = Duration::from_millis(settings.interval_ms);
    let mut catalogue_written = false;
    let mut published_version: Option<DateTime<Utc>> = None;
    tracing::info!(interval_ms = settings.interval_ms, "publisher started");
    loop {
        let refresh = async {
            if !catalogue_written {
                write_catalogue(&pool).await?;
                catalogue_written = true;
            }
            let version = counts_version(&pool).await?;
            if version.is_some() && version != published_version {
                let started = Instant::now();
                let rows = refresh(&pool, &population, spc, &gauges).await?;
                metrics.refreshed(rows, started.elapsed().as_secs_f64());
                published_version = version;
            }
            Ok::<(), WarehouseError>(())
        };
        match refresh.await {
            Ok(()) => ready.set(true),
            Err(error) => {
                ready.set(false);
                metrics.refresh_failed(&error);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("publisher stopped");
    Ok(())
}

/// One refresh: counts → values and SPC → the three tables and the gauges. Returns the number of values.
pub async fn refresh(
    pool: &PgPool,
    population: &Population,
    spc_settings: SpcSettings,
    gauges: &IndicatorGauges,
) -> Result<usize, WarehouseError> {
    let counts = read_counts(pool).await?;
    let Some(horizon) = read_horizon(pool).await? else { return Ok(0) };
    // An event dated in the future (up to the year 2100 passes validation) must not make the
    // publisher compute decades of empty months.
    let horizon = horizon.min(Utc::now().date_naive());
    let Some(range) = month_range(&counts, horizon) else { return Ok(0) };
    let values = compute(&counts, population, range);
    let published: Vec<_> = values.iter().map(publish).collect();
    let spc = spc_rows(&values, spc_settings);
    write_values(pool, &values, &published, &spc, Utc::now()).await?;
    gauges.show(&published, &spc);
    Ok(values.len())
}
