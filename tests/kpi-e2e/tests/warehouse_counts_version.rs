//! The warehouse between engine and publisher, on real PostgreSQL: every engine commit that
//! changes the counts leaves a counts version the publisher has not published, whatever order
//! the engine's transactions commit in, and a publication names the version it came from. The
//! services' sessions run without PostgreSQL's JIT compiler.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use kpi_core::contrib::{Counts, Key, Tally};
use kpi_core::indicators::FAMILIES;
use kpi_core::period::{Period, PeriodKind};
use kpi_core::strata::Stratum;
use kpi_e2e::TestDb;
use kpi_warehouse::engine::{apply_deltas, raise_counts_version};
use kpi_warehouse::publish::{counts_version, read_snapshot, write_values, Rows};
use sqlx::PgPool;

/// One count of `cell` in January 2024, trust-wide.
fn one(cell: &'static str) -> Counts {
    let key = Key {
        indicator: cell,
        period: Period { kind: PeriodKind::Month, end: NaiveDate::from_ymd_opt(2024, 1, 31).unwrap() },
        stratum: Stratum::ALL,
    };
    Counts::from_iter([(key, Tally { numerator: 1, denominator: 0 })])
}

async fn newest_update(pool: &PgPool) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT max(updated_at) FROM indicator_counts").fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_transaction_that_began_first_and_commits_last_still_changes_the_version() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let (cell_a, cell_b) = (FAMILIES[0].emits[0], FAMILIES[1].emits[0]);
    assert_ne!(cell_a, cell_b);

    // Two engine instances: `first` begins, then `second` begins, writes and commits.
    let mut first = pool.begin().await.unwrap();
    apply_deltas(&mut first, &one(cell_a)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut second = pool.begin().await.unwrap();
    apply_deltas(&mut second, &one(cell_b)).await.unwrap();
    raise_counts_version(&mut second).await.unwrap();
    second.commit().await.unwrap();

    // The publisher reads here: it sees only `second`'s count.
    let read = read_snapshot(&pool).await.unwrap();
    assert_eq!(read.counts.len(), 1);
    assert!(read.counts.keys().all(|k| k.indicator == cell_b));
    let newest_when_read = newest_update(&pool).await;

    raise_counts_version(&mut first).await.unwrap();
    first.commit().await.unwrap();

    // What the publisher used to compare did not move: `first`'s updated_at is its start.
    assert_eq!(newest_update(&pool).await, newest_when_read, "the scenario is not the one that lost updates");
    // The version did, so the publisher refreshes, and then sees both counts.
    let now = counts_version(&pool).await.unwrap();
    assert_ne!(now, read.version);
    let again = read_snapshot(&pool).await.unwrap();
    assert_eq!(again.version, now);
    assert_eq!(again.counts.len(), 2);
}

#[tokio::test]
async fn a_writer_raising_the_version_waits_for_the_one_that_raised_it_before() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let before = counts_version(&pool).await.unwrap();

    let mut first = pool.begin().await.unwrap();
    raise_counts_version(&mut first).await.unwrap();
    let second = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut second = pool.begin().await.unwrap();
            raise_counts_version(&mut second).await.unwrap();
            let seen: i64 =
                sqlx::query_scalar("SELECT version FROM counts_version").fetch_one(&mut *second).await.unwrap();
            second.commit().await.unwrap();
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second raise did not wait for the first commit");
    first.commit().await.unwrap();
    // Raised on top of the committed first raise: versions follow commit order.
    assert_eq!(second.await.unwrap(), before + 2);
    assert_eq!(counts_version(&pool).await.unwrap(), before + 2);
}

#[tokio::test]
async fn a_publication_names_the_counts_version_it_was_computed_from() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let published = || async {
        sqlx::query_scalar::<_, i64>("SELECT counts_version FROM publication").fetch_optional(&pool).await.unwrap()
    };
    assert_eq!(published().await, None);

    let (written, _) = write_values(&pool, Rows::default(), 7, Utc::now(), None).await.unwrap();
    assert_eq!(published().await, Some(7));
    write_values(&pool, Rows::default(), 9, Utc::now(), Some(&written)).await.unwrap();
    assert_eq!(published().await, Some(9));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM publication").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 1);
}

/// With the JIT on, PostgreSQL compiled the engine's read-back afresh in every batch (its
/// estimated cost passes `jit_above_cost`): 65-70 against 25-29 ms a batch in the bench.
#[tokio::test]
async fn the_services_sessions_run_without_the_jit_compiler() {
    let db = TestDb::fresh().await;
    let pool = kpi_warehouse::pool(db.url(), 2).unwrap();
    let jit: String = sqlx::query_scalar("SELECT current_setting('jit')").fetch_one(&pool).await.unwrap();
    assert_eq!(jit, "off");
    let direct: String = sqlx::query_scalar("SELECT current_setting('jit')").fetch_one(&db.pool().await).await.unwrap();
    assert_eq!(direct, "on", "the server's own default, which the services' pool overrides");
    pool.close().await;
}
