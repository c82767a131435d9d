//! Between a consumer and its slow downstream write (ingest awaiting the broker's
//! acknowledgements, the engine awaiting PostgreSQL): keeps the consumer in its group while the
//! write takes longer than usual.
//!
//! A consumer not polled for `max.poll.interval.ms` (10 s, see [`crate::kafka::consumer_config`])
//! leaves its group. On rejoining it re-reads everything not yet committed (ingest sends it
//! again) and, on Tansu, once never got its partitions back, which stopped the service. So while
//! the write is slow the consumer is polled with its partitions paused: it stays a live member,
//! serves rebalances, and fetches nothing new.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::BorrowedMessage;

/// A write outstanding this long gets the consumer polled with its partitions paused: well
/// inside the 10 s allowed, and longer than a usual batch (an engine batch of 20,000 events
/// takes about a second in release), because pausing empties librdkafka's prefetch, which is
/// then fetched again.
pub const KEEP_POLLING_AFTER: Duration = Duration::from_secs(3);

/// Awaits `work`, polling `consumer` with its partitions paused should it take longer than
/// [`KEEP_POLLING_AFTER`]; resumes the partitions assigned by then. Returns `work`'s output and
/// what the consumer delivered meanwhile (a message librdkafka had already queued, or one from a
/// partition a rebalance assigned meanwhile), which the caller handles first in its next batch:
/// nothing is dropped, and offsets are still stored only after their own write.
pub async fn keep_polling_until<'c, C, T>(
    consumer: &'c StreamConsumer<C>,
    work: impl Future<Output = T>,
) -> anyhow::Result<(T, Vec<BorrowedMessage<'c>>)>
where
    C: ConsumerContext + 'static,
{
    tokio::pin!(work);
    if let Ok(output) = tokio::time::timeout(KEEP_POLLING_AFTER, &mut work).await {
        return Ok((output, Vec::new()));
    }
    let pause = || -> anyhow::Result<()> {
        let assigned = consumer.assignment().context("reading the consumer's assignment")?;
        consumer.pause(&assigned).context("pausing the consumer's partitions")
    };
    pause()?;
    tracing::debug!("downstream write outstanding; polling the consumer with its partitions paused");
    let mut delivered = Vec::new();
    let output = loop {
        tokio::select! {
            output = &mut work => break output,
            message = consumer.recv() => match message {
                Ok(message) => {
                    delivered.push(message);
                    // A partition assigned by a rebalance meanwhile starts unpaused.
                    pause()?;
                }
                Err(error) => {
                    tracing::warn!(%error, "consumer error while awaiting a downstream write");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    };
    let assigned = consumer.assignment().context("reading the consumer's assignment")?;
    consumer.resume(&assigned).context("resuming the consumer's partitions")?;
    Ok((output, delivered))
}
