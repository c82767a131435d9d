//! The engine loop: take a batch from the canonical topic, make sure this instance owns every
//! partition in it (claiming the partition in the warehouse and seeking to the stored offset),
//! prepare it while the batch before commits (`in_flight`), and, when a batch fails, apply it
//! again on its own, retrying with backoff while the warehouse is down. While
//! retrying it reads at most one batch ahead, so memory stays bounded; the consumer is still
//! polled (its partitions paused once that batch is read), so that it stays in its group
//! (`kpi_runtime::keep_polling`). After a second with nothing to read it applies retractions
//! waiting on a partition it was assigned but has not claimed (`Loop::apply_waiting_retractions`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use sqlx::PgPool;

use kpi_core::pseudonym::has_pseudonymous_ids;
use kpi_core::Event;
use kpi_runtime::admin::Readiness;
use kpi_runtime::kafka::consumer_config;
use kpi_runtime::keep_polling::keep_polling_until;
use kpi_runtime::settings::Settings;
use kpi_runtime::shutdown::CancellationToken;
use kpi_warehouse::engine::{claim_partition, Claim};
use kpi_warehouse::WarehouseError;

use crate::batch::{self, BatchError, DeadLetters, Incoming};
use crate::in_flight::{self, InFlight, Landing};
use crate::internal_events::EngineMetrics;
use crate::partitions::Owned;
use kpi_runtime::kafka::{producer_config, BrokerReadiness, STATISTICS_INTERVAL_MS};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Consumer callbacks: remembers revoked partitions for the loop, and turns librdkafka's
/// statistics into the lag gauge and the broker half of readiness.
struct EngineContext {
    topic: String,
    revoked: Mutex<Vec<i32>>,
    metrics: EngineMetrics,
    broker: BrokerReadiness,
}

impl ClientContext for EngineContext {
    fn stats(&self, statistics: Statistics) {
        self.broker.observe(&statistics);
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    self.metrics.lag(*partition, stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for EngineContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut revoked = self.revoked.lock().expect("revoked list lock");
            revoked.extend(partitions.elements().iter().map(|e| e.partition()));
        }
    }
}

type EngineConsumer = StreamConsumer<EngineContext>;

