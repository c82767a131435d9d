//! End to end on real parts, the encrypted links of the data flow: the feed producer and ingest
//! reach the broker through TLS (a `socat` TLS front on a Tansu broker that advertises it), and
//! `kpi migrate` reaches a private PostgreSQL that serves TLS, with the certificate checked
//! against the trust's CA (`ssl.ca.location`, `sslmode=verify-full`). A certificate from
//! another authority is refused, saying why.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use kpi_e2e::pipeline::{generated_feed, kpi_bin, valid_lines, CANONICAL, DEAD_LETTER, RAW};
use kpi_e2e::private_pg::PrivatePg;
use kpi_e2e::tls::{TestCa, TlsFront};
use kpi_e2e::{free_port, http, Broker};
use sqlx::Connection as _;
use tokio::process::Command;

/// Runs `kpi ARGS` in `dir` (where it reads `kpi.toml`) with `env`, waiting at most `limit`.
async fn kpi(dir: &Path, args: &[&str], env: &[(&str, String)], limit: Duration) -> Output {
    let mut command = Command::new(kpi_bin());
    command.args(args).current_dir(dir).env_remove("KPI_CONFIG").kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("kpi {args:?} still running after {limit:?}"))
        .expect("running kpi")
}

#[tokio::test]
async fn warehouse_connection_is_encrypted_and_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let trust_ca = TestCa::new(dir.path(), "trust");
    let other_ca = TestCa::new(dir.path(), "other");
    let server = trust_ca.issue_server("postgres");
    let pg = PrivatePg::start_with_tls(&server.cert, &server.key).await;
    let url = |root: &Path| {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
            pg.port(),
            root.display()
        )
    };

    let migrated =
        kpi(dir.path(), &["migrate"], &[("KPI__POSTGRES__URL", url(&trust_ca.cert()))], Duration::from_secs(60)).await;
    assert!(migrated.status.success(), "kpi migrate over TLS failed: {}", String::from_utf8_lossy(&migrated.stderr));

    let mut connection = sqlx::PgConnection::connect(&url(&trust_ca.cert())).await.expect("verify-full connection");
    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(encrypted, "the session is not encrypted");
    let migrations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&mut connection).await.unwrap();
    assert!(migrations > 0, "kpi migrate applied nothing");

    let refused =
        kpi(dir.path(), &["migrate"], &[("KPI__POSTGRES__URL", url(&other_ca.cert()))], Duration::from_secs(60)).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a server certificate from another CA was accepted");
    assert!(
        stderr.contains("certificate") && stderr.contains("postgres.url"),
        "the refusal does not say why: {stderr}"
    );
}

#[tokio::test]
async fn producer_and_ingest_reach_the_broker_through_tls() {
    let dir = tempfile::tempdir().unwrap();
    let trust_ca = TestCa::new(dir.path(), "trust");
    let other_ca = TestCa::new(dir.path(), "other");
    let server = trust_ca.issue_server("broker");

    // Topics are made in clear; then the broker tells clients to use the TLS front only.
    let mut broker = Broker::start_durable().await;
    for topic in [RAW, CANONICAL, DEAD_LETTER] {
        broker.create_topic(topic, 2).await;
    }
    let front_port = free_port();
    broker.restart_advertising(front_port).await;
    let broker_addr = broker.bootstrap().parse().unwrap();
    let front = TlsFront::start(front_port, &server, broker_addr).await;

    let settings = |ca: &Path, extra: &str| {
        format!(
            "[kafka]\nbrokers = \"127.0.0.1:{}\"\n[kafka.properties]\n\"security.protocol\" = \"SSL\"\n\
             \"ssl.ca.location\" = \"{}\"\n{extra}",
            front.port(),
            ca.display()
        )
    };
    std::fs::write(dir.path().join("kpi.toml"), settings(&trust_ca.cert(), "")).unwrap();
    let lines = generated_feed(60, 6, 7);
    let (valid, invalid) = (valid_lines(&lines), lines.len() as i64 - valid_lines(&lines));
    std::fs::write(dir.path().join("feed.ndjson"), lines.join("\n") + "\n").unwrap();
    let produced = kpi(dir.path(), &["produce", "feed.ndjson"], &[], Duration::from_secs(120)).await;
    assert!(produced.status.success(), "kpi produce over TLS failed: {}", String::from_utf8_lossy(&produced.stderr));

    let admin = free_port();
    let ingest_log = std::fs::File::create(dir.path().join("ingest.log")).unwrap();
    let mut ingest = Command::new(kpi_bin())
        .arg("ingest")
        .current_dir(dir.path())
        .env_remove("KPI_CONFIG")
        .env("KPI__INGEST__HMAC_KEY", "tls-test-key-0123456789abcdef0123456789")
        .env("KPI__INGEST__ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .stdout(ingest_log.try_clone().unwrap())
        .stderr(ingest_log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ingest reads the raw topic and writes the canonical and dead-letter topics, all over TLS.
    let started = Instant::now();
    let (mut accepted, mut rejected) = (0, 0);
    // At least: a send the producer retried after the broker had written it is read twice.
    while accepted < valid || rejected < invalid {
        assert!(
            started.elapsed() < Duration::from_secs(120) && matches!(ingest.try_wait(), Ok(None)),
            "ingest over TLS: {accepted} of {valid} accepted, {rejected} of {invalid} rejected:\n{}",
            std::fs::read_to_string(dir.path().join("ingest.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let body = http::get(&format!("http://127.0.0.1:{admin}/metrics")).await.unwrap_or_default();
        accepted = counter(&body, "kpi_ingest_events_accepted_total");
        rejected = counter(&body, "kpi_ingest_events_rejected_total");
    }
    ingest.kill().await.unwrap();

    // The same settings with a CA that did not sign the broker's certificate: refused, and
    // the error says it is the certificate.
    std::fs::write(dir.path().join("kpi.toml"), settings(&other_ca.cert(), "\"message.timeout.ms\" = \"5000\"\n"))
        .unwrap();
    let refused = kpi(dir.path(), &["produce", "feed.ndjson"], &[], Duration::from_secs(60)).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a broker certificate from another CA was accepted");
    assert!(stderr.contains("certificate verify failed"), "the refusal does not say why: {stderr}");
}

/// The sum of a counter's samples in a Prometheus text exposition.
fn counter(body: &str, name: &str) -> i64 {
    body.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as i64
}
