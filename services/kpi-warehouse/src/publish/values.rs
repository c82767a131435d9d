//! The end of the publisher's refresh: the values and SPC points it computed, written to
//! `indicator_values`, `indicator_values_published` and `indicator_spc` in one transaction.
//! Only the rows that differ from what this publisher wrote last are written, when the tables
//! still hold that; otherwise the three tables are replaced whole.
//!
//! Why not replace them every time: while the engine catches up on a backlog, a refresh every
//! couple of seconds rewrote some 100,000 rows each time (and left as many dead ones), a fifth
//! of PostgreSQL's work in a `kpi bench` end to end, where most of those rows had not changed.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, NaiveDate, SubsecRound as _, Utc};
use kpi_core::period::Period;
use kpi_core::spc::SpcRow;
use kpi_core::strata::Stratum;
use kpi_core::values::{IndicatorValue, PublishedValue};
use sqlx::{PgPool, Postgres, Transaction};

use crate::WarehouseError;

/// What a refresh publishes: the rows of the three tables.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub values: Vec<IndicatorValue>,
    pub published: Vec<PublishedValue>,
    pub spc: Vec<SpcRow>,
}

/// What one publisher wrote last, kept to write only what changes next time.
#[derive(Debug)]
pub struct Written {
    counts_version: i64,
    /// As stored: to the microsecond.
    computed_at: DateTime<Utc>,
    rows: Rows,
}

impl Written {
    pub fn rows(&self) -> &Rows {
        &self.rows
    }
}

/// How much a write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// The three tables were replaced whole (the first write, or another writer wrote since).
    pub whole: bool,
    /// Rows inserted or updated, over the three tables.
    pub upserted: usize,
    pub deleted: usize,
}

