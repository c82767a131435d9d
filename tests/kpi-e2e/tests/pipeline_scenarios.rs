//! End to end on real parts: the hand-checked scenario feed (`tests/fixtures`) through the real
//! broker, the three `kpi` services and PostgreSQL gives the numbers worked out on paper.

use std::time::Duration;

use kpi_e2e::pipeline::{repo_root, valid_lines, Pipeline};

#[tokio::test(flavor = "multi_thread")]
async fn scenario_feed_gives_the_paper_numbers_in_the_warehouse() {
    let fixtures = repo_root().join("tests/fixtures");
    let lines: Vec<String> =
        std::fs::read_to_string(fixtures.join("mha_scenarios.ndjson")).unwrap().lines().map(str::to_owned).collect();
    let mut pipeline = Pipeline::start(3).await;
    pipeline.spawn_all();
    // One event per line, in the file's arrival order.
    pipeline.produce_lines("scenarios.ndjson", &lines).await;
    pipeline.wait_for_engine(valid_lines(&lines), Duration::from_secs(60)).await;
    pipeline.wait_for_publisher(Duration::from_secs(30)).await;

    let counts = pipeline.counts().await;
    let mut expected =
        csv::ReaderBuilder::new().comment(Some(b'#')).from_path(fixtures.join("mha_scenarios_expected.csv")).unwrap();
    let mut checked = 0;
    for row in expected.records() {
        let row = row.unwrap();
        let key = (row[0].to_owned(), row[1].to_owned(), row[2].parse().unwrap(), row[3].to_owned(), row[4].to_owned());
        let want: i64 = row[5].parse().unwrap();
        let got = counts.get(&key).map_or(0, |c| c.0);
        assert_eq!(got, want, "{key:?}");
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
}
