//! The Grafana end of the data flow (`deploy/grafana`): every query of every dashboard, run for
//! real. A small generated feed goes through the real pipeline while a real Prometheus scrapes
//! the three services with the recording rules of `deploy/prometheus`; then every PromQL target
//! must return data from that Prometheus, and every SQL target and variable query at least one
//! row from the warehouse as the read-only role Grafana logs in with. Statically, dashboards may
//! name only the two provisioned datasources (by uid) and metrics the services register.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kpi_e2e::grafana::{self, Dialect, PanelQuery, Source, Variable};
use kpi_e2e::pipeline::{distinct_events, generated_feed, repo_root, Pipeline, Service};
use kpi_e2e::{free_port, process, prom_rules};
use serde_json::Value;
use sqlx::{Column, PgPool, Row};

const DASHBOARDS: &str = "deploy/grafana/dashboards";
const DATASOURCES: &str = "deploy/grafana/provisioning/datasources/kpi.yml";
const PROVIDER: &str = "deploy/grafana/provisioning/dashboards/kpi.yml";
const RECORDING: &str = "deploy/prometheus/rules/kpi-recording.yml";
const EXPECTED: [&str; 4] = ["board-overview.json", "inequalities.json", "operations.json", "spc.json"];
/// How long a PromQL target may take to return data (scrapes and rule evaluations catching up).
const PROMETHEUS_PATIENCE: Duration = Duration::from_secs(60);

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// (file name, parsed JSON) of every dashboard, in name order.
fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(DASHBOARDS))
        .expect("deploy/grafana/dashboards")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let out: Vec<(String, Value)> = files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, json)
        })
        .collect();
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    for expected in EXPECTED {
        assert!(names.contains(&expected), "{DASHBOARDS}/{expected} is missing (found {names:?})");
    }
    out
}

fn queries(name: &str, dashboard: &Value) -> Vec<PanelQuery> {
    grafana::panel_queries(dashboard).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn dashboards_name_only_provisioned_datasources_and_registered_metrics() {
    let provisioned = grafana::provisioned_datasources(&read(DATASOURCES));
    let expected: BTreeMap<String, String> = [
        ("kpi-prometheus".to_owned(), "prometheus".to_owned()),
        ("kpi-warehouse".to_owned(), "grafana-postgresql-datasource".to_owned()),
    ]
    .into();
    assert_eq!(provisioned, expected, "{DATASOURCES}: uid → type");
    assert!(
        read(PROVIDER).contains("path: /var/lib/grafana/dashboards"),
        "{PROVIDER} must read the mounted dashboards"
    );

    let root = repo_root();
    let mut defined = BTreeSet::new();
    for service in ["kpi-ingest", "kpi-engine", "kpi-publisher", "kpi-runtime"] {
        defined.extend(prom_rules::metric_names_in_sources(&root.join("services").join(service).join("src")));
    }
    let recorded = prom_rules::recorded_names(&read(RECORDING));
    let (mut uids, mut used) = (BTreeSet::new(), BTreeSet::new());
    for (name, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().filter(|u| !u.is_empty());
        assert!(uids.insert(uid.unwrap_or_else(|| panic!("{name}: no fixed uid")).to_owned()), "{name}: uid taken");
        assert!(
            dashboard["description"].as_str().is_some_and(|d| d.len() > 40),
            "{name}: say where it sits in the data flow"
        );
        assert!(dashboard["schemaVersion"].as_i64().is_some_and(|v| v >= 39), "{name}: schemaVersion");
        for (path, reference) in grafana::datasource_refs(&dashboard) {
            let uid = reference.get("uid").and_then(Value::as_str);
            let kind = reference.get("type").and_then(Value::as_str);
            let ok = uid.and_then(|u| provisioned.get(u)).is_some_and(|t| Some(t.as_str()) == kind);
            assert!(ok, "{name}{path}: {reference} is not a provisioned datasource by uid and type {provisioned:?}");
        }
        let ids: Vec<i64> = grafana::panels(&dashboard).iter().filter_map(|p| p["id"].as_i64()).collect();
        assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len(), "{name}: panel ids must be unique");
        for query in queries(&name, &dashboard).iter().filter(|q| q.dialect == Dialect::PromQL) {
            for series in grafana::series_names(&query.text) {
                let known = if series.contains(':') {
                    recorded.contains(&series)
                } else {
                    prom_rules::is_defined(&series, &defined)
                };
                assert!(
                    known,
                    "{name}, panel {:?}: {series} is neither registered by a service nor recorded in {RECORDING}",
                    query.panel
                );
                used.insert(series);
            }
        }
    }
    assert!(used.len() >= 25, "metric names found in the dashboards: {used:?}");
}

