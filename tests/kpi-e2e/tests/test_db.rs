//! Smoke test of the harness against the real database: TestDb creates a fresh database and
//! drops it again.

use kpi_e2e::db::database_exists;
use kpi_e2e::TestDb;

#[tokio::test]
async fn test_db_creates_and_drops_a_database() {
    let db = TestDb::fresh().await;
    let name = db.name().to_owned();
    assert!(name.starts_with("kpi_test_"));
    assert!(db.url().ends_with(&format!("/{name}")));
    assert!(database_exists(&name).await);

    let pool = db.pool().await;
    sqlx::query("CREATE TABLE t (x int)").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1), (2)").execute(&pool).await.unwrap();
    let sum: i64 = sqlx::query_scalar("SELECT sum(x) FROM t").fetch_one(&pool).await.unwrap();
    assert_eq!(sum, 3);
    let current: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await.unwrap();
    assert_eq!(current, name);

    // Dropped on Drop even while a pool still holds connections (WITH (FORCE)).
    drop(db);
    assert!(!database_exists(&name).await, "{name} still exists after drop");
    pool.close().await;
}

#[tokio::test]
async fn test_dbs_are_distinct_and_drop_now_works() {
    let a = TestDb::fresh().await;
    let b = TestDb::fresh().await;
    assert_ne!(a.name(), b.name());
    let name = a.name().to_owned();
    a.drop_now().await;
    assert!(!database_exists(&name).await);
    assert!(database_exists(b.name()).await);
}

#[test]
fn test_db_drops_outside_a_runtime() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::fresh());
    let name = db.name().to_owned();
    drop(rt);
    drop(db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(!rt.block_on(database_exists(&name)));
}
