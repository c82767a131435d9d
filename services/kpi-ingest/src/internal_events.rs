//! Everything the ingest service reports: each occurrence is a typed event that logs and
//! counts together, with bounded labels only (reason codes and event types, never values).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use kpi_core::{RejectReason, Rejection};
use kpi_runtime::keep_polling::ConsumerPauses;

/// The ingest service's metrics, registered once per process.
#[derive(Clone)]
pub struct IngestMetrics {
    accepted: IntCounterVec,
    rejected: IntCounterVec,
    produce_retries: IntCounter,
    batch_seconds: Histogram,
    /// The raw-topic consumer paused while a batch waits on the broker's acknowledgements.
    pub pauses: ConsumerPauses,
}

impl IngestMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let accepted = IntCounterVec::new(
            Opts::new(
                "kpi_ingest_events_accepted_total",
                "Raw events validated and written to the canonical topic, by event type.",
            ),
            &["event_type"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "kpi_ingest_events_rejected_total",
                "Raw events refused and written to the dead-letter topic, by reason.",
            ),
            &["reason"],
        )?;
        let produce_retries =
            IntCounter::new("kpi_ingest_produce_retries_total", "Produce attempts retried after a broker error.")?;
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "kpi_ingest_batch_duration_seconds",
                "Time to validate, produce and acknowledge one batch.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )?;
        registry.register(Box::new(accepted.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(produce_retries.clone()))?;
        registry.register(Box::new(batch_seconds.clone()))?;
        // Every reason is present from the start, so dashboards and alerts see zeros, not gaps.
        for reason in RejectReason::ALL {
            rejected.with_label_values(&[reason.code()]);
        }
        let pauses = ConsumerPauses::register(registry, "kpi_ingest", "the canonical topic")?;
        Ok(IngestMetrics { accepted, rejected, produce_retries, batch_seconds, pauses })
    }

    pub fn event_accepted(&self, event_type: &'static str) {
        self.accepted.with_label_values(&[event_type]).inc();
    }

    /// A refused event: counted by reason and logged with where it came from, never its content.
    /// The detail stays on the dead-letter record (`kpi-detail`), not in the log: it may quote a
    /// bad code, and a feed that puts an NHS number in a coded field would put it in the logs.
    pub fn event_rejected(&self, rejection: &Rejection, partition: i32, offset: i64) {
        self.rejected.with_label_values(&[rejection.reason.code()]).inc();
        tracing::warn!(
            reason = rejection.reason.code(),
            partition,
            offset,
            "event dead-lettered (what to fix: the kpi-detail header of the dead-letter record)"
        );
    }

    pub fn produce_retried(&self, error: &dyn std::fmt::Display) {
        self.produce_retries.inc();
        tracing::warn!(%error, "produce failed; retrying");
    }

    pub fn batch_done(&self, seconds: f64, messages: usize) {
        self.batch_seconds.observe(seconds);
        tracing::debug!(messages, seconds, "batch acknowledged");
    }
}