/// A Prometheus server for one test: free port, temporary storage, killed on drop.
struct Prometheus {
    child: std::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn bin() -> PathBuf {
        let bin =
            PathBuf::from(std::env::var("KPI_PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".to_owned()));
        assert!(
            bin.is_file(),
            "{} not found: run scripts/setup.sh (it installs Debian's prometheus package)",
            bin.display()
        );
        bin
    }

    /// Scrapes `targets` (job name, host:port) every second with the recording rules of the repo.
    async fn start(targets: &[(&str, String)]) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n",
            repo_root().join(RECORDING).display()
        );
        for (job, target) in targets {
            config.push_str(&format!("  - job_name: {job}\n    static_configs:\n      - targets: [\"{target}\"]\n"));
        }
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("writing prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let mut command = std::process::Command::new(Self::bin());
        command
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = process::spawn_tied(command).expect("starting prometheus");
        let mut prometheus = Prometheus { child, url: format!("http://127.0.0.1:{port}"), dir };
        let started = Instant::now();
        while kpi_e2e::http::status(&format!("{}/-/ready", prometheus.url)).await.ok() != Some(200) {
            let log = std::fs::read_to_string(prometheus.dir.path().join("prometheus.log")).unwrap_or_default();
            assert!(process::exited(&mut prometheus.child).is_none(), "prometheus exited:\n{log}");
            assert!(started.elapsed() < Duration::from_secs(30), "prometheus not ready after 30 s:\n{log}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    /// Finite samples an instant query returns now, or the error Prometheus gives for it.
    async fn samples(&self, expr: &str) -> Result<usize, String> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| format!("GET /api/v1/query: {e}"))?;
        let body: Value = serde_json::from_str(&response.text().await.map_err(|e| e.to_string())?)
            .map_err(|e| format!("Prometheus answered no JSON: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("Prometheus refused it: {}", body["error"]));
        }
        let finite = |pair: &Value| pair[1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite);
        let result = &body["data"]["result"];
        Ok(match body["data"]["resultType"].as_str() {
            Some("scalar") => usize::from(finite(result)),
            _ => result.as_array().map_or(0, |series| series.iter().filter(|s| finite(&s["value"])).count()),
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        process::kill(&mut self.child);
    }
}

/// Rows a query returns as the read-only role Grafana's login user belongs to.
async fn rows_as_reader(pool: &PgPool, sql: &str) -> Result<Vec<sqlx::postgres::PgRow>, String> {
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    sqlx::query("SET LOCAL ROLE kpi_reader").execute(&mut *tx).await.map_err(|e| e.to_string())?;
    let rows = sqlx::query(sql).fetch_all(&mut *tx).await.map_err(|e| e.to_string());
    tx.rollback().await.map_err(|e| e.to_string())?;
    rows
}

/// A failure report line naming the dashboard, panel and query.
fn failure(dashboard: &str, what: &str, query: &str, why: &str) -> String {
    format!("{dashboard}, {what}: {why}\n    query: {}", query.replace('\n', "\n           "))
}

/// The values of a variable query: its `__value` column, else its first, as text; at least one.
async fn query_values(pool: &PgPool, sql: &str) -> Result<Vec<String>, String> {
    let rows = rows_as_reader(pool, sql).await?;
    if rows.is_empty() {
        return Err("no rows".to_owned());
    }
    let text = |r: &sqlx::postgres::PgRow| r.try_get::<String, _>("__value").or_else(|_| r.try_get::<String, _>(0));
    rows.iter().map(|r| text(r).map_err(|e| format!("values are not text: {e}"))).collect()
}

/// Every variable's values: fixed ones as written, query ones from the warehouse (each query run
/// with the defaults of the variables before it). Failures are pushed to `failures`.
async fn variable_values(
    name: &str,
    variables: &[Variable],
    pool: &PgPool,
    failures: &mut Vec<String>,
) -> BTreeMap<String, Vec<String>> {
    let mut values = BTreeMap::new();
    for (i, variable) in variables.iter().enumerate() {
        let found = match &variable.source {
            Source::Fixed(fixed) => Ok(fixed.clone()),
            Source::Query { dialect, query } => {
                let bound = grafana::defaults(&variables[..i], &values)
                    .and_then(|b| grafana::interpolate(query, *dialect, &b, "1h"));
                let found = match &bound {
                    Ok(sql) => query_values(pool, sql).await,
                    Err(e) => Err(e.clone()),
                };
                found.map_err(|e| (bound.unwrap_or_else(|_| query.clone()), e))
            }
        };
        match found {
            Ok(found) => {
                values.insert(variable.name.clone(), found);
            }
            Err((query, e)) => failures.push(failure(name, &format!("variable ${}", variable.name), &query, &e)),
        }
    }
    values
}

/// A query ready to run: where it comes from, and its text with every variable substituted.
struct Ready {
    dashboard: String,
    panel: String,
    dialect: Dialect,
    format: Option<String>,
    text: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_returns_data_from_the_real_pipeline() {
    let started = Instant::now();
    let phase = |name: &str| eprintln!("[dashboards] {:>6.1} s  {name}", started.elapsed().as_secs_f64());
    let lines = generated_feed(1_500, 24, 11);
    let distinct = distinct_events(&lines);

    let mut pipeline = Pipeline::start(2).await;
    let jobs =
        [(Service::Ingest, "kpi-ingest"), (Service::Engine, "kpi-engine"), (Service::Publisher, "kpi-publisher")];
    let targets: Vec<(&str, String)> =
        jobs.iter().map(|(s, job)| (*job, pipeline.admin_url(*s).trim_start_matches("http://").to_owned())).collect();
    // Scraping from before the first event, so that counters are seen to rise.
    let prometheus = Prometheus::start(&targets).await;
    pipeline.spawn_all();
    // At a pace, as an EPR feeds it: a feed that flows past in one scrape interval leaves every
    // rate at zero, and each ratio or quantile of rates without a finite value.
    let per_second = (lines.len() / 15).max(1).to_string();
    pipeline.produce_lines_with("feed.ndjson", &lines, &["--rate", &per_second]).await;
    phase(&format!("{} lines produced at {per_second}/s", lines.len()));
    pipeline.wait_for_engine(distinct, Duration::from_secs(600)).await;
    pipeline.wait_for_publisher(Duration::from_secs(120)).await;
    phase(&format!("pipeline caught up ({} lines)", lines.len()));

    // Variables first (the panels need their values), then every panel query with them bound.
    let mut failures = Vec::new();
    let mut ready = Vec::new();
    for (name, dashboard) in dashboards() {
        let variables = grafana::variables(&dashboard).unwrap_or_else(|e| panic!("{name}: {e}"));
        let values = variable_values(&name, &variables, &pipeline.pool, &mut failures).await;
        let range = grafana::range(&dashboard).unwrap_or_else(|e| panic!("{name}: {e}"));
        for query in queries(&name, &dashboard) {
            let what = format!("panel {:?} ({})", query.panel, query.ref_id);
            let runs = grafana::runs(&query, &variables, &values);
            let texts = runs.and_then(|runs| {
                runs.iter()
                    .map(|b| grafana::interpolate(&query.text, query.dialect, b, &range))
                    .collect::<Result<Vec<_>, _>>()
            });
            match texts {
                Err(e) => failures.push(failure(&name, &what, &query.text, &e)),
                Ok(texts) => ready.extend(texts.into_iter().map(|text| Ready {
                    dashboard: name.clone(),
                    panel: what.clone(),
                    dialect: query.dialect,
                    format: query.format.clone(),
                    text,
                })),
            }
        }
    }
    let (promql, sql): (Vec<Ready>, Vec<Ready>) = ready.into_iter().partition(|r| r.dialect == Dialect::PromQL);

    // PromQL: retried together until each returns data, as scrapes and rule evaluations land.
    let mut pending: Vec<&Ready> = promql.iter().collect();
    let deadline = Instant::now() + PROMETHEUS_PATIENCE;
    loop {
        let mut still = Vec::new();
        for query in pending {
            match prometheus.samples(&query.text).await {
                Ok(0) => still.push(query),
                Ok(_) => {}
                Err(e) => failures.push(failure(&query.dashboard, &query.panel, &query.text, &e)),
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for query in pending {
        let why = format!("no finite sample after {PROMETHEUS_PATIENCE:?}");
        failures.push(failure(&query.dashboard, &query.panel, &query.text, &why));
    }
    phase(&format!("{} PromQL queries run", promql.len()));
    drop(prometheus);

    for query in &sql {
        let why = match rows_as_reader(&pipeline.pool, &query.text).await {
            Err(e) => e,
            Ok(rows) if rows.is_empty() => "no rows".to_owned(),
            Ok(rows)
                if query.format.as_deref() == Some("time_series")
                    && !rows[0].columns().iter().any(|c| c.name() == "time") =>
            {
                "format time_series needs a column named time".to_owned()
            }
            Ok(_) => continue,
        };
        failures.push(failure(&query.dashboard, &query.panel, &query.text, &why));
    }
    phase(&format!("{} SQL queries run", sql.len()));
    assert!(promql.len() >= 30 && sql.len() >= 10, "too few queries found: {} PromQL, {} SQL", promql.len(), sql.len());
    assert!(failures.is_empty(), "{} dashboard queries failed:\n{}", failures.len(), failures.join("\n"));
}
