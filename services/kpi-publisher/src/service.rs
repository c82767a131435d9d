//! The refresh loop: when the engine commits new counts (or, at the latest, every interval, if
//! the counts changed since the last refresh), read the counts changed, compute again the values
//! they change (from the counts and the reference populations) and publish what differs.

use std::fs::File;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use sqlx::PgPool;

use kpi_core::contrib::Counts;
use kpi_core::population::Population;
use kpi_core::spc::{spc_rows, SpcRow, SpcSettings};
use kpi_core::values::{compute_reusing, month_range, publish, Computed, IndicatorValue, PublishedValue};
use kpi_runtime::admin::Readiness;
use kpi_runtime::settings::{PublisherSettings, Settings};
use kpi_runtime::shutdown::CancellationToken;
use kpi_warehouse::publish::{
    counts_version, write_catalogue, write_values, CountsRead, KeptCounts, Rows, WriteSummary, Written,
};
use kpi_warehouse::WarehouseError;

use crate::gauges::IndicatorGauges;
use crate::internal_events::PublisherMetrics;
use crate::wake;

/// Reads the reference populations named in the settings.
pub fn load_population(settings: &PublisherSettings) -> anyhow::Result<Population> {
    let open = |path: &std::path::Path| File::open(path).with_context(|| format!("opening {}", path.display()));
    Population::from_csv(open(&settings.population_file)?, open(&settings.population_imd_file)?)
        .context("reading the reference population (publisher.population_file, publisher.population_imd_file)")
}

/// Runs the publisher until `shutdown` is cancelled.
///
/// A refresh starts when the engine commits new counts (the warehouse notifies each commit, see
/// [`crate::wake`]) or, failing a notification, at the next look every `publisher.interval_ms`;
/// and never sooner after the last refresh than that refresh took, so that however often the
/// engine commits, the publisher computes at most half the time and leaves the cores to the
/// engine catching up.
pub async fn run(
    settings: &Settings,
    pool: PgPool,
    gauges: IndicatorGauges,
    metrics: PublisherMetrics,
    ready: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let publisher = &settings.publisher;
    let population = load_population(publisher)?;
    let spc = SpcSettings::new(publisher.spc_baseline, publisher.spc_shift_length, publisher.spc_trend_length)
        .context("publisher.spc_* settings")?;
    let interval = Duration::from_millis(publisher.interval_ms);
    let counts_changed = wake::listen(settings.postgres.url.clone(), interval, shutdown.clone());
    let mut catalogue_written = false;
    // What the values now published were computed from: the counts version and the date (a
    // new day can open a month with no new count; see `Publication::compute`).
    let mut published: Option<(i64, NaiveDate)> = None;
    let mut remembered = Remembered::default();
    tracing::info!(interval_ms = publisher.interval_ms, "publisher started");
    loop {
        let refresh = async {
            if !catalogue_written {
                write_catalogue(&pool).await?;
                catalogue_written = true;
            }
            let today = Utc::now().date_naive();
            let version = counts_version(&pool).await?;
            let mut took = Duration::ZERO;
            if published != Some((version, today)) {
                let started = Instant::now();
                let refreshed = refresh(&pool, &population, spc, &gauges, today, &mut remembered).await?;
                took = started.elapsed();
                metrics.counts_read(refreshed.counts);
                metrics.steps(refreshed.steps);
                metrics.refreshed(refreshed.values, refreshed.rows, took.as_secs_f64(), Some(refreshed.counts_version));
                published = Some((refreshed.counts_version, today));
            }
            // Refreshed or found unchanged, the values are current: a quiet night is not staleness.
            metrics.current();
            Ok::<Duration, WarehouseError>(took)
        };
        let took = match refresh.await {
            Ok(took) => {
                ready.set(true);
                took
            }
            Err(error) => {
                ready.set(false);
                metrics.refresh_failed(&error);
                remembered.counts.forget();
                Duration::ZERO
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(took) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval.saturating_sub(took)) => {}
            _ = counts_changed.notified() => {}
        }
    }
    tracing::info!("publisher stopped");
    Ok(())
}

/// What one refresh did.
pub struct Refreshed {
    /// Indicator values published (0 before the engine's first event).
    pub values: usize,
    /// Rows of the values tables written, whole or only those that changed.
    pub rows: WriteSummary,
    /// The version of the counts they were computed from.
    pub counts_version: i64,
    /// How the counts were read: whole, or only the rows changed since the last refresh.
    pub counts: CountsRead,
    pub steps: RefreshSteps,
}

