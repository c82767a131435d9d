//! `kpi bench`, phase 8, the whole data flow under a steady load: new raw events at `--rate` per
//! second, and for one of them each second (a probe), the time from handing it to the producer
//! until the engine's transaction that applied it is committed in PostgreSQL (its pseudonymised
//! id appears in `events_seen`, which the engine writes in the same transaction as the counts),
//! and until the publisher's gauges show counts that include it (its
//! `kpi_publisher_counts_version` reaches the warehouse's `counts_version` of that commit).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use kpi_core::Pseudonymiser;
use rdkafka::producer::FutureProducer;
use serde_json::Value;
use sqlx::PgPool;

use super::metrics::Metrics;
use super::produce;

pub const DEFINITION: &str =
    "from handing a raw event to the producer until the engine transaction that applied it is \
committed in PostgreSQL (its pseudonymised id is in events_seen, written with the counts), for one probe event per \
second among the steady load; overstated by at most one poll (25 ms) plus one query";

pub const GAUGE_DEFINITION: &str =
    "from handing a raw event to the producer until the publisher's /metrics shows values computed from counts \
that include it (kpi_publisher_counts_version at least the warehouse's counts_version when the probe was seen \
committed), for the same probes; overstated by at most one poll (25 ms) plus a query and a scrape, and by commits \
between the probe's and that query";

/// How often committed probes are looked for.
const POLL: Duration = Duration::from_millis(25);
/// How long a probe may take before it counts as not seen.
const GRACE: Duration = Duration::from_secs(30);

pub struct Measured {
    /// Acknowledged, and not (a probe among those is never seen: it counts as too slow).
    pub sent: u64,
    pub failed: u64,
    pub seconds: f64,
    pub probes: usize,
    /// Milliseconds to the committed counts, one per probe seen committed.
    pub latencies_ms: Vec<f64>,
    /// Milliseconds to the publisher's gauges, one per probe seen there.
    pub gauge_latencies_ms: Vec<f64>,
}

/// Where the publisher under test shows what it has published: its admin server.
pub struct Publisher {
    pub client: reqwest::Client,
    pub admin: SocketAddr,
}

/// The load: the feed's first valid lines again, as new events (ids prefixed `l-`) of the same
/// people, so that the engine does real work on every one.
pub fn load_lines(feed: &Path, count: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    let file = File::open(feed).with_context(|| format!("opening {}", feed.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        if out.len() as u64 >= count {
            break;
        }
        let line = line?;
        if kpi_core::validate::decode(&line, None).is_err() {
            continue;
        }
        let mut value: Value = serde_json::from_slice(&line)?;
        if renamed(&mut value) {
            out.push(serde_json::to_vec(&value)?);
        }
    }
    anyhow::ensure!(
        out.len() as u64 == count,
        "the feed has only {} valid lines for a load of {count}: lower --rate or --latency-seconds, or raise --events",
        out.len()
    );
    Ok(out)
}

/// Gives an event (and a retraction's target) a new id; false if it would exceed 64 characters.
fn renamed(value: &mut Value) -> bool {
    let rename = |v: &mut Value| match v.as_str() {
        Some(id) if id.len() <= 62 => {
            *v = Value::String(format!("l-{id}"));
            true
        }
        _ => false,
    };
    let ok = value.get_mut("event_id").is_some_and(rename);
    let target = value.get_mut("event_retracted").and_then(|r| r.get_mut("retracted_event_id"));
    ok && target.is_none_or(rename)
}

/// Produces `lines` at `rate` per second, one probe per second, and waits for the probes to be
/// committed and then published.
pub async fn measure(
    producer: &FutureProducer,
    topic: &str,
    pool: &PgPool,
    publisher: Publisher,
    key: &[u8],
    lines: Vec<Vec<u8>>,
    rate: u32,
) -> anyhow::Result<Measured> {
    let pseudonymiser = Pseudonymiser::new(key).context("the bench's pseudonymisation key")?;
    let probe_ids: HashMap<u64, String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as u64).is_multiple_of(u64::from(rate)))
        .map(|(i, line)| {
            let id = serde_json::from_slice::<Value>(line).ok().and_then(|v| v["event_id"].as_str().map(str::to_owned));
            (i as u64, pseudonymiser.pseudonym("event", &id.unwrap_or_default()))
        })
        .collect();
    let probes = Arc::new(Mutex::new(Probes::default()));
    let watcher = tokio::spawn(watch(pool.clone(), publisher, probes.clone()));

    let bar = ProgressBar::new(lines.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed:>4} steady load: {pos}/{len} events [{bar:30}] {eta}",
        )
        .expect("valid template"),
    );
    let total = lines.len() as u64;
    let produced = produce::lines(producer, topic, lines.into_iter().map(Ok), Some(rate), &bar, |i, at| {
        if let Some(id) = probe_ids.get(&i) {
            probes.lock().expect("not poisoned").committing.insert(id.clone(), at);
        }
    })
    .await?;
    bar.finish_and_clear();
    let deadline = Instant::now() + GRACE;
    while !probes.lock().expect("not poisoned").all_published() && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    watcher.abort();
    let probes = std::mem::take(&mut *probes.lock().expect("not poisoned"));
    if let Some(error) = &produced.first_error {
        eprintln!(
            "    {} of {total} events of the steady load were not acknowledged (first error: {error})",
            produced.failed
        );
    }
    Ok(Measured {
        sent: produced.events,
        failed: produced.failed,
        seconds: produced.seconds,
        probes: probe_ids.len(),
        latencies_ms: probes.committed_ms,
        gauge_latencies_ms: probes.published_ms,
    })
}

