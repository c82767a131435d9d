//! The publisher's side of the warehouse: counts in, values and the catalogue out, each write
//! one transaction so that readers never see half a refresh.
//!
//! - [`values`]: writing a refresh's values and SPC points (only what changed, where it can).

mod values;

pub use values::{write_values, Rows, WriteSummary, Written};

use chrono::NaiveDate;
use kpi_core::contrib::{Counts, Key, Tally};
use kpi_core::indicators::{counted_cell, CATALOGUE};
use kpi_core::period::{Period, PeriodKind};
use kpi_core::strata::{Stratum, StratumType};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};

use crate::WarehouseError;

/// The version of the counts: raised by every engine commit that changes the counts or the
/// horizon, in commit order (migration 0007 says why not a timestamp).
pub async fn counts_version(pool: &PgPool) -> Result<i64, WarehouseError> {
    Ok(sqlx::query_scalar("SELECT version FROM counts_version").fetch_one(pool).await?)
}

/// The channel every commit that raises `counts_version` notifies, when it commits (migration
/// 0010); the payload is the new version.
pub const COUNTS_CHANGED: &str = "kpi_counts_changed";

/// Listens on [`COUNTS_CHANGED`] over a connection of its own, so that waiting for a
/// notification never holds a connection the refreshes need.
pub async fn listen_counts_changed(url: &str) -> Result<PgListener, WarehouseError> {
    let own = crate::pool(url, 1)?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(COUNTS_CHANGED).await?;
    Ok(listener)
}

/// The counts, the horizon and the version they are at, read from one snapshot.
pub struct CountsSnapshot {
    pub version: i64,
    /// The latest event date the engine has applied; `None` before its first event.
    pub horizon: Option<NaiveDate>,
    /// Every non-zero count, or with [`read_changes`] every count changed since the version
    /// given, zeros included (a count that went back to zero must leave what the reader keeps).
    pub counts: Counts,
}

/// Reads every non-zero count, the horizon and their version in one read-only repeatable-read
/// transaction, so that the version names exactly the counts read.
pub async fn read_snapshot(pool: &PgPool) -> Result<CountsSnapshot, WarehouseError> {
    read(pool, None).await
}

/// As [`read_snapshot`], but only the count rows changed by the commits after version `since`
/// (each row names the version of the commit that last changed it, migration 0011): a few
/// thousand rows a batch at a steady rate, instead of every count.
pub async fn read_changes(pool: &PgPool, since: i64) -> Result<CountsSnapshot, WarehouseError> {
    read(pool, Some(since)).await
}

async fn read(pool: &PgPool, since: Option<i64>) -> Result<CountsSnapshot, WarehouseError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let version = sqlx::query_scalar("SELECT version FROM counts_version").fetch_one(&mut *tx).await?;
    let horizon = sqlx::query_scalar("SELECT latest_event_date FROM data_horizon").fetch_optional(&mut *tx).await?;
    let columns = "SELECT indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator
                   FROM indicator_counts";
    let rows = match since {
        None => sqlx::query(&format!("{columns} WHERE numerator <> 0 OR denominator <> 0")).fetch_all(&mut *tx).await?,
        Some(since) => {
            sqlx::query(&format!("{columns} WHERE changed_in_version > $1")).bind(since).fetch_all(&mut *tx).await?
        }
    };
    tx.commit().await?;
    Ok(CountsSnapshot { version, horizon, counts: counts_from_rows(rows)? })
}

/// The counts as a publisher last read them, kept between refreshes: each refresh reads only
/// the rows changed since (migration 0011) and applies them, instead of reading every count.
#[derive(Debug, Default)]
pub struct KeptCounts {
    /// Nothing read yet (a new publisher, or one told to [`forget`](Self::forget)).
    read: Option<Kept>,
}

#[derive(Debug)]
struct Kept {
    version: i64,
    counts: Counts,
}

/// What [`KeptCounts::refresh`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountsRead {
    pub version: i64,
    pub horizon: Option<NaiveDate>,
    /// Count rows read: every non-zero count when `whole`, else those changed since the last read.
    pub rows: usize,
    pub whole: bool,
}

impl KeptCounts {
    /// Brings the kept counts up to the warehouse's current version: every count on the first
    /// read, after [`forget`](Self::forget), or when the version has gone back (a database
    /// restored from a backup); otherwise only the rows changed since the last read.
    pub async fn refresh(&mut self, pool: &PgPool) -> Result<CountsRead, WarehouseError> {
        if let Some(kept) = &mut self.read {
            let changes = read_changes(pool, kept.version).await?;
            if changes.version >= kept.version {
                let rows = changes.counts.len();
                for (key, tally) in changes.counts {
                    if tally.is_zero() {
                        kept.counts.remove(&key);
                    } else {
                        kept.counts.insert(key, tally);
                    }
                }
                kept.version = changes.version;
                return Ok(CountsRead { version: changes.version, horizon: changes.horizon, rows, whole: false });
            }
            tracing::warn!(
                kept = kept.version,
                found = changes.version,
                "the counts version went back (a restored warehouse?): reading every count again"
            );
        }
        self.read = None;
        let whole = read_snapshot(pool).await?;
        let read = CountsRead { version: whole.version, horizon: whole.horizon, rows: whole.counts.len(), whole: true };
        self.read = Some(Kept { version: whole.version, counts: whole.counts });
        Ok(read)
    }

    /// Every non-zero count as of the last [`refresh`](Self::refresh); `None` before the first.
    pub fn counts(&self) -> Option<&Counts> {
        self.read.as_ref().map(|kept| &kept.counts)
    }

    /// Drops what is kept, so that the next refresh reads every count (after a failed refresh,
    /// when what happened to the warehouse meanwhile is unknown).
    pub fn forget(&mut self) {
        self.read = None;
    }
}

/// Count rows with their labels turned back into the core's types.
fn counts_from_rows(rows: Vec<sqlx::postgres::PgRow>) -> Result<Counts, WarehouseError> {
    let mut counts = Counts::with_capacity_and_hasher(rows.len(), Default::default());
    for row in rows {
        let unknown = |what: &str, value: &str| WarehouseError::UnknownLabel(format!("{what} {value:?}"));
        let indicator: String = row.get("indicator");
        let indicator = counted_cell(&indicator).ok_or_else(|| unknown("counted cell", &indicator))?;
        let kind: String = row.get("period_kind");
        let kind = PeriodKind::parse(&kind).ok_or_else(|| unknown("period kind", &kind))?;
        let end: NaiveDate = row.get("period_end");
        let stratum_type: String = row.get("stratum_type");
        let stratum_type = StratumType::parse(&stratum_type).ok_or_else(|| unknown("stratum type", &stratum_type))?;
        let value: String = row.get("stratum_value");
        let value = stratum_type.intern(&value).ok_or_else(|| unknown("stratum", &value))?;
        counts.insert(
            Key { indicator, period: Period { kind, end }, stratum: Stratum { kind: stratum_type, value } },
            Tally { numerator: row.get("numerator"), denominator: row.get("denominator") },
        );
    }
    Ok(counts)
}

/// Replaces the catalogue table with the code's catalogue.
pub async fn write_catalogue(pool: &PgPool) -> Result<(), WarehouseError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM indicator_catalogue").execute(&mut *tx).await?;
    for i in CATALOGUE {
        sqlx::query(
            "INSERT INTO indicator_catalogue (id, title, unit, direction, target, description, method)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
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
    tx.commit().await?;
    Ok(())
}
