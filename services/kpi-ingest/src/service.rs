//! The ingest loop: raw topic → (transform) → canonical or dead-letter topic. A batch of raw
//! messages is produced, every produce is awaited, and only then are the consumer offsets
//! committed; a crash before that re-reads the batch, and the engine drops the repeats by id.
//! While acknowledgements are awaited the consumer is still polled (reading up to one batch
//! ahead, then pausing), so that it stays in its group ([`keep_polling_until`]); under a slow
//! Tansu it once left and re-sent thousands of events.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::join_all;
use kpi_runtime::shutdown::CancellationToken;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use kpi_core::Pseudonymiser;
use kpi_runtime::admin::Readiness;
use kpi_runtime::kafka::{batch_producer_config, consumer_config, BrokerReadiness, STATISTICS_INTERVAL_MS};
use kpi_runtime::keep_polling::keep_polling_until;
use kpi_runtime::settings::Settings;

use crate::internal_events::IngestMetrics;
use crate::transform::{transform, Outcome, CONTENT_TYPE, DETAIL_HEADER, EVENT_TYPE_HEADER, REASON_HEADER};

/// Most raw messages handled per batch.
const BATCH_MAX: usize = 2_000;
/// Fewest, however slow the broker.
const BATCH_MIN: usize = 20;
/// Longest a batch waits to fill.
const BATCH_WAIT: Duration = Duration::from_millis(100);
/// How long producing one batch should take, at the rate the last batches went: a slow broker
/// gets smaller batches, so less is re-sent after a crash and shutdown waits less.
const BATCH_TARGET_SECONDS: f64 = 2.0;
/// Acknowledgements outstanding this long mean the broker is away (a batch takes about
/// `BATCH_TARGET_SECONDS`): ingest reports not ready until they come.
const PRODUCE_STALL: Duration = Duration::from_secs(8);

/// Sizes batches from the recent time per message, so a slow broker gets smaller batches.
struct BatchSizer {
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
    fn observe(&mut self, seconds: f64, messages: usize) {
        if messages == 0 {
            return;
        }
        let latest = seconds / messages as f64;
        self.seconds_per_message =
            if self.seconds_per_message <= 0.0 { latest } else { 0.5 * self.seconds_per_message + 0.5 * latest };
    }
}

/// One record ready to produce.
struct Record {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
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
    let producer: FutureProducer = batch_producer_config(kafka).create().context("creating the producer")?;
    tracing::info!(raw = %kafka.raw_topic, canonical = %kafka.canonical_topic, dead_letter = %kafka.dead_letter_topic, "ingest started");

    let mut sizer = BatchSizer::new();
    // Messages delivered while a batch's acknowledgements were awaited: the next batch's start.
    let mut carried = Vec::new();
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = next_batch(&consumer, sizer.limit(), std::mem::take(&mut carried)) => batch,
        };
        let started = Instant::now();
        let mut records = Vec::with_capacity(batch.len());
        let mut next_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for message in &batch {
            records.push(to_record(settings, &pseudonymiser, &metrics, message));
            next_offsets.insert((message.topic().to_owned(), message.partition()), message.offset() + 1);
        }
        let acknowledged = produce_all(&producer, &records, &metrics, &ready, &shutdown);
        let (acknowledged, delivered) =
            keep_polling_until(&consumer, sizer.limit(), &metrics.pauses, acknowledged).await?;
        acknowledged?;
        carried = delivered;
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &next_offsets {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        if !offsets.elements().is_empty() {
            consumer.commit(&offsets, CommitMode::Async).context("committing raw-topic offsets")?;
        }
        sizer.observe(started.elapsed().as_secs_f64(), batch.len());
        metrics.batch_done(started.elapsed().as_secs_f64(), batch.len());
    }
    tracing::info!("ingest stopped");
    Ok(())
}

/// Starts from `carried` (or waits for one message), then takes what else arrives within
/// [`BATCH_WAIT`], up to `max`.
async fn next_batch<'c>(
    consumer: &'c StreamConsumer<BrokerReadiness>,
    max: usize,
    carried: Vec<BorrowedMessage<'c>>,
) -> Vec<BorrowedMessage<'c>> {
    let mut batch = carried;
    while batch.is_empty() {
        match consumer.recv().await {
            Ok(message) => batch.push(message),
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

/// Produces every record and waits for every acknowledgement, retrying failures with backoff
/// until they succeed or shutdown is asked for (then the batch is left uncommitted).
/// Acknowledgements held up longer than [`PRODUCE_STALL`] (the broker went away mid-batch) clear
/// `ready`; the consumer's statistics set it again once a broker connection is up.
async fn produce_all(
    producer: &FutureProducer,
    records: &[Record],
    metrics: &IngestMetrics,
    ready: &Readiness,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut pending: Vec<&Record> = records.iter().collect();
    let mut backoff = Duration::from_millis(100);
    while !pending.is_empty() {
        let sends = pending.iter().map(|record| {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(Header { key, value: Some(value) });
            }
            let mut out = FutureRecord::to(&record.topic).payload(&record.payload).headers(headers);
            if let Some(key) = &record.key {
                out = out.key(key);
            }
            producer.send(out, Duration::from_secs(5))
        });
        let acknowledged = join_all(sends);
        tokio::pin!(acknowledged);
        let results = loop {
            tokio::select! {
                results = &mut acknowledged => break results,
                _ = tokio::time::sleep(PRODUCE_STALL) => {
                    if ready.get() {
                        tracing::warn!(records = pending.len(), "broker has not acknowledged for {PRODUCE_STALL:?}; not ready until it does");
                    }
                    ready.set(false);
                }
            }
        };
        let failed: Vec<&Record> = pending
            .iter()
            .zip(results)
            .filter_map(|(record, result)| match result {
                Ok(_) => None,
                Err((error, _)) => {
                    metrics.produce_retried(&error);
                    Some(*record)
                }
            })
            .collect();
        pending = failed;
        if !pending.is_empty() {
            if shutdown.is_cancelled() {
                anyhow::bail!(
                    "shutting down with {} records unacknowledged; they will be re-read on restart",
                    pending.len()
                );
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
    Ok(())
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
