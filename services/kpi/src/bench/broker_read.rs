//! `kpi bench`, phase 3, the yardstick for every stage after the raw topic: how fast a plain
//! consumer reads the raw topic from this broker, doing nothing with what it reads. A stage can
//! be no faster than this; the report gives each stage as a share of it.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use kpi_runtime::kafka::consumer_config;
use kpi_runtime::settings::KafkaSettings;

pub struct Read {
    pub events: u64,
    /// From assigning the partitions to the last message.
    pub seconds: f64,
}

/// Reads `expected` messages of `topic` from offset 0 of every partition, by assignment (no group
/// join to wait for), with the services' consumer settings.
pub async fn read(
    kafka: &KafkaSettings,
    topic: &str,
    group: &str,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<Read> {
    let consumer: BaseConsumer = consumer_config(kafka, group).create().context("creating the read-speed consumer")?;
    let topic = topic.to_owned();
    let bar = super::wait::spinner("broker read speed");
    let result = tokio::task::spawn_blocking(move || {
        let metadata =
            consumer.fetch_metadata(Some(&topic), Duration::from_secs(10)).context("reading topic metadata")?;
        let mut assignment = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            // Offset 0 rather than Offset::Beginning: no ListOffsets round trip (slow on Tansu).
            assignment.add_partition_offset(&topic, partition.id(), Offset::Offset(0))?;
        }
        consumer.assign(&assignment).context("assigning the raw topic's partitions")?;
        let started = Instant::now();
        let deadline = started + timeout;
        let mut events = 0u64;
        while events < expected {
            anyhow::ensure!(
                Instant::now() < deadline,
                "read {events} of {expected} messages of {topic} in {} s: is the broker serving fetches?",
                timeout.as_secs()
            );
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    std::hint::black_box(message.payload());
                    events += 1;
                    if events.is_multiple_of(10_000) {
                        bar.set_message(format!("{events} of {expected}"));
                    }
                }
                Some(Err(error)) => tracing::warn!(%error, "read-speed consumer (continuing)"),
                None => {}
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        Ok(Read { events, seconds })
    });
    result.await.context("the read-speed consumer thread")?
}
