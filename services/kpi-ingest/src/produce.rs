//! The back half of the ingest loop: a batch's records produced to the canonical and
//! dead-letter topics, and the raw-topic offsets committed once, and only once, every record
//! of the batch and of every batch before it is acknowledged. While the broker acknowledges,
//! the loop in [`crate::service`] reads and transforms the next batch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::join_all;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use kpi_runtime::admin::Readiness;
use kpi_runtime::kafka::BrokerReadiness;
use kpi_runtime::shutdown::CancellationToken;

use crate::internal_events::IngestMetrics;
use crate::service::BatchSizer;

/// Acknowledgements outstanding this long mean the broker is away (a batch takes about
/// `BATCH_TARGET_SECONDS`): ingest reports not ready until they come.
const PRODUCE_STALL: Duration = Duration::from_secs(8);

/// One record ready to produce.
pub struct Record {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A batch handed to the broker: its produce task, and where the raw topic's partitions stand
/// once it is acknowledged.
pub struct InFlight {
    pub started: Instant,
    pub messages: usize,
    pub next_offsets: BTreeMap<(String, i32), i64>,
    pub produced: JoinHandle<anyhow::Result<()>>,
}

/// Starts producing `records` on their own task, so that the caller can go on reading.
pub fn start(
    producer: &FutureProducer,
    records: Vec<Record>,
    metrics: &IngestMetrics,
    ready: &Readiness,
    shutdown: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    let (producer, metrics, ready, shutdown) = (producer.clone(), metrics.clone(), ready.clone(), shutdown.clone());
    tokio::spawn(async move { produce_all(&producer, &records, &metrics, &ready, &shutdown).await })
}

/// Awaits the batches in the order they were read and commits each one's offsets after its
/// acknowledgements, so a committed offset never passes an unacknowledged record (a crash
/// re-reads from the last commit, and the engine drops the repeats by id). Ends when the
/// sender is dropped and every batch sent is through, or at the first failure.
pub async fn commit_in_order(
    consumer: Arc<StreamConsumer<BrokerReadiness>>,
    mut batches: mpsc::Receiver<InFlight>,
    metrics: IngestMetrics,
    sizer: Arc<Mutex<BatchSizer>>,
) -> anyhow::Result<()> {
    while let Some(batch) = batches.recv().await {
        batch.produced.await.context("the produce task of a batch panicked")??;
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &batch.next_offsets {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        if !offsets.elements().is_empty() {
            consumer.commit(&offsets, CommitMode::Async).context("committing raw-topic offsets")?;
        }
        let seconds = batch.started.elapsed().as_secs_f64();
        sizer.lock().expect("batch sizer lock").observe(seconds, batch.messages);
        metrics.batch_done(seconds, batch.messages);
    }
    Ok(())
}

/// Produces every record, retrying failures with backoff until each is acknowledged or shutdown
/// is asked for (then the batch is left uncommitted, to be re-read on restart). Acknowledgements
/// held up longer than [`PRODUCE_STALL`] (the broker went away mid-batch) clear `ready`: the
/// consumer's statistics, which would, may not be delivered meanwhile. They set it again once
/// the broker is back.
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
