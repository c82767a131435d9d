//! Test harness for fault tests on the whole data flow (raw → ingest → canonical → engine →
//! warehouse): process ids and liveness, where each stage has got to (topic high watermarks,
//! group commits, the engine's stored offsets), waiting for the flow to drain, and a further
//! engine instance in the same consumer group.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::Row as _;
use tokio::process::Child;

use super::{Pipeline, Service, CANONICAL};
use crate::free_port;

/// The consumer groups the services use by default (`kpi_runtime::settings`).
pub const INGEST_GROUP: &str = "kpi-ingest";
pub const ENGINE_GROUP: &str = "kpi-engine";

/// An engine process beyond the one [`Pipeline::spawn`] manages, with its own admin port.
/// Killed on drop.
pub struct ExtraEngine {
    pub child: Child,
    pub admin_url: String,
}

impl ExtraEngine {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no chance to commit or clean up.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

/// A `kpi produce` running in the background ([`Pipeline::spawn_producer`]). Killed on drop.
pub struct Producer {
    pub(super) child: Child,
}

impl Producer {
    /// Whether it has finished (successfully or not).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("polling kpi produce").is_some()
    }

    /// Waits for it to end; panics with its error output if it failed.
    pub async fn finish(self) {
        let output = self.child.wait_with_output().await.expect("waiting for kpi produce");
        assert!(output.status.success(), "kpi produce failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// Serialises [`Pipeline::start_on`]: it sets a process-wide variable for a moment.
static PG_SERVER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Pipeline {
    /// [`Pipeline::start`], with the database created on the server of `admin_url` (e.g. a
    /// [`crate::private_pg::PrivatePg`] that the test will stop) instead of the shared one.
    /// `TestDb` takes its server from `KPI_TEST_PG_URL`, so this sets it while the database is
    /// created and restores it after; tests in one binary that use it take turns.
    pub async fn start_on(partitions: i32, admin_url: &str) -> Pipeline {
        let _turn = PG_SERVER_LOCK.lock().await;
        let previous = std::env::var_os("KPI_TEST_PG_URL");
        std::env::set_var("KPI_TEST_PG_URL", admin_url);
        let pipeline = Pipeline::start(partitions).await;
        match previous {
            Some(value) => std::env::set_var("KPI_TEST_PG_URL", value),
            None => std::env::remove_var("KPI_TEST_PG_URL"),
        }
        pipeline
    }

    /// The process id of a running service.
    pub fn pid(&self, service: Service) -> Option<u32> {
        self.children.get(&service).and_then(Child::id)
    }

    /// Whether the service's process is running (spawned and not exited).
    pub fn is_alive(&mut self, service: Service) -> bool {
        self.children.get_mut(&service).is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts another engine in the same consumer group, logging to `engine-<name>.log`, with an
    /// admin port of its own (the environment's later `KPI__ENGINE__ADMIN_LISTEN` wins).
    pub fn spawn_extra_engine(&self, name: &str) -> ExtraEngine {
        let port = free_port();
        let log = self.dir.path().join(format!("engine-{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&["engine"])
            .env("KPI__ENGINE__ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting extra kpi engine {name}: {e}"));
        ExtraEngine { child, admin_url: format!("http://127.0.0.1:{port}") }
    }

    /// The engine's stored next offset of each canonical partition (the warehouse's truth).
    pub async fn engine_offsets(&self) -> BTreeMap<i32, i64> {
        let rows = sqlx::query("SELECT partition, next_offset FROM engine_offsets WHERE topic = $1")
            .bind(CANONICAL)
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// The high watermark (next offset to be written) of every partition of `topic`.
    pub async fn high_watermarks(&self, topic: &str) -> BTreeMap<i32, i64> {
        let partitions = crate::partition_ids(&self.broker.bootstrap(), topic).await;
        let (bootstrap, topic) = (self.broker.bootstrap(), topic.to_owned());
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer =
                ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("watermark client");
            partitions
                .into_iter()
                .map(|p| {
                    let (_, high) = consumer
                        .fetch_watermarks(&topic, p, Duration::from_secs(10))
                        .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"));
                    (p, high)
                })
                .collect()
        })
        .await
        .expect("watermark task")
    }

    /// The offsets `group` has committed on `topic` (OffsetFetch; does not join the group).
    /// Partitions without a commit are left out.
    pub async fn committed_offsets(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        let partitions = crate::partition_ids(&self.broker.bootstrap(), topic).await;
        let (bootstrap, group, topic) = (self.broker.bootstrap(), group.to_owned(), topic.to_owned());
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .create()
                .expect("offset-fetch client");
            let mut list = TopicPartitionList::new();
            for p in &partitions {
                list.add_partition(&topic, *p);
            }
            let committed = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap_or_default();
            committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect()
        })
        .await
        .expect("offset-fetch task")
    }

    /// Makes Tansu re-form a consumer group: a plain consumer joins it and leaves again. Tansu
    /// 0.6.0's coordinator can leave a group stuck after a member is SIGKILLed (a dead member's
    /// partitions assigned to nobody, or a new member never assigned any); a join and a leave
    /// make it rebalance, as a real Kafka coordinator would have by itself. The consumer reads
    /// nothing into the warehouse and commits nothing.
    pub async fn nudge_group(&self, group: &str, topic: &str) {
        let consumer = crate::group_consumer(&self.broker.bootstrap(), group, &[topic]);
        let _ = tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await;
        tokio::task::spawn_blocking(move || drop(consumer)).await.expect("closing the nudge consumer");
    }

    /// Waits until the flow has drained `lines` (the whole feed): the warehouse has recorded
    /// every distinct valid event exactly once, the engine has settled
    /// ([`Pipeline::engine_settled`]), the dead-letter topic holds at least one record per invalid
    /// line, nothing has moved for `quiet`, and ingest has committed the whole raw topic.
    /// Returns the canonical topic's message count, repeats from ingest restarts included.
    ///
    /// The canonical topic's message count alone cannot say that ingest is done: ingest repeats
    /// what it re-reads after a restart, so a stalled ingest (a group Tansu left stuck) once
    /// passed for a drained one with events still missing. The distinct events the engine
    /// recorded can. The ingest group's commits (OffsetFetch) are read only once that holds, to
    /// keep Tansu's fragile group coordinator out of it while ingest works (see
    /// [`Pipeline::nudge_group`]). With `nudge_after`, a flow that makes no progress that long
    /// gets [`Pipeline::nudge_group`].
    pub async fn wait_for_drain(
        &self,
        lines: &[String],
        quiet: Duration,
        nudge_after: Option<Duration>,
        timeout: Duration,
    ) -> i64 {
        let (distinct_events, invalid) = super::distinct_events_and_invalid(lines);
        let started = Instant::now();
        let mut last = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), 0);
        let mut unchanged_since = Instant::now();
        loop {
            let canonical = self.high_watermarks(CANONICAL).await;
            let dead = self.high_watermarks(super::DEAD_LETTER).await;
            let applied = self.engine_offsets().await;
            let recorded = self.events_recorded().await;
            assert!(
                recorded <= distinct_events,
                "the warehouse recorded {recorded} distinct events for a feed of {distinct_events}"
            );
            let now = (canonical.clone(), dead.clone(), applied.clone(), recorded);
            if nudge_after.is_some_and(|after| unchanged_since.elapsed() >= after) {
                eprintln!("kpi-e2e: no progress for {:?}: nudging the ingest and engine groups", nudge_after.unwrap());
                self.nudge_group(INGEST_GROUP, super::RAW).await;
                self.nudge_group(ENGINE_GROUP, CANONICAL).await;
                unchanged_since = Instant::now();
            }
            if now != last {
                last = now;
                unchanged_since = Instant::now();
            }
            let total: i64 = canonical.values().sum();
            if stored_to_the_end(&canonical, &applied)
                && recorded == distinct_events
                && dead.values().sum::<i64>() >= invalid
                && unchanged_since.elapsed() >= quiet
                && self.engine_settled().await
                && self.committed_offsets(INGEST_GROUP, super::RAW).await == self.high_watermarks(super::RAW).await
            {
                return total;
            }
            assert!(
                started.elapsed() < timeout,
                "not drained after {timeout:?}: {recorded} of {distinct_events} distinct events recorded, \
                 canonical {canonical:?}, dead letters {dead:?} (want >= {invalid}), engine stored {applied:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Whether the engine has stored every canonical partition's high watermark.
    pub async fn engine_at_high_watermarks(&self) -> bool {
        stored_to_the_end(&self.high_watermarks(CANONICAL).await, &self.engine_offsets().await)
    }

    /// Whether the engine is done with what it has read: every canonical partition stored up to
    /// its end, and no retraction left pending whose target it has recorded. The last batch can
    /// leave one (prepared beside the batch in flight, it could not see the target), applied by
    /// the engine's sweep just after; counts read before the sweep are one retraction short.
    pub async fn engine_settled(&self) -> bool {
        let applicable: Option<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM retractions r JOIN events_seen s ON s.event_id = r.target_event_id
             WHERE NOT r.applied AND s.person IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .ok();
        applicable == Some(0) && self.engine_at_high_watermarks().await
    }

    /// Distinct events the engine has recorded (`events_seen`, retractions included).
    pub async fn events_recorded(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events_seen").fetch_one(&self.pool).await.unwrap_or(0)
    }
}

/// Whether every partition with messages has its high watermark among the stored offsets.
fn stored_to_the_end(high_watermarks: &BTreeMap<i32, i64>, stored: &BTreeMap<i32, i64>) -> bool {
    high_watermarks.iter().all(|(p, high)| *high == 0 || stored.get(p) == Some(high))
}
