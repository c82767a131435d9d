//! End to end on real parts, crash faults on the whole flow (raw → ingest → canonical → engine →
//! warehouse): a 200,000-line feed produced while ingest and engine are SIGKILLed 20 times in
//! all, at seeded random progress points, and restarted each time. The final counts must equal
//! the in-memory core over the same lines (nothing lost, nothing doubled), and every invalid line
//! must be on the dead-letter topic (at least once: ingest re-reads an unacknowledged batch).

use std::time::{Duration, Instant};

use kpi_core::validate::decode;
use kpi_e2e::pipeline::faults::{ENGINE_GROUP, INGEST_GROUP};
use kpi_e2e::pipeline::{
    as_rows, count_differences, generated_feed, reference_replay, valid_lines, Pipeline, Service, CANONICAL,
    DEAD_LETTER, RAW,
};
use rand::{Rng, SeedableRng};

const KILLS: usize = 20;

#[tokio::test(flavor = "multi_thread")]
async fn ingest_and_engine_killed_twenty_times_count_every_event_once() {
    let started = Instant::now();
    let phase = |name: &str| eprintln!("[fault_kills] {:>6.1} s  {name}", started.elapsed().as_secs_f64());
    let lines = tokio::task::spawn_blocking(|| generated_feed(10_000, 36, 5)).await.unwrap();
    assert!(lines.len() >= 200_000, "feed has {} lines; it must have at least 200,000", lines.len());
    let valid = valid_lines(&lines);
    let invalid: Vec<&String> = lines.iter().filter(|l| decode(l.as_bytes(), None).is_err()).collect();
    assert!(invalid.len() > 100, "the feed must carry invalid lines too");
    phase(&format!("feed generated: {} lines, {} invalid", lines.len(), invalid.len()));

    // The schedule: each kill is due when its service has done a random share of its work
    // (ingest: records written to the canonical and dead-letter topics; engine: canonical
    // offsets stored). Two points close together can kill a restarted process before it has
    // done anything, and a late one can find the engine idle; both are fair crash points.
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let ingest_kills = rng.gen_range(7..=KILLS - 7);
    let mut due = |n: usize| {
        let mut points: Vec<f64> = (0..n).map(|_| rng.gen_range(0.02..0.95)).collect();
        points.sort_by(f64::total_cmp);
        points
    };
    let mut ingest_due = due(ingest_kills);
    let mut engine_due = due(KILLS - ingest_kills);
    let mut pauses = rand::rngs::StdRng::seed_from_u64(21);

    let mut pipeline = Pipeline::start(4).await;
    pipeline.spawn(Service::Ingest);
    pipeline.spawn(Service::Engine);
    // `kpi produce` as its own process, so that the kills run while the feed arrives.
    let mut producer = pipeline.spawn_producer("feed.ndjson", &lines);
    phase("pipeline started, producing");

    let total = lines.len() as f64;
    let mut kills = Vec::new();
    let mut produced_at = None;
    let (mut last_progress, mut progressed_at) = ((0, 0), Instant::now());
    // Engine restarts that went on to store offsets, each of which claimed a partition.
    let (mut engine_restarted_at, mut engine_restarts_progressed) = (None::<i64>, 0);
    while !ingest_due.is_empty() || !engine_due.is_empty() {
        if produced_at.is_none() && producer.has_exited() {
            produced_at = Some(started.elapsed());
            phase("feed produced");
        }
        let ingested: i64 = pipeline.high_watermarks(CANONICAL).await.values().sum::<i64>()
            + pipeline.high_watermarks(DEAD_LETTER).await.values().sum::<i64>();
        let applied: i64 = pipeline.engine_offsets().await.values().sum();
        // Tansu 0.6.0 can leave a group stuck after a kill (see `Pipeline::nudge_group`).
        if (ingested, applied) != last_progress {
            (last_progress, progressed_at) = ((ingested, applied), Instant::now());
        } else if progressed_at.elapsed() > Duration::from_secs(30) {
            phase("no progress for 30 s: nudging the ingest and engine groups");
            pipeline.nudge_group(INGEST_GROUP, RAW).await;
            pipeline.nudge_group(ENGINE_GROUP, CANONICAL).await;
            progressed_at = Instant::now();
        }
        for (service, done, due) in [
            (Service::Ingest, ingested as f64 / total, &mut ingest_due),
            (Service::Engine, applied as f64 / valid as f64, &mut engine_due),
        ] {
            if due.first().is_some_and(|point| done >= *point) {
                due.remove(0);
                assert!(pipeline.is_alive(service), "{service:?} died by itself:\n{}", pipeline.logs());
                if service == Service::Engine {
                    engine_restarts_progressed += i64::from(engine_restarted_at.is_some_and(|a| applied > a));
                }
                pipeline.kill(service).await;
                kills.push(service);
                phase(&format!("kill {:>2}: {service:?} at {:.0}% of its work", kills.len(), done * 100.0));
                // Restart after the dead member's session (6 s) has expired, as a supervisor's
                // back-off would: Tansu 0.6's group coordinator evicts lazily, and a member that
                // rejoined before that sometimes never got partitions (seen twice, minutes long).
                tokio::time::sleep(Duration::from_millis(pauses.gen_range(6_500..8_000))).await;
                if service == Service::Engine {
                    // Read after the pause: a commit the killed engine had in flight has landed.
                    engine_restarted_at = Some(pipeline.engine_offsets().await.values().sum());
                }
                pipeline.spawn(service);
            }
        }
        // A stall guard, not the time budget: each kill needs its service to progress first, so
        // a pipeline that stops progressing ends here with the logs.
        assert!(started.elapsed() < Duration::from_secs(1_200), "kills not done in 20 minutes:\n{}", pipeline.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    producer.finish().await;
    phase(&format!("{} kills done ({ingest_kills} ingest), feed produced", kills.len()));

    let canonical = pipeline
        .wait_for_drain(&lines, Duration::from_secs(10), Some(Duration::from_secs(30)), Duration::from_secs(600))
        .await;
    phase(&format!("drained: {canonical} canonical messages for {valid} valid lines"));
    assert!(canonical >= valid, "the canonical topic lost events: {canonical} < {valid}");
    assert!(pipeline.is_alive(Service::Ingest) && pipeline.is_alive(Service::Engine), "{}", pipeline.logs());

    // Counts: identical, cell for cell, to the core over the same lines.
    let key = pipeline.hmac_key.clone();
    let reference_lines = lines.clone();
    let replay = tokio::task::spawn_blocking(move || reference_replay(key.as_bytes(), &reference_lines)).await.unwrap();
    let expected = as_rows(&replay.counts());
    let warehouse = pipeline.counts().await;
    assert!(
        warehouse == expected,
        "counts after {KILLS} kills differ from the core's over the same lines: {}",
        count_differences(&warehouse, &expected, 20)
    );
    phase("counts equal the reference");

    // Every engine restart that stored offsets claimed at least one partition, bumping its
    // epoch (the fence against the killed owner); the first instance's claims are epoch 1.
    let epochs: Vec<i64> =
        sqlx::query_scalar("SELECT epoch FROM engine_offsets").fetch_all(&pipeline.pool).await.unwrap();
    let stored: i64 = pipeline.engine_offsets().await.values().sum();
    let progressed = engine_restarts_progressed + i64::from(engine_restarted_at.is_some_and(|a| stored > a));
    let bumps: i64 = epochs.iter().map(|e| e - 1).sum();
    phase(&format!("epochs {epochs:?}: {bumps} re-claims for {progressed} engine restarts that stored offsets"));
    assert!(bumps >= progressed, "fewer re-claims ({bumps}) than engine restarts that stored offsets ({progressed})");

    check_dead_letters(&pipeline, &lines, invalid.len(), replay.ended_before_started()).await;
    phase("dead letters checked");

    // Ingest's last instance committed the whole raw topic: nothing is left to redo.
    let raw_end = pipeline.high_watermarks(RAW).await;
    assert_eq!(pipeline.committed_offsets(INGEST_GROUP, RAW).await, raw_end, "ingest's committed raw offsets");
}

/// Ingest's dead letters are at least once: a batch produced but not committed before a kill
/// is re-read and dead-lettered again. [`Pipeline::refusals`] checks each record against the raw
/// message it names, that every invalid raw message is named and that the raw topic holds the
/// feed; here, the engine's own (`ended_before_started`, after a kill possibly sent again)
/// name as many distinct events as the core finds.
async fn check_dead_letters(pipeline: &Pipeline, lines: &[String], invalid: usize, ended_before_started: usize) {
    let refusals = pipeline.refusals(lines).await;
    eprintln!(
        "[fault_kills] dead letters: {} records, {} distinct raw positions ({} repeated sends), {} invalid lines; \
         {} engine events",
        refusals.ingest_records,
        refusals.raw_positions,
        refusals.raw_repeats,
        invalid,
        refusals.engine_events.len()
    );
    assert_eq!(
        refusals.by_reason.values().sum::<usize>(),
        invalid,
        "refused lines of the feed: {:?}",
        refusals.by_reason
    );
    assert_eq!(refusals.engine_events.len(), ended_before_started, "distinct ended_before_started events");
}
