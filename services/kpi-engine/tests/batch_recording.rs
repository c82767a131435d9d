//! The engine's batch against a real warehouse: how it records events in `events_seen`. Events
//! foreseen new go by `COPY`; one PostgreSQL already holds (an id reused for another person,
//! in a later batch) makes the copy fail, and the batch is recorded by `INSERT … ON CONFLICT`
//! instead, with nothing lost and the reused id a duplicate.

mod support;

use kpi_e2e::db::TestDb;
use support::{detention_started, name, retraction, Engine};

/// (event id, person, event as stored) for every row of `events_seen`, by id, the ids by the
/// names the test gave them.
async fn recorded(engine: &Engine) -> Vec<(String, Option<String>, Option<String>)> {
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT encode(event_id, 'hex'), encode(person, 'hex'), event FROM events_seen ORDER BY event_id",
    )
    .fetch_all(&engine.pool)
    .await
    .unwrap();
    rows.into_iter().map(|(id, person, event)| (name(&id), person.as_deref().map(name), event)).collect()
}

#[tokio::test]
async fn a_batch_is_recorded_as_sent_and_an_id_recorded_before_for_another_person_is_a_duplicate() {
    let db = TestDb::fresh().await;
    let mut engine = Engine::start(db.pool().await).await;

    // A detention id with a quote and a backslash: its JSON escapes must reach the table as sent.
    let escaped = detention_started("e1", "p1", "2024-01-10", r#"d\"1\\"#);
    let first = [escaped.clone(), detention_started("e2", "p2", "2024-01-11", "d2")];
    let (report, _) = engine.apply(&first).await;
    assert_eq!((report.new_events, report.duplicates, report.recomputed), (2, 0, false));
    assert_eq!(
        recorded(&engine).await,
        [("e1".into(), Some("p1".into()), Some(escaped)), ("e2".into(), Some("p2".into()), Some(first[1].clone())),]
    );

    // e1 again, for p3: p3's state does not know it, so it is foreseen new and PostgreSQL
    // refuses the copy. e3 beside it must still be recorded.
    let second = [detention_started("e1", "p3", "2024-02-01", "d3"), detention_started("e3", "p3", "2024-02-02", "d4")];
    let (report, _) = engine.apply(&second).await;
    assert_eq!((report.new_events, report.duplicates, report.recomputed), (1, 1, true));
    let rows = recorded(&engine).await;
    let persons: Vec<(&str, Option<&str>)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_deref())).collect();
    assert_eq!(persons, [("e1", Some("p1")), ("e2", Some("p2")), ("e3", Some("p3"))]);
    assert_eq!(rows[2].2.as_deref(), Some(second[1].as_str()));
    db.drop_now().await;
}

/// The first of an id repeated within a batch is the one recorded, whether the two would be
/// sent by `COPY` or by `INSERT` (a retraction always is): a repeated id is never copied.
#[tokio::test]
async fn the_first_of_an_id_repeated_within_a_batch_is_recorded() {
    let db = TestDb::fresh().await;
    let mut engine = Engine::start(db.pool().await).await;
    let batch = [
        detention_started("e1", "p1", "2024-01-10", "d1"),
        detention_started("e1", "p2", "2024-01-11", "d2"),
        detention_started("e2", "p2", "2024-01-12", "d3"),
        retraction("e3", "p1", "2024-01-13", "e9"),
        detention_started("e3", "p3", "2024-01-14", "d4"),
    ];
    let (report, _) = engine.apply(&batch).await;
    assert_eq!((report.new_events, report.duplicates), (3, 2));
    let rows = recorded(&engine).await;
    let persons: Vec<(&str, Option<&str>)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_deref())).collect();
    assert_eq!(persons, [("e1", Some("p1")), ("e2", Some("p2")), ("e3", None)]);
    db.drop_now().await;
}

/// A batch whose copy text is sent in several pieces (each 256 KiB) is recorded whole.
#[tokio::test]
async fn a_batch_larger_than_one_piece_of_copy_is_recorded_whole() {
    let db = TestDb::fresh().await;
    let mut engine = Engine::start(db.pool().await).await;
    let batch: Vec<String> = (0..4_000)
        .map(|i| detention_started(&format!("e{i:04}"), &format!("p{i:04}"), "2024-01-10", &format!("d{i}")))
        .collect();
    assert!(batch.iter().map(String::len).sum::<usize>() > 2 * 256 * 1024, "the batch fits in one piece");
    let (report, _) = engine.apply(&batch).await;
    assert_eq!((report.new_events, report.duplicates, report.recomputed), (4_000, 0, false));
    let rows = recorded(&engine).await;
    assert_eq!(rows.len(), 4_000);
    for (row, sent) in rows.iter().zip(&batch) {
        assert_eq!(row.2.as_deref(), Some(sent.as_str()), "{} as stored", row.0);
    }
    db.drop_now().await;
}