/// How long nothing must arrive before the engine looks for retractions waiting on a partition
/// it has not claimed ([`Loop::apply_waiting_retractions`]): one indexed query per idle second.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Runs the engine until `shutdown` is cancelled. `ready` follows the warehouse, `broker_ready`
/// the broker connection; the engine is ready when both are.
pub async fn run(
    settings: &Settings,
    pool: PgPool,
    metrics: EngineMetrics,
    ready: Readiness,
    broker_ready: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topic = settings.kafka.canonical_topic.clone();
    let context = EngineContext {
        topic: topic.clone(),
        revoked: Mutex::new(Vec::new()),
        metrics: metrics.clone(),
        broker: BrokerReadiness { ready: broker_ready },
    };
    let consumer: Arc<EngineConsumer> = Arc::new(
        consumer_config(&settings.kafka, &settings.engine.group_id)
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
            .create_with_context(context)
            .context("creating the canonical-topic consumer (check kafka.brokers and kafka.properties)")?,
    );
    consumer.subscribe(&[&topic]).with_context(|| format!("subscribing to {topic}"))?;
    let dead_letters = DeadLetterTopic {
        producer: producer_config(&settings.kafka).create().context("creating the dead-letter producer")?,
        topic: settings.kafka.dead_letter_topic.clone(),
    };
    let mut owned = Owned::new(settings.engine.person_cache_capacity);
    ready.set(kpi_warehouse::is_ready(&pool).await);
    tracing::info!(%topic, "engine started");

    let max_events = settings.engine.batch_max_events;
    let max_wait = Duration::from_millis(settings.engine.batch_max_wait_ms);
    let mut engine = Loop {
        pool: &pool,
        consumer: &consumer,
        topic: &topic,
        dead_letters: &dead_letters,
        metrics: &metrics,
        ready: &ready,
        shutdown: &shutdown,
        max_events,
        carried: Vec::new(),
    };
    // The batch committing in its own task while the next one is prepared (`in_flight`).
    let mut in_flight: Option<InFlight> = None;
    // Whether a batch was prepared without seeing what the one in flight wrote.
    let mut sweep_due = false;
    loop {
        // With nothing read ahead, the batch in flight lands as soon as it commits, not when the
        // next message comes: its events are counted (and its offsets hinted) without delay.
        if engine.carried.is_empty() {
            if let Some(flight) = in_flight.as_mut() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = flight.ended() => {
                        let flight = in_flight.take().expect("in flight");
                        if engine.land_alone(flight, &mut owned).await? == Committed::ShutDown {
                            return Ok(());
                        }
                        if std::mem::take(&mut sweep_due) && engine.sweep(&mut owned).await? == Committed::ShutDown {
                            return Ok(());
                        }
                        continue;
                    }
                    message = consumer.recv() => match message {
                        Ok(message) => engine.carried.push(decode(&message)),
                        Err(error) => tracing::warn!(%error, "canonical-topic consumer error"),
                    },
                }
            }
        }
        // Idle (nothing read, nothing in flight): retractions may be waiting on a partition that
        // has had no message since this instance started, so that it never claimed it.
        if engine.carried.is_empty() && in_flight.is_none() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                message = tokio::time::timeout(IDLE_CHECK, consumer.recv()) => match message {
                    Ok(Ok(message)) => engine.carried.push(decode(&message)),
                    Ok(Err(error)) => tracing::warn!(%error, "canonical-topic consumer error"),
                    Err(_idle) => {
                        if engine.apply_waiting_retractions(&mut owned).await? == Committed::ShutDown {
                            return Ok(());
                        }
                        continue;
                    }
                },
            }
        }
        let mut messages = tokio::select! {
            _ = shutdown.cancelled() => break,
            messages = next_batch(&consumer, max_events, max_wait, std::mem::take(&mut engine.carried)) => messages,
        };
        let started = Instant::now();
        // Partitions change hands only with no batch in flight: releasing one drops its persons
        // from memory, and a batch in flight that fails puts its persons back.
        if in_flight.is_some() && ownership_changes(&consumer, &owned, &messages) {
            let flight = in_flight.take().expect("checked above");
            if engine.land_alone(flight, &mut owned).await? == Committed::ShutDown {
                return Ok(());
            }
        }
        let revoked = release_revoked(&consumer, &mut owned, &metrics);
        drop_lost(&consumer, &topic, &revoked, &mut messages);
        let incoming =
            claim_and_filter(&pool, &consumer, &topic, &mut owned, &metrics, &ready, &shutdown, messages).await?;
        // Retractions this batch cannot apply yet (see `in_flight`) are applied by a later batch,
        // or by a sweep once there is nothing more to read.
        sweep_due |= in_flight.as_ref().is_some_and(|flight| flight.needed_by(&incoming));
        // This batch is prepared (person states, events recorded, count changes computed) while
        // the one before commits; the consumer is polled meanwhile (reading up to one batch
        // ahead), so that a slow write, or the warehouse being away, does not cost the group
        // membership.
        let step = async {
            let prepared = match incoming.is_empty() {
                true => None,
                false => Some(batch::prepare(&pool, &mut owned, &incoming).await),
            };
            let landing = match in_flight.take() {
                Some(flight) => Some(flight.land().await),
                None => None,
            };
            (prepared, landing)
        };
        let room = engine.room();
        let ((prepared, landing), delivered) = keep_polling_until(&consumer, room, &metrics.pauses, step).await?;
        // After what landing the batch before alone may have read ahead.
        engine.carry(delivered);
        let failed = match landing {
            Some(landing) => engine.land(landing?, &mut owned),
            None => None,
        };
        let mut retry = Vec::new();
        match (failed, prepared) {
            (None, Some(Ok(prepared))) => {
                owned.end_batch_keeping_prepared();
                in_flight = Some(InFlight::finish(prepared, incoming, started, &topic, &dead_letters));
            }
            (None, Some(Err(error))) => {
                owned.end_batch();
                metrics.commit_failed(&error, 0);
                retry.push((incoming, started));
            }
            (None, None) => owned.end_batch(),
            (Some(failed), prepared) => {
                // The later batch first: its person states were built on the failed one's.
                if let Some(Ok(prepared)) = prepared {
                    prepared.undo(&mut owned);
                }
                let error = failed.unfinished.undo(&mut owned);
                metrics.commit_failed(&error, 0);
                owned.end_batch();
                retry.push((failed.incoming, failed.started));
                if !incoming.is_empty() {
                    retry.push((incoming, started));
                }
            }
        }
        if engine.one_at_a_time(retry, &mut owned).await? == Committed::ShutDown {
            return Ok(());
        }
        metrics.ownership(owned.partitions.len(), owned.person_count());
    }
    if let Some(flight) = in_flight.take() {
        if engine.land(flight.land().await?, &mut owned).is_some() {
            tracing::info!("engine stopped with a batch uncommitted; it is re-read from the stored offsets on restart");
        }
    }
    tracing::info!("engine stopped");
    Ok(())
}