/// Writes `rows`, computed from `counts_version`, and records that version in `publication`, in
/// one transaction. With `last` (this publisher's previous write) and the tables still as it
/// left them (`publication` names its version and time), only rows that differ are written:
/// changed ones updated, new ones inserted, vanished ones deleted; an unchanged row keeps the
/// `computed_at` of the refresh that last changed it. Otherwise the tables are replaced whole.
pub async fn write_values(
    pool: &PgPool,
    rows: Rows,
    counts_version: i64,
    computed_at: DateTime<Utc>,
    last: Option<&Written>,
) -> Result<(Written, WriteSummary), WarehouseError> {
    // timestamptz keeps microseconds: what is kept must compare equal to what is read back.
    let computed_at = computed_at.trunc_subsecs(6);
    let mut tx = pool.begin().await?;
    // Locked to the commit: two publishers writing at once take turns, and each sees whether
    // the other wrote since its own last write.
    let stored: Option<(i64, DateTime<Utc>)> =
        sqlx::query_as("SELECT counts_version, computed_at FROM publication FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
    let last = last.filter(|last| stored == Some((last.counts_version, last.computed_at)));
    let summary = match last {
        Some(last) => write_changes(&mut tx, &last.rows, &rows, computed_at).await?,
        None => write_whole(&mut tx, &rows, computed_at).await?,
    };
    sqlx::query(
        "INSERT INTO publication (counts_version, computed_at) VALUES ($1, $2)
         ON CONFLICT (singleton) DO UPDATE SET counts_version = EXCLUDED.counts_version, computed_at = EXCLUDED.computed_at",
    )
    .bind(counts_version)
    .bind(computed_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((Written { counts_version, computed_at, rows }, summary))
}

async fn write_whole(
    tx: &mut Transaction<'_, Postgres>,
    rows: &Rows,
    computed_at: DateTime<Utc>,
) -> Result<WriteSummary, WarehouseError> {
    let mut deleted = 0;
    for table in ["indicator_values", "indicator_values_published", "indicator_spc"] {
        deleted += sqlx::query(&format!("DELETE FROM {table}")).execute(&mut **tx).await?.rows_affected() as usize;
    }
    let restricted: Vec<&IndicatorValue> = rows.values.iter().collect();
    let published: Vec<&PublishedValue> = rows.published.iter().collect();
    let spc: Vec<&SpcRow> = rows.spc.iter().collect();
    upsert_values(tx, &ValueColumns::restricted(&restricted), computed_at).await?;
    upsert_values(tx, &ValueColumns::published(&published), computed_at).await?;
    upsert_spc(tx, &spc, computed_at).await?;
    Ok(WriteSummary { whole: true, upserted: restricted.len() + published.len() + spc.len(), deleted })
}

async fn write_changes(
    tx: &mut Transaction<'_, Postgres>,
    before: &Rows,
    after: &Rows,
    computed_at: DateTime<Utc>,
) -> Result<WriteSummary, WarehouseError> {
    let value_key = |v: &IndicatorValue| (v.indicator, v.period, v.stratum);
    let published_key = |v: &PublishedValue| (v.indicator, v.period, v.stratum);
    let spc_key = |r: &SpcRow| (r.indicator, r.stratum, r.period_end);
    let values = Changes::between(&before.values, &after.values, value_key);
    let published = Changes::between(&before.published, &after.published, published_key);
    let spc = Changes::between(&before.spc, &after.spc, spc_key);

    let gone: Vec<_> = values.gone.iter().copied().map(value_key).collect();
    delete_values(tx, "indicator_values", &gone).await?;
    let gone: Vec<_> = published.gone.iter().copied().map(published_key).collect();
    delete_values(tx, "indicator_values_published", &gone).await?;
    let gone: Vec<_> = spc.gone.iter().copied().map(spc_key).collect();
    delete_spc(tx, &gone).await?;
    upsert_values(tx, &ValueColumns::restricted(&values.changed), computed_at).await?;
    upsert_values(tx, &ValueColumns::published(&published.changed), computed_at).await?;
    upsert_spc(tx, &spc.changed, computed_at).await?;
    Ok(WriteSummary {
        whole: false,
        upserted: values.changed.len() + published.changed.len() + spc.changed.len(),
        deleted: values.gone.len() + published.gone.len() + spc.gone.len(),
    })
}

/// The rows of `after` that are new or differ from `before`, and the rows of `before` whose key
/// is not in `after`.
struct Changes<'a, T> {
    changed: Vec<&'a T>,
    gone: Vec<&'a T>,
}

impl<'a, T: PartialEq> Changes<'a, T> {
    fn between<K: Hash + Eq>(before: &'a [T], after: &'a [T], key: impl Fn(&T) -> K) -> Self {
        // A refresh computes its rows in the same order as the one before (only new months
        // differ): rows are paired off in step while their keys agree, and only the rest are
        // matched by key, which hashing every row made a tenth of a refresh.
        let in_step = before.iter().zip(after).take_while(|(b, a)| key(b) == key(a)).count();
        // A NaN never equals itself: such a row is written every time, which is only slower.
        let mut changed: Vec<&T> =
            before[..in_step].iter().zip(&after[..in_step]).filter(|(b, a)| b != a).map(|(_, a)| a).collect();
        let mut earlier: HashMap<K, &T> = before[in_step..].iter().map(|row| (key(row), row)).collect();
        changed.extend(after[in_step..].iter().filter(|row| earlier.remove(&key(row)) != Some(*row)));
        Changes { changed, gone: earlier.into_values().collect() }
    }
}

type ValueKey = (&'static str, Period, Stratum);

async fn delete_values(
    tx: &mut Transaction<'_, Postgres>,
    table: &'static str,
    keys: &[ValueKey],
) -> Result<(), WarehouseError> {
    if keys.is_empty() {
        return Ok(());
    }
    let indicator: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let kind: Vec<&str> = keys.iter().map(|k| k.1.kind.code()).collect();
    let end: Vec<NaiveDate> = keys.iter().map(|k| k.1.end).collect();
    let stratum_type: Vec<&str> = keys.iter().map(|k| k.2.kind.code()).collect();
    let stratum_value: Vec<&str> = keys.iter().map(|k| k.2.value).collect();
    sqlx::query(&format!(
        "DELETE FROM {table} t
         USING UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::text[]) AS k(i, pk, pe, st, sv)
         WHERE t.indicator = k.i AND t.period_kind = k.pk AND t.period_end = k.pe
           AND t.stratum_type = k.st AND t.stratum_value = k.sv"
    ))
    .bind(&indicator)
    .bind(&kind)
    .bind(&end)
    .bind(&stratum_type)
    .bind(&stratum_value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn delete_spc(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[(&'static str, Stratum, NaiveDate)],
) -> Result<(), WarehouseError> {
    if keys.is_empty() {
        return Ok(());
    }
    let indicator: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let stratum_type: Vec<&str> = keys.iter().map(|k| k.1.kind.code()).collect();
    let stratum_value: Vec<&str> = keys.iter().map(|k| k.1.value).collect();
    let end: Vec<NaiveDate> = keys.iter().map(|k| k.2).collect();
    sqlx::query(
        "DELETE FROM indicator_spc t
         USING UNNEST($1::text[], $2::text[], $3::text[], $4::date[]) AS k(i, st, sv, pe)
         WHERE t.indicator = k.i AND t.stratum_type = k.st AND t.stratum_value = k.sv AND t.period_end = k.pe",
    )
    .bind(&indicator)
    .bind(&stratum_type)
    .bind(&stratum_value)
    .bind(&end)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts or updates rows of one values table; only the published one has `suppressed`.
async fn upsert_values(
    tx: &mut Transaction<'_, Postgres>,
    c: &ValueColumns,
    computed_at: DateTime<Utc>,
) -> Result<(), WarehouseError> {
    if c.indicator.is_empty() {
        return Ok(());
    }
    let (table, with_suppressed) = (c.table, c.published);
    let columns = "indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator, value, \
                   lower95, upper95, lower998, upper998";
    let suppressed = if with_suppressed { ", suppressed" } else { "" };
    let sql = format!(
        "INSERT INTO {table} ({columns}{suppressed}, computed_at)
         SELECT {columns}{suppressed}, $14 FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
             $6::bigint[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[],
             $13::bool[]) AS t({columns}, suppressed)
         ON CONFLICT (indicator, period_kind, period_end, stratum_type, stratum_value) DO UPDATE
         SET numerator = EXCLUDED.numerator, denominator = EXCLUDED.denominator, value = EXCLUDED.value,
             lower95 = EXCLUDED.lower95, upper95 = EXCLUDED.upper95,
             lower998 = EXCLUDED.lower998, upper998 = EXCLUDED.upper998{suppressed_update},
             computed_at = EXCLUDED.computed_at",
        suppressed_update = if with_suppressed { ", suppressed = EXCLUDED.suppressed" } else { "" },
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

async fn upsert_spc(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[&SpcRow],
    computed_at: DateTime<Utc>,
) -> Result<(), WarehouseError> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&SpcRow) -> f64| rows.iter().map(|r| f(r)).collect::<Vec<f64>>();
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
             $7::float8[], $8::float8[], $9::text[], $10::text[], $11::text[])
         ON CONFLICT (indicator, stratum_type, stratum_value, period_end) DO UPDATE
         SET value = EXCLUDED.value, mean = EXCLUDED.mean, lower_limit = EXCLUDED.lower_limit,
             upper_limit = EXCLUDED.upper_limit, special_cause = EXCLUDED.special_cause,
             variation_icon = EXCLUDED.variation_icon, assurance_icon = EXCLUDED.assurance_icon,
             computed_at = EXCLUDED.computed_at",
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
    table: &'static str,
    /// The published table, the only one with a `suppressed` column.
    published: bool,
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
    fn restricted(rows: &[&IndicatorValue]) -> Self {
        let mut c = ValueColumns { table: "indicator_values", ..ValueColumns::default() };
        for v in rows {
            c.push(
                v.indicator,
                v.period,
                v.stratum,
                Some(v.numerator),
                v.denominator,
                v.value,
                v.limits95,
                v.limits998,
            );
            c.suppressed.push(false);
        }
        c
    }

    fn published(rows: &[&PublishedValue]) -> Self {
        let mut c = ValueColumns { table: "indicator_values_published", published: true, ..ValueColumns::default() };
        for v in rows {
            c.push(v.indicator, v.period, v.stratum, v.numerator, v.denominator, v.value, v.limits95, v.limits998);
            c.suppressed.push(v.suppressed);
        }
        c
    }

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
    }
}

#[cfg(test)]
mod tests {
    use super::Changes;

    type Row = (u8, i32);

    /// The rows changed and gone, each sorted.
    fn between(before: &[Row], after: &[Row]) -> (Vec<Row>, Vec<Row>) {
        let changes = Changes::between(before, after, |row| row.0);
        let mut changed: Vec<_> = changes.changed.into_iter().copied().collect();
        let mut gone: Vec<_> = changes.gone.into_iter().copied().collect();
        changed.sort();
        gone.sort();
        (changed, gone)
    }

    #[test]
    fn rows_in_step_then_out_of_step_are_each_matched_by_key() {
        let before = [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)];
        // In step for two rows (one changed), then 3 gone, 5 before 4, 4 changed, 6 new.
        let after = [(1, 10), (2, 21), (5, 50), (4, 41), (6, 60)];
        assert_eq!(between(&before, &after), (vec![(2, 21), (4, 41), (6, 60)], vec![(3, 30)]));
    }

    #[test]
    fn identical_rows_change_nothing_and_a_longer_list_adds_its_tail() {
        let before = [(1, 10), (2, 20)];
        assert_eq!(between(&before, &before), (vec![], vec![]));
        assert_eq!(between(&before, &[(1, 10), (2, 20), (3, 30)]), (vec![(3, 30)], vec![]));
        assert_eq!(between(&[(1, 10), (2, 20), (3, 30)], &before), (vec![], vec![(3, 30)]));
    }
}
