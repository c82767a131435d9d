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

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::Context as _;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::BorrowedMessage;

/// How long the consumer may go unpolled before its partitions are paused: half of
/// `max.poll.interval.ms`, leaving the other half for the caller's own work between polls.
pub const PAUSE_AFTER: Duration = Duration::from_secs(5);

/// Awaits `work` while polling `consumer`. Returns `work`'s output and the messages delivered
/// meanwhile, at most `room` of them (fewer if the write was quick); the caller handles them first
/// in its next batch, so nothing is dropped, and offsets are still stored only after their own
/// write. With `room` taken (or 0) and `work` still outstanding [`PAUSE_AFTER`] after the last
/// poll, the assigned partitions are paused until it is done.
pub async fn keep_polling_until<'c, C, T>(
    consumer: &'c StreamConsumer<C>,
    room: usize,
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
    let mut paused = false;
    // The caller polled just before handing over.
    let mut polled_at = Instant::now();
    let output = loop {
        if !paused && delivered.len() >= room {
            if let Ok(output) = tokio::time::timeout_at(polled_at + PAUSE_AFTER, &mut work).await {
                break output;
            }
            pause()?;
            paused = true;
            tracing::debug!(room, "write outstanding with the read-ahead full; partitions paused");
        }
        tokio::select! {
            output = &mut work => break output,
            message = consumer.recv() => match message {
                Ok(message) => {
                    polled_at = Instant::now();
                    delivered.push(message);
                    // A partition a rebalance assigned while paused starts unpaused.
                    if paused {
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
    if paused {
        let assigned = consumer.assignment().context("reading the consumer's assignment")?;
        consumer.resume(&assigned).context("resuming the consumer's partitions")?;
    }
    Ok((output, delivered))
}
