//! Test harness, after a pipeline has drained: reads the raw and dead-letter topics back and
//! checks every refusal against the raw message it names.
//!
//! Both hops are at least once. `kpi produce` may write a line twice (a send the broker had
//! written but not acknowledged in time is sent again: stop 15's CI, one invalid line among
//! 407,000 arrived twice and was refused twice), and ingest may refuse a raw message twice (a
//! batch re-read after a crash, carrying the same source position). So the checks are per raw
//! message, and the feed-level counts take the producer's repeats out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use kpi_core::validate::decode;

use super::{Pipeline, DEAD_LETTER, RAW};
use crate::{consume_all_with, Received};

/// The engine's own refusal reason: its records carry an accepted event, not a raw message.
pub const ENDED_BEFORE_STARTED: &str = "ended_before_started";

/// What the dead-letter topic holds, checked against the raw topic and the feed.
#[derive(Debug)]
pub struct Refusals {
    /// Ingest's dead-letter records, repeats of a raw position included.
    pub ingest_records: usize,
    /// Distinct raw positions ingest refused.
    pub raw_positions: usize,
    /// Raw messages beyond the feed's lines: sends `kpi produce` repeated.
    pub raw_repeats: usize,
    /// The reasons ingest gave, counted once per line of the feed it refused (a line sent twice
    /// by the producer and refused twice counts as often as it is in the feed).
    pub by_reason: BTreeMap<String, usize>,
    /// Event ids the engine refused as ended before started (a record may repeat after a crash).
    pub engine_events: BTreeSet<String>,
}

impl Pipeline {
    /// Reads both topics to their ends and asserts, for a feed of `lines` produced once with
    /// `kpi produce`:
    /// * the raw topic holds every line at least as often as the feed does, and nothing else;
    /// * every ingest record names (`kpi-source-partition`/`-offset`) a raw message whose bytes
    ///   it carries, with the validator's reason for them and a detail;
    /// * every raw message the validator refuses is named by at least one record.
    pub async fn refusals(&self, lines: &[String]) -> Refusals {
        let raw = self.read_topic(RAW).await;
        let raw_repeats = assert_raw_holds_the_feed(&raw, lines);
        let raw_at: HashMap<(i32, i64), &[u8]> =
            raw.iter().map(|m| ((m.partition, m.offset), m.payload.as_deref().unwrap_or_default())).collect();

        let text = |m: &Received, key: &str| String::from_utf8_lossy(m.header(key).unwrap_or_default()).into_owned();
        let mut refused: BTreeMap<(i32, i64), String> = BTreeMap::new();
        let mut engine_events = BTreeSet::new();
        let mut ingest_records = 0;
        for record in self.read_topic(DEAD_LETTER).await {
            let reason = text(&record, "kpi-reason");
            assert!(!text(&record, "kpi-detail").is_empty(), "dead letter without a detail: {reason}");
            if reason == ENDED_BEFORE_STARTED {
                let event: serde_json::Value = serde_json::from_slice(record.payload.as_deref().unwrap_or_default())
                    .expect("engine refusal is JSON");
                engine_events.insert(event["event_id"].as_str().expect("event_id").to_owned());
                continue;
            }
            ingest_records += 1;
            let position = (
                text(&record, "kpi-source-partition").parse::<i32>().expect("kpi-source-partition header"),
                text(&record, "kpi-source-offset").parse::<i64>().expect("kpi-source-offset header"),
            );
            let original =
                raw_at.get(&position).unwrap_or_else(|| panic!("dead letter names no raw message {position:?}"));
            assert_eq!(record.payload.as_deref().unwrap_or_default(), *original, "payload of raw {position:?}");
            let rejection = decode(original, None).expect_err("a refused raw message is invalid");
            assert_eq!(rejection.reason.code(), reason, "reason for raw {position:?}");
            refused.insert(position, reason);
        }
        let invalid_raw: BTreeSet<(i32, i64)> =
            raw_at.iter().filter(|(_, bytes)| decode(bytes, None).is_err()).map(|(position, _)| *position).collect();
        let named: BTreeSet<(i32, i64)> = refused.keys().copied().collect();
        assert!(
            named == invalid_raw,
            "{} invalid raw messages, {} refused positions; not refused: {:?}",
            invalid_raw.len(),
            named.len(),
            invalid_raw.difference(&named).take(5).collect::<Vec<_>>()
        );

        let reason_given: HashMap<&[u8], &str> =
            refused.iter().map(|(position, reason)| (raw_at[position], reason.as_str())).collect();
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for line in lines {
            if let Some(reason) = reason_given.get(line.as_bytes()) {
                *by_reason.entry((*reason).to_owned()).or_default() += 1;
            }
        }
        Refusals { ingest_records, raw_positions: refused.len(), raw_repeats, by_reason, engine_events }
    }

    async fn read_topic(&self, topic: &str) -> Vec<Received> {
        let total: i64 = self.high_watermarks(topic).await.values().sum();
        let (records, _) =
            consume_all_with(&self.broker.bootstrap(), topic, total as usize, Duration::from_secs(120)).await;
        assert_eq!(records.len() as i64, total, "could not read back the whole {topic} topic");
        records
    }
}

/// `kpi produce` skips blank lines.
fn is_sent(line: &str) -> bool {
    !line.bytes().all(|b| b.is_ascii_whitespace())
}

/// Asserts that every line of the feed is on the raw topic at least as often as in the feed and
/// that nothing else is; returns how many raw messages are repeats.
fn assert_raw_holds_the_feed(raw: &[Received], lines: &[String]) -> usize {
    let mut surplus: HashMap<&[u8], i64> = HashMap::new();
    for message in raw {
        *surplus.entry(message.payload.as_deref().unwrap_or_default()).or_default() += 1;
    }
    let mut sent = 0;
    let mut feed = std::collections::HashSet::new();
    for line in lines.iter().filter(|l| is_sent(l)) {
        sent += 1;
        feed.insert(line.as_bytes());
        let left = surplus.get_mut(line.as_bytes());
        let left = left.unwrap_or_else(|| panic!("a line of the feed is not on the raw topic: {line:.80}"));
        *left -= 1;
        assert!(*left >= 0, "a line is on the raw topic fewer times than in the feed: {line:.80}");
    }
    if let Some(stranger) = surplus.keys().find(|payload| !feed.contains(*payload)) {
        panic!("the raw topic holds a message that is no line of the feed: {:.80}", String::from_utf8_lossy(stranger));
    }
    raw.len() - sent
}
