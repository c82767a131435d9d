//! End to end, the publisher's end of the data flow: it refreshes when the engine commits new
//! counts (the warehouse notifies each commit), not at its next look, so the gauges follow a
//! batch within a refresh, not within `publisher.interval_ms`.

use std::time::{Duration, Instant};

use kpi_e2e::http::sample;
use kpi_e2e::pipeline::{distinct_events, repo_root, Pipeline, Service};

/// Longer than the test: every refresh after the first look must come from a notification.
const LOOK_EVERY_MS: &str = "600000";

#[tokio::test(flavor = "multi_thread")]
async fn the_publisher_refreshes_when_the_engine_commits_not_at_its_next_look() {
    let lines: Vec<String> = std::fs::read_to_string(repo_root().join("tests/fixtures/mha_scenarios.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let mut pipeline = Pipeline::start(1).await;
    pipeline.set("KPI__PUBLISHER__INTERVAL_MS", LOOK_EVERY_MS);
    pipeline.spawn_all();
    let metrics = pipeline.admin_url(Service::Publisher) + "/metrics";
    // The first look, at start, finds no counts: after it only a notification can wake it.
    wait_until("the publisher's first look", &pipeline, || async {
        kpi_e2e::http::get(&metrics)
            .await
            .is_ok_and(|body| sample(&body, "kpi_publisher_last_refresh_timestamp_seconds").is_some_and(|t| t > 0.0))
    })
    .await;

    for (round, batch, so_far) in [(1, first, first), (2, second, &lines[..])] {
        pipeline.produce_lines(&format!("round{round}.ndjson"), batch).await;
        pipeline.wait_for_engine(distinct_events(so_far), Duration::from_secs(60)).await;
        // Far sooner than the next look: a notification woke it.
        pipeline.wait_for_publisher(Duration::from_secs(20)).await;
        let version: i64 =
            sqlx::query_scalar("SELECT version FROM counts_version").fetch_one(&pipeline.pool).await.unwrap();
        assert!(version > 0, "round {round}");
        // The gauges, not only the tables: they name the counts version they show.
        wait_until("the gauges to show the new counts", &pipeline, || async {
            kpi_e2e::http::get(&metrics)
                .await
                .is_ok_and(|body| sample(&body, "kpi_publisher_counts_version") == Some(version as f64))
        })
        .await;
    }
}

async fn wait_until<F, Fut>(what: &str, pipeline: &Pipeline, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(30), "waited 30 s for {what}\n{}", pipeline.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
