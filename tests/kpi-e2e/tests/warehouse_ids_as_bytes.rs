//! The warehouse's upgrade to ids kept as bytes (migration 0012), on real PostgreSQL: a warehouse
//! that already holds events as text keeps every one of them, spelled as before, and the engine
//! rebuilds its persons from them; a warehouse holding an id that is not hex refuses the
//! migration and is left as it was.

use std::path::Path;

use kpi_core::Pseudonymiser;
use kpi_e2e::TestDb;
use sqlx::migrate::Migrator;
use sqlx::PgPool;

/// Migrates `pool` as a warehouse from before migration 0012 was written: 0001 to 0011 only.
async fn migrate_up_to_text_ids(pool: &PgPool) {
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/kpi-warehouse/migrations");
    let before = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: u32 = name[..4].parse().unwrap();
        if version <= 11 {
            std::fs::copy(&path, before.path().join(&name)).unwrap();
        }
    }
    Migrator::new(before.path()).await.unwrap().run(pool).await.unwrap();
}

fn canonical(event_id: &str, person: &str, payload: &str) -> String {
    format!(
        r#"{{"event_id": "{event_id}", "occurred_at": "2024-03-01T10:00:00Z", "recorded_at": "2024-03-01T10:00:00Z", "date": "2024-03-01", "person": "{person}", "payload": {payload}}}"#
    )
}

#[tokio::test]
async fn a_warehouse_of_text_ids_keeps_every_event_and_the_engine_reads_its_persons_back() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    migrate_up_to_text_ids(&pool).await;

    let p = Pseudonymiser::new(&[7; 32]).unwrap();
    let person = p.pseudonym("person", "9434765919");
    let (kept, retracted, retraction) =
        (p.pseudonym("event", "E1"), p.pseudonym("event", "E2"), p.pseudonym("event", "E3"));
    let smoking = r#"{"type": "smoking_status", "status": "current"}"#;
    let (kept_record, retracted_record) = (canonical(&kept, &person, smoking), canonical(&retracted, &person, smoking));
    sqlx::query(
        "INSERT INTO events_seen (event_id, person, partition, event)
         VALUES ($1, $4, 0, $5), ($2, $4, 0, $6), ($3, NULL, 1, NULL)",
    )
    .bind(&kept)
    .bind(&retracted)
    .bind(&retraction)
    .bind(&person)
    .bind(&kept_record)
    .bind(&retracted_record)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO retractions (target_event_id, retraction_event_id, applied) VALUES ($1, $2, true)")
        .bind(&retracted)
        .bind(&retraction)
        .execute(&pool)
        .await
        .unwrap();

    kpi_warehouse::migrate(&pool).await.expect("migration 0012 converts hex ids");

    let mut want = vec![
        (kept.clone(), Some(person.clone()), 0, Some(kept_record)),
        (retracted.clone(), Some(person.clone()), 0, Some(retracted_record)),
        (retraction.clone(), None, 1, None),
    ];
    want.sort();
    let rows: Vec<(String, Option<String>, i32, Option<String>)> = sqlx::query_as(
        "SELECT encode(event_id, 'hex') AS id, encode(person, 'hex'), partition, event FROM events_seen ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows, want, "every event kept, its ids spelled as before");
    let retractions: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT encode(target_event_id, 'hex'), encode(retraction_event_id, 'hex'), applied FROM retractions",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(retractions, [(retracted.clone(), retraction, true)]);

    let mut tx = pool.begin().await.unwrap();
    let states = kpi_warehouse::engine::load_persons(&mut tx, &[person.as_str()], &[]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(states.len(), 1, "the person is read back");
    let (read_person, state) = &states[0];
    assert_eq!(read_person, &person);
    assert!(state.knows(&kept) && state.knows(&retracted), "both events are the person's");
    let in_effect: Vec<&str> = state.effective().iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(in_effect, [kept.as_str()], "the applied retraction still holds");
    db.drop_now().await;
}

#[tokio::test]
async fn a_warehouse_holding_an_id_that_is_not_hex_refuses_the_migration_and_is_left_as_it_was() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    migrate_up_to_text_ids(&pool).await;
    sqlx::query("INSERT INTO events_seen (event_id, person, partition, event) VALUES ('e1', 'p1', 0, '{}')")
        .execute(&pool)
        .await
        .unwrap();

    let refused = kpi_warehouse::migrate(&pool).await;
    assert!(refused.is_err(), "a non-hex id cannot be kept as bytes: {refused:?}");
    let row: (String, String) =
        sqlx::query_as("SELECT event_id, person FROM events_seen").fetch_one(&pool).await.unwrap();
    assert_eq!(row, ("e1".to_owned(), "p1".to_owned()), "the table is as it was, ids still text");
    let applied: i64 =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await.unwrap();
    assert_eq!(applied, 11, "0012 is not recorded as applied");
    db.drop_now().await;
}
