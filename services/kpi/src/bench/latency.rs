//! `kpi bench`, phase 8, the whole data flow under a steady load: new raw events at `--rate` per
//! second, and for one of them each second (a probe), the time from handing it to the producer
//! until the engine's transaction that applied it is committed in PostgreSQL (its pseudonymised
//! id appears in `events_seen`, which the engine writes in the same transaction as the counts).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use kpi_core::Pseudonymiser;
use rdkafka::producer::FutureProducer;
use serde_json::Value;
use sqlx::PgPool;

use super::produce;

pub const DEFINITION: &str =
    "from handing a raw event to the producer until the engine transaction that applied it is \
committed in PostgreSQL (its pseudonymised id is in events_seen, written with the counts), for one probe event per \
second among the steady load; overstated by at most one poll (25 ms) plus one query";

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
    /// Milliseconds, one per probe seen.
    pub latencies_ms: Vec<f64>,
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

/// Produces `lines` at `rate` per second, one probe per second, and waits for the probes.
pub async fn measure(
    producer: &FutureProducer,
    topic: &str,
    pool: &PgPool,
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
    let probes = probe_ids.len();
    // Probe pseudonym → when it was sent; the watcher removes those it sees.
    let pending: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<Vec<f64>>> = Arc::default();
    let watcher = tokio::spawn(watch(pool.clone(), pending.clone(), seen.clone()));

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
            pending.lock().expect("not poisoned").insert(id.clone(), at);
        }
    })
    .await?;
    bar.finish_and_clear();
    let deadline = Instant::now() + GRACE;
    while !pending.lock().expect("not poisoned").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    watcher.abort();
    let latencies_ms = seen.lock().expect("not poisoned").clone();
    if let Some(error) = &produced.first_error {
        eprintln!(
            "    {} of {total} events of the steady load were not acknowledged (first error: {error})",
            produced.failed
        );
    }
    Ok(Measured { sent: produced.events, failed: produced.failed, seconds: produced.seconds, probes, latencies_ms })
}

/// Looks for the pending probes in `events_seen` every [`POLL`].
async fn watch(pool: PgPool, pending: Arc<Mutex<HashMap<String, Instant>>>, seen: Arc<Mutex<Vec<f64>>>) {
    loop {
        let ids: Vec<String> = pending.lock().expect("not poisoned").keys().cloned().collect();
        if !ids.is_empty() {
            let found: Result<Vec<String>, _> =
                sqlx::query_scalar("SELECT event_id FROM events_seen WHERE event_id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(&pool)
                    .await;
            let now = Instant::now();
            if let Ok(found) = found {
                let mut pending = pending.lock().expect("not poisoned");
                let mut seen = seen.lock().expect("not poisoned");
                for id in found {
                    if let Some(sent) = pending.remove(&id) {
                        seen.push(now.duration_since(sent).as_secs_f64() * 1000.0);
                    }
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
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
