//! End to end on real parts, back-pressure from the warehouse (canonical → engine → PostgreSQL):
//! while a private PostgreSQL is stopped, a large feed keeps arriving. The engine must stop
//! consuming rather than buffer the backlog: once it reports its partitions paused
//! (`kpi_engine_consumer_paused`), its resident memory stays level while the canonical topic
//! keeps growing: the backlog stays on the topic. When the warehouse is back it catches up and
//! the counts equal the core over the same lines.

use std::time::{Duration, Instant};

use kpi_e2e::pipeline::{as_rows, distinct_events, generated_feed, Pipeline, Service, CANONICAL};
use kpi_e2e::private_pg::PrivatePg;

/// The engine pauses once a batch has waited on the warehouse with its read-ahead full for
/// `kpi_runtime::keep_polling::PAUSE_AFTER` (5 s), after the pool's 5 s acquire time-out.
const PAUSED_WITHIN: Duration = Duration::from_secs(60);
/// The engine must have stayed paused this long before memory is read (librdkafka drops its
/// prefetch when paused) and the second part of the backlog is produced.
const QUIET: Duration = Duration::from_secs(2);
/// Sampling after the pause lasts at least this long, and until `BACKLOG` messages have arrived.
const SAMPLING: Duration = Duration::from_secs(20);
const BACKLOG: i64 = 25_000;
/// Lines of the backlog produced before the pause (enough to fill the failing batch and its
/// read-ahead); the rest (over 35,000) come after it.
const BACKLOG_EARLY: usize = 15_000;
const SAMPLING_MAX: Duration = Duration::from_secs(150);
/// librdkafka may pre-fetch into its queue until the pause (up to `queued.min.messages`
/// 100,000 messages or `queued.max.messages.kbytes` 64 MiB); buffering the backlog in the
/// engine as well would exceed this.
const RSS_BOUND_MIB: i64 = 160;
/// Growth allowed after the pause while `BACKLOG` messages arrive: fetching or buffering them
/// would exceed it (over 35,000 canonical messages, each over 300 bytes with its 64-character
/// pseudonyms: more than 10 MiB as fetched, several times that decoded). Not tighter: a paused
/// engine's resident set moves by a few MiB on its own (the allocator returning and taking back
/// pages while the batch is retried): 80 -> 85 and 84 -> 91 MiB were seen with every message
/// already arrived and none read, and 4 MiB failed two runs in four on one machine, as it
/// failed one in three there for the code before (84 -> 93). With the pause made a no-op the
/// engine grew 88 -> 108 MiB. A measure that separates the two more widely (a larger backlog,
/// or growth timed against arrivals) would let this bound come down again.
const PLATEAU_MIB: i64 = 10;