/// The probes sent, by how far they have gone.
#[derive(Default)]
struct Probes {
    /// Pseudonymised event id → when it was sent: not yet seen committed.
    committing: HashMap<String, Instant>,
    /// When it was sent, and the `counts_version` once it was seen committed: not yet shown by
    /// the publisher.
    publishing: Vec<(Instant, i64)>,
    committed_ms: Vec<f64>,
    published_ms: Vec<f64>,
}

impl Probes {
    fn all_published(&self) -> bool {
        self.committing.is_empty() && self.publishing.is_empty()
    }
}

/// Every [`POLL`]: looks for the probes not yet committed in `events_seen`, then, when the
/// warehouse's `publication` says the publisher has reached a waiting probe's counts, reads the
/// publisher's `/metrics` to see whether its gauges show them yet. Scraping only then keeps the
/// measurement from loading the publisher it measures.
async fn watch(pool: PgPool, publisher: Publisher, probes: Arc<Mutex<Probes>>) {
    loop {
        let ids: Vec<String> = probes.lock().expect("not poisoned").committing.keys().cloned().collect();
        if !ids.is_empty() {
            // One statement, one snapshot: the version read includes the probe's own commit.
            let found: Result<Vec<(String, i64)>, _> = sqlx::query_as(
                "SELECT encode(e.event_id, 'hex'), v.version FROM events_seen e CROSS JOIN counts_version v
                 WHERE e.event_id = ANY(ARRAY(SELECT decode(id, 'hex') FROM UNNEST($1::text[]) AS u(id)))",
            )
            .bind(&ids)
            .fetch_all(&pool)
            .await;
            let now = Instant::now();
            if let Ok(found) = found {
                let mut probes = probes.lock().expect("not poisoned");
                for (id, version) in found {
                    if let Some(sent) = probes.committing.remove(&id) {
                        probes.committed_ms.push(millis(now, sent));
                        probes.publishing.push((sent, version));
                    }
                }
            }
        }
        let lowest = probes.lock().expect("not poisoned").publishing.iter().map(|(_, v)| *v).min();
        if let Some(lowest) = lowest {
            let written: Option<i64> =
                sqlx::query_scalar("SELECT counts_version FROM publication").fetch_optional(&pool).await.ok().flatten();
            if written.is_some_and(|w| w >= lowest) {
                if let Ok(metrics) = Metrics::scrape(&publisher.client, publisher.admin).await {
                    let shown = metrics.sum("kpi_publisher_counts_version") as i64;
                    let now = Instant::now();
                    let mut probes = probes.lock().expect("not poisoned");
                    let Probes { publishing, published_ms, .. } = &mut *probes;
                    publishing.retain(|(sent, version)| {
                        let shown = *version <= shown;
                        if shown {
                            published_ms.push(millis(now, *sent));
                        }
                        !shown
                    });
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

fn millis(now: Instant, sent: Instant) -> f64 {
    now.duration_since(sent).as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn load_events_get_new_ids_and_so_do_their_targets() {
        let mut event = serde_json::json!({"event_id": "rio-1", "event_retracted": {"retracted_event_id": "rio-0"}});
        assert!(super::renamed(&mut event));
        assert_eq!(event["event_id"], "l-rio-1");
        assert_eq!(event["event_retracted"]["retracted_event_id"], "l-rio-0");
        let mut long = serde_json::json!({"event_id": "x".repeat(64)});
        assert!(!super::renamed(&mut long));
    }
}
