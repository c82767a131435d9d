//! End to end on real parts, an engine instance lost (canonical → two engines in one consumer
//! group → warehouse): with events flowing, one of two engines is SIGKILLed; the group moves its
//! partitions to the survivor, which claims them (bumping their epochs) and resumes from the
//! offsets stored in the warehouse. Final counts must equal the core over the same lines, and
//! the survivor must own every partition.

use std::time::{Duration, Instant};

use kpi_e2e::pipeline::faults::ENGINE_GROUP;
use kpi_e2e::pipeline::{as_rows, generated_feed, valid_lines, Pipeline, Service, CANONICAL};

const PARTITIONS: i64 = 4;

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_killed_hands_its_partitions_to_the_other_and_counts_every_event_once() {
    let started = Instant::now();
    let phase = |name: &str| eprintln!("[fault_two_engines] {:>6.1} s  {name}", started.elapsed().as_secs_f64());
    let lines = tokio::task::spawn_blocking(|| generated_feed(3_000, 24, 41)).await.unwrap();
    let valid = valid_lines(&lines);

    let mut pipeline = Pipeline::start(PARTITIONS as i32).await;
    pipeline.spawn(Service::Ingest);
    pipeline.spawn(Service::Engine);
    let mut survivor = pipeline.spawn_extra_engine("b");
    // Over about 40 s: the second engine needs a few seconds to join the group, and an
    // unpaced feed (50,000 lines in ~6 s with batching producers) is mostly applied by then.
    let per_second = (lines.len() / 40).max(1).to_string();
    let producer = pipeline.spawn_producer_with("feed.ndjson", &lines, &["--rate", &per_second]);
    phase(&format!("two engines started, producing {} lines at {per_second}/s", lines.len()));

    // Both engines must be doing work before one is killed, or nothing would move.
    let engine_url = pipeline.admin_url(Service::Engine);
    loop {
        let a = gauge(&engine_url, "kpi_engine_partitions_owned").await;
        let b = gauge(&survivor.admin_url, "kpi_engine_partitions_owned").await;
        let applied: i64 = pipeline.engine_offsets().await.values().sum();
        if a.unwrap_or(0) > 0 && b.unwrap_or(0) > 0 && applied >= valid / 5 {
            phase(&format!("partitions owned {a:?} + {b:?}; {applied} of {valid} applied"));
            break;
        }
        assert!(
            applied < valid * 7 / 10,
            "the group never split the partitions between the two engines ({a:?}, {b:?})\n{}",
            pipeline.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let epochs_before = epochs(&pipeline).await;
    pipeline.kill(Service::Engine).await;
    phase("engine a SIGKILLed");
    hand_over(&pipeline, &survivor.admin_url).await;

    let canonical = pipeline.wait_for_drain(&lines, Duration::from_secs(5), None, Duration::from_secs(900)).await;
    producer.finish().await;
    assert!(survivor.child.try_wait().unwrap().is_none(), "the survivor died:\n{}", pipeline.logs());
    phase(&format!("drained: {canonical} canonical messages"));

    assert!(
        pipeline.counts().await == as_rows(&pipeline.reference(&lines)),
        "counts after losing an engine differ from the core's"
    );
    let owned = gauge(&survivor.admin_url, "kpi_engine_partitions_owned").await;
    assert_eq!(owned, Some(PARTITIONS), "the survivor's kpi_engine_partitions_owned");
    // The rebalance after the kill revokes every partition (librdkafka's default assignors are
    // eager), so the survivor claims all four again: each epoch moved on, which is what fences
    // a stale owner's commit.
    let epochs_after = epochs(&pipeline).await;
    assert_eq!(epochs_after.len(), PARTITIONS as usize);
    for (partition, epoch) in &epochs_after {
        let before = epochs_before.get(partition).copied().unwrap_or(0);
        assert!(*epoch > before, "partition {partition}: epoch {epoch} did not move on after the kill (was {before})");
    }
    survivor.kill().await;
    phase("counts equal the reference; the survivor owns every partition");
}

/// One gauge from an engine's `/metrics`, if it answers.
async fn gauge(admin_url: &str, name: &str) -> Option<i64> {
    let body = kpi_e2e::http::get(&format!("{admin_url}/metrics")).await.ok()?;
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok())).map(|v| v as i64)
}

async fn epochs(pipeline: &Pipeline) -> std::collections::BTreeMap<i32, i64> {
    sqlx::query_as::<_, (i32, i64)>("SELECT partition, epoch FROM engine_offsets")
        .fetch_all(&pipeline.pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Waits for the survivor to own every partition. Tansu 0.6.0 does not rebalance when the
/// survivor's heartbeat is what finds the dead member's session expired (its heartbeat path
/// evicts the member but leaves the group "formed", so the dead member's partitions stay
/// assigned to nobody); a real Kafka coordinator rebalances. So if the survivor has not got
/// them after the session timeout, a plain consumer joins the group and leaves again, which
/// makes Tansu re-form the group. It reads nothing into the warehouse and commits nothing.
async fn hand_over(pipeline: &Pipeline, survivor_url: &str) {
    tokio::time::sleep(Duration::from_secs(15)).await;
    let owned = gauge(survivor_url, "kpi_engine_partitions_owned").await;
    if owned == Some(PARTITIONS) {
        eprintln!("[fault_two_engines] the group moved the partitions by itself");
        return;
    }
    eprintln!("[fault_two_engines] survivor owns {owned:?} after 15 s: nudging Tansu to re-form the group");
    let nudge = kpi_e2e::group_consumer(&pipeline.broker.bootstrap(), ENGINE_GROUP, &[CANONICAL]);
    let _ = tokio::time::timeout(Duration::from_secs(10), nudge.recv()).await;
    tokio::task::spawn_blocking(move || drop(nudge)).await.unwrap();
}
