//! Test harness for the real broker: rdkafka producers and consumers configured to work with Tansu.
//!
//! rdkafka bundles librdkafka 2.12, which works against Tansu 0.6.0; Debian's librdkafka 2.0
//! does not. Group consumers need `session.timeout.ms` 6000 and `max.poll.interval.ms` 10000.
//! Tansu has no Kafka transactions and no offsets-for-times: don't use them in tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::net::unique_name;

/// How long a produced message may wait for delivery before it is reported failed.
const DELIVERY_TIMEOUT_MS: &str = "30000";

/// Producer settings that work against Tansu: acks=all, 30 s delivery timeout, no idempotence,
/// no auto-creation of topics (tests create theirs with [`crate::Broker::create_topic`]).
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", DELIVERY_TIMEOUT_MS)
        .set("allow.auto.create.topics", "false")
        .set("linger.ms", "5");
    config
}

/// Group-consumer settings that work against Tansu: the given `group.id`, read from the earliest
/// offset when the group has none, manual commits, `session.timeout.ms` 6000 and
/// `max.poll.interval.ms` 10000 (the architecture's settings for Tansu), and
/// `fetch.wait.max.ms` 100 (Tansu holds every fetch for the full wait).
pub fn consumer_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "10000")
        // Tansu answers a fetch only when fetch.wait.max.ms has passed, even if data arrived
        // meanwhile: 500 ms (the default) makes every hop up to half a second slow.
        .set("fetch.wait.max.ms", "100");
    config
}

/// A group consumer ([`consumer_config`]) subscribed to `topics`. Assignment happens while it is
/// polled (`recv().await`), after the group join.
pub fn group_consumer(bootstrap: &str, group: &str, topics: &[&str]) -> StreamConsumer {
    let consumer: StreamConsumer =
        consumer_config(bootstrap, group).create().unwrap_or_else(|e| panic!("create consumer for group {group}: {e}"));
    consumer.subscribe(topics).unwrap_or_else(|e| panic!("subscribe group {group} to {topics:?}: {e}"));
    consumer
}

/// A message to produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// In order; a key may repeat; `None` is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// `None` lets the partitioner choose (by key hash for keyed records).
    pub partition: Option<i32>,
}

impl Record {
    /// A record with this key and payload and no headers.
    pub fn keyed(key: impl Into<Vec<u8>>, payload: impl Into<Vec<u8>>) -> Record {
        Record { key: Some(key.into()), payload: Some(payload.into()), ..Record::default() }
    }

    /// Adds a header.
    pub fn header(mut self, key: &str, value: impl Into<Vec<u8>>) -> Record {
        self.headers.push((key.to_owned(), Some(value.into())));
        self
    }
}

/// A consumed message, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch (create or log-append time), if any.
    pub timestamp: Option<i64>,
}

impl Received {
    /// Copies a borrowed message out of the consumer.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Received {
        let headers = message
            .headers()
            .map(|hs| hs.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
            .unwrap_or_default();
        Received {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp().to_millis(),
        }
    }

    /// The first header named `key` with a non-null value.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, v)| k == key && v.is_some()).and_then(|(_, v)| v.as_deref())
    }

    /// The payload as UTF-8 (lossy), for assertions and messages.
    pub fn payload_str(&self) -> String {
        String::from_utf8_lossy(self.payload.as_deref().unwrap_or_default()).into_owned()
    }
}

/// Produces `lines` to `topic`, in order, each keyed by `key_fn(line)`, and waits for every
/// delivery report. Returns each line's (partition, offset). Panics on any delivery failure.
pub async fn produce_lines<F>(bootstrap: &str, topic: &str, lines: &[Vec<u8>], key_fn: F) -> Vec<(i32, i64)>
where
    F: Fn(&[u8]) -> Option<Vec<u8>>,
{
    let records: Vec<Record> = lines
        .iter()
        .map(|line| Record { key: key_fn(line), payload: Some(line.clone()), ..Record::default() })
        .collect();
    produce(bootstrap, topic, &records).await
}

