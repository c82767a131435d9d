//! The publisher's operational metrics and logs: refreshes, their duration and failures.

use kpi_warehouse::publish::{CountsRead, WriteSummary};
use prometheus::{CounterVec, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::service::RefreshSteps;

#[derive(Clone)]
pub struct PublisherMetrics {
    refreshes: IntCounter,
    failures: IntCounter,
    seconds: Histogram,
    last_success: Gauge,
    rows: Gauge,
    rows_written: IntCounter,
    counts_version: IntGauge,
    count_rows_read: IntCounterVec,
    step_seconds: CounterVec,
}

impl PublisherMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let refreshes =
            IntCounter::new("kpi_publisher_refreshes_total", "Refreshes of the indicator values from changed counts.")?;
        let failures =
            IntCounter::new("kpi_publisher_refresh_failures_total", "Refreshes that failed and will be retried.")?;
        let seconds = Histogram::with_opts(
            HistogramOpts::new(
                "kpi_publisher_refresh_duration_seconds",
                "Time to read counts, compute and write all values.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let last_success = Gauge::new(
            "kpi_publisher_last_refresh_timestamp_seconds",
            "Unix time the published values were last found computed from the current counts \
             (by a refresh, or by a check that found nothing changed): freshness of everything published.",
        )?;
        let rows = Gauge::new("kpi_publisher_values", "Indicator values written by the last refresh.")?;
        let rows_written = IntCounter::new(
            "kpi_publisher_rows_written_total",
            "Rows of indicator_values, indicator_values_published and indicator_spc inserted, updated or \
             deleted by refreshes (only those that changed, except after a restart or another publisher's write).",
        )?;
        let counts_version = IntGauge::new(
            "kpi_publisher_counts_version",
            "The warehouse's counts_version the published values and gauges were computed from \
             (every engine commit that changes the counts raises it): behind counts_version until the next refresh.",
        )?;
        let count_rows_read = IntCounterVec::new(
            Opts::new(
                "kpi_publisher_count_rows_read_total",
                "Rows of indicator_counts read by refreshes: read=\"whole\" every count (at start, after a \
                 failure), read=\"changed\" only those changed since the refresh before.",
            ),
            &["read"],
        )?;
        let step_seconds = CounterVec::new(
            Opts::new(
                "kpi_publisher_refresh_step_seconds_total",
                "Time refreshes spent in each step: read (counts from PostgreSQL), compute (values, \
                 disclosure control, SPC), write (the changed rows to PostgreSQL), gauges.",
            ),
            &["step"],
        )?;
        for read in ["whole", "changed"] {
            count_rows_read.with_label_values(&[read]);
        }
        for (step, _) in RefreshSteps::default().labelled() {
            step_seconds.with_label_values(&[step]);
        }
        registry.register(Box::new(refreshes.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(rows.clone()))?;
        registry.register(Box::new(rows_written.clone()))?;
        registry.register(Box::new(counts_version.clone()))?;
        registry.register(Box::new(count_rows_read.clone()))?;
        registry.register(Box::new(step_seconds.clone()))?;
        Ok(PublisherMetrics {
            refreshes,
            failures,
            seconds,
            last_success,
            rows,
            rows_written,
            counts_version,
            count_rows_read,
            step_seconds,
        })
    }

    /// A refresh has written the values computed from `counts_version` (none without a
    /// warehouse, as in `kpi demo`) and shown them in the gauges.
    pub fn refreshed(&self, values: usize, written: WriteSummary, seconds: f64, counts_version: Option<i64>) {
        self.refreshes.inc();
        if let Some(version) = counts_version {
            self.counts_version.set(version);
        }
        self.seconds.observe(seconds);
        self.rows.set(values as f64);
        self.rows_written.inc_by((written.upserted + written.deleted) as u64);
        let WriteSummary { whole, upserted, deleted } = written;
        tracing::info!(values, whole, upserted, deleted, seconds, ?counts_version, "indicator values published");
    }

    /// A refresh has read the counts from the warehouse, whole or only the rows changed.
    pub fn counts_read(&self, read: CountsRead) {
        let kind = if read.whole { "whole" } else { "changed" };
        self.count_rows_read.with_label_values(&[kind]).inc_by(read.rows as u64);
        tracing::debug!(rows = read.rows, read = kind, version = read.version, "counts read");
    }

    /// Where a refresh's time went.
    pub fn steps(&self, steps: RefreshSteps) {
        for (step, seconds) in steps.labelled() {
            self.step_seconds.with_label_values(&[step]).inc_by(seconds);
        }
    }

    /// The published values are computed from the counts as they are now.
    pub fn current(&self) {
        self.last_success.set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
    }

    pub fn refresh_failed(&self, error: &dyn std::fmt::Display) {
        self.failures.inc();
        tracing::warn!(%error, "refreshing indicator values failed; retrying at the next interval");
    }
}
