//! The consumers of ingest and the engine, between reading a batch and committing it, on a real
//! broker: a downstream write slower than `max.poll.interval.ms` (10 s in the services'
//! consumer settings) must not cost the consumer its group membership, because a consumer that
//! leaves re-reads everything uncommitted on rejoining (ingest then sends it all again).
//! `kpi_runtime::keep_polling::keep_polling_until` keeps it in; the control shows that librdkafka
//! does make an unpolled consumer leave, so the first test can fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kpi_e2e::{produce, unique_name, Broker, Record};
use kpi_runtime::kafka::consumer_config;
use kpi_runtime::keep_polling::{keep_polling_until, ConsumerPauses, PAUSE_AFTER};
use kpi_runtime::settings::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::{ClientContext, Message as _};

/// Longer than `max.poll.interval.ms` (10 s) with room for librdkafka's once-a-second check.
const SLOW_WRITE: Duration = Duration::from_secs(13);

/// Counts the partitions revoked from this member: every revoke is a rebalance it went through.
#[derive(Clone, Default)]
struct Revocations(Arc<AtomicUsize>);

impl ClientContext for Revocations {}

impl ConsumerContext for Revocations {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.0.fetch_add(partitions.count().max(1), Ordering::SeqCst);
        }
    }
}

/// A topic of one partition holding `0`..`9`, and a consumer in a new group with the services'
/// consumer settings, which has received `0`.
async fn consumer_after_first_message(broker: &Broker) -> (StreamConsumer<Revocations>, Revocations) {
    let topic = unique_name("slow-write");
    broker.create_topic(&topic, 1).await;
    let records: Vec<Record> = (0..10).map(|i| Record::keyed("k", i.to_string())).collect();
    produce(&broker.bootstrap(), &topic, &records).await;
    let settings = KafkaSettings { brokers: broker.bootstrap(), ..KafkaSettings::default() };
    let revocations = Revocations::default();
    let consumer: StreamConsumer<Revocations> = consumer_config(&settings, &unique_name("group"))
        .create_with_context(revocations.clone())
        .expect("creating the consumer");
    consumer.subscribe(&[&topic]).expect("subscribing");
    let first = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .expect("the first message within 60 s")
        .expect("the first message");
    assert_eq!(first.offset(), 0);
    drop(first);
    assert_eq!(revocations.0.load(Ordering::SeqCst), 0, "revoked before the slow write");
    (consumer, revocations)
}

/// The offset of the next message the consumer delivers, and the errors it reported first
/// (librdkafka reports leaving the group as `PollExceeded`).
async fn next_offset(consumer: &StreamConsumer<Revocations>) -> (i64, Vec<String>) {
    let mut errors = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await.expect("a message within 60 s") {
            Ok(message) => return (message.offset(), errors),
            Err(error) => errors.push(error.to_string()),
        }
    }
}

#[tokio::test]
async fn a_consumer_awaiting_a_slow_write_through_keep_polling_stays_in_its_group() {
    let broker = Broker::start_durable().await;
    let (consumer, revocations) = consumer_after_first_message(&broker).await;

    // Room for 3 of the 9 left: read ahead, then paused (PAUSE_AFTER after the last poll) for
    // the rest of the write.
    let pauses = ConsumerPauses::unregistered();
    let slow_write = async {
        tokio::time::sleep(PAUSE_AFTER + Duration::from_secs(3)).await;
        let paused_during = pauses.is_paused();
        tokio::time::sleep(SLOW_WRITE - PAUSE_AFTER - Duration::from_secs(3)).await;
        paused_during
    };
    let (paused_during, delivered) =
        keep_polling_until(&consumer, 3, &pauses, slow_write).await.expect("keep_polling_until");
    let delivered: Vec<i64> = delivered.iter().map(|m| m.offset()).collect();
    assert!(paused_during, "the partitions were not reported paused {PAUSE_AFTER:?} into the write");
    assert!(!pauses.is_paused(), "the partitions are still reported paused after the write");
    assert_eq!(pauses.count(), 1, "one pause for one slow write");

    assert_eq!(revocations.0.load(Ordering::SeqCst), 0, "the consumer went through a rebalance during the write");
    // What was read meanwhile is handed back in order, up to the room given, and reading goes
    // on after it (no re-read from the start, which is what leaving the group causes).
    assert_eq!(delivered, vec![1, 2, 3], "read ahead during the write");
    let expected_next = 4;
    let (next, errors) = next_offset(&consumer).await;
    assert!(errors.is_empty(), "the consumer reported {errors:?}");
    assert_eq!(next, expected_next, "the consumer did not go on where it was");
}

#[tokio::test]
async fn control_a_consumer_not_polled_through_a_slow_write_leaves_its_group() {
    let broker = Broker::start_durable().await;
    let (consumer, revocations) = consumer_after_first_message(&broker).await;

    tokio::time::sleep(SLOW_WRITE).await;
    // Served on the next poll: the member has left, says so, and rejoins.
    let (after, errors) = next_offset(&consumer).await;

    let left = errors.iter().any(|e| e.contains("max.poll.interval.ms"));
    assert!(
        left || revocations.0.load(Ordering::SeqCst) > 0,
        "no sign of leaving the group after {SLOW_WRITE:?} unpolled (next offset {after}, errors \
         {errors:?}): librdkafka no longer enforces max.poll.interval.ms as these tests assume"
    );
}