/// Produces `records` to `topic`, in order, and waits for every delivery report. Returns each
/// record's (partition, offset). Panics on any delivery failure.
pub async fn produce(bootstrap: &str, topic: &str, records: &[Record]) -> Vec<(i32, i64)> {
    // Tansu never auto-creates topics: a send to a missing topic would only fail when
    // message.timeout.ms runs out. Fail at once with a clear message instead.
    partition_ids(bootstrap, topic).await;
    let producer: FutureProducer =
        producer_config(bootstrap).create().unwrap_or_else(|e| panic!("create producer for {bootstrap}: {e}"));
    let mut pending = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let headers = (!record.headers.is_empty()).then(|| {
            record.headers.iter().fold(OwnedHeaders::new_with_capacity(record.headers.len()), |hs, (key, value)| {
                hs.insert(Header { key, value: value.as_deref() })
            })
        });
        loop {
            let mut future: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
            if let Some(key) = &record.key {
                future = future.key(key.as_slice());
            }
            if let Some(payload) = &record.payload {
                future = future.payload(payload.as_slice());
            }
            if let Some(partition) = record.partition {
                future = future.partition(partition);
            }
            if let Some(headers) = &headers {
                future = future.headers(headers.clone());
            }
            match producer.send_result(future) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => panic!("produce record {i} to {topic} on {bootstrap}: {e}"),
            }
        }
    }
    let mut positions = Vec::with_capacity(pending.len());
    for (i, delivery) in pending.into_iter().enumerate() {
        match delivery.await {
            Ok(Ok(d)) => positions.push((d.partition, d.offset)),
            Ok(Err((e, _))) => panic!("delivery of record {i} to {topic} on {bootstrap}: {e}"),
            Err(_) => panic!("delivery of record {i} to {topic}: producer dropped the report"),
        }
    }
    drop_in_background(producer);
    positions
}

/// Reads `topic` from the beginning of every partition (by assignment, no consumer group join)
/// until `expected_count` messages have arrived, and returns them in arrival order (each
/// partition's in offset order). Panics if fewer arrive within `timeout`.
///
/// It returns as soon as the count is reached; to check that nothing more arrives, call it with
/// `expected_count + 1` and a short timeout inside `catch_unwind`, or use [`consume_all_with`].
pub async fn consume_all(bootstrap: &str, topic: &str, expected_count: usize, timeout: Duration) -> Vec<Received> {
    let (received, _) = consume_all_with(bootstrap, topic, expected_count, timeout).await;
    if received.len() < expected_count {
        panic!(
            "consume_all({topic}): {} of {expected_count} messages within {timeout:?}; \
             per partition: {:?}",
            received.len(),
            per_partition(&received)
        );
    }
    received
}

/// Like [`consume_all`], but returns what arrived (possibly fewer than `expected_count`) and how
/// long it took, instead of panicking.
pub async fn consume_all_with(
    bootstrap: &str,
    topic: &str,
    expected_count: usize,
    timeout: Duration,
) -> (Vec<Received>, Duration) {
    let began = Instant::now();
    let partitions = partition_ids(bootstrap, topic).await;
    let consumer: StreamConsumer = consumer_config(bootstrap, &unique_name("kpi_e2e_reader"))
        .create()
        .unwrap_or_else(|e| panic!("create consumer for {bootstrap}: {e}"));
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        // Offset 0 rather than Offset::Beginning: the logical offset costs a ListOffsets round
        // that Tansu answers about 0.5 s late; 0 out of range falls back to auto.offset.reset
        // (earliest) anyway.
        assignment.add_partition_offset(topic, *p, Offset::Offset(0)).expect("add partition to assignment");
    }
    consumer.assign(&assignment).unwrap_or_else(|e| panic!("assign {topic} partitions {partitions:?}: {e}"));
    let deadline = began + timeout;
    let mut received = Vec::with_capacity(expected_count);
    while received.len() < expected_count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(message)) => received.push(Received::from_message(&message)),
            Ok(Err(e)) => eprintln!("kpi-e2e: consume {topic}: {e} (continuing)"),
            Err(_) => break,
        }
    }
    let took = began.elapsed();
    drop_in_background(consumer);
    (received, took)
}

/// Drops an rdkafka client on a blocking thread: closing one takes ~100 ms (its poll interval),
/// which a test need not wait for.
fn drop_in_background<T: Send + 'static>(client: T) {
    tokio::task::spawn_blocking(move || drop(client));
}

/// Message counts per partition, for failure messages.
pub fn per_partition(messages: &[Received]) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for m in messages {
        *counts.entry(m.partition).or_insert(0) += 1;
    }
    counts
}

/// The partition ids of `topic`, from metadata. Panics if the topic is unknown.
pub async fn partition_ids(bootstrap: &str, topic: &str) -> Vec<i32> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("allow.auto.create.topics", "false")
            .create()
            .unwrap_or_else(|e| panic!("create metadata client for {bootstrap}: {e}"));
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("metadata for {topic} from {bootstrap}: {e}"));
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .unwrap_or_else(|| panic!("{topic} missing from metadata"));
        match t.error().map(RDKafkaErrorCode::from) {
            None => {}
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => panic!(
                "topic {topic} does not exist on {bootstrap}: Tansu does not auto-create topics; \
                 create it first with Broker::create_topic"
            ),
            Some(code) => panic!("metadata for {topic}: {code:?}"),
        }
        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        ids
    })
    .await
    .expect("metadata task")
}