/// Seconds a refresh spent in each of its steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshSteps {
    /// Reading the counts (changed since the last refresh, or all of them).
    pub read: f64,
    /// Levels, values, disclosure control and SPC.
    pub compute: f64,
    /// Writing what changed to the three tables (PostgreSQL).
    pub write: f64,
    /// Setting the gauges.
    pub gauges: f64,
}

impl RefreshSteps {
    /// Each step with its label in `kpi_publisher_refresh_step_seconds_total`.
    pub fn labelled(self) -> [(&'static str, f64); 4] {
        [("read", self.read), ("compute", self.compute), ("write", self.write), ("gauges", self.gauges)]
    }
}

/// What a publisher keeps from one refresh to the next, so that each does only the work the
/// counts' changes call for. The values kept are checked against the counts, and the rows kept
/// against the warehouse, before they are used; the counts kept rely on every writer of
/// `indicator_counts` stamping the rows it changes (migration 0011), and are read whole again at
/// a start, after a failed refresh, and when the counts version goes back.
#[derive(Default)]
pub struct Remembered {
    /// The counts as last read: only the rows changed since are read.
    counts: KeptCounts,
    /// The values last computed, with their levels: only values whose levels changed are
    /// computed again.
    computed: Option<Computed>,
    /// What was last written: only the rows that differ from it are written.
    written: Option<Written>,
}

/// One refresh: counts → values and SPC → the three tables and the gauges, as of `today`.
pub async fn refresh(
    pool: &PgPool,
    population: &Population,
    spc_settings: SpcSettings,
    gauges: &IndicatorGauges,
    today: NaiveDate,
    remembered: &mut Remembered,
) -> Result<Refreshed, WarehouseError> {
    let mut steps = RefreshSteps::default();
    let mut watch = Instant::now();
    let mut lap = || std::mem::replace(&mut watch, Instant::now()).elapsed().as_secs_f64();
    let read = remembered.counts.refresh(pool).await?;
    steps.read = lap();
    let nothing =
        Refreshed { values: 0, rows: WriteSummary::default(), counts_version: read.version, counts: read, steps };
    let (Some(horizon), Some(counts)) = (read.horizon, remembered.counts.counts()) else { return Ok(nothing) };
    let previous = remembered.computed.as_ref();
    let Some((publication, computed)) =
        Publication::compute_reusing(counts, horizon, today, population, spc_settings, previous)
    else {
        return Ok(nothing);
    };
    remembered.computed = Some(computed);
    steps.compute = lap();
    let rows = Rows { values: publication.values, published: publication.published, spc: publication.spc };
    let (now_written, summary) =
        write_values(pool, rows, read.version, Utc::now(), remembered.written.as_ref()).await?;
    steps.write = lap();
    let rows = now_written.rows();
    gauges.show(&rows.published, &rows.spc);
    steps.gauges = lap();
    let values = rows.values.len();
    remembered.written = Some(now_written);
    Ok(Refreshed { values, rows: summary, counts_version: read.version, counts: read, steps })
}

/// Everything one refresh publishes, computed from the counts alone (no I/O, so `kpi demo`
/// publishes exactly what this service would from the same events).
pub struct Publication {
    /// Unrounded: the restricted `indicator_values`.
    pub values: Vec<IndicatorValue>,
    /// After disclosure control: `indicator_values_published` and the gauges.
    pub published: Vec<PublishedValue>,
    pub spc: Vec<SpcRow>,
}

impl Publication {
    /// Every month from the first counted one to the month of `horizon` (the latest event
    /// date), but never past `today`: an event dated in the future (validation lets dates up to
    /// 2100 through) must not make the publisher compute decades of empty months. `None`
    /// before there is anything to publish.
    pub fn compute(
        counts: &Counts,
        horizon: NaiveDate,
        today: NaiveDate,
        population: &Population,
        spc_settings: SpcSettings,
    ) -> Option<Publication> {
        Self::compute_reusing(counts, horizon, today, population, spc_settings, None)
            .map(|(publication, _)| publication)
    }

    /// As [`compute`](Self::compute), reusing the values of `previous` whose counted levels have
    /// not changed (see [`compute_reusing`]); also returns what to pass as `previous` next time.
    pub fn compute_reusing(
        counts: &Counts,
        horizon: NaiveDate,
        today: NaiveDate,
        population: &Population,
        spc_settings: SpcSettings,
        previous: Option<&Computed>,
    ) -> Option<(Publication, Computed)> {
        let range = month_range(counts, horizon.min(today))?;
        let computed = compute_reusing(counts, population, range, previous);
        let values = computed.values.clone();
        let published = values.iter().map(publish).collect();
        let spc = spc_rows(&values, spc_settings);
        Some((Publication { values, published, spc }, computed))
    }
}