/// What the loop's steps share.
struct Loop<'a> {
    pool: &'a PgPool,
    consumer: &'a EngineConsumer,
    topic: &'a str,
    dead_letters: &'a DeadLetterTopic,
    metrics: &'a EngineMetrics,
    ready: &'a Readiness,
    shutdown: &'a CancellationToken,
    max_events: usize,
    /// Messages delivered while a batch was being written: the next batch's start.
    carried: Vec<Incoming>,
}

impl Loop<'_> {
    /// How many more messages may be read ahead.
    fn room(&self) -> usize {
        self.max_events.saturating_sub(self.carried.len())
    }

    fn carry(&mut self, delivered: Vec<rdkafka::message::BorrowedMessage<'_>>) {
        self.carried.extend(delivered.iter().map(decode));
    }

    /// Counts a committed in-flight batch, moves the partitions past it and tells Kafka; hands
    /// a failed one back, its person states not yet put back.
    fn land(&self, landing: Landing, owned: &mut Owned) -> Option<in_flight::Failed> {
        match landing {
            Landing::Committed(committed) => {
                let (report, incoming, started) = committed.landed(owned);
                let busy = report.steps.total().as_secs_f64();
                self.metrics.batch_committed(&report, started.elapsed().as_secs_f64(), busy);
                commit_hint(self.consumer, self.topic, &incoming);
                None
            }
            Landing::Failed(failed) => Some(failed),
        }
    }

    /// Lands the batch in flight with none prepared after it; a failed one is applied again.
    async fn land_alone(&mut self, flight: InFlight, owned: &mut Owned) -> anyhow::Result<Committed> {
        let (landing, delivered) =
            keep_polling_until(self.consumer, self.room(), &self.metrics.pauses, flight.land()).await?;
        self.carry(delivered);
        let mut retry = Vec::new();
        if let Some(failed) = self.land(landing?, owned) {
            let error = failed.unfinished.undo(owned);
            self.metrics.commit_failed(&error, 0);
            retry.push((failed.incoming, failed.started));
        }
        owned.end_batch();
        self.one_at_a_time(retry, owned).await
    }

    /// Applies the retractions left pending because they, or their targets, came in a batch
    /// prepared beside the one before it: with nothing more to read, no later batch would. An
    /// empty batch: its transaction only takes the pending retractions and applies them.
    async fn sweep(&mut self, owned: &mut Owned) -> anyhow::Result<Committed> {
        let started = Instant::now();
        let (metrics, ready, shutdown) = (self.metrics, self.ready, self.shutdown);
        let (pool, topic, dead_letters) = (self.pool, self.topic, self.dead_letters);
        let sweeping = async {
            let mut backoff = Duration::from_millis(200);
            loop {
                match batch::apply(pool, topic, owned, &[], dead_letters).await {
                    Ok(report) => {
                        ready.set(true);
                        let busy = report.steps.total().as_secs_f64();
                        metrics.batch_committed(&report, started.elapsed().as_secs_f64(), busy);
                        return Committed::Yes;
                    }
                    Err(error) => {
                        if !wait_to_retry(&error, &mut backoff, metrics, ready, shutdown).await {
                            return Committed::ShutDown;
                        }
                    }
                }
            }
        };
        let (swept, delivered) = keep_polling_until(self.consumer, self.room(), &self.metrics.pauses, sweeping).await?;
        self.carry(delivered);
        Ok(swept)
    }

    /// Applies the retractions whose targets lie in a partition assigned to this instance, once
    /// nothing has arrived for [`IDLE_CHECK`]. Every batch applies those of the partitions this
    /// instance owns, but it claims a partition only when a message of it comes: a retraction
    /// sent without a person lands on another partition than its target, and one whose target's
    /// partition has gone quiet (or was left by an instance stopped before its sweep) would wait
    /// for that partition's next message. Claims those partitions (seeking to the stored
    /// offsets), then sweeps.
    async fn apply_waiting_retractions(&mut self, owned: &mut Owned) -> anyhow::Result<Committed> {
        release_revoked(self.consumer, owned, self.metrics);
        let assigned = assigned_partitions(self.consumer, self.topic);
        if assigned.is_empty() {
            return Ok(Committed::Nothing);
        }
        let waiting = match kpi_warehouse::engine::partitions_with_pending_retractions(self.pool, &assigned).await {
            Ok(waiting) => waiting,
            Err(error) => {
                // The next batch, or the next idle check, finds the warehouse back.
                tracing::debug!(%error, "looking for pending retractions failed");
                return Ok(Committed::Nothing);
            }
        };
        if waiting.is_empty() {
            return Ok(Committed::Nothing);
        }
        for partition in waiting {
            if owned.partitions.contains_key(&partition) {
                continue;
            }
            let Some(claim) =
                claim_with_retries(self.pool, self.topic, partition, self.metrics, self.ready, self.shutdown).await
            else {
                return Ok(Committed::ShutDown);
            };
            let seek =
                self.consumer.seek(self.topic, partition, Offset::Offset(claim.next_offset), Duration::from_secs(10));
            if let Err(error) = seek {
                // Claimed again, and sought, when its next message comes.
                tracing::warn!(%error, partition, "seeking an idle partition to its stored offset failed; it is claimed when a message comes");
                continue;
            }
            self.metrics.partition_claimed(partition, claim.next_offset, claim.epoch);
            owned.insert(claim);
        }
        self.sweep(owned).await
    }

    /// Applies batches one at a time, each retried with backoff until it commits, polling the
    /// consumer meanwhile. Messages of a partition no longer owned (a failed batch found it
    /// taken over) are dropped: they are the new owner's.
    async fn one_at_a_time(
        &mut self,
        batches: Vec<(Vec<Incoming>, Instant)>,
        owned: &mut Owned,
    ) -> anyhow::Result<Committed> {
        for (mut incoming, started) in batches {
            incoming.retain(|m| owned.partitions.contains_key(&m.partition));
            let committing = commit_with_retries(
                self.pool,
                self.topic,
                owned,
                &mut incoming,
                self.dead_letters,
                self.metrics,
                self.ready,
                self.shutdown,
                started,
            );
            let (committed, delivered) =
                keep_polling_until(self.consumer, self.room(), &self.metrics.pauses, committing).await?;
            self.carry(delivered);
            match committed {
                Committed::Yes => commit_hint(self.consumer, self.topic, &incoming),
                Committed::Nothing => {}
                Committed::ShutDown => {
                    tracing::info!(
                        "engine stopped with a batch uncommitted; it is re-read from the stored offsets on restart"
                    );
                    return Ok(Committed::ShutDown);
                }
            }
        }
        Ok(Committed::Yes)
    }
}

