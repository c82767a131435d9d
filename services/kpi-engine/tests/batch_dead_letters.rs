//! The engine's batch against a real warehouse: which end events it sends to the dead-letter
//! topic (`ended_before_started`) when a retraction in the same batch, or a later one, hides or
//! reveals an end dated before its start. A batch's dead letters are those of the batch as a
//! whole (its events and retractions together), as the in-memory replay counts them.

use std::sync::Mutex;

use kpi_core::replay::Replay;
use kpi_core::Event;
use kpi_e2e::db::TestDb;
use kpi_engine::batch::{self, DeadLetters, Incoming};
use kpi_engine::partitions::Owned;
use sqlx::PgPool;

const TOPIC: &str = "kpi.events.v1";

#[derive(Default)]
struct Collected(Mutex<Vec<String>>);

impl DeadLetters for Collected {
    async fn send(&self, events: &[Event]) -> anyhow::Result<()> {
        self.0.lock().unwrap().extend(events.iter().map(|e| e.event_id.clone()));
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
struct Engine {
    pool: PgPool,
    owned: Owned,
    next_offset: i64,
    replay: Replay,
    dead_letters: Collected,
}

impl Engine {
    async fn start(pool: PgPool) -> Engine {
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

    /// Applies `records` as one batch; returns the ids it dead-lettered.
    async fn batch(&mut self, records: &[String]) -> Vec<String> {
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
        ids
    }
}

fn event(id: &str, person: &str, date: &str, payload: &str) -> String {
    format!(
        r#"{{"event_id": "{id}", "occurred_at": "{date}T10:00:00Z", "recorded_at": "{date}T10:00:00Z",
            "date": "{date}", "person": "{person}", "payload": {payload}}}"#
    )
}

fn detention_started(id: &str, person: &str, date: &str, detention: &str) -> String {
    event(
        id,
        person,
        date,
        &format!(r#"{{"type": "mha_detention_started", "detention_id": "{detention}", "section": "3"}}"#),
    )
}

fn detention_ended(id: &str, person: &str, date: &str, detention: &str) -> String {
    event(id, person, date, &format!(r#"{{"type": "mha_detention_ended", "detention_id": "{detention}"}}"#))
}

fn retraction(id: &str, person: &str, date: &str, target: &str) -> String {
    event(id, person, date, &format!(r#"{{"type": "event_retracted", "retracted_event_id": "{target}"}}"#))
}

#[tokio::test]
async fn a_retraction_in_the_same_batch_hides_or_reveals_an_end_before_its_start() {
    let db = TestDb::fresh().await;
    let mut engine = Engine::start(db.pool().await).await;

    // p1: an end dated before its start, whose start the batch also retracts: no episode is
    // left for the end to contradict. p2: two starts of one detention, the earlier retracted in
    // the batch, so that the end falls before the start that remains. p3: an end before its
    // start, nothing retracted (the events' own pass).
    let sent = engine
        .batch(&[
            detention_started("p1-start", "p1", "2024-03-01", "d1"),
            detention_ended("p1-end", "p1", "2024-02-01", "d1"),
            retraction("p1-unstart", "p1", "2024-03-05", "p1-start"),
            detention_started("p2-start-jan", "p2", "2024-01-01", "d2"),
            detention_started("p2-start-mar", "p2", "2024-03-01", "d2"),
            detention_ended("p2-end", "p2", "2024-02-01", "d2"),
            retraction("p2-unstart", "p2", "2024-03-05", "p2-start-jan"),
            detention_started("p3-start", "p3", "2024-03-01", "d3"),
            detention_ended("p3-end", "p3", "2024-02-01", "d3"),
        ])
        .await;
    assert_eq!(sent, ["p2-end", "p3-end"], "dead-lettered by the batch");
    assert_eq!(engine.replay.ended_before_started(), sent.len(), "as the replay counts them");
    db.drop_now().await;
}

#[tokio::test]
async fn a_retraction_in_a_later_batch_reveals_an_end_before_its_start_once() {
    let db = TestDb::fresh().await;
    let mut engine = Engine::start(db.pool().await).await;

    let first = engine
        .batch(&[
            detention_started("p4-start-jan", "p4", "2024-01-01", "d4"),
            detention_started("p4-start-mar", "p4", "2024-03-01", "d4"),
            detention_ended("p4-end", "p4", "2024-02-01", "d4"),
            detention_started("p5-start", "p5", "2024-03-01", "d5"),
            detention_ended("p5-end", "p5", "2024-02-01", "d5"),
        ])
        .await;
    assert_eq!(first, ["p5-end"]);
    // p4's earlier start retracted: its end is now before the start that remains. p5's start
    // retracted: the end it contradicted was reported already, and is not reported again.
    let second = engine
        .batch(&[
            retraction("p4-unstart", "p4", "2024-03-05", "p4-start-jan"),
            retraction("p5-unstart", "p5", "2024-03-05", "p5-start"),
        ])
        .await;
    assert_eq!(second, ["p4-end"]);
    // A batch that changes nothing of theirs reports nothing.
    let third = engine.batch(&[detention_started("p6-start", "p6", "2024-03-01", "d6")]).await;
    assert!(third.is_empty(), "{third:?}");
    db.drop_now().await;
}
