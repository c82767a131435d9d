//! The demo's warehouse: the published tables of the PostgreSQL warehouse (catalogue, values
//! after disclosure control, SPC), with the same columns, in one SQLite file, plus a summary of
//! the dead letters by reason. Nothing restricted is written: no unrounded values, no person
//! state, no refused event's content.

use std::path::Path;

use kpi_core::indicators::CATALOGUE;
use kpi_publisher::service::Publication;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};

use super::flow::DeadLetters;

const SCHEMA: &str = "
CREATE TABLE indicator_catalogue (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, unit TEXT NOT NULL, direction TEXT NOT NULL,
    target REAL, description TEXT NOT NULL, method TEXT NOT NULL);
CREATE TABLE indicator_values_published (
    indicator TEXT NOT NULL, period_kind TEXT NOT NULL, period_end TEXT NOT NULL,
    stratum_type TEXT NOT NULL, stratum_value TEXT NOT NULL, numerator INTEGER, denominator REAL,
    value REAL, lower95 REAL, upper95 REAL, lower998 REAL, upper998 REAL,
    suppressed INTEGER NOT NULL, computed_at TEXT NOT NULL,
    PRIMARY KEY (indicator, period_kind, period_end, stratum_type, stratum_value));
CREATE TABLE indicator_spc (
    indicator TEXT NOT NULL, stratum_type TEXT NOT NULL, stratum_value TEXT NOT NULL,
    period_end TEXT NOT NULL, value REAL NOT NULL, mean REAL NOT NULL, lower_limit REAL NOT NULL,
    upper_limit REAL NOT NULL, special_cause TEXT, variation_icon TEXT NOT NULL, assurance_icon TEXT,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (indicator, stratum_type, stratum_value, period_end));
CREATE TABLE dead_letters (reason TEXT PRIMARY KEY, events INTEGER NOT NULL);
";

/// Replaces `path` with a new SQLite warehouse holding `publication` and the dead-letter summary.
pub async fn write(path: &Path, publication: &Publication, dead_letters: &DeadLetters) -> sqlx::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
        _ => {}
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut db = SqliteConnection::connect_with(&options).await?;
    let mut tx = db.begin().await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
    let computed_at = chrono::Utc::now().to_rfc3339();
    for i in CATALOGUE {
        sqlx::query("INSERT INTO indicator_catalogue VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(i.id)
            .bind(i.title)
            .bind(i.unit)
            .bind(i.direction.code())
            .bind(i.target)
            .bind(i.description)
            .bind(i.method.describe())
            .execute(&mut *tx)
            .await?;
    }
    for v in &publication.published {
        sqlx::query("INSERT INTO indicator_values_published VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(v.indicator)
            .bind(v.period.kind.code())
            .bind(v.period.end.to_string())
            .bind(v.stratum.kind.code())
            .bind(v.stratum.value)
            .bind(v.numerator)
            .bind(v.denominator)
            .bind(v.value)
            .bind(v.limits95.map(|l| l.0))
            .bind(v.limits95.map(|l| l.1))
            .bind(v.limits998.map(|l| l.0))
            .bind(v.limits998.map(|l| l.1))
            .bind(v.suppressed)
            .bind(&computed_at)
            .execute(&mut *tx)
            .await?;
    }
    for r in &publication.spc {
        sqlx::query("INSERT INTO indicator_spc VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(r.indicator)
            .bind(r.stratum.kind.code())
            .bind(r.stratum.value)
            .bind(r.period_end.to_string())
            .bind(r.value)
            .bind(r.mean)
            .bind(r.lower_limit)
            .bind(r.upper_limit)
            .bind(r.special_cause)
            .bind(r.variation_icon)
            .bind(r.assurance_icon)
            .bind(&computed_at)
            .execute(&mut *tx)
            .await?;
    }
    for (reason, events) in &dead_letters.by_reason {
        sqlx::query("INSERT INTO dead_letters VALUES (?, ?)")
            .bind(*reason)
            .bind(*events as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    db.close().await
}
