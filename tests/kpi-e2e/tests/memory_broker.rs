//! Smoke test of the harness against the real broker: 1,000 keyed messages with headers through
//! a 4-partition topic on an in-memory Tansu, read back whole.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kpi_e2e::{consume_all, produce, unique_name, Broker, Record};

#[tokio::test]
async fn thousand_keyed_messages_with_headers_round_trip() {
    let started = Instant::now();
    let broker = Broker::start_memory().await;
    let start_time = started.elapsed();
    let topic = unique_name("smoke");
    broker.create_topic(&topic, 4).await;

    let records: Vec<Record> = (0..1000)
        .map(|i| {
            Record::keyed(format!("person-{:03}", i % 50), format!("{{\"seq\":{i}}}"))
                .header("content-type", "application/json")
                .header("seq", i.to_string())
        })
        .collect();
    let before_produce = Instant::now();
    let positions = produce(&broker.bootstrap(), &topic, &records).await;
    let produce_time = before_produce.elapsed();
    assert_eq!(positions.len(), 1000);

    let before_consume = Instant::now();
    let received = consume_all(&broker.bootstrap(), &topic, 1000, Duration::from_secs(60)).await;
    let consume_time = before_consume.elapsed();
    eprintln!(
        "kpi-e2e timing: broker start {start_time:?}, produce 1000 {produce_time:?}, \
         consume 1000 {consume_time:?}"
    );

    // Every message arrived once, with its key, payload and headers intact.
    assert_eq!(received.len(), 1000);
    let mut seen = BTreeSet::new();
    let mut partition_of_key: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    let mut last_seq_of_key: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for m in &received {
        let seq: i64 = std::str::from_utf8(m.header("seq").expect("seq header survives")).unwrap().parse().unwrap();
        assert!(seen.insert(seq), "message {seq} delivered twice");
        assert_eq!(m.header("content-type"), Some(&b"application/json"[..]));
        assert_eq!(m.headers.len(), 2, "exactly the two headers produced, in order");
        assert_eq!(m.headers[0].0, "content-type");
        assert_eq!(m.headers[1].0, "seq");
        let key = m.key.clone().expect("key survives");
        assert_eq!(key, format!("person-{:03}", seq % 50).into_bytes());
        assert_eq!(m.payload_str(), format!("{{\"seq\":{seq}}}"));
        assert!(m.timestamp.is_some(), "messages carry a timestamp");
        // Same key, same partition; and in produce order within it.
        let p = *partition_of_key.entry(key.clone()).or_insert(m.partition);
        assert_eq!(p, m.partition, "key {:?} spread over partitions", String::from_utf8_lossy(&key));
        if let Some(prev) = last_seq_of_key.insert(key, seq) {
            assert!(prev < seq, "per-key order broken: {prev} then {seq}");
        }
        // The offset the delivery report gave is the offset the consumer sees.
        assert_eq!(positions[seq as usize], (m.partition, m.offset));
    }
    let used: BTreeSet<i32> = received.iter().map(|m| m.partition).collect();
    assert_eq!(used, BTreeSet::from([0, 1, 2, 3]), "50 keys land on all 4 partitions");
    // Offsets in each partition are dense from 0.
    for p in 0..4 {
        let mut offsets: Vec<i64> = received.iter().filter(|m| m.partition == p).map(|m| m.offset).collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>(), "partition {p}");
    }
}

#[tokio::test]
async fn topics_from_the_command_line_and_null_keys_and_values() {
    let broker = Broker::start_memory().await;
    let topic = unique_name("cli");
    broker.create_topic_cli(&topic, 2).await;
    assert_eq!(kpi_e2e::partition_ids(&broker.bootstrap(), &topic).await, vec![0, 1]);

    let records = vec![
        Record { key: None, payload: Some(b"no key".to_vec()), ..Record::default() },
        Record { key: Some(b"k".to_vec()), payload: None, ..Record::default() },
        Record {
            key: Some(b"k2".to_vec()),
            payload: Some(Vec::new()),
            headers: vec![
                ("null".to_owned(), None),
                ("dup".to_owned(), Some(b"1".to_vec())),
                ("dup".to_owned(), Some(b"2".to_vec())),
            ],
            partition: Some(1),
        },
    ];
    let positions = produce(&broker.bootstrap(), &topic, &records).await;
    assert_eq!(positions[2].0, 1, "explicit partition honoured");
    let received = consume_all(&broker.bootstrap(), &topic, 3, Duration::from_secs(30)).await;
    let by_key = |k: Option<&[u8]>| received.iter().find(|m| m.key.as_deref() == k).unwrap();
    assert_eq!(by_key(None).payload.as_deref(), Some(&b"no key"[..]));
    assert_eq!(by_key(Some(b"k")).payload, None, "null value (tombstone) stays null");
    let m = by_key(Some(b"k2"));
    assert_eq!(m.payload.as_deref(), Some(&b""[..]), "empty value stays empty, not null");
    assert_eq!(
        m.headers,
        vec![
            ("null".to_owned(), None),
            ("dup".to_owned(), Some(b"1".to_vec())),
            ("dup".to_owned(), Some(b"2".to_vec()))
        ],
        "null header values and repeated header keys survive"
    );
}

#[tokio::test]
async fn memory_broker_restarts_on_the_same_port_empty() {
    let mut broker = Broker::start_memory().await;
    let port = broker.port();
    let topic = unique_name("gone");
    broker.create_topic(&topic, 1).await;
    produce(&broker.bootstrap(), &topic, &[Record::keyed("a", "1")]).await;
    broker.restart().await;
    eprintln!("kpi-e2e timing: memory broker restart {:?}", broker.last_start_duration());
    assert_eq!(broker.port(), port);
    assert!(broker.partition_count(&topic).await.is_err(), "memory storage forgets topics");
}
