//! The publisher's writes of its values tables against a real PostgreSQL: a refresh writes only
//! the rows that differ from its last write, and what the tables then hold is what replacing
//! them whole would have left; when another writer wrote in between, it replaces them whole.

use chrono::{DateTime, NaiveDate, Utc};
use kpi_core::period::{Period, PeriodKind};
use kpi_core::spc::SpcRow;
use kpi_core::strata::{Stratum, StratumType};
use kpi_core::values::{IndicatorValue, PublishedValue};
use kpi_e2e::TestDb;
use kpi_warehouse::publish::{write_values, Rows, WriteSummary};
use sqlx::PgPool;

const TABLES: [&str; 3] = ["indicator_values", "indicator_values_published", "indicator_spc"];

fn month(m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, m + 1, 1).unwrap().pred_opt().unwrap()
}

fn female() -> Stratum {
    Stratum { kind: StratumType::Sex, value: StratumType::Sex.intern("female").expect("a sex stratum") }
}

/// One cell's rows in the three tables, from its month, stratum and numerator.
fn cell(rows: &mut Rows, m: u32, stratum: Stratum, numerator: i64) {
    let period = Period { kind: PeriodKind::Month, end: month(m) };
    let rate = numerator as f64 / 250.0 * 100_000.0;
    rows.values.push(IndicatorValue {
        indicator: "mha_detentions_rate",
        period,
        stratum,
        numerator,
        denominator: Some(250.0),
        value: Some(rate),
        limits95: Some((rate * 0.8, rate * 1.2)),
        limits998: Some((rate * 0.7, rate * 1.3)),
        smallest_count: numerator,
        denominator_counted: false,
    });
    let suppressed = numerator < 5;
    rows.published.push(PublishedValue {
        indicator: "mha_detentions_rate",
        period,
        stratum,
        numerator: (!suppressed).then_some(numerator / 5 * 5),
        denominator: Some(250.0),
        value: (!suppressed).then_some(rate),
        limits95: None,
        limits998: None,
        suppressed,
    });
    rows.spc.push(SpcRow {
        indicator: "mha_detentions_rate",
        stratum,
        period_end: month(m),
        value: rate,
        mean: 4_000.0,
        lower_limit: 1_000.0,
        upper_limit: 7_000.0,
        special_cause: (numerator > 20).then_some("concern"),
        variation_icon: "common_cause",
        assurance_icon: None,
    });
}

fn rows(cells: &[(u32, Stratum, i64)]) -> Rows {
    let mut rows = Rows::default();
    for (m, stratum, numerator) in cells {
        cell(&mut rows, *m, *stratum, *numerator);
    }
    rows
}

/// Every row of the three tables but its `computed_at`, in a fixed order.
async fn contents(pool: &PgPool) -> Vec<String> {
    let mut all = Vec::new();
    for table in TABLES {
        let mut rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT (to_jsonb(t) - 'computed_at')::text FROM {table} t"))
                .fetch_all(pool)
                .await
                .unwrap();
        rows.sort();
        all.extend(rows.into_iter().map(|row| format!("{table} {row}")));
    }
    all
}

async fn rows_computed_at(pool: &PgPool, at: DateTime<Utc>) -> i64 {
    let mut n = 0;
    for table in TABLES {
        let q = format!("SELECT count(*) FROM {table} WHERE computed_at = $1");
        n += sqlx::query_scalar::<_, i64>(&q).bind(at).fetch_one(pool).await.unwrap();
    }
    n
}

#[tokio::test]
async fn a_refresh_writes_only_what_changed_and_leaves_what_a_whole_write_would() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let all = Stratum::ALL;

    let first = rows(&[(1, all, 30), (1, female(), 12), (2, all, 31), (2, female(), 3)]);
    let first_at: DateTime<Utc> = "2026-11-01T10:00:00.123456Z".parse().unwrap();
    let (written, summary) = write_values(&pool, first, 1, first_at, None).await.unwrap();
    assert_eq!(summary, WriteSummary { whole: true, upserted: 12, deleted: 0 });

    // January unchanged; February's `all` changed, its `female` gone; March new.
    let second = rows(&[(1, all, 30), (1, female(), 12), (2, all, 33), (3, all, 8)]);
    let second_at: DateTime<Utc> = "2026-11-01T10:00:02.5Z".parse().unwrap();
    let (written, summary) = write_values(&pool, second.clone(), 2, second_at, Some(&written)).await.unwrap();
    assert_eq!(summary, WriteSummary { whole: false, upserted: 6, deleted: 3 });
    assert_eq!(rows_computed_at(&pool, first_at).await, 6, "January's rows were not written again");
    assert_eq!(rows_computed_at(&pool, second_at).await, 6);
    let by_changes = contents(&pool).await;
    assert_eq!(by_changes.len(), 12);

    let (_, summary) = write_values(&pool, second, 2, Utc::now(), None).await.unwrap();
    assert!(summary.whole);
    assert_eq!(contents(&pool).await, by_changes, "the same tables as a whole write of the same rows");
    // The whole write above stands for another publisher's: the next write from `written`
    // must notice (the next test shows what it then does).
    let (_, summary) = write_values(&pool, Rows::default(), 3, Utc::now(), Some(&written)).await.unwrap();
    assert!(summary.whole);
    db.drop_now().await;
}

#[tokio::test]
async fn after_another_writer_a_refresh_replaces_the_tables_whole() {
    let db = TestDb::fresh().await;
    let pool = db.pool().await;
    kpi_warehouse::migrate(&pool).await.unwrap();
    let all = Stratum::ALL;

    let ours = rows(&[(1, all, 30), (2, all, 31)]);
    let (written, _) = write_values(&pool, ours, 1, Utc::now(), None).await.unwrap();
    // Another publisher (a second instance, or one restarted) writes something else.
    let theirs = rows(&[(1, all, 29), (2, all, 40), (2, female(), 9)]);
    write_values(&pool, theirs, 2, Utc::now(), None).await.unwrap();

    // Ours again: January as it had it, so that a write of changes only would keep theirs.
    let next = rows(&[(1, all, 30), (2, all, 35)]);
    let (_, summary) = write_values(&pool, next.clone(), 3, Utc::now(), Some(&written)).await.unwrap();
    assert!(summary.whole, "{summary:?}");
    let after = contents(&pool).await;
    write_values(&pool, next, 3, Utc::now(), None).await.unwrap();
    assert_eq!(after, contents(&pool).await);
    let version: i64 = sqlx::query_scalar("SELECT counts_version FROM publication").fetch_one(&pool).await.unwrap();
    assert_eq!(version, 3);
    db.drop_now().await;
}
