//! The warehouse end of the data flow: the PostgreSQL schema (`migrations/`, the contract that
//! Grafana and analysts read) and every query the engine and publisher run, so that SQL lives in
//! one place.
//!
//! # Layout
//!
//! - [`engine`]: the engine's batch transaction: de-duplication, retractions, person state,
//!   count deltas and fenced partition offsets.
//! - [`publish`]: the publisher's reads of counts and writes of values and the catalogue.

pub mod engine;
pub mod publish;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// The migrations embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("the PostgreSQL URL is not valid: {0} (expected postgres://USER@HOST:PORT/DATABASE)")]
    BadUrl(#[source] sqlx::Error),
    #[error("PostgreSQL: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrating the warehouse failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("partition {partition} of {topic} was taken over by another engine instance")]
    Fenced { topic: String, partition: i32 },
    #[error("stored person state could not be read: {0}")]
    CorruptState(#[from] serde_json::Error),
    #[error("the warehouse holds a value this version does not know: {0}")]
    UnknownLabel(String),
}

/// A pool that connects lazily, so that a service starts (and reports not-ready) while the
/// database is down, and recovers by itself when it comes back.
///
/// Its sessions run without PostgreSQL's JIT compiler: the services' statements are short and
/// repeated, and with the warehouse's tables large (or their statistics missing) the planner's
/// estimates pass `jit_above_cost`, so that statements were compiled afresh in every batch
/// (LLVM was a tenth of PostgreSQL's CPU in the engine phase of a bench run, stop 24).
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, WarehouseError> {
    let options = PgConnectOptions::from_str(url).map_err(WarehouseError::BadUrl)?.options([("jit", "off")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// Applies any migration not yet applied.
pub async fn migrate(pool: &PgPool) -> Result<(), WarehouseError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether PostgreSQL's autovacuum is on. Off, nothing refreshes the tables' statistics, and
/// the plans of the engine's reads degrade as `events_seen` grows (see `engine::load_persons`).
pub async fn autovacuum_is_on(pool: &PgPool) -> Result<bool, WarehouseError> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('autovacuum')").fetch_one(pool).await?;
    Ok(setting == "on")
}

/// Whether the database answers (for `/readyz`).
pub async fn is_ready(pool: &PgPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
