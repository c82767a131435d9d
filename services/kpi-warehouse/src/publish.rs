//! The publisher's side of the warehouse: counts in, values and the catalogue out, each write
//! one transaction so that readers never see half a refresh.

use chrono::{DateTime, NaiveDate, Utc};
use kpi_core::contrib::{Counts, Key, Tally};
use kpi_core::indicators::{counted_cell, CATALOGUE};
use kpi_core::period::{Period, PeriodKind};
use kpi_core::spc::SpcRow;
use kpi_core::strata::{Stratum, StratumType};
use kpi_core::values::{IndicatorValue, PublishedValue};
use sqlx::{PgPool, Row};

use crate::WarehouseError;

/// The version of the counts: raised by every engine commit that changes the counts or the
/// horizon, in commit order (migration 0007 says why not a timestamp).
pub async fn counts_version(pool: &PgPool) -> Result<i64, WarehouseError> {
    Ok(sqlx::query_scalar("SELECT version FROM counts_version").fetch_one(pool).await?)
}

/// The counts, the horizon and the version they are at, read from one snapshot.
pub struct CountsSnapshot {
    pub version: i64,
    /// The latest event date the engine has applied; `None` before its first event.
    pub horizon: Option<NaiveDate>,
    /// Every non-zero count.
    pub counts: Counts,
}

