//! The ingest loop: raw topic → (transform) → canonical or dead-letter topic. Each batch of raw
//! messages is transformed and handed to the producer; while the broker acknowledges it, the
//! next batch is read and transformed. The consumer offsets of a batch are committed only once
//! it and every earlier batch are acknowledged ([`crate::produce`]); a crash before that
//! re-reads them, and the engine drops the repeats by id.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use kpi_runtime::shutdown::CancellationToken;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::producer::FutureProducer;
use rdkafka::Message;
use tokio::sync::mpsc;

use kpi_core::Pseudonymiser;
use kpi_runtime::admin::Readiness;
use kpi_runtime::kafka::{consumer_config, producer_config, BrokerReadiness, STATISTICS_INTERVAL_MS};
use kpi_runtime::settings::Settings;

use crate::internal_events::IngestMetrics;
use crate::produce::{self, InFlight, Record};
use crate::transform::{transform, Outcome, CONTENT_TYPE, DETAIL_HEADER, EVENT_TYPE_HEADER, REASON_HEADER};

/// Most raw messages handled per batch.
const BATCH_MAX: usize = 2_000;
/// Fewest, however slow the broker.
const BATCH_MIN: usize = 20;
/// Longest a batch waits to fill.
const BATCH_WAIT: Duration = Duration::from_millis(100);
/// How long producing one batch should take, at the rate the last batches went. The consumer is
/// not polled while the loop waits for room among the batches in flight, and a wait that
/// outlasts `max.poll.interval.ms` (10 s) makes it leave its group: seen under load on 2 cores,
/// and one rejoin on Tansu then never got its partitions back, which stopped ingest altogether.
const BATCH_TARGET_SECONDS: f64 = 2.0;
/// Batches produced and awaiting acknowledgement beyond the one the committer awaits: reading
/// and transforming overlap with the broker's acknowledgements (linger included) without
/// holding more than a few batches of records in memory.
const BATCHES_QUEUED: usize = 1;

/// Sizes batches from the recent time per message, so a slow broker gets smaller batches.
pub struct BatchSizer {
    seconds_per_message: f64,
}

impl BatchSizer {
    fn new() -> Self {
        BatchSizer { seconds_per_message: 0.0 }
    }

    fn limit(&self) -> usize {
        if self.seconds_per_message <= 0.0 {
            return BATCH_MAX;
        }
        ((BATCH_TARGET_SECONDS / self.seconds_per_message) as usize).clamp(BATCH_MIN, BATCH_MAX)
    }

    /// A smoothed average, so one slow batch halves the next rather than collapsing it.
    pub fn observe(&mut self, seconds: f64, messages: usize) {
        if messages == 0 {
            return;
        }
        let latest = seconds / messages as f64;
        self.seconds_per_message =
            if self.seconds_per_message <= 0.0 { latest } else { 0.5 * self.seconds_per_message + 0.5 * latest };
    }
}

/// Runs the ingest service until `shutdown` is cancelled.
pub async fn run(
    settings: &Settings,
    metrics: IngestMetrics,
    ready: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let key = settings.hmac_key()?;
    let pseudonymiser = Pseudonymiser::new(&key)?;
    drop(key);
    let kafka = &settings.kafka;
    // Ready while the broker is connected: ingest depends on nothing else.
    let consumer: StreamConsumer<BrokerReadiness> = consumer_config(kafka, &settings.ingest.group_id)
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
        .create_with_context(BrokerReadiness { ready: ready.clone() })
        .context("creating the raw-topic consumer (check kafka.brokers and kafka.properties)")?;
    consumer.subscribe(&[&kafka.raw_topic]).with_context(|| format!("subscribing to {}", kafka.raw_topic))?;
    let producer: FutureProducer = producer_config(kafka).create().context("creating the producer")?;
    tracing::info!(raw = %kafka.raw_topic, canonical = %kafka.canonical_topic, dead_letter = %kafka.dead_letter_topic, "ingest started");

    let consumer = Arc::new(consumer);
    let sizer = Arc::new(Mutex::new(BatchSizer::new()));
    let (in_flight, batches) = mpsc::channel::<InFlight>(BATCHES_QUEUED);
    let mut committer =
        tokio::spawn(produce::commit_in_order(consumer.clone(), batches, metrics.clone(), sizer.clone()));
    let mut committer_ended = None;
    loop {
        let limit = sizer.lock().expect("batch sizer lock").limit();
        // Leaving a batch half read (shutdown, or the committer failing) loses nothing: its
        // offsets are not committed, so it is read again on restart.
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            ended = &mut committer => {
                committer_ended = Some(ended);
                break;
            }
            batch = next_batch(&consumer, limit) => batch,
        };
        let started = Instant::now();
        let mut records = Vec::with_capacity(batch.len());
        let mut next_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for message in &batch {
            records.push(to_record(settings, &pseudonymiser, &metrics, message));
            next_offsets.insert((message.topic().to_owned(), message.partition()), message.offset() + 1);
        }
        let messages = batch.len();
        drop(batch);
        let produced = produce::start(&producer, records, &metrics, &ready, &shutdown);
        if in_flight.send(InFlight { started, messages, next_offsets, produced }).await.is_err() {
            break;
        }
    }
    drop(in_flight);
    let ended = match committer_ended {
        Some(ended) => ended,
        None => {
            tracing::info!("waiting for the batches in flight to be acknowledged");
            committer.await
        }
    };
    ended.context("the offset committer panicked")??;
    tracing::info!("ingest stopped");
    Ok(())
}

