//! Shared by the engine's batch tests against a real warehouse (canonical events → `batch::apply`
//! → PostgreSQL): an engine owning partition 0 of a fresh database, the replay beside it, and
//! canonical events written by hand.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::sync::Mutex;

use kpi_core::replay::Replay;
use kpi_core::Event;
use kpi_engine::batch::{self, BatchReport, DeadLetters, Incoming};
use kpi_engine::partitions::Owned;
use sqlx::PgPool;

const TOPIC: &str = "kpi.events.v1";

#[derive(Default)]
struct Collected(Mutex<Vec<String>>);

impl DeadLetters for Collected {
    async fn send(&self, events: &[Event]) -> anyhow::Result<()> {
        self.0.lock().unwrap().extend(events.iter().map(|e| name(&e.event_id)));
        Ok(())
    }
}

impl Collected {
    fn take(&self) -> Vec<String> {
        let mut ids = std::mem::take(&mut *self.0.lock().unwrap());
        ids.sort();
        ids
    }
}

/// Sends batches through the engine's `batch::apply` on partition 0, and the same events
/// through the replay.
pub struct Engine {
    pub pool: PgPool,
    owned: Owned,
    next_offset: i64,
    pub replay: Replay,
    dead_letters: Collected,
}

impl Engine {
    pub async fn start(pool: PgPool) -> Engine {
        kpi_warehouse::migrate(&pool).await.unwrap();
        let claim = kpi_warehouse::engine::claim_partition(&pool, TOPIC, 0).await.unwrap();
        let mut owned = Owned::new(1_000);
        owned.insert(claim);
        Engine {
            pool,
            owned,
            next_offset: claim.next_offset,
            replay: Replay::default(),
            dead_letters: Collected::default(),
        }
    }

    /// Applies `records` as one batch; returns its report and the ids it dead-lettered.
    pub async fn apply(&mut self, records: &[String]) -> (BatchReport, Vec<String>) {
        let batch: Vec<Incoming> = records
            .iter()
            .map(|record| {
                let event: Event = serde_json::from_str(record).expect("a canonical event");
                self.replay.apply(event.clone());
                self.next_offset += 1;
                Incoming { partition: 0, offset: self.next_offset - 1, event: Some(event), record: record.clone() }
            })
            .collect();
        let report = batch::apply(&self.pool, TOPIC, &mut self.owned, &batch, &self.dead_letters).await.unwrap();
        let ids = self.dead_letters.take();
        assert_eq!(report.ended_before_started, ids.len(), "the report counts what was sent");
        (report, ids)
    }

    /// Applies `records` as one batch; returns the ids it dead-lettered.
    pub async fn batch(&mut self, records: &[String]) -> Vec<String> {
        self.apply(records).await.1
    }
}

/// The id a test names `name`, spelled as a pseudonym (64 lowercase hex digits, as kpi-ingest
/// writes every id the warehouse keeps): the name's bytes, then zeros.
pub fn id(name: &str) -> String {
    assert!(name.len() <= 32 && !name.contains('\0'), "a test id's name fits in 32 bytes");
    format!("{:0<64}", hex::encode(name))
}

/// The name a test gave an [`id`].
pub fn name(id: &str) -> String {
    let bytes = hex::decode(id).expect("an id is hex");
    String::from_utf8(bytes.into_iter().take_while(|b| *b != 0).collect()).expect("a name is UTF-8")
}

/// A canonical event whose id and person are named `id` and `person` ([`id`]).
pub fn event(id_name: &str, person: &str, date: &str, payload: &str) -> String {
    let (id, person) = (id(id_name), self::id(person));
    format!(
        r#"{{"event_id": "{id}", "occurred_at": "{date}T10:00:00Z", "recorded_at": "{date}T10:00:00Z",
            "date": "{date}", "person": "{person}", "payload": {payload}}}"#
    )
}

pub fn detention_started(id: &str, person: &str, date: &str, detention: &str) -> String {
    event(
        id,
        person,
        date,
        &format!(r#"{{"type": "mha_detention_started", "detention_id": "{detention}", "section": "3"}}"#),
    )
}

pub fn detention_ended(id: &str, person: &str, date: &str, detention: &str) -> String {
    event(id, person, date, &format!(r#"{{"type": "mha_detention_ended", "detention_id": "{detention}"}}"#))
}

pub fn retraction(id: &str, person: &str, date: &str, target: &str) -> String {
    let target = self::id(target);
    event(id, person, date, &format!(r#"{{"type": "event_retracted", "retracted_event_id": "{target}"}}"#))
}
