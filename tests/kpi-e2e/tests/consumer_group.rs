//! Smoke test of the harness against the real broker: consumer groups join, commit, and a new
//! consumer in the group resumes from the committed offsets; two members share the partitions.
//! Timings are printed (run with `--nocapture` to see them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kpi_e2e::{group_consumer, produce, unique_name, Broker, Received, Record};
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::{Message as _, Offset, TopicPartitionList};

async fn recv_n(consumer: &StreamConsumer, n: usize, timeout: Duration) -> Vec<Received> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => out.push(Received::from_message(&m)),
            Ok(Err(e)) => eprintln!("recv error (continuing): {e}"),
            Err(_) => panic!("only {} of {n} messages within {timeout:?}", out.len()),
        }
    }
    out
}

/// Nothing more arrives within `quiet`.
async fn assert_quiet(consumer: &StreamConsumer, quiet: Duration) {
    if let Ok(Ok(m)) = tokio::time::timeout(quiet, consumer.recv()).await {
        panic!("unexpected extra message p{} o{}", m.partition(), m.offset());
    }
}

// On SQLite storage: the committed offsets fall inside producer batches, which Tansu 0.6.0's
// memory storage served wrongly until scripts/tansu/'s patch (see tansu_behaviour.rs); this test
// keeps the group protocol covered on the other storage.
#[tokio::test]
async fn a_new_group_member_resumes_from_committed_offsets() {
    let broker = Broker::start_durable().await;
    let topic = unique_name("group");
    broker.create_topic(&topic, 4).await;
    let records: Vec<Record> = (0..400).map(|i| Record::keyed(format!("k{}", i % 37), i.to_string())).collect();
    produce(&broker.bootstrap(), &topic, &records).await;
    let group = unique_name("engine");

    // First member: take 200, commit next offsets explicitly, leave.
    let t = Instant::now();
    let first = group_consumer(&broker.bootstrap(), &group, &[&topic]);
    let mut got = recv_n(&first, 1, Duration::from_secs(60)).await;
    let join_time = t.elapsed();
    got.extend(recv_n(&first, 199, Duration::from_secs(30)).await);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &got {
        let e = next.entry(m.partition).or_insert(0);
        *e = (*e).max(m.offset + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next {
        tpl.add_partition_offset(&topic, *p, Offset::Offset(*o)).unwrap();
    }
    first.commit(&tpl, CommitMode::Sync).unwrap();
    let assigned = first.assignment().unwrap().count();
    drop(first); // closes: leaves the group
    eprintln!("kpi-e2e timing: group join + first message {join_time:?}; {assigned} partitions");
    assert_eq!(assigned, 4, "a lone member gets every partition");

    // Second member, same group: starts at the committed offsets, sees each message once.
    let t = Instant::now();
    let second = group_consumer(&broker.bootstrap(), &group, &[&topic]);
    let rest = recv_n(&second, 200, Duration::from_secs(60)).await;
    eprintln!("kpi-e2e timing: rejoin + 200 messages {:?}", t.elapsed());
    assert_quiet(&second, Duration::from_secs(2)).await;
    for p in 0..4 {
        let first_seen = rest.iter().filter(|m| m.partition == p).map(|m| m.offset).min();
        if let Some(o) = first_seen {
            assert_eq!(Some(&o), Some(next.get(&p).unwrap_or(&0)), "partition {p} resumes at commit");
        }
    }
    let all: BTreeSet<String> = got.iter().chain(&rest).map(|m| m.payload_str()).collect();
    assert_eq!(all.len(), 400, "no message lost or repeated across the handover");
}

#[tokio::test]
async fn two_members_split_the_partitions() {
    let broker = Broker::start_memory().await;
    let topic = unique_name("split");
    broker.create_topic(&topic, 4).await;
    let records: Vec<Record> = (0..200).map(|i| Record::keyed(format!("k{i}"), i.to_string())).collect();
    produce(&broker.bootstrap(), &topic, &records).await;
    let group = unique_name("pair");

    let a = group_consumer(&broker.bootstrap(), &group, &[&topic]);
    let b = group_consumer(&broker.bootstrap(), &group, &[&topic]);
    // Poll both until together they have everything and both hold partitions.
    let t = Instant::now();
    let deadline = t + Duration::from_secs(90);
    let mut seen: BTreeMap<String, i32> = BTreeMap::new();
    loop {
        tokio::select! {
            Ok(m) = a.recv() => { seen.insert(Received::from_message(&m).payload_str(), 0); }
            Ok(m) = b.recv() => { seen.insert(Received::from_message(&m).payload_str(), 1); }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let (na, nb) = (a.assignment().unwrap().count(), b.assignment().unwrap().count());
        if seen.len() == 200 && na > 0 && nb > 0 && na + nb == 4 {
            eprintln!("kpi-e2e timing: two members settled {na}+{nb} in {:?}", t.elapsed());
            break;
        }
        assert!(Instant::now() < deadline, "group did not settle: {} of 200 seen, assignments {na}+{nb}", seen.len());
    }
    let pa: BTreeSet<i32> = a.assignment().unwrap().elements().iter().map(|e| e.partition()).collect();
    let pb: BTreeSet<i32> = b.assignment().unwrap().elements().iter().map(|e| e.partition()).collect();
    assert!(pa.is_disjoint(&pb), "assignments overlap: {pa:?} {pb:?}");
}
