//! Smoke test of the harness against the real broker: a SQLite-backed Tansu keeps topics,
//! messages and committed offsets across a restart.

use std::time::{Duration, Instant};

use kpi_e2e::{consume_all, group_consumer, produce_lines, unique_name, Broker};
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};

#[tokio::test]
async fn sqlite_broker_survives_a_restart_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut broker = Broker::start_sqlite(dir.path()).await;
    eprintln!("kpi-e2e timing: sqlite broker start {:?}", started.elapsed());
    assert!(dir.path().join("tansu.db").exists(), "sqlite://tansu.db is relative to the working dir");
    let topic = unique_name("durable");
    broker.create_topic(&topic, 3).await;

    let lines: Vec<Vec<u8>> = (0..300).map(|i| format!("line {i}").into_bytes()).collect();
    let t = Instant::now();
    produce_lines(&broker.bootstrap(), &topic, &lines, |l| Some(l[l.len() - 1..].to_vec())).await;
    eprintln!("kpi-e2e timing: sqlite produce 300 {:?}", t.elapsed());

    // Commit offsets for a group part-way through, to check they survive too.
    let group = unique_name("durable_group");
    {
        let consumer = group_consumer(&broker.bootstrap(), &group, &[&topic]);
        let mut tpl = TopicPartitionList::new();
        for p in 0..3 {
            tpl.add_partition_offset(&topic, p, Offset::Offset(10)).unwrap();
        }
        // Committing needs the group coordinator, not an assignment.
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }

    let port = broker.port();
    let t = Instant::now();
    broker.restart().await;
    eprintln!("kpi-e2e timing: sqlite broker restart {:?} (stop + start)", t.elapsed());
    assert_eq!(broker.port(), port);

    let received = consume_all(&broker.bootstrap(), &topic, 300, Duration::from_secs(60)).await;
    let mut payloads: Vec<String> = received.iter().map(|m| m.payload_str()).collect();
    payloads.sort();
    let mut expected: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
    expected.sort();
    assert_eq!(payloads, expected);

    let consumer = group_consumer(&broker.bootstrap(), &group, &[&topic]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&topic, p);
    }
    let committed =
        tokio::task::spawn_blocking(move || consumer.committed_offsets(tpl, Duration::from_secs(10)).unwrap())
            .await
            .unwrap();
    for p in 0..3 {
        assert_eq!(
            committed.find_partition(&topic, p).unwrap().offset(),
            Offset::Offset(10),
            "committed offset of partition {p} survives the restart"
        );
    }

    // A new broker process on the same directory (not a restart of this one) sees it all too.
    broker.stop().await;
    drop(broker);
    let again = Broker::start_sqlite(dir.path()).await;
    consume_all(&again.bootstrap(), &topic, 300, Duration::from_secs(60)).await;
}