#[tokio::test(flavor = "multi_thread")]
async fn engine_memory_stays_bounded_while_the_warehouse_is_down() {
    let started = Instant::now();
    let phase = |name: &str| eprintln!("[fault_postgres_memory] {:>6.1} s  {name}", started.elapsed().as_secs_f64());
    let warm_up = tokio::task::spawn_blocking(|| generated_feed(500, 12, 81)).await.unwrap();
    let backlog = tokio::task::spawn_blocking(|| generated_feed(2_500, 36, 82)).await.unwrap();
    let all: Vec<String> = warm_up.iter().chain(&backlog).cloned().collect();

    let mut pg = PrivatePg::start().await;
    let mut pipeline = Pipeline::start_on(4, &pg.admin_url()).await;
    pipeline.spawn(Service::Ingest);
    pipeline.spawn(Service::Engine);
    pipeline.produce_lines("warm-up.ndjson", &warm_up).await;
    pipeline.wait_for_engine(distinct_events(&warm_up), Duration::from_secs(120)).await;
    let pid = pipeline.pid(Service::Engine).expect("engine pid");
    let baseline = rss_mib(pid);
    phase(&format!("warm-up applied; engine RSS {baseline} MiB; stopping PostgreSQL"));

    pg.stop().await;
    // The backlog comes in two parts, the second once the engine has paused, so that at least
    // `BACKLOG` messages arrive while it is watched however fast ingest was at first.
    let (early, late) = backlog.split_at(BACKLOG_EARLY);
    assert!(late.len() as i64 > BACKLOG + 5_000, "the late part of the backlog is too small to show anything");
    let early_producer = pipeline.spawn_producer("backlog-early.ndjson", early);
    let down_at = Instant::now();
    let lag_before = metric(&pipeline, "kpi_engine_consumer_lag_messages").await;
    // (seconds into the outage, RSS MiB, canonical messages)
    let mut samples: Vec<(f64, i64, i64)> = Vec::new();
    // Settled: paused for `QUIET` on end (a batch that failed while paused resumes on its way
    // to being retried, and pauses again).
    let mut paused_since: Option<(Instant, f64)> = None;
    let paused_at = loop {
        assert!(
            down_at.elapsed() < PAUSED_WITHIN,
            "the engine did not report its partitions paused within {PAUSED_WITHIN:?} of the warehouse going down:\n{}",
            pipeline.logs()
        );
        let paused = metric(&pipeline, "kpi_engine_consumer_paused").await == 1;
        paused_since = match (paused, paused_since) {
            (true, None) => Some((Instant::now(), down_at.elapsed().as_secs_f64())),
            (true, since) => since,
            (false, _) => None,
        };
        if let Some((_, at)) = paused_since.filter(|(since, _)| since.elapsed() >= QUIET) {
            break at;
        }
        samples.push(sample(&mut pipeline, pid, down_at).await);
    };
    let settled_rss = rss_mib(pid);
    let settled_canonical: i64 = pipeline.high_watermarks(CANONICAL).await.values().sum();
    let settled_at = down_at.elapsed().as_secs_f64();
    let late_producer = pipeline.spawn_producer("backlog-late.ndjson", late);
    let watching = Instant::now();
    loop {
        samples.push(sample(&mut pipeline, pid, down_at).await);
        let arrived = samples.last().unwrap().2 - settled_canonical;
        if (watching.elapsed() >= SAMPLING && arrived >= BACKLOG) || watching.elapsed() >= SAMPLING_MAX {
            break;
        }
    }
    let still_paused = metric(&pipeline, "kpi_engine_consumer_paused").await == 1;
    for (t, rss, canonical) in samples.iter().step_by(5) {
        eprintln!("[fault_postgres_memory]   outage {t:>5.1} s: engine RSS {rss} MiB, canonical {canonical}");
    }
    let lag_after = metric(&pipeline, "kpi_engine_consumer_lag_messages").await;
    let peak = samples.iter().map(|s| s.1).max().unwrap();
    let late_peak = samples.iter().filter(|s| s.0 >= settled_at).map(|s| s.1).max().unwrap();
    let arrived = samples.last().unwrap().2 - settled_canonical;
    phase(&format!(
        "outage sampled: engine RSS {baseline} MiB before, paused at {paused_at:.1} s, {settled_rss} MiB at \
         {settled_at:.1} s, peak {late_peak} after while {arrived} more messages arrived; \
         kpi_engine_consumer_lag_messages {lag_before} -> {lag_after}"
    ));

    assert!(arrived >= BACKLOG, "only {arrived} messages arrived after the pause; the test shows nothing");
    assert!(still_paused, "the engine resumed its partitions while the warehouse was still down");
    assert!(peak - baseline <= RSS_BOUND_MIB, "engine RSS grew {} MiB while the warehouse was down", peak - baseline);
    assert!(
        late_peak - settled_rss <= PLATEAU_MIB,
        "engine RSS kept growing with the backlog: {settled_rss} -> {late_peak} MiB while {arrived} messages arrived"
    );
    // The backlog stays on the topic (nothing can be stored while the warehouse is down). The
    // engine's own lag gauge is only printed: it comes from librdkafka statistics, which are
    // delivered only while the engine polls the consumer, so it freezes during the outage.

    pg.start_again().await;
    early_producer.finish().await;
    late_producer.finish().await;
    pipeline.wait_for_drain(&all, Duration::from_secs(5), None, Duration::from_secs(600)).await;
    assert_eq!(pipeline.pid(Service::Engine), Some(pid), "the engine was restarted");
    assert!(pipeline.counts().await == as_rows(&pipeline.reference(&all)), "counts after the outage differ");
    phase("caught up; counts equal the reference");
}

/// (seconds into the outage, the engine's RSS in MiB, canonical messages), half a second apart.
async fn sample(pipeline: &mut Pipeline, pid: u32, down_at: Instant) -> (f64, i64, i64) {
    assert!(pipeline.is_alive(Service::Engine), "the engine exited:\n{}", pipeline.logs());
    let canonical: i64 = pipeline.high_watermarks(CANONICAL).await.values().sum();
    let sampled = (down_at.elapsed().as_secs_f64(), rss_mib(pid), canonical);
    tokio::time::sleep(Duration::from_millis(500)).await;
    sampled
}

/// Resident set size of a process, in MiB, from `/proc/PID/status`.
fn rss_mib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/PID/status");
    let kib: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib / 1024
}

/// One of the engine's metrics, summed over its labels (the lag comes from librdkafka
/// statistics, every 5 s).
async fn metric(pipeline: &Pipeline, name: &str) -> i64 {
    let body = kpi_e2e::http::get(&format!("{}/metrics", pipeline.admin_url(Service::Engine))).await.unwrap();
    body.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as i64
}
