//! The engine's batch against a real warehouse: which end events it sends to the dead-letter
//! topic (`ended_before_started`) when a retraction in the same batch, or a later one, hides or
//! reveals an end dated before its start. A batch's dead letters are those of the batch as a
//! whole (its events and retractions together), as the in-memory replay counts them.

mod support;

use kpi_e2e::db::TestDb;
use support::{detention_ended, detention_started, retraction, Engine};

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
