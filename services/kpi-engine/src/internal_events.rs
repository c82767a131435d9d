//! Everything the engine reports: each occurrence logs and counts together, with bounded
//! labels only (outcomes and partition numbers, never a person or an event id).

use prometheus::{
    CounterVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use kpi_runtime::keep_polling::ConsumerPauses;

use crate::batch::BatchReport;

#[derive(Clone)]
pub struct EngineMetrics {
    events: IntCounterVec,
    retractions_applied: IntCounter,
    dead_lettered: IntCounter,
    batch_seconds: Histogram,
    commit_seconds: Histogram,
    step_seconds: CounterVec,
    commit_failures: IntCounter,
    batches_recomputed: IntCounter,
    persons_read_back: Histogram,
    partitions_owned: IntGauge,
    persons_in_memory: IntGauge,
    consumer_lag: IntGaugeVec,
    /// The canonical-topic consumer paused while a batch waits on the warehouse.
    pub pauses: ConsumerPauses,
}

fn seconds_buckets() -> Vec<f64> {
    vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
}

impl EngineMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let events = IntCounterVec::new(
            Opts::new(
                "kpi_engine_events_total",
                "Canonical events by outcome: applied (new), duplicate (id already seen), already_applied (below the stored offset), undecodable.",
            ),
            &["outcome"],
        )?;
        let retractions_applied =
            IntCounter::new("kpi_engine_retractions_applied_total", "Retractions applied to their target's person.")?;
        let dead_lettered = IntCounter::new(
            "kpi_engine_dead_lettered_total",
            "End events dated before their episode's start (ended_before_started), sent to the dead-letter topic.",
        )?;
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "kpi_engine_batch_duration_seconds",
                "Time from taking a batch from the topic to its commit (a batch is prepared while the one before commits, so consecutive batches overlap).",
            )
                .buckets(seconds_buckets()),
        )?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "kpi_engine_commit_duration_seconds",
                "Time one batch spent in its steps (its PostgreSQL transaction and the computing inside it; recording events and computing contributions run side by side and both count), not counting waits for the batch before it.",
            )
            .buckets(seconds_buckets()),
        )?;
        let step_seconds = CounterVec::new(
            Opts::new(
                "kpi_engine_batch_step_seconds_total",
                "Time spent in each step of committed batches: read_persons, record_events, apply_events, contributions (the engine's own computing), add_counts, commit.",
            ),
            &["step"],
        )?;
        let commit_failures =
            IntCounter::new("kpi_engine_commit_failures_total", "Batch transactions that failed and were retried.")?;
        let batches_recomputed = IntCounter::new(
            "kpi_engine_batches_recomputed_total",
            "Batches whose duplicates PostgreSQL saw differently from the person states in memory (an event id recorded under another person, or by another instance): applied again from its answer, the contributions computed twice.",
        )?;
        let persons_read_back = Histogram::with_opts(
            HistogramOpts::new(
                "kpi_engine_persons_read_back",
                "Persons of a committed batch that were not in memory, looked up in the warehouse (read back, or found new). Near the batch's whole count of persons batch after batch: engine.person_cache_capacity is small for the trust's active people.",
            )
            .buckets(vec![0.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 20_000.0, 50_000.0]),
        )?;
        let partitions_owned =
            IntGauge::new("kpi_engine_partitions_owned", "Canonical-topic partitions this instance owns.")?;
        let persons_in_memory = IntGauge::new(
            "kpi_engine_persons_in_memory",
            "Person states held in memory (at most engine.person_cache_capacity between batches).",
        )?;
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "kpi_engine_consumer_lag_messages",
                "Messages on the canonical topic not yet consumed, per partition.",
            ),
            &["partition"],
        )?;
        for collector in [
            Box::new(events.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(retractions_applied.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(batch_seconds.clone()),
            Box::new(commit_seconds.clone()),
            Box::new(step_seconds.clone()),
            Box::new(commit_failures.clone()),
            Box::new(batches_recomputed.clone()),
            Box::new(persons_read_back.clone()),
            Box::new(partitions_owned.clone()),
            Box::new(persons_in_memory.clone()),
            Box::new(consumer_lag.clone()),
        ] {
            registry.register(collector)?;
        }
        for outcome in ["applied", "duplicate", "already_applied", "undecodable"] {
            events.with_label_values(&[outcome]);
        }
        for (step, _) in crate::batch::StepTimes::default().labelled() {
            step_seconds.with_label_values(&[step]);
        }
        let pauses = ConsumerPauses::register(registry, "kpi_engine", "the warehouse")?;
        Ok(EngineMetrics {
            events,
            retractions_applied,
            dead_lettered,
            batch_seconds,
            commit_seconds,
            step_seconds,
            commit_failures,
            batches_recomputed,
            persons_read_back,
            partitions_owned,
            persons_in_memory,
            consumer_lag,
            pauses,
        })
    }

    pub fn batch_committed(&self, report: &BatchReport, batch_seconds: f64, commit_seconds: f64) {
        self.events.with_label_values(&["applied"]).inc_by(report.new_events as u64);
        self.events.with_label_values(&["duplicate"]).inc_by(report.duplicates as u64);
        self.events.with_label_values(&["already_applied"]).inc_by(report.already_applied as u64);
        self.events.with_label_values(&["undecodable"]).inc_by(report.undecodable as u64);
        self.retractions_applied.inc_by(report.retractions_applied as u64);
        self.dead_lettered.inc_by(report.ended_before_started as u64);
        self.batch_seconds.observe(batch_seconds);
        self.commit_seconds.observe(commit_seconds);
        self.persons_read_back.observe(report.persons_read_back as f64);
        for (step, time) in report.steps.labelled() {
            self.step_seconds.with_label_values(&[step]).inc_by(time.as_secs_f64());
        }
        if report.recomputed {
            self.batches_recomputed.inc();
            tracing::info!(
                duplicates = report.duplicates,
                "PostgreSQL found duplicates the person states in memory did not foresee (an event id reused for another person?); the batch was applied from its answer"
            );
        }
        if report.undecodable > 0 {
            tracing::error!(
                count = report.undecodable,
                "canonical records that do not decode, or whose ids are not pseudonyms, were skipped: is an older or newer kpi-ingest, or something else, writing the topic?"
            );
        }
        tracing::debug!(?report, batch_seconds, "batch committed");
    }

    pub fn commit_failed(&self, error: &dyn std::fmt::Display, retry_in_ms: u64) {
        self.commit_failures.inc();
        tracing::warn!(%error, retry_in_ms, "batch not committed; the warehouse is unavailable or refused it; retrying (nothing more is consumed meanwhile)");
    }

    pub fn partition_claimed(&self, partition: i32, next_offset: i64, epoch: i64) {
        tracing::info!(
            partition,
            next_offset,
            epoch,
            "partition claimed; resuming from the offset stored in the warehouse (persons are read back as their events come)"
        );
    }

    pub fn partition_released(&self, partition: i32, why: &'static str) {
        self.consumer_lag.with_label_values(&[&partition.to_string()]).set(0);
        tracing::info!(partition, why, "partition released");
    }

    pub fn ownership(&self, partitions: usize, persons: usize) {
        self.partitions_owned.set(partitions as i64);
        self.persons_in_memory.set(persons as i64);
    }

    pub fn lag(&self, partition: i32, lag: i64) {
        self.consumer_lag.with_label_values(&[&partition.to_string()]).set(lag.max(0));
    }
}
