//! Test harness for the real broker: a (patched) Tansu 0.6.0 process on a free loopback port.
//!
//! ```text
//! tansu broker --listener-url tcp://127.0.0.1:PORT --advertised-listener-url tcp://127.0.0.1:PORT \
//!     --storage-engine memory://tansu/          # or sqlite://tansu.db, relative to current_dir
//! ```
//!
//! **Memory or SQLite?** `memory://` is fast and, with `scripts/tansu/`'s patches, serves a
//! fetch from an offset inside a record batch correctly and answers the latest offset with the
//! high watermark (Tansu 0.6.0 as released skipped the rest of that batch, so a consumer resuming
//! mid-batch lost messages, and said the end was at the newest batch's base offset + 1;
//! `tansu_behaviour.rs` checks both fixes). Its fetch lists every batch of the partition, so producers should batch (the services'
//! defaults do). SQLite (`Broker::start_durable`, `Broker::start_sqlite`) keeps topics across a
//! restart of the broker; it stalls (fetch and group requests time out) under the large feeds.
//!
//! The child's stdout and stderr go to `broker.log` in a temporary directory; a start that fails,
//! and a test that panics while the broker is alive, print its path and last lines and keep it.
//! Set `KPI_TANSU_LOG` (a `RUST_LOG` filter, e.g. `info` or `debug`) for a chattier log; Tansu
//! logs only errors by default. The process is killed when the [`Broker`] is dropped, and by
//! the kernel if the test process dies first (see [`crate::process`]).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use tempfile::TempDir;
use tokio::process::Command;

use crate::net::{free_port, wait_for_port};
use crate::process::{self, spawn_tied};
use crate::tools::tansu_bin;

/// How long a start may take before it is reported as failed.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits after SIGTERM before it kills.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long `create_topic` waits for the topic's partitions to show leaders in metadata.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the broker keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `memory://tansu/`: fast; everything is lost when the process stops.
    Memory,
    /// `sqlite://FILE`, with the child's working directory set to `dir`; survives restarts.
    Sqlite { dir: PathBuf, file: String },
}

impl Storage {
    fn url(&self) -> String {
        match self {
            Storage::Memory => "memory://tansu/".to_owned(),
            Storage::Sqlite { file, .. } => format!("sqlite://{file}"),
        }
    }
}

/// A running Tansu broker (see the module docs). Killed on drop.
pub struct Broker {
    bin: PathBuf,
    port: u16,
    storage: Storage,
    /// Holds `broker.log` and is the working directory of a memory broker.
    log_dir: Option<TempDir>,
    /// The SQLite directory of [`Broker::start_durable`], removed on drop.
    data_dir: Option<TempDir>,
    log_path: PathBuf,
    child: Option<Child>,
    starts: u32,
    last_start: Duration,
    /// The port clients are told to connect to, when not the listener's (a TLS front).
    advertised_port: Option<u16>,
}

impl Broker {
    /// A broker with in-memory storage on a free loopback port, ready for clients.
    pub async fn start_memory() -> Broker {
        Broker::start(Storage::Memory).await
    }

    /// A broker with SQLite storage in `dir/tansu.db` (created if missing), ready for clients.
    /// Start another broker on the same `dir` later, or [`Broker::restart`] this one, and the
    /// topics, messages and committed offsets are still there.
    pub async fn start_sqlite(dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create sqlite broker dir {}: {e}", dir.display()));
        let dir = dir.canonicalize().unwrap_or_else(|e| panic!("canonicalize {}: {e}", dir.display()));
        Broker::start(Storage::Sqlite { dir, file: "tansu.db".to_owned() }).await
    }

