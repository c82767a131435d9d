//! Between a consumer and its downstream write (ingest awaiting the broker's acknowledgements,
//! the engine awaiting PostgreSQL): keeps the consumer polled, and so in its group, however long
//! the write takes.
//!
//! A consumer not polled for `max.poll.interval.ms` (10 s, see [`crate::kafka::consumer_config`])
//! leaves its group. On rejoining it re-reads everything not yet committed (ingest sends it
//! again) and, on Tansu, once never got its partitions back, which stopped the service. So the
//! consumer is polled while the write runs; what it delivers is kept for the next batch, up to
//! `room` messages. With that taken, it is left unpolled for up to [`PAUSE_AFTER`]; a write
//! still outstanding then gets the partitions paused (the consumer is polled, stays a live
//! member and fetches nothing more) and resumed once it is done.
//!
//! Pausing waits that long because it empties librdkafka's prefetch, which is then fetched
//! again: pausing on every slow write made Tansu serve each partition's backlog over and over and
//! slowed the 20,000-person e2e run several times over.
//!
//! A pause is an observable occurrence ([`ConsumerPauses`]): logged when it starts and ends, and
//! shown by a gauge (1 while paused) and a counter, so that an operator sees the backlog being
//! left on the topic while the downstream is away.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::Context as _;
use prometheus::{IntCounter, IntGauge, Registry};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::BorrowedMessage;

/// How long the consumer may go unpolled before its partitions are paused: half of
/// `max.poll.interval.ms`, leaving the other half for the caller's own work between polls.
pub const PAUSE_AFTER: Duration = Duration::from_secs(5);

/// A service's record of its consumer being paused by [`keep_polling_until`]: every pause and
/// resume logs and counts together.
#[derive(Clone)]
pub struct ConsumerPauses {
    paused: IntGauge,
    pauses: IntCounter,
}

impl ConsumerPauses {
    /// Registers `<service>_consumer_paused` and `<service>_consumer_pauses_total`, `service`
    /// being the metric prefix (`kpi_engine`, `kpi_ingest`); `downstream` names what the
    /// service writes to, for the help text.
    pub fn register(registry: &Registry, service: &str, downstream: &str) -> prometheus::Result<Self> {
        let paused = IntGauge::new(
            format!("{service}_consumer_paused"),
            format!(
                "1 while the consumer's partitions are paused because a write to {downstream} has been \
                 outstanding with the read-ahead full (the backlog stays on the topic), else 0."
            ),
        )?;
        let pauses = IntCounter::new(
            format!("{service}_consumer_pauses_total"),
            format!("Times the consumer's partitions were paused awaiting a write to {downstream}."),
        )?;
        registry.register(Box::new(paused.clone()))?;
        registry.register(Box::new(pauses.clone()))?;
        Ok(ConsumerPauses { paused, pauses })
    }

    /// Unregistered, for tests of [`keep_polling_until`] itself.
    pub fn unregistered() -> Self {
        let paused = IntGauge::new("consumer_paused", "unregistered").expect("a valid metric name");
        let pauses = IntCounter::new("consumer_pauses_total", "unregistered").expect("a valid metric name");
        ConsumerPauses { paused, pauses }
    }

    /// Whether the partitions are paused now.
    pub fn is_paused(&self) -> bool {
        self.paused.get() == 1
    }

    /// How many times they have been paused.
    pub fn count(&self) -> u64 {
        self.pauses.get()
    }

    fn started(&self, room: usize) {
        self.paused.set(1);
        self.pauses.inc();
        tracing::info!(
            read_ahead = room,
            "downstream write outstanding with the read-ahead full; partitions paused until it is done \
             (the backlog stays on the topic)"
        );
    }

    fn ended(&self, paused_for: Duration) {
        self.paused.set(0);
        tracing::info!(paused_for_ms = paused_for.as_millis() as u64, "downstream write done; partitions resumed");
    }
}

/// Awaits `work` while polling `consumer`. Returns `work`'s output and the messages delivered
/// meanwhile, at most `room` of them (fewer if the write was quick); the caller handles them first
/// in its next batch, so nothing is dropped, and offsets are still stored only after their own
/// write. With `room` taken (or 0) and `work` still outstanding [`PAUSE_AFTER`] after the last
/// poll, the assigned partitions are paused until it is done, and `pauses` reports it.
pub async fn keep_polling_until<'c, C, T>(
    consumer: &'c StreamConsumer<C>,
    room: usize,
    pauses: &ConsumerPauses,
    work: impl Future<Output = T>,
) -> anyhow::Result<(T, Vec<BorrowedMessage<'c>>)>
where
    C: ConsumerContext + 'static,
{
    tokio::pin!(work);
    let pause = || -> anyhow::Result<()> {
        let assigned = consumer.assignment().context("reading the consumer's assignment")?;
        consumer.pause(&assigned).context("pausing the consumer's partitions")
    };
    let mut delivered = Vec::new();
    let mut paused: Option<Instant> = None;
    // The caller polled just before handing over.
    let mut polled_at = Instant::now();
    let output = loop {
        if paused.is_none() && delivered.len() >= room {
            if let Ok(output) = tokio::time::timeout_at(polled_at + PAUSE_AFTER, &mut work).await {
                break output;
            }
            pause()?;
            paused = Some(Instant::now());
            pauses.started(room);
        }
        tokio::select! {
            output = &mut work => break output,
            message = consumer.recv() => match message {
                Ok(message) => {
                    polled_at = Instant::now();
                    delivered.push(message);
                    // A partition a rebalance assigned while paused starts unpaused.
                    if paused.is_some() {
                        pause()?;
                    }
                }
                Err(error) => {
                    polled_at = Instant::now();
                    tracing::warn!(%error, "consumer error while awaiting a downstream write");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    };
    if let Some(since) = paused {
        let assigned = consumer.assignment().context("reading the consumer's assignment")?;
        consumer.resume(&assigned).context("resuming the consumer's partitions")?;
        pauses.ended(since.elapsed());
    }
    Ok((output, delivered))
}