/// Whether this batch needs partitions claimed or a rebalance has revoked some.
fn ownership_changes(consumer: &EngineConsumer, owned: &Owned, messages: &[Incoming]) -> bool {
    let revoked = !consumer.context().revoked.lock().expect("revoked list lock").is_empty();
    revoked || messages.iter().any(|m| !owned.partitions.contains_key(&m.partition))
}

/// How [`commit_with_retries`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Committed {
    Yes,
    /// Nothing left to apply (every partition of the batch taken over by another instance).
    Nothing,
    /// Shutdown was asked for while the warehouse was away.
    ShutDown,
}

/// Applies `incoming` in one transaction, retrying with backoff while the warehouse is away
/// (reporting not ready meanwhile). A partition another instance has taken over is released and
/// its messages dropped from the batch: they are that instance's to apply.
#[allow(clippy::too_many_arguments)]
async fn commit_with_retries(
    pool: &PgPool,
    topic: &str,
    owned: &mut Owned,
    incoming: &mut Vec<Incoming>,
    dead_letters: &DeadLetterTopic,
    metrics: &EngineMetrics,
    ready: &Readiness,
    shutdown: &CancellationToken,
    started: Instant,
) -> Committed {
    let mut backoff = Duration::from_millis(200);
    while !incoming.is_empty() {
        let commit_started = Instant::now();
        match batch::apply(pool, topic, owned, incoming, dead_letters).await {
            Ok(report) => {
                ready.set(true);
                metrics.batch_committed(
                    &report,
                    started.elapsed().as_secs_f64(),
                    commit_started.elapsed().as_secs_f64(),
                );
                return Committed::Yes;
            }
            Err(BatchError::Warehouse(WarehouseError::Fenced { partition, .. })) => {
                owned.release(partition);
                metrics.partition_released(partition, "taken over by another engine instance");
                incoming.retain(|m| m.partition != partition);
            }
            Err(error) => {
                if !wait_to_retry(&error, &mut backoff, metrics, ready, shutdown).await {
                    return Committed::ShutDown;
                }
            }
        }
    }
    Committed::Nothing
}

