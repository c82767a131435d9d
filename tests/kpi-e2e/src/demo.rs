//! `kpi demo` against the full path: the demo runs the same synthetic feed through in-process
//! queues into an SQLite file; what it publishes, and the table it prints, must be what the
//! Kafka/PostgreSQL pipeline published from the same events.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgPool, Row, SqliteConnection};

use crate::pipeline::kpi_bin;

/// A published value: key (indicator, period kind, period end, stratum type, stratum) →
/// (numerator, denominator, value, lower95, upper95, lower998, upper998, suppressed).
pub type Published = BTreeMap<PublishedKey, PublishedRow>;
pub type PublishedKey = (String, String, String, String, String);
pub type PublishedRow = (Option<i64>, [Option<f64>; 6], bool);
/// An SPC point: key (indicator, stratum type, stratum, period end) → (value, mean, lower,
/// upper, special cause, variation icon, assurance icon).
pub type Spc = BTreeMap<SpcKey, SpcPoint>;
pub type SpcKey = (String, String, String, String);
pub type SpcPoint = ([f64; 4], Option<String>, String, Option<String>);

const PUBLISHED: &str =
    "SELECT indicator, period_kind, CAST(period_end AS TEXT), stratum_type, stratum_value, numerator,
     denominator, value, lower95, upper95, lower998, upper998, suppressed FROM indicator_values_published";
const SPC: &str = "SELECT indicator, stratum_type, stratum_value, CAST(period_end AS TEXT), value, mean, lower_limit,
     upper_limit, special_cause, variation_icon, assurance_icon FROM indicator_spc";

/// What one `kpi demo` run printed and wrote.
pub struct DemoRun {
    pub stdout: String,
    pub published: Published,
    pub spc: Spc,
    pub dead_letters: BTreeMap<String, i64>,
}

/// Runs `kpi demo` with these feed arguments, writing its warehouse in `dir`.
pub async fn run_demo(dir: &Path, feed_args: &[&str]) -> DemoRun {
    let warehouse = dir.join("demo.sqlite");
    let output = Command::new(kpi_bin())
        .arg("demo")
        .args(feed_args)
        .args(["--metrics-listen", "127.0.0.1:0", "--warehouse"])
        .arg(&warehouse)
        .current_dir(dir)
        .output()
        .expect("running kpi demo");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 table");
    assert!(output.status.success(), "kpi demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let mut db = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&warehouse).read_only(true))
        .await
        .expect("opening the demo's SQLite warehouse");
    let published = sqlx::query(PUBLISHED).fetch_all(&mut db).await.expect("demo published values");
    let spc = sqlx::query(SPC).fetch_all(&mut db).await.expect("demo SPC");
    let dead_letters = sqlx::query("SELECT reason, events FROM dead_letters").fetch_all(&mut db).await.unwrap();
    DemoRun {
        stdout,
        published: published.iter().map(published_row).collect(),
        spc: spc.iter().map(spc_row).collect(),
        dead_letters: dead_letters.iter().map(|r| (r.get(0), r.get(1))).collect(),
    }
}

/// The warehouse's published values and SPC points, read the same way.
pub async fn warehouse_publication(pool: &PgPool) -> (Published, Spc) {
    let published = sqlx::query(PUBLISHED).fetch_all(pool).await.expect("published values");
    let spc = sqlx::query(SPC).fetch_all(pool).await.expect("SPC points");
    (published.iter().map(published_row).collect(), spc.iter().map(spc_row).collect())
}

fn published_row<'r, R: Row>(r: &'r R) -> (PublishedKey, PublishedRow)
where
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let numbers = [r.get(6), r.get(7), r.get(8), r.get(9), r.get(10), r.get(11)];
    ((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)), (r.get(5), numbers, r.get(12)))
}

fn spc_row<'r, R: Row>(r: &'r R) -> (SpcKey, SpcPoint)
where
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    (
        (r.get(0), r.get(1), r.get(2), r.get(3)),
        ([r.get(4), r.get(5), r.get(6), r.get(7)], r.get(8), r.get(9), r.get(10)),
    )
}

/// The printed table's rows, by indicator id: its cells after the id, trimmed.
pub fn table_rows(stdout: &str) -> BTreeMap<String, Vec<String>> {
    stdout
        .lines()
        .filter(|line| line.starts_with('│'))
        .map(|line| line.trim_matches('│').split('┆').map(|cell| cell.trim().to_owned()).collect::<Vec<_>>())
        .filter(|cells| cells.len() > 3 && cells[0] != "Indicator")
        .map(|mut cells| (cells.remove(0), cells))
        .collect()
}

/// Checks the printed table against published rows: for each indicator, the latest month of
/// the `all` stratum, its value to the one decimal shown, and the SPC variation reading.
pub fn assert_table_shows(stdout: &str, published: &Published, spc: &Spc) {
    let rows = table_rows(stdout);
    assert_eq!(rows.len(), kpi_core::indicators::CATALOGUE.len(), "one table row per indicator:\n{stdout}");
    let mut checked = 0;
    for (id, cells) in &rows {
        let latest = published
            .iter()
            .filter(|((i, kind, _, stratum, _), _)| i == id && kind == "month" && stratum == "all")
            .max_by(|a, b| a.0 .2.cmp(&b.0 .2));
        let Some(((_, _, end, _, _), (_, numbers, _))) = latest else { continue };
        assert_eq!(cells[1], end[..7], "{id}: month shown");
        if let Some(value) = numbers[1] {
            let shown: f64 =
                cells[2].split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("{id}: {cells:?}"));
            assert!((shown - value).abs() <= 0.05 + 1e-9, "{id}: table shows {shown}, warehouse has {value}");
            checked += 1;
        }
        let point = spc.get(&(id.clone(), "all".to_owned(), "all".to_owned(), end.clone()));
        let variation = point.map_or("no chart".to_owned(), |p| p.2.replace('_', " "));
        assert_eq!(cells[5], variation, "{id}: variation shown");
    }
    assert!(checked >= 20, "only {checked} indicators had a latest value to compare:\n{stdout}");
}
