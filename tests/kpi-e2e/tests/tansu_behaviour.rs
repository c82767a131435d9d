//! Test harness checks of the real broker: what Tansu 0.6.0 does and does not do for rdkafka
//! clients, pinned down so that a change of broker or client version shows up here first.

use std::time::Duration;

use kpi_e2e::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use kpi_e2e::rdkafka::client::DefaultClientContext;
use kpi_e2e::rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use kpi_e2e::rdkafka::error::RDKafkaErrorCode;
use kpi_e2e::rdkafka::producer::{FutureProducer, FutureRecord};
use kpi_e2e::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use kpi_e2e::{consume_all, consumer_config, producer_config, unique_name, Broker, Received, Storage};

/// Offsets read by an assigned consumer from `offset` of partition 0 during `window`.
async fn read_from(bootstrap: &str, topic: &str, offset: i64, window: Duration) -> Vec<i64> {
    let consumer: StreamConsumer = consumer_config(bootstrap, &unique_name("reader")).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset)).unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = tokio::time::Instant::now() + window;
    let mut offsets = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout_at(deadline, consumer.recv()).await {
        offsets.push(Received::from_message(&m).offset);
    }
    offsets
}

/// Two messages sent back to back travel in one record batch (offsets 0 and 1).
async fn one_batch_of_two(broker: &Broker, topic: &str) {
    let producer: FutureProducer = producer_config(&broker.bootstrap()).create().unwrap();
    let a = producer.send_result(FutureRecord::to(topic).key("k").payload("first")).unwrap();
    let b = producer.send_result(FutureRecord::to(topic).key("k").payload("second")).unwrap();
    assert_eq!(a.await.unwrap().unwrap().offset, 0);
    assert_eq!(b.await.unwrap().unwrap().offset, 1);
}

#[tokio::test]
async fn mid_batch_offsets_are_served_by_both_storages() {
    let sqlite = Broker::start_durable().await;
    assert!(matches!(sqlite.storage(), Storage::Sqlite { .. }));
    let memory = Broker::start_memory().await;
    let window = Duration::from_secs(2);
    for broker in [&sqlite, &memory] {
        broker.create_topic("batch", 1).await;
        one_batch_of_two(broker, "batch").await;
        // Offset 1 lies inside the batch based at 0. Tansu 0.6.0's memory storage skipped it
        // (returned nothing); scripts/tansu/fetch-from-the-batch-holding-the-offset.patch fixes it.
        assert_eq!(read_from(&broker.bootstrap(), "batch", 1, window).await, vec![1], "{:?}", broker.storage());
        assert_eq!(read_from(&broker.bootstrap(), "batch", 0, window).await, vec![0, 1]);
    }
}

#[tokio::test]
async fn the_latest_offset_is_the_high_watermark_after_a_batch_of_several() {
    let sqlite = Broker::start_durable().await;
    let memory = Broker::start_memory().await;
    for broker in [&sqlite, &memory] {
        broker.create_topic("marks", 1).await;
        one_batch_of_two(broker, "marks").await;
        let bootstrap = broker.bootstrap();
        let marks = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
            consumer.fetch_watermarks("marks", 0, Duration::from_secs(10)).unwrap()
        })
        .await
        .unwrap();
        // Unpatched, memory storage said 1: the batch's base offset + 1.
        assert_eq!(marks, (0, 2), "{:?}", broker.storage());
    }
}

#[tokio::test]
async fn a_fetch_inside_a_batch_reads_on_into_the_next_batches() {
    let broker = Broker::start_memory().await;
    broker.create_topic("batches", 1).await;
    one_batch_of_two(&broker, "batches").await;
    let producer: FutureProducer = producer_config(&broker.bootstrap()).create().unwrap();
    let pending: Vec<_> = (0..3)
        .map(|i| producer.send_result(FutureRecord::to("batches").key("k").payload(&format!("{i}"))).unwrap())
        .collect();
    for p in pending {
        p.await.unwrap().unwrap();
    }
    // Unpatched, a consumer resuming at 1 lost it and read [2, 3, 4].
    assert_eq!(read_from(&broker.bootstrap(), "batches", 1, Duration::from_secs(2)).await, vec![1, 2, 3, 4]);
    assert_eq!(read_from(&broker.bootstrap(), "batches", 3, Duration::from_secs(2)).await, vec![3, 4]);
}

#[tokio::test]
async fn topics_are_never_auto_created() {
    let broker = Broker::start_memory().await;
    // Even librdkafka's producer default (allow.auto.create.topics=true) gets no topic: the
    // message waits for metadata until message.timeout.ms, then fails as timed out.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("message.timeout.ms", "2000")
        .create()
        .unwrap();
    let result = producer.send(FutureRecord::to("missing").key("k").payload("v"), Duration::from_secs(5)).await;
    let (error, _) = result.expect_err("produce to a missing topic");
    assert_eq!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::MessageTimedOut), "{error}");
    let unknown = broker.partition_count("missing").await.unwrap_err();
    assert!(unknown.contains("UnknownTopicOrPartition"), "{unknown}");
}

#[tokio::test]
async fn admin_api_create_duplicate_default_and_delete() {
    let broker = Broker::start_memory().await;
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    let options = AdminOptions::new();
    broker.create_topic("t", 2).await;
    let again = admin.create_topics([&NewTopic::new("t", 2, TopicReplication::Fixed(1))], &options).await.unwrap();
    assert!(matches!(&again[0], Err((_, RDKafkaErrorCode::TopicAlreadyExists))), "{again:?}");
    // -1 partitions / replication: the broker default, 3 partitions.
    admin.create_topics([&NewTopic::new("d", -1, TopicReplication::Fixed(-1))], &options).await.unwrap()[0]
        .as_ref()
        .unwrap();
    broker.wait_for_topic("d", 3).await;
    admin.delete_topics(&["t"], &options).await.unwrap()[0].as_ref().unwrap();
    assert!(broker.partition_count("t").await.is_err(), "deleted topic still in metadata");
}

#[tokio::test]
async fn idempotent_producer_and_compression_codecs_work() {
    let broker = Broker::start_memory().await;
    // zstd is not offered: rdkafka's bundled librdkafka is built without libzstd unless the
    // `zstd` feature is on (client config error "libzstd not available at build time").
    for codec in ["none", "gzip", "snappy", "lz4"] {
        let topic = unique_name(codec);
        broker.create_topic(&topic, 1).await;
        let mut config = producer_config(&broker.bootstrap());
        config.set("compression.type", codec).set("enable.idempotence", "true");
        let producer: FutureProducer = config.create().unwrap();
        let pending: Vec<_> = (0..50)
            .map(|i| {
                let payload = format!("{codec} message {i} {}", "x".repeat(100));
                producer.send_result(FutureRecord::to(&topic).key("k").payload(&payload)).unwrap()
            })
            .collect();
        for p in pending {
            p.await.unwrap().unwrap();
        }
        let got = consume_all(&broker.bootstrap(), &topic, 50, Duration::from_secs(20)).await;
        assert!(got[49].payload_str().starts_with(&format!("{codec} message 49")));
    }
}