/// Waits for one message, then takes what else arrives within [`BATCH_WAIT`], up to `max`.
async fn next_batch(consumer: &StreamConsumer<BrokerReadiness>, max: usize) -> Vec<BorrowedMessage<'_>> {
    let mut batch = Vec::new();
    loop {
        match consumer.recv().await {
            Ok(message) => {
                batch.push(message);
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "raw-topic consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let deadline = tokio::time::Instant::now() + BATCH_WAIT;
    while batch.len() < max {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => batch.push(message),
            Ok(Err(error)) => tracing::warn!(%error, "raw-topic consumer error"),
            Err(_) => break,
        }
    }
    batch
}

fn to_record(
    settings: &Settings,
    pseudonymiser: &Pseudonymiser,
    metrics: &IngestMetrics,
    message: &BorrowedMessage<'_>,
) -> Record {
    let payload = message.payload().unwrap_or_default();
    let headers: Vec<(String, Vec<u8>)> = message
        .headers()
        .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec())).collect())
        .unwrap_or_default();
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(CONTENT_TYPE))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    match transform(pseudonymiser, payload, content_type.as_deref()) {
        Outcome::Canonical { key, event_type, payload } => {
            metrics.event_accepted(event_type);
            Record {
                topic: settings.kafka.canonical_topic.clone(),
                key: Some(key.into_bytes()),
                payload,
                headers: vec![
                    (CONTENT_TYPE.into(), b"application/json".to_vec()),
                    (EVENT_TYPE_HEADER.into(), event_type.as_bytes().to_vec()),
                ],
            }
        }
        Outcome::DeadLetter(rejection) => {
            metrics.event_rejected(&rejection, message.partition(), message.offset());
            let mut headers = headers;
            headers.push((REASON_HEADER.into(), rejection.reason.code().as_bytes().to_vec()));
            headers.push((DETAIL_HEADER.into(), rejection.detail.into_bytes()));
            headers.push(("kpi-source-topic".into(), message.topic().as_bytes().to_vec()));
            headers.push(("kpi-source-partition".into(), message.partition().to_string().into_bytes()));
            headers.push(("kpi-source-offset".into(), message.offset().to_string().into_bytes()));
            Record {
                topic: settings.kafka.dead_letter_topic.clone(),
                key: message.key().map(<[u8]>::to_vec),
                payload: payload.to_vec(),
                headers,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_when_the_broker_is_slow_and_grow_back_when_it_recovers() {
        let mut sizer = BatchSizer::new();
        assert_eq!(sizer.limit(), BATCH_MAX);
        // 2,000 messages in 20 s: 10 ms each, so 200 fit in the 2 s target.
        sizer.observe(20.0, 2_000);
        assert_eq!(sizer.limit(), 200);
        // Slower still: never below the floor.
        sizer.observe(100.0, 200);
        assert_eq!(sizer.limit(), BATCH_MIN);
        // A fast broker again: back to the full batch within a few batches.
        for _ in 0..12 {
            sizer.observe(0.02, 200);
        }
        assert_eq!(sizer.limit(), BATCH_MAX);
        sizer.observe(1.0, 0);
        assert_eq!(sizer.limit(), BATCH_MAX, "an empty batch tells nothing");
    }
}
