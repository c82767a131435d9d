//! Test harness for the whole data flow: a broker, a fresh database, and the real `kpi` binary
//! running ingest, engine and publisher as separate processes (so a test can SIGKILL one), plus
//! the in-memory reference (`kpi_core::replay`) that the warehouse must agree with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use kpi_core::contrib::Counts;
use kpi_core::replay::Replay;
use kpi_core::validate::decode;
use kpi_core::Pseudonymiser;
use sqlx::{PgPool, Row};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::{free_port, Broker, TestDb};

/// Helpers for fault tests (kills, a second engine, draining); see [`faults`].
pub mod faults;
/// Dead letters checked against the raw messages they name; see [`refusals`].
pub mod refusals;

pub use faults::Producer;

/// One of the three services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Ingest,
    Engine,
    Publisher,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Ingest, Service::Engine, Service::Publisher];

    fn command(self) -> &'static str {
        match self {
            Service::Ingest => "ingest",
            Service::Engine => "engine",
            Service::Publisher => "publisher",
        }
    }
}

/// A cell of `indicator_counts` with its labels as text: (indicator, period kind, period end,
/// stratum type, stratum value) → (numerator, denominator).
pub type CountRows = BTreeMap<(String, String, NaiveDate, String, String), (i64, i64)>;

/// The topics of one pipeline.
pub const RAW: &str = "epr.events.v1";
pub const CANONICAL: &str = "kpi.events.v1";
pub const DEAD_LETTER: &str = "epr.events.dlq";

/// A running pipeline (see the module docs). Processes are killed on drop.
pub struct Pipeline {
    pub broker: Broker,
    pub db: TestDb,
    pub pool: PgPool,
    /// Where the services run and log; kept (and named on stderr) when a test panics or
    /// `KPI_KEEP_LOGS` is set, so that a failure in CI can be read after the fact.
    pub dir: TempDir,
    /// The pseudonymisation key, as given to ingest (its bytes are the key).
    pub hmac_key: String,
    admin_ports: BTreeMap<Service, u16>,
    children: BTreeMap<Service, Child>,
    starts: BTreeMap<Service, usize>,
    /// Settings a test gives on top of [`Pipeline::env`], for processes started after.
    overrides: Vec<(String, String)>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("KPI_KEEP_LOGS").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("kpi-e2e: pipeline logs kept in {}", self.dir.path().display());
        }
    }
}