/// After a failed commit: reports not ready, logs and counts the failure, and waits `backoff`
/// (doubling it for next time, up to 5 s). `false` if shutdown was asked for meanwhile.
async fn wait_to_retry(
    error: &BatchError,
    backoff: &mut Duration,
    metrics: &EngineMetrics,
    ready: &Readiness,
    shutdown: &CancellationToken,
) -> bool {
    ready.set(false);
    metrics.commit_failed(error, backoff.as_millis() as u64);
    tokio::select! {
        _ = shutdown.cancelled() => return false,
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
    true
}

/// Starts from `carried` (or waits for one message), then takes what else arrives within
/// `max_wait`, up to `max_events`; decodes each into an owned [`Incoming`].
async fn next_batch(
    consumer: &EngineConsumer,
    max_events: usize,
    max_wait: Duration,
    carried: Vec<Incoming>,
) -> Vec<Incoming> {
    let mut batch = carried;
    let deadline = loop {
        if !batch.is_empty() {
            break tokio::time::Instant::now() + max_wait;
        }
        match consumer.recv().await {
            Ok(message) => {
                batch.push(decode(&message));
                break tokio::time::Instant::now() + max_wait;
            }
            Err(error) => {
                tracing::warn!(%error, "canonical-topic consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    while batch.len() < max_events {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => batch.push(decode(&message)),
            Ok(Err(error)) => tracing::warn!(%error, "canonical-topic consumer error"),
            Err(_) => break,
        }
    }
    batch
}

fn decode(message: &impl Message) -> Incoming {
    let decoded = message
        .payload()
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| Some((serde_json::from_str::<Event>(text).ok()?, text.to_owned())))
        // The warehouse keeps ids as the bytes they spell: one not spelled as a pseudonym is not
        // kpi-ingest's, and could not be recorded as sent.
        .filter(|(event, _)| has_pseudonymous_ids(event));
    let (event, record) = match decoded {
        Some((event, record)) => (Some(event), record),
        None => (None, String::new()),
    };
    Incoming { partition: message.partition(), offset: message.offset(), event, record }
}

/// Releases the partitions a rebalance revoked; returns them.
fn release_revoked(consumer: &EngineConsumer, owned: &mut Owned, metrics: &EngineMetrics) -> Vec<i32> {
    let revoked: Vec<i32> = std::mem::take(&mut *consumer.context().revoked.lock().expect("revoked list lock"));
    for partition in &revoked {
        if owned.release(*partition) {
            metrics.partition_released(*partition, "revoked by a consumer-group rebalance");
        }
    }
    revoked
}

/// Drops the messages of partitions revoked and not assigned again: read ahead while a batch was
/// written, before the rebalance, they are the new owner's to apply (claiming them here would
/// take the partition back from it). Safe to drop: a partition still or again assigned to this
/// instance is claimed afresh, and the claim seeks back to the stored offset.
fn drop_lost(consumer: &EngineConsumer, topic: &str, revoked: &[i32], messages: &mut Vec<Incoming>) {
    if revoked.is_empty() {
        return;
    }
    let assigned = assigned_partitions(consumer, topic);
    messages.retain(|m| !revoked.contains(&m.partition) || assigned.contains(&m.partition));
}

/// Claims every partition of the batch that this instance does not own yet. When the stored
/// offset is ahead of the batch's first message for that partition, the messages below it are
/// skipped by `batch::apply`; when it is behind (Kafka's committed offset was ahead of the
/// warehouse), the consumer seeks back and this batch's messages of the partition are dropped.
#[allow(clippy::too_many_arguments)]
async fn claim_and_filter(
    pool: &PgPool,
    consumer: &EngineConsumer,
    topic: &str,
    owned: &mut Owned,
    metrics: &EngineMetrics,
    ready: &Readiness,
    shutdown: &CancellationToken,
    mut messages: Vec<Incoming>,
) -> anyhow::Result<Vec<Incoming>> {
    let mut first_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &messages {
        first_offsets.entry(m.partition).or_insert(m.offset);
    }
    for (partition, first) in first_offsets {
        if owned.partitions.contains_key(&partition) {
            continue;
        }
        let Some(claim) = claim_with_retries(pool, topic, partition, metrics, ready, shutdown).await else {
            return Ok(Vec::new());
        };
        metrics.partition_claimed(partition, claim.next_offset, claim.epoch);
        owned.insert(claim);
        if first > claim.next_offset {
            consumer.seek(topic, partition, Offset::Offset(claim.next_offset), Duration::from_secs(10)).with_context(
                || format!("seeking partition {partition} back to stored offset {}", claim.next_offset),
            )?;
            messages.retain(|m| m.partition != partition);
        }
    }
    Ok(messages)
}

/// Claims `partition` in the warehouse, retrying with backoff while it is away; `None` if
/// shutdown was asked for meanwhile.
async fn claim_with_retries(
    pool: &PgPool,
    topic: &str,
    partition: i32,
    metrics: &EngineMetrics,
    ready: &Readiness,
    shutdown: &CancellationToken,
) -> Option<Claim> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match claim_partition(pool, topic, partition).await {
            Ok(claimed) => return Some(claimed),
            Err(error) => {
                ready.set(false);
                metrics.commit_failed(&error, backoff.as_millis() as u64);
                if shutdown.is_cancelled() {
                    return None;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The partitions of `topic` the group has assigned to this instance.
fn assigned_partitions(consumer: &EngineConsumer, topic: &str) -> Vec<i32> {
    consumer
        .assignment()
        .map(|list| list.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// Tells Kafka how far this group got. Only a hint: the warehouse's offsets are authoritative.
fn commit_hint(consumer: &EngineConsumer, topic: &str, batch: &[Incoming]) {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in batch {
        let entry = next.entry(m.partition).or_insert(m.offset + 1);
        *entry = (*entry).max(m.offset + 1);
    }
    let mut offsets = TopicPartitionList::new();
    for (partition, offset) in next {
        if offsets.add_partition_offset(topic, partition, Offset::Offset(offset)).is_err() {
            return;
        }
    }
    if let Err(error) = consumer.commit(&offsets, CommitMode::Async) {
        tracing::debug!(%error, "committing the offset hint to Kafka failed; harmless");
    }
}

/// The dead-letter topic, for events only the engine can find invalid. They are already
/// pseudonymised, so the record is the canonical JSON (not the raw bytes ingest keeps).
#[derive(Clone)]
struct DeadLetterTopic {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters for DeadLetterTopic {
    async fn send(&self, events: &[Event]) -> anyhow::Result<()> {
        for event in events {
            let payload = serde_json::to_vec(event)?;
            let detail = format!(
                "{} is dated {} but the episode it ends started later; correct the end date in the EPR and send the end again",
                event.payload.kind(),
                event.date
            );
            let headers = OwnedHeaders::new()
                .insert(Header { key: "content-type", value: Some("application/json") })
                .insert(Header { key: "kpi-reason", value: Some("ended_before_started") })
                .insert(Header { key: "kpi-detail", value: Some(detail.as_str()) });
            let key = event.person.as_deref().unwrap_or(&event.event_id);
            let record = FutureRecord::to(&self.topic).key(key).payload(&payload).headers(headers);
            self.producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
            tracing::warn!(
                reason = "ended_before_started",
                event_type = event.payload.kind(),
                "event dead-lettered by the engine"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    fn message(event_id: &str, person: &str) -> OwnedMessage {
        let record = format!(
            r#"{{"event_id": "{event_id}", "occurred_at": "2024-03-01T10:00:00Z", "recorded_at": "2024-03-01T10:00:00Z",
                "date": "2024-03-01", "person": "{person}", "payload": {{"type": "smoking_status", "status": "current"}}}}"#
        );
        OwnedMessage::new(Some(record.into_bytes()), None, "kpi.events.v1".into(), Timestamp::NotAvailable, 1, 7, None)
    }

    /// The warehouse keeps ids as the bytes they spell, so a record whose ids are not spelled as
    /// pseudonyms is undecodable (counted, logged, passed over) rather than a batch that fails
    /// over and over.
    #[test]
    fn a_record_decodes_only_when_its_ids_are_pseudonyms() {
        let (id, person) = ("0a".repeat(32), "b1".repeat(32));
        let decoded = decode(&message(&id, &person));
        assert_eq!(decoded.event.map(|e| e.event_id), Some(id.clone()));
        assert!(decoded.record.contains(&person), "the record is kept as received");

        let upper = id.to_uppercase();
        for (event_id, person) in [("e1", person.as_str()), (id.as_str(), "p1"), (upper.as_str(), person.as_str())] {
            let undecodable = decode(&message(event_id, person));
            assert!(undecodable.event.is_none(), "{event_id} of {person}");
            assert_eq!((undecodable.partition, undecodable.offset), (1, 7), "still moves the offset on");
        }
    }
}