/// Reads the counts, the horizon and their version in one read-only repeatable-read
/// transaction, so that the version names exactly the counts read.
pub async fn read_snapshot(pool: &PgPool) -> Result<CountsSnapshot, WarehouseError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let version = sqlx::query_scalar("SELECT version FROM counts_version").fetch_one(&mut *tx).await?;
    let horizon = sqlx::query_scalar("SELECT latest_event_date FROM data_horizon").fetch_optional(&mut *tx).await?;
    let rows = sqlx::query(
        "SELECT indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator
         FROM indicator_counts WHERE numerator <> 0 OR denominator <> 0",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(CountsSnapshot { version, horizon, counts: counts_from_rows(rows)? })
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

/// Inserts one values table; only the published one has the `suppressed` column.
async fn insert_values(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &'static str,
    c: &ValueColumns,
    with_suppressed: bool,
    computed_at: DateTime<Utc>,
) -> Result<(), WarehouseError> {
    let columns = "indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator, value, \
                   lower95, upper95, lower998, upper998";
    let suppressed = if with_suppressed { ", suppressed" } else { "" };
    let sql = format!(
        "INSERT INTO {table} ({columns}{suppressed}, computed_at)
         SELECT {columns}{suppressed}, $14 FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
             $6::bigint[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[],
             $13::bool[]) AS t({columns}, suppressed)"
    );
    sqlx::query(&sql)
        .bind(&c.indicator)
        .bind(&c.kind)
        .bind(&c.end)
        .bind(&c.stratum_type)
        .bind(&c.stratum_value)
        .bind(&c.numerator)
        .bind(&c.denominator)
        .bind(&c.value)
        .bind(&c.lower95)
        .bind(&c.upper95)
        .bind(&c.lower998)
        .bind(&c.upper998)
        .bind(&c.suppressed)
        .bind(computed_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn write_spc(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rows: &[SpcRow],
    computed_at: DateTime<Utc>,
) -> Result<(), WarehouseError> {
    sqlx::query("DELETE FROM indicator_spc").execute(&mut **tx).await?;
    let column = |f: fn(&SpcRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let indicator: Vec<&str> = rows.iter().map(|r| r.indicator).collect();
    let stratum_type: Vec<&str> = rows.iter().map(|r| r.stratum.kind.code()).collect();
    let stratum_value: Vec<&str> = rows.iter().map(|r| r.stratum.value).collect();
    let end: Vec<NaiveDate> = rows.iter().map(|r| r.period_end).collect();
    let special: Vec<Option<&str>> = rows.iter().map(|r| r.special_cause).collect();
    let variation: Vec<&str> = rows.iter().map(|r| r.variation_icon).collect();
    let assurance: Vec<Option<&str>> = rows.iter().map(|r| r.assurance_icon).collect();
    sqlx::query(
        "INSERT INTO indicator_spc (indicator, stratum_type, stratum_value, period_end, value, mean,
             lower_limit, upper_limit, special_cause, variation_icon, assurance_icon, computed_at)
         SELECT *, $12 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::date[], $5::float8[], $6::float8[],
             $7::float8[], $8::float8[], $9::text[], $10::text[], $11::text[])",
    )
    .bind(&indicator)
    .bind(&stratum_type)
    .bind(&stratum_value)
    .bind(&end)
    .bind(column(|r| r.value))
    .bind(column(|r| r.mean))
    .bind(column(|r| r.lower_limit))
    .bind(column(|r| r.upper_limit))
    .bind(&special)
    .bind(&variation)
    .bind(&assurance)
    .bind(computed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Columns of a values table, filled row by row and bound as arrays.
#[derive(Default)]
struct ValueColumns {
    indicator: Vec<&'static str>,
    kind: Vec<&'static str>,
    end: Vec<NaiveDate>,
    stratum_type: Vec<&'static str>,
    stratum_value: Vec<&'static str>,
    numerator: Vec<Option<i64>>,
    denominator: Vec<Option<f64>>,
    value: Vec<Option<f64>>,
    lower95: Vec<Option<f64>>,
    upper95: Vec<Option<f64>>,
    lower998: Vec<Option<f64>>,
    upper998: Vec<Option<f64>>,
    suppressed: Vec<bool>,
}

impl ValueColumns {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        indicator: &'static str,
        period: Period,
        stratum: Stratum,
        numerator: Option<i64>,
        denominator: Option<f64>,
        value: Option<f64>,
        limits95: Option<(f64, f64)>,
        limits998: Option<(f64, f64)>,
        suppressed: bool,
    ) {
        self.indicator.push(indicator);
        self.kind.push(period.kind.code());
        self.end.push(period.end);
        self.stratum_type.push(stratum.kind.code());
        self.stratum_value.push(stratum.value);
        self.numerator.push(numerator);
        self.denominator.push(denominator);
        self.value.push(value);
        self.lower95.push(limits95.map(|l| l.0));
        self.upper95.push(limits95.map(|l| l.1));
        self.lower998.push(limits998.map(|l| l.0));
        self.upper998.push(limits998.map(|l| l.1));
        self.suppressed.push(suppressed);
    }
}

/// Replaces `indicator_values`, `indicator_values_published` and `indicator_spc`, and records
/// in `publication` the counts version they were computed from, in one transaction.
pub async fn write_values(
    pool: &PgPool,
    values: &[IndicatorValue],
    published: &[PublishedValue],
    spc: &[SpcRow],
    counts_version: i64,
    computed_at: DateTime<Utc>,
) -> Result<(), WarehouseError> {
    let mut restricted = ValueColumns::default();
    for v in values {
        restricted.push(
            v.indicator,
            v.period,
            v.stratum,
            Some(v.numerator),
            v.denominator,
            v.value,
            v.limits95,
            v.limits998,
            false,
        );
    }
    let mut public = ValueColumns::default();
    for v in published {
        public.push(
            v.indicator,
            v.period,
            v.stratum,
            v.numerator,
            v.denominator,
            v.value,
            v.limits95,
            v.limits998,
            v.suppressed,
        );
    }
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM indicator_values").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM indicator_values_published").execute(&mut *tx).await?;
    insert_values(&mut tx, "indicator_values", &restricted, false, computed_at).await?;
    insert_values(&mut tx, "indicator_values_published", &public, true, computed_at).await?;
    write_spc(&mut tx, spc, computed_at).await?;
    sqlx::query(
        "INSERT INTO publication (counts_version, computed_at) VALUES ($1, $2)
         ON CONFLICT (singleton) DO UPDATE SET counts_version = EXCLUDED.counts_version, computed_at = EXCLUDED.computed_at",
    )
    .bind(counts_version)
    .bind(computed_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