/// The `kpi` binary built next to the test executable (or `KPI_BIN`).
pub fn kpi_bin() -> PathBuf {
    if let Ok(path) = std::env::var("KPI_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let target = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = target.join("kpi");
    assert!(bin.is_file(), "{} not found: build it first (cargo build -p kpi, as scripts/test.sh does)", bin.display());
    bin
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

impl Pipeline {
    /// A broker with the three topics (`partitions` each), a fresh migrated-on-start
    /// database, and no service running yet.
    pub async fn start(partitions: i32) -> Pipeline {
        // Memory storage: fast, and correct from an offset inside a batch with the set-up's
        // patch (see `crate::broker`). SQLite stalls under the large feeds.
        Pipeline::start_with_broker(Broker::start_memory().await, partitions).await
    }

    /// [`Pipeline::start`] on a broker with SQLite storage, which keeps everything across
    /// [`Broker::restart`]: for tests that stop the broker. Keep the feed modest (see above).
    pub async fn start_durable(partitions: i32) -> Pipeline {
        Pipeline::start_with_broker(Broker::start_durable().await, partitions).await
    }

    async fn start_with_broker(broker: Broker, partitions: i32) -> Pipeline {
        for topic in [RAW, CANONICAL, DEAD_LETTER] {
            broker.create_topic(topic, partitions).await;
        }
        let db = TestDb::fresh().await;
        let pool = db.pool().await;
        let admin_ports = Service::ALL.iter().map(|s| (*s, free_port())).collect();
        let dir = tempfile::tempdir().expect("temp dir");
        // Every `kpi` process runs in `dir`, where it reads `kpi.toml` (environment wins). Producers
        // batch as in production: one message per batch made Tansu list one object per message
        // at every fetch, which took the 400,000-line test 20 minutes.
        std::fs::write(dir.path().join("kpi.toml"), "").expect("writing kpi.toml");
        Pipeline {
            broker,
            db,
            pool,
            dir,
            hmac_key: "0123456789abcdef0123456789abcdef-test-key-not-secret".to_owned(),
            admin_ports,
            children: BTreeMap::new(),
            starts: BTreeMap::new(),
            overrides: Vec::new(),
        }
    }

    /// The settings every process gets, as `KPI__` variables.
    pub fn env(&self) -> Vec<(String, String)> {
        let reference = repo_root().join("deploy/reference");
        let port = |s: Service| format!("127.0.0.1:{}", self.admin_ports[&s]);
        [
            ("KPI__KAFKA__BROKERS", self.broker.bootstrap()),
            ("KPI__POSTGRES__URL", self.db.url().to_owned()),
            ("KPI__INGEST__HMAC_KEY", self.hmac_key.clone()),
            ("KPI__INGEST__ADMIN_LISTEN", port(Service::Ingest)),
            ("KPI__ENGINE__ADMIN_LISTEN", port(Service::Engine)),
            ("KPI__ENGINE__BATCH_MAX_WAIT_MS", "50".to_owned()),
            // The size the fault tests' memory bounds were measured with (the default is larger).
            ("KPI__ENGINE__BATCH_MAX_EVENTS", "5000".to_owned()),
            ("KPI__PUBLISHER__ADMIN_LISTEN", port(Service::Publisher)),
            ("KPI__PUBLISHER__INTERVAL_MS", "300".to_owned()),
            ("KPI__PUBLISHER__POPULATION_FILE", reference.join("population.csv").display().to_string()),
            ("KPI__PUBLISHER__POPULATION_IMD_FILE", reference.join("population_imd.csv").display().to_string()),
            ("KPI__SHUTDOWN_DEADLINE_MS", "5000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(kpi_bin());
        command.args(args).current_dir(self.dir.path()).env_remove("KPI_CONFIG").env("RUST_LOG", "info");
        for (key, value) in self.env().into_iter().chain(self.overrides.iter().cloned()) {
            command.env(key, value);
        }
        command
    }

    /// Gives every process started from now on a further setting (a `KPI__` variable).
    pub fn set(&mut self, key: &str, value: &str) {
        self.overrides.push((key.to_owned(), value.to_owned()));
    }

    /// Starts a service; its output goes to `<service>.<n>.log` in the pipeline's directory.
    pub fn spawn(&mut self, service: Service) {
        let n = self.starts.entry(service).or_default();
        *n += 1;
        let log = self.dir.path().join(format!("{}.{}.log", service.command(), n));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&[service.command()])
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting kpi {}: {e}", service.command()));
        self.children.insert(service, child);
    }

    pub fn spawn_all(&mut self) {
        for service in Service::ALL {
            self.spawn(service);
        }
    }

    /// SIGKILL: no chance to commit or clean up.
    pub async fn kill(&mut self, service: Service) {
        if let Some(mut child) = self.children.remove(&service) {
            child.kill().await.expect("SIGKILL");
        }
    }

    /// SIGTERM, then waits for a clean exit; panics with the log if it does not exit by itself.
    pub async fn stop(&mut self, service: Service) -> std::process::ExitStatus {
        let mut child = self.children.remove(&service).expect("service running");
        let pid = child.id().expect("pid") as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("kpi {} did not stop on SIGTERM:\n{}", service.command(), self.logs()),
        }
    }

    /// Runs `kpi produce FILE` to the raw topic and waits for it.
    pub async fn produce_file(&self, file: &Path) {
        self.produce_file_with(file, &[]).await;
    }

    /// `kpi produce` on `file` with more arguments (e.g. `--rate`), waiting for it to finish.
    pub async fn produce_file_with(&self, file: &Path, args: &[&str]) {
        let mut all = vec!["produce", file.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        let output = self.command(&all).stdin(Stdio::null()).output().await.expect("running kpi produce");
        assert!(output.status.success(), "kpi produce failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Writes lines to `name` in the pipeline's directory and starts `kpi produce` on it without
    /// waiting, so that a test can inject faults while the feed arrives. Killed on drop.
    pub fn spawn_producer(&self, name: &str, lines: &[String]) -> Producer {
        self.spawn_producer_with(name, lines, &[])
    }

    /// [`Pipeline::spawn_producer`] with more arguments to `kpi produce` (e.g. `--rate`, so that
    /// a feed still flows when a fault is injected).
    pub fn spawn_producer_with(&self, name: &str, lines: &[String], args: &[&str]) -> Producer {
        let path = self.write_feed(name, lines);
        let mut all = vec!["produce", path.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        let child = self
            .command(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting kpi produce");
        Producer { child }
    }

    /// Writes lines to a file in the pipeline's directory and produces it.
    pub async fn produce_lines(&self, name: &str, lines: &[String]) -> PathBuf {
        self.produce_lines_with(name, lines, &[]).await
    }

    /// [`Pipeline::produce_lines`] with more arguments to `kpi produce` (e.g. `--rate`).
    pub async fn produce_lines_with(&self, name: &str, lines: &[String], args: &[&str]) -> PathBuf {
        let path = self.write_feed(name, lines);
        self.produce_file_with(&path, args).await;
        path
    }

    /// Writes `lines` as NDJSON to `name` in the pipeline's directory.
    fn write_feed(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").expect("writing feed");
        path
    }

    /// Waits until the engine has recorded `distinct_events` distinct events (each in the same
    /// transaction as its counts) and settled ([`Pipeline::engine_settled`]).
    ///
    /// Not a count of canonical messages: a producer that retries a send the broker had already
    /// written repeats messages (the engine drops them by id), so a message count reached while
    /// a repeat sits in the topic left the last batch unapplied, and a kill test once compared
    /// its counts one batch early.
    pub async fn wait_for_engine(&self, distinct_events: i64, timeout: Duration) {
        let started = Instant::now();
        loop {
            let recorded = self.events_recorded().await;
            assert!(
                recorded <= distinct_events,
                "the warehouse recorded {recorded} distinct events; the feed has {distinct_events}"
            );
            if recorded == distinct_events && self.engine_settled().await {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "engine recorded {recorded} of {distinct_events} distinct events after {timeout:?}; \
                 canonical high watermarks {:?}, engine stored {:?}\n{}",
                self.high_watermarks(CANONICAL).await,
                self.engine_offsets().await,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the published values were computed from the counts as they are now (the
    /// `publication` row names the counts version they came from).
    pub async fn wait_for_publisher(&self, timeout: Duration) {
        let started = Instant::now();
        loop {
            let fresh: Option<bool> = sqlx::query_scalar(
                "SELECT (SELECT counts_version FROM publication) = (SELECT version FROM counts_version)",
            )
            .fetch_one(&self.pool)
            .await
            .ok()
            .flatten();
            if fresh == Some(true) {
                return;
            }
            assert!(started.elapsed() < timeout, "publisher did not catch up within {timeout:?}\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every non-zero cell of `indicator_counts`.
    pub async fn counts(&self) -> CountRows {
        let rows = sqlx::query(
            "SELECT indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator
             FROM indicator_counts WHERE numerator <> 0 OR denominator <> 0",
        )
        .fetch_all(&self.pool)
        .await
        .expect("reading indicator_counts");
        rows.into_iter().map(|r| ((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)), (r.get(5), r.get(6)))).collect()
    }

    /// The admin base URL of a service, e.g. `http://127.0.0.1:PORT`.
    pub fn admin_url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.admin_ports[&service])
    }

    /// Every service log written so far, concatenated.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.dir.path()).expect("pipeline dir").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                out.push_str(&format!(
                    "==> {name} <==\n{}\n",
                    std::fs::read_to_string(entry.path()).unwrap_or_default()
                ));
            }
        }
        out
    }

    /// The in-memory reference for a feed: each line validated, pseudonymised with this
    /// pipeline's key and replayed. Invalid lines are skipped, as ingest dead-letters them.
    pub fn reference(&self, lines: &[String]) -> Counts {
        reference_replay(self.hmac_key.as_bytes(), lines).counts()
    }
}

/// See [`Pipeline::reference`].
pub fn reference_replay(key: &[u8], lines: &[String]) -> Replay {
    let pseudonymiser = Pseudonymiser::new(key).expect("test key is long enough");
    let mut replay = Replay::default();
    for line in lines {
        if let Ok(mut event) = decode(line.as_bytes(), None) {
            pseudonymiser.pseudonymise(&mut event);
            replay.apply(event);
        }
    }
    replay
}

/// A stratum by breakdown code and value, e.g. `stratum("ethnic_group", "black")`.
pub fn stratum(kind: &str, value: &str) -> kpi_core::strata::Stratum {
    let kind = kpi_core::strata::StratumType::parse(kind).expect("a breakdown code");
    kpi_core::strata::Stratum { kind, value: kind.intern(value).expect("a stratum value") }
}

/// Core counts as text-labelled rows, comparable with [`Pipeline::counts`].
pub fn as_rows(counts: &Counts) -> CountRows {
    counts
        .iter()
        .filter(|(_, t)| !t.is_zero())
        .map(|(k, t)| {
            (
                (
                    k.indicator.to_owned(),
                    k.period.kind.code().to_owned(),
                    k.period.end,
                    k.stratum.kind.code().to_owned(),
                    k.stratum.value.to_owned(),
                ),
                (t.numerator, t.denominator),
            )
        })
        .collect()
}

/// How many lines of a feed pass validation (what reaches the canonical topic).
pub fn valid_lines(lines: &[String]) -> i64 {
    lines.iter().filter(|l| decode(l.as_bytes(), None).is_ok()).count() as i64
}

/// The cells where `got` and `want` differ, at most `limit` of them, one per line:
/// `indicator period_kind period_end stratum_type=value: got (n, d), want (n, d)`.
pub fn count_differences(got: &CountRows, want: &CountRows, limit: usize) -> String {
    let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|key| got.get(*key) != want.get(*key))
        .map(|key| {
            let (indicator, kind, end, stratum_type, value) = key;
            format!("{indicator} {kind} {end} {stratum_type}={value}: got {:?}, want {:?}", got.get(key), want.get(key))
        })
        .collect();
    let shown = differing.iter().take(limit).cloned().collect::<Vec<_>>().join("\n");
    format!("{} cells differ; the first {}:\n{shown}", differing.len(), limit.min(differing.len()))
}

/// The distinct event ids among the valid lines: what the engine records, each once.
pub fn distinct_events(lines: &[String]) -> i64 {
    distinct_events_and_invalid(lines).0
}

/// The distinct event ids among the valid lines (what the engine records, each once) and the
/// number of invalid lines (what ingest dead-letters, each at least once).
pub fn distinct_events_and_invalid(lines: &[String]) -> (i64, i64) {
    let mut ids = std::collections::HashSet::new();
    let mut invalid = 0;
    for line in lines {
        match decode(line.as_bytes(), None) {
            Ok(event) => {
                ids.insert(event.event_id);
            }
            Err(_) => invalid += 1,
        }
    }
    (ids.len() as i64, invalid)
}

/// A seeded synthetic feed (`kpi_synth`), one raw event per line, invalid lines included.
pub fn generated_feed(people: u32, months: u32, seed: u64) -> Vec<String> {
    let config = kpi_synth::SynthConfig { people, months, seed, ..Default::default() };
    let mut out = Vec::new();
    kpi_synth::generate(&config, &mut out, |_| {}).expect("generating a feed in memory");
    String::from_utf8(out).expect("the generator writes UTF-8").lines().map(str::to_owned).collect()
}