    /// A broker with SQLite storage in a temporary directory of its own (removed on drop): the
    /// storage for tests that seek, resume from committed offsets, or restart the broker.
    pub async fn start_durable() -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("kpi-e2e-tansu-data-")
            .tempdir()
            .expect("create a temporary directory for the broker's SQLite file");
        let mut broker = Broker::start_sqlite(dir.path()).await;
        broker.data_dir = Some(dir);
        broker
    }

    /// A broker with the given storage on a free loopback port, ready for clients.
    pub async fn start(storage: Storage) -> Broker {
        let bin = tansu_bin();
        let log_dir = tempfile::Builder::new()
            .prefix("kpi-e2e-tansu-")
            .tempdir()
            .expect("create a temporary directory for the broker log");
        let log_path = log_dir.path().join("broker.log");
        let mut broker = Broker {
            bin,
            port: 0,
            storage,
            log_dir: Some(log_dir),
            data_dir: None,
            log_path,
            child: None,
            starts: 0,
            last_start: Duration::ZERO,
            advertised_port: None,
        };
        // A port found free can be taken by someone else before tansu binds it: try a few.
        let mut last_error = String::new();
        for _ in 0..3 {
            broker.port = free_port();
            match broker.spawn_and_wait().await {
                Ok(()) => return broker,
                Err(e) => last_error = e,
            }
        }
        broker.fail(&last_error)
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `tcp://127.0.0.1:PORT`, for the `tansu` command line's `--broker`.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// The loopback port the broker listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage the broker was started with.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The file that collects the broker's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The broker process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// How long the latest (re)start took, from spawn to metadata being served.
    pub fn last_start_duration(&self) -> Duration {
        self.last_start
    }

    /// Stops the broker: SIGTERM, then SIGKILL if it has not exited within 10 seconds.
    /// A stopped broker can be started again with [`Broker::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::terminate(&mut child, STOP_GRACE).await;
        }
    }

    /// Kills the broker with SIGKILL at once, as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::kill(&mut child);
        }
    }

    /// Stops the broker (if running) and starts it again on the same port and storage.
    /// With [`Storage::Memory`] everything is lost; with SQLite it all survives.
    pub async fn restart(&mut self) {
        self.stop().await;
        // The port was ours; if something else grabbed it meanwhile, keep trying briefly.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait().await {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => self.fail(&e),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Restarts the broker telling clients, in metadata, to connect to `port` on loopback
    /// instead of its own listener: a front such as [`crate::tls::TlsFront`] listens there.
    /// Clients still bootstrap from either; the harness's own clients (plaintext) then no longer
    /// reach it, so create the topics first (SQLite storage keeps them).
    pub async fn restart_advertising(&mut self, port: u16) {
        self.advertised_port = Some(port);
        self.restart().await;
    }

    /// Creates a topic through the Kafka admin API (CreateTopics) and waits until metadata shows
    /// all `partitions` with a leader. Panics if the topic exists or the broker refuses.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("create an rdkafka admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin
            .create_topics([&topic], &options)
            .await
            .unwrap_or_else(|e| self.fail(&format!("CreateTopics {name}: {e}")));
        for result in results {
            if let Err((topic, code)) = result {
                self.fail(&format!("CreateTopics {topic} refused: {code:?}"));
            }
        }
        self.wait_for_topic(name, partitions).await;
    }

    /// Creates a topic with the `tansu topic create` command line, as an operator would, and
    /// waits until it is visible in metadata.
    pub async fn create_topic_cli(&self, name: &str, partitions: i32) {
        let output = Command::new(&self.bin)
            .args(["topic", "create", name, "--partitions", &partitions.to_string()])
            .args(["--broker", &self.url()])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("run {} topic create: {e}", self.bin.display()));
        if !output.status.success() {
            self.fail(&format!(
                "tansu topic create {name} --partitions {partitions} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        self.wait_for_topic(name, partitions).await;
    }

    /// Waits until metadata lists `topic` with `partitions` partitions, each with a leader.
    pub async fn wait_for_topic(&self, topic: &str, partitions: i32) {
        let deadline = Instant::now() + TOPIC_TIMEOUT;
        loop {
            let last = match self.partition_count(topic).await {
                Ok(n) if n == partitions as usize => return,
                Ok(n) => format!("{n} partitions with leaders"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "topic {topic} did not show {partitions} partitions in metadata within \
                     {TOPIC_TIMEOUT:?}; last: {last}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The number of partitions of `topic` that have a leader, from a fresh metadata request.
    /// An error if the topic is unknown.
    pub async fn partition_count(&self, topic: &str) -> Result<usize, String> {
        fetch_metadata(self.bootstrap(), Some(topic.to_owned()), Duration::from_secs(5)).await.and_then(|topics| {
            let (_, error, partitions) = topics
                .into_iter()
                .find(|(name, _, _)| name == topic)
                .ok_or_else(|| format!("{topic} missing from metadata"))?;
            match error {
                Some(code) => Err(format!("{topic}: {code:?}")),
                None => Ok(partitions),
            }
        })
    }

    /// The broker log's last `lines` lines (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let began = Instant::now();
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("open {}: {e}", self.log_path.display()))?;
        let url = self.url();
        let advertised = self.advertised_port.map_or_else(|| url.clone(), |port| format!("tcp://127.0.0.1:{port}"));
        let storage_url = self.storage.url();
        let _ = writeln!(
            log,
            "=== kpi-e2e: start #{} of {} broker --listener-url {url} --advertised-listener-url \
             {advertised} --storage-engine {storage_url}",
            self.starts,
            self.bin.display()
        );
        let workdir = match &self.storage {
            Storage::Memory => self.log_dir.as_ref().map(|d| d.path().to_path_buf()).unwrap(),
            Storage::Sqlite { dir, .. } => dir.clone(),
        };
        let stderr: File = log.try_clone().map_err(|e| format!("dup log: {e}"))?;
        let mut command = StdCommand::new(&self.bin);
        command
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &advertised])
            .args(["--storage-engine", &storage_url])
            // Tansu reads `.env` in its working directory: keep it in ours, away from the repo's.
            .current_dir(&workdir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        // Environment variables Tansu's command line falls back on: never let them leak in.
        for var in [
            "CLUSTER_ID",
            "LISTENER_URL",
            "ADVERTISED_LISTENER_URL",
            "STORAGE_ENGINE",
            "SCHEMA_REGISTRY",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ] {
            command.env_remove(var);
        }
        if let Some(filter) = std::env::var_os("KPI_TANSU_LOG") {
            command.env("RUST_LOG", filter);
        }
        let child = spawn_tied(command).map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        self.child = Some(child);

        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = began + START_TIMEOUT;
        // Phase 1: the port accepts connections (or the process dies, e.g. port taken).
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("tansu exited during start: {status}"));
            }
            if wait_for_port(addr, Duration::from_millis(200)).await {
                break;
            }
            if Instant::now() >= deadline {
                self.kill().await;
                return Err(format!("port {} did not accept within {START_TIMEOUT:?}", self.port));
            }
        }
        // Phase 2: a metadata request is answered and names this broker.
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("tansu exited during start: {status}"));
            }
            match fetch_metadata(self.bootstrap(), None, Duration::from_secs(3)).await {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    self.kill().await;
                    return Err(format!("metadata not served within {START_TIMEOUT:?}: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        self.last_start = began.elapsed();
        Ok(())
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(process::exited)
    }

    /// Panics with `why`, the log's path (kept on disk) and its tail.
    fn fail(&self, why: &str) -> ! {
        panic!(
            "Tansu broker on {} ({}): {why}\nbroker log (kept): {}\n--- last lines ---\n{}",
            self.url(),
            self.storage.url(),
            self.log_path.display(),
            self.log_tail(40)
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("KPI_KEEP_LOGS").is_some() {
            // Keep the log for the post-mortem, and say where it is.
            if let Some(dir) = self.log_dir.take() {
                let kept = dir.keep();
                eprintln!("kpi-e2e: Tansu broker {} log kept at {}", self.url(), kept.join("broker.log").display());
            }
        }
        // Kill on drop (and reap, so no zombie is left).
        if let Some(mut child) = self.child.take() {
            process::kill(&mut child);
        }
    }
}

/// Topics (name, error, partitions with a leader) from a metadata request with a fresh client.
/// `topic = None` asks for all topics.
async fn fetch_metadata(
    bootstrap: String,
    topic: Option<String>,
    timeout: Duration,
) -> Result<Vec<(String, Option<RDKafkaErrorCode>, usize)>, String> {
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("allow.auto.create.topics", "false")
            .create()
            .map_err(|e| e.to_string())?;
        let metadata = consumer.fetch_metadata(topic.as_deref(), timeout).map_err(|e| e.to_string())?;
        if metadata.brokers().is_empty() {
            return Err("no brokers in metadata".to_owned());
        }
        Ok(metadata
            .topics()
            .iter()
            .map(|t| {
                let error = t.error().map(RDKafkaErrorCode::from);
                let led = t.partitions().iter().filter(|p| p.leader() >= 0).count();
                (t.name().to_owned(), error, led)
            })
            .collect())
    })
    .await
    .map_err(|e| e.to_string())?
}
