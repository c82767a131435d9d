//! `kpi bench`, the SQL batch peer, beside the data flow: the same raw events loaded into
//! PostgreSQL with COPY and turned into every catalogue indicator's counts by SQL queries
//! (`sql_peer.sql`), for every breakdown, timed, then checked cell by cell against the pipeline's
//! `indicator_values` (`sql_peer_compare.sql`): numerators, and denominators where they are
//! counted from events. Population denominators (rates per population, their ratio, dementia
//! prevalence) are reference data, so only those indicators' numerators are compared.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kpi_core::indicators::{Method, CATALOGUE};
use kpi_core::strata::StratumType;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::{PgPool, Row};

use super::report::SqlPeer;

/// The indicators the SQL peer computes: the whole catalogue (`docs/indicators.md`), in its
/// order. An indicator added to the catalogue but not to `sql_peer.sql` shows up as differing
/// cells, since the peer has none for it.
fn indicators() -> Vec<&'static str> {
    CATALOGUE.iter().map(|i| i.id).collect()
}

/// Those whose denominator is counted from events, and compared too: the percentages (their
/// cohort) and the rates per counted measure (people with an open referral, bed days). The
/// others' denominators are populations from the reference files.
fn counted_denominators() -> Vec<&'static str> {
    CATALOGUE
        .iter()
        .filter(|i| matches!(i.method, Method::Percentage { .. } | Method::RatePer { .. }))
        .map(|i| i.id)
        .collect()
}

/// The breakdowns the SQL peer computes and compares: all of them.
fn strata() -> Vec<&'static str> {
    StratumType::ALL.iter().map(|t| t.code()).collect()
}

/// Rows per COPY message.
const COPY_CHUNK: usize = 1 << 20;

pub async fn run(pool: &PgPool, feed: &Path, lines: u64) -> anyhow::Result<SqlPeer> {
    let started = Instant::now();
    let loaded = load(pool, feed, lines).await.context("loading the raw events into PostgreSQL")?;
    let load_seconds = started.elapsed().as_secs_f64();

    let bar = super::wait::spinner("SQL peer");
    bar.set_message(format!("computing {} indicators from {loaded} events", CATALOGUE.len()));
    let queries = Instant::now();
    sqlx::raw_sql(include_str!("sql_peer.sql")).execute(pool).await.context("running the SQL peer's queries")?;
    let query_seconds = queries.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let rows = sqlx::query(include_str!("sql_peer_compare.sql"))
        .bind(indicators())
        .bind(counted_denominators())
        .bind(strata())
        .fetch_all(pool)
        .await
        .context("comparing the SQL peer with indicator_values")?;
    let differing: Vec<String> = rows.iter().filter(|r| r.get::<bool, _>(0)).map(|r| r.get::<String, _>(1)).collect();
    Ok(SqlPeer {
        load_seconds,
        query_seconds,
        seconds: load_seconds + query_seconds,
        indicators: indicators(),
        strata: strata(),
        cells_compared: rows.len() as u64,
        mismatches: differing.len() as u64,
        mismatch_examples: differing.into_iter().take(10).collect(),
    })
}

/// COPYs every line the contract accepts into `bench_raw (line, body jsonb)`. Lines ingest would
/// refuse are left out here as ingest leaves them out (same check, `kpi_core::validate::decode`),
/// and the time to check them is counted in the load.
async fn load(pool: &PgPool, feed: &Path, lines: u64) -> anyhow::Result<u64> {
    // UNLOGGED: a batch job reloads its input rather than recovering it, as the pipeline replays
    // its topic.
    sqlx::raw_sql("CREATE UNLOGGED TABLE bench_raw (line bigint NOT NULL, body jsonb NOT NULL)").execute(pool).await?;
    let bar = ProgressBar::new(lines);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} SQL peer: COPY {pos}/{len} lines [{bar:30}] {eta}")
            .expect("valid template"),
    );
    let file = File::open(feed).with_context(|| format!("opening {}", feed.display()))?;
    let mut copy = pool.copy_in_raw("COPY bench_raw (line, body) FROM STDIN WITH (FORMAT csv)").await?;
    let mut chunk = Vec::with_capacity(COPY_CHUNK + 4096);
    let mut loaded = 0u64;
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        bar.inc(1);
        if kpi_core::validate::decode(&line, None).is_err() {
            continue;
        }
        csv_row(&mut chunk, n as u64, &line);
        loaded += 1;
        if chunk.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut chunk)).await?;
        }
    }
    if !chunk.is_empty() {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    bar.finish_and_clear();
    Ok(loaded)
}

/// One CSV row `n,"body"`, with the body's quotes doubled.
fn csv_row(out: &mut Vec<u8>, n: u64, body: &[u8]) {
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b",\"");
    for &b in body {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.extend_from_slice(b"\"\n");
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_rows_double_quotes() {
        let mut out = Vec::new();
        super::csv_row(&mut out, 7, br#"{"a":"b\"c"}"#);
        assert_eq!(out, b"7,\"{\"\"a\"\":\"\"b\\\"\"c\"\"}\"\n".to_vec());
    }
}
