//! End to end on real parts: the hand-checked scenario feed (`tests/fixtures`) through the real
//! broker, the three `kpi` services and PostgreSQL gives the numbers worked out on paper.

use std::time::Duration;

use kpi_e2e::pipeline::{distinct_events, repo_root, Pipeline, Service};

#[tokio::test(flavor = "multi_thread")]
async fn scenario_feed_gives_the_paper_numbers_in_the_warehouse() {
    let fixtures = repo_root().join("tests/fixtures");
    let lines: Vec<String> =
        std::fs::read_to_string(fixtures.join("mha_scenarios.ndjson")).unwrap().lines().map(str::to_owned).collect();
    let mut pipeline = Pipeline::start(3).await;
    pipeline.spawn_all();
    // One event per line, in the file's arrival order.
    pipeline.produce_lines("scenarios.ndjson", &lines).await;
    pipeline.wait_for_engine(distinct_events(&lines), Duration::from_secs(60)).await;
    pipeline.wait_for_publisher(Duration::from_secs(30)).await;

    let mut expected =
        csv::ReaderBuilder::new().comment(Some(b'#')).from_path(fixtures.join("mha_scenarios_expected.csv")).unwrap();
    let mut checked = 0;
    for row in expected.records() {
        let row = row.unwrap();
        let want: i64 = row[5].parse().unwrap();
        // indicator_counts holds changes by month: a period's count is the sum of its kind's
        // changes up to its end (the same query an analyst would write).
        let got: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(numerator), 0)::bigint FROM indicator_counts
             WHERE indicator = $1 AND period_kind = $2 AND period_end <= $3::date AND stratum_type = $4 AND stratum_value = $5",
        )
        .bind(&row[0])
        .bind(&row[1])
        .bind(&row[2])
        .bind(&row[3])
        .bind(&row[4])
        .fetch_one(&pipeline.pool)
        .await
        .unwrap();
        assert_eq!(got, want, "{row:?}");
        checked += 1;
    }
    assert!(checked > 40);

    // The published rate for the trust as a whole: 4 detentions in January 2024 over the
    // illustrative catchment of 599,972 people, per 100,000.
    let rate: f64 = sqlx::query_scalar(
        "SELECT value FROM indicator_values_published WHERE indicator = 'mha_detention_rate'
         AND period_kind = 'month' AND period_end = '2024-01-31' AND stratum_type = 'all'",
    )
    .fetch_one(&pipeline.pool)
    .await
    .unwrap();
    assert!((rate - 4.0 / 599_972.0 * 100_000.0).abs() < 1e-9, "{rate}");

    // Nothing changes from here: the publisher recomputes nothing, yet every check that finds the
    // values current keeps them fresh (a quiet night must not trip KpiPublisherStale).
    let metrics = pipeline.admin_url(Service::Publisher) + "/metrics";
    let day = chrono::Utc::now().date_naive();
    let before = kpi_e2e::http::get(&metrics).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await; // 5 intervals of 300 ms
    let after = kpi_e2e::http::get(&metrics).await.unwrap();
    let refreshes = "kpi_publisher_refreshes_total";
    let fresh_at = "kpi_publisher_last_refresh_timestamp_seconds";
    if chrono::Utc::now().date_naive() == day {
        // (A new day would rightly recompute: it can open a month.)
        assert_eq!(sample(&after, refreshes), sample(&before, refreshes), "refreshed with no change:\n{after}");
    }
    assert!(sample(&after, fresh_at) >= sample(&before, fresh_at) + 1.0, "freshness did not move:\n{before}\n{after}");

    // The gauges say which state of the counts they show (what `kpi bench` times a probe to):
    // the one the warehouse's publication records, which every engine commit raised.
    let (published, current): (i64, i64) =
        sqlx::query_as("SELECT (SELECT counts_version FROM publication), (SELECT version FROM counts_version)")
            .fetch_one(&pipeline.pool)
            .await
            .unwrap();
    assert!(published > 0);
    assert_eq!(published, current, "the publisher is current, as waited for above");
    assert_eq!(sample(&after, "kpi_publisher_counts_version"), published as f64, "{after}");
}

/// The value of an unlabelled sample in a Prometheus text exposition.
fn sample(exposition: &str, name: &str) -> f64 {
    kpi_e2e::http::sample(exposition, name).unwrap_or_else(|| panic!("no {name} in\n{exposition}"))
}

/// Whether `role` may select from `table`: runs the query under `SET ROLE` in a transaction.
async fn can_read(pool: &sqlx::PgPool, role: &str, table: &str) -> bool {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE {role}")).execute(&mut *tx).await.unwrap();
    let result = sqlx::query(&format!("SELECT count(*) FROM {table}")).execute(&mut *tx).await;
    let _ = tx.rollback().await;
    match result {
        Ok(_) => true,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => false,
        Err(e) => panic!("{role} reading {table}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn warehouse_roles_see_only_what_they_are_for() {
    let mut pipeline = Pipeline::start(1).await;
    pipeline.spawn(kpi_e2e::pipeline::Service::Publisher);
    // The publisher migrates on start; wait for the catalogue it writes.
    let started = std::time::Instant::now();
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM indicator_catalogue")
        .fetch_one(&pipeline.pool)
        .await
        .unwrap_or(0)
        == 0
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no catalogue:\n{}", pipeline.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = ["indicator_catalogue", "indicator_values_published", "indicator_spc", "publication"];
    let restricted = ["indicator_values", "indicator_counts", "counts_version"];
    let person_level = ["events_seen", "retractions", "engine_offsets"];
    for table in published {
        assert!(can_read(&pipeline.pool, "kpi_reader", table).await, "reader must read {table}");
        assert!(can_read(&pipeline.pool, "kpi_analyst", table).await, "analyst must read {table}");
    }
    for table in restricted {
        assert!(!can_read(&pipeline.pool, "kpi_reader", table).await, "reader must not read {table}");
        assert!(can_read(&pipeline.pool, "kpi_analyst", table).await, "analyst must read {table}");
    }
    for table in person_level {
        assert!(!can_read(&pipeline.pool, "kpi_reader", table).await, "reader must not read {table}");
        assert!(!can_read(&pipeline.pool, "kpi_analyst", table).await, "analyst must not read {table}");
        assert!(can_read(&pipeline.pool, "kpi_writer", table).await, "writer must read {table}");
    }
}
