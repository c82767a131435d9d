//! `kpi demo`, the embedded data flow, as a user meets it: it needs no broker and no database,
//! serves `/metrics` while it works (and after, with `--keep-serving`, until Ctrl-C), writes an
//! SQLite warehouse holding only published tables, and prints every indicator. That it
//! publishes what the Kafka/PostgreSQL path publishes is checked in `pipeline_generated.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kpi_e2e::demo::table_rows;
use kpi_e2e::pipeline::kpi_bin;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_metrics_writes_published_tables_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("w.sqlite");
    let started = Instant::now();
    let mut child = Command::new(kpi_bin())
        .args(["demo", "--people", "600", "--months", "18", "--metrics-listen", "127.0.0.1:0", "--keep-serving"])
        .arg("--warehouse")
        .arg(&warehouse)
        .current_dir(dir.path())
        // Nothing to reach: a demo must not need these.
        .env("KPI__KAFKA__BROKERS", "127.0.0.1:1")
        .env("KPI__POSTGRES__URL", "postgres://nobody@127.0.0.1:1/none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kpi demo");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut metrics_url = None;
    while !printed.contains("Serving /metrics until Ctrl-C") {
        let mut line = String::new();
        let read = tokio::task::block_in_place(|| stdout.read_line(&mut line)).unwrap();
        assert!(read > 0, "kpi demo ended early:\n{printed}");
        if let Some(rest) = line.strip_prefix("Metrics were served on ") {
            metrics_url = Some(rest.trim().trim_end_matches('.').to_owned());
        }
        printed.push_str(&line);
    }
    eprintln!("[demo] table printed after {:.1} s", started.elapsed().as_secs_f64());

    let rows = table_rows(&printed);
    assert_eq!(rows.len(), kpi_core::indicators::CATALOGUE.len(), "{printed}");
    assert!(rows["tt_recovery_rate"][2].contains(" to "), "a percentage shows its limits: {printed}");

    let metrics_url = metrics_url.expect("the demo names its /metrics address");
    let body = kpi_e2e::http::get(&metrics_url).await.expect("GET /metrics");
    kpi_e2e::promtool::check_metrics(&body);
    for metric in [
        "kpi_indicator_value{",
        "kpi_ingest_events_rejected_total{",
        "kpi_engine_events_total{",
        "kpi_publisher_refreshes_total 1",
    ] {
        assert!(body.contains(metric), "{metric} missing from the demo's /metrics");
    }
    let ready = metrics_url.replace("/metrics", "/readyz");
    assert_eq!(kpi_e2e::http::status(&ready).await.unwrap(), 200);

    // Ctrl-C stops it cleanly.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "kpi demo did not stop on SIGINT");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "kpi demo exited with {status}");

    let mut db = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&warehouse).read_only(true))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(tables, ["dead_letters", "indicator_catalogue", "indicator_spc", "indicator_values_published"]);
    // Disclosure control holds in the file too: outside `all`, no count below 5.
    let small: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM indicator_values_published WHERE stratum_type <> 'all' AND numerator < 5",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(small, 0);
    let dead: i64 = sqlx::query_scalar("SELECT sum(events) FROM dead_letters").fetch_one(&mut db).await.unwrap();
    assert!(dead > 0, "the feed carries invalid lines by design");
}

#[test]
fn demo_refuses_bad_arguments_with_a_clear_message() {
    let output = Command::new(kpi_bin()).args(["demo", "--people", "many"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--people") && stderr.contains("many"), "{stderr}");
    let output = Command::new(kpi_bin()).args(["demo", "--population", "x.csv"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "--population needs --population-imd");
}
