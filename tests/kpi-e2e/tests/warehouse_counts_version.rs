//! The warehouse between engine and publisher, on real PostgreSQL: every engine commit that
//! changes the counts leaves a counts version the publisher has not published, whatever order
//! the engine's transactions commit in; a publisher reading only the count rows changed since
//! its last read keeps what reading them all gives; and a publication names the version it came
//! from. The services' sessions run without PostgreSQL's JIT compiler.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use kpi_core::contrib::{Counts, Key, Tally};
use kpi_core::indicators::FAMILIES;
use kpi_core::period::{Period, PeriodKind};
use kpi_core::strata::Stratum;
use kpi_e2e::TestDb;
use kpi_warehouse::engine::{apply_deltas, raise_counts_version};
use kpi_warehouse::publish::{counts_version, read_snapshot, write_values, KeptCounts, Rows};

/// `n` counts of `cell` in January 2024, trust-wide.
fn one(cell: &'static str, n: i64) -> Counts {
    let key = Key {
        indicator: cell,
        period: Period { kind: PeriodKind::Month, end: NaiveDate::from_ymd_opt(2024, 1, 31).unwrap() },
        stratum: Stratum::ALL,
    };
    Counts::from_iter([(key, Tally { numerator: n, denominator: 0 })])
}

/// What a publisher reads of `cell`'s January count with `kept`.
fn count_of(kept: &KeptCounts, cell: &str) -> Option<i64> {
    let counts = kept.counts().expect("counts read");
    counts.iter().find(|(key, _)| key.indicator == cell).map(|(_, tally)| tally.numerator)
}

#[tokio::test]
async fn a_publisher_reading_only_the_changed_counts_keeps_what_reading_all_of_them_gives() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let (cell_a, cell_b) = (FAMILIES[0].emits[0], FAMILIES[1].emits[0]);
    assert_ne!(cell_a, cell_b);
    let mut kept = KeptCounts::default();
    assert!(kept.refresh(&pool).await.unwrap().whole, "the first read is of every count");

    // Two engine instances: `first` raises the version and adds its count; `second` must wait
    // for `first`'s commit to raise it again.
    let mut first = pool.begin().await.unwrap();
    let raised = raise_counts_version(&mut first).await.unwrap();
    apply_deltas(&mut first, &one(cell_a, 1), raised).await.unwrap();
    let second = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut second = pool.begin().await.unwrap();
            let raised = raise_counts_version(&mut second).await.unwrap();
            apply_deltas(&mut second, &one(cell_b, 1), raised).await.unwrap();
            apply_deltas(&mut second, &one(cell_a, -1), raised).await.unwrap();
            second.commit().await.unwrap();
            raised.get()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second writer did not wait for the first one's commit");

    // The publisher reads while `first` is uncommitted: nothing new.
    let read = kept.refresh(&pool).await.unwrap();
    assert_eq!((read.rows, read.whole), (0, false));
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), raised.get() + 1, "versions follow commit order");

    // Both commits since the last read: cell_a went to 1 and back to 0, cell_b to 1.
    let read = kept.refresh(&pool).await.unwrap();
    assert!(!read.whole);
    assert_eq!(read.version, raised.get() + 1);
    assert_eq!(read.rows, 2, "only the two rows changed since the last read");
    assert_eq!((count_of(&kept, cell_a), count_of(&kept, cell_b)), (None, Some(1)));
    assert_eq!(kept.counts(), Some(&read_snapshot(&pool).await.unwrap().counts));

    // A read with nothing new since reads nothing; a row changed again is read again.
    assert_eq!(kept.refresh(&pool).await.unwrap().rows, 0);
    let mut third = pool.begin().await.unwrap();
    let raised = raise_counts_version(&mut third).await.unwrap();
    apply_deltas(&mut third, &one(cell_b, 1), raised).await.unwrap();
    third.commit().await.unwrap();
    assert_eq!(kept.refresh(&pool).await.unwrap().rows, 1);
    assert_eq!(count_of(&kept, cell_b), Some(2));

    // One after `forget` reads every count.
    kept.forget();
    let whole = kept.refresh(&pool).await.unwrap();
    assert_eq!((whole.rows, whole.whole), (1, true));
}

#[tokio::test]
async fn a_publisher_reads_every_count_again_when_the_version_goes_back() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let cell = FAMILIES[0].emits[0];
    let mut tx = pool.begin().await.unwrap();
    let raised = raise_counts_version(&mut tx).await.unwrap();
    apply_deltas(&mut tx, &one(cell, 3), raised).await.unwrap();
    tx.commit().await.unwrap();
    let mut kept = KeptCounts::default();
    kept.refresh(&pool).await.unwrap();
    assert_eq!(count_of(&kept, cell), Some(3));

    // As if restored from a backup taken before that commit, then changed by an engine whose
    // rows carry versions the publisher has already passed.
    sqlx::query("UPDATE counts_version SET version = 0").execute(&pool).await.unwrap();
    sqlx::query("UPDATE indicator_counts SET numerator = 2, changed_in_version = 0").execute(&pool).await.unwrap();
    let read = kept.refresh(&pool).await.unwrap();
    assert!(read.whole, "a version gone back must make the publisher read everything");
    assert_eq!(count_of(&kept, cell), Some(2));
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
