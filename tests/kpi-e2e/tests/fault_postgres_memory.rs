//! End to end on real parts, back-pressure from the warehouse (canonical → engine → PostgreSQL):
//! while a private PostgreSQL is stopped, a large feed keeps arriving. The engine must stop
//! consuming rather than buffer the backlog: its resident memory stays under a bound and levels
//! off while the canonical topic keeps growing: the backlog stays on the topic. When the
//! warehouse is back it catches up and the counts equal the core over the same lines.

use std::time::{Duration, Instant};

use kpi_e2e::pipeline::{as_rows, distinct_events, generated_feed, Pipeline, Service, CANONICAL};
use kpi_e2e::private_pg::PrivatePg;

/// Sampling lasts at least this long, and until `BACKLOG` messages have arrived after
/// `SETTLED` (by then the engine holds its one failing batch, up to `batch_max_events`).
const SAMPLING: Duration = Duration::from_secs(30);
const SETTLED: f64 = 10.0;
const BACKLOG: i64 = 25_000;
/// Lines of the backlog produced before `SETTLED`; the rest (over 35,000) come after it.
const BACKLOG_EARLY: usize = 15_000;
const SAMPLING_MAX: Duration = Duration::from_secs(150);
/// librdkafka may pre-fetch into its queue while the engine is stuck (up to
/// `queued.min.messages` 100,000 messages or `queued.max.messages.kbytes` 64 MiB); buffering
/// the backlog in the engine as well would exceed this.
const RSS_BOUND_MIB: i64 = 160;
/// Growth allowed after `SETTLED` while `BACKLOG` messages (several MiB of JSON, more once
/// decoded) arrive: buffering them would exceed it.
const PLATEAU_MIB: i64 = 4;

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
    // The backlog comes in two parts, the second once the engine has settled, so that at least
    // `BACKLOG` messages arrive while it is watched however fast ingest was at first.
    let (early, late) = backlog.split_at(BACKLOG_EARLY);
    assert!(late.len() as i64 > BACKLOG + 5_000, "the late part of the backlog is too small to show anything");
    let early_producer = pipeline.spawn_producer("backlog-early.ndjson", early);
    let mut late_producer = None;
    let down_at = Instant::now();
    let lag_before = lag(&pipeline).await;
    // (seconds into the outage, RSS MiB, canonical messages)
    let mut samples: Vec<(f64, i64, i64)> = Vec::new();
    let mut settled: Option<(i64, i64)> = None; // (RSS MiB, canonical) at SETTLED
    loop {
        assert!(pipeline.is_alive(Service::Engine), "the engine exited:\n{}", pipeline.logs());
        let canonical: i64 = pipeline.high_watermarks(CANONICAL).await.values().sum();
        let t = down_at.elapsed().as_secs_f64();
        samples.push((t, rss_mib(pid), canonical));
        if t >= SETTLED && settled.is_none() {
            settled = Some((rss_mib(pid), canonical));
            late_producer = Some(pipeline.spawn_producer("backlog-late.ndjson", late));
        }
        let arrived = settled.map_or(0, |(_, c)| canonical - c);
        if (down_at.elapsed() >= SAMPLING && arrived >= BACKLOG) || down_at.elapsed() >= SAMPLING_MAX {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (t, rss, canonical) in samples.iter().step_by(10) {
        eprintln!("[fault_postgres_memory]   outage {t:>5.1} s: engine RSS {rss} MiB, canonical {canonical}");
    }
    let lag_after = lag(&pipeline).await;
    let (settled_rss, settled_canonical) = settled.expect("sampled past SETTLED");
    let peak = samples.iter().map(|s| s.1).max().unwrap();
    let late_peak = samples.iter().filter(|s| s.0 >= SETTLED).map(|s| s.1).max().unwrap();
    let arrived = samples.last().unwrap().2 - settled_canonical;
    phase(&format!(
        "outage sampled: engine RSS {baseline} MiB before, {settled_rss} at {SETTLED} s, peak {late_peak} after \
         while {arrived} more messages arrived; kpi_engine_consumer_lag_messages {lag_before} -> {lag_after}"
    ));

    assert!(arrived >= BACKLOG, "only {arrived} messages arrived after {SETTLED} s; the test shows nothing");
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
    late_producer.expect("started at SETTLED").finish().await;
    pipeline.wait_for_drain(&all, Duration::from_secs(5), None, Duration::from_secs(600)).await;
    assert_eq!(pipeline.pid(Service::Engine), Some(pid), "the engine was restarted");
    assert!(pipeline.counts().await == as_rows(&pipeline.reference(&all)), "counts after the outage differ");
    phase("caught up; counts equal the reference");
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

/// The engine's consumer lag summed over partitions (librdkafka statistics, every 5 s).
async fn lag(pipeline: &Pipeline) -> i64 {
    let body = kpi_e2e::http::get(&format!("{}/metrics", pipeline.admin_url(Service::Engine))).await.unwrap();
    body.lines()
        .filter(|l| l.starts_with("kpi_engine_consumer_lag_messages{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as i64
}
