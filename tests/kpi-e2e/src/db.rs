//! Test harness for the real database: a fresh PostgreSQL database per test, dropped afterwards.
//!
//! The server is `postgres://postgres@127.0.0.1:5432/postgres` (trust auth) unless
//! `KPI_TEST_PG_URL` names another maintenance database URL; each [`TestDb`] is a new database
//! `kpi_test_<12 hex>` on that server, so tests run in parallel without sharing state.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};

use crate::net::unique_name;

/// The default server and maintenance database.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one test. Dropped (best effort, `WITH (FORCE)`) on drop; set
/// `KPI_KEEP_DB=1` to keep it for inspection.
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

impl TestDb {
    /// Creates `kpi_test_<random>` and returns a handle holding its URL.
    pub async fn fresh() -> TestDb {
        let admin_url = admin_url();
        let name = unique_name("kpi_test");
        let mut admin = connect_admin(&admin_url).await;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        let _ = admin.close().await;
        let url = database_url(&admin_url, &name);
        TestDb { name, url, admin_url, dropped: false }
    }

    /// The database's name, `kpi_test_<random>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for the database, e.g. `postgres://postgres@127.0.0.1:5432/kpi_test_0123456789ab`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A small connection pool to the database.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }

    /// Drops the database now (instead of on drop), terminating its connections.
    pub async fn drop_now(mut self) {
        drop_database(&self.admin_url, &self.name).await;
        self.dropped = true;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        if std::env::var_os("KPI_KEEP_DB").is_some() {
            eprintln!("kpi-e2e: keeping test database {}", self.url);
            return;
        }
        // Drop may run inside or outside a Tokio runtime, and on a current-thread runtime that
        // cannot block: do the work on a thread of its own with a runtime of its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let worker =
            std::thread::spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(drop_database(&admin_url, &name)),
                Err(e) => eprintln!("kpi-e2e: could not drop test database {name}: {e}"),
            });
        let _ = worker.join();
    }
}

/// The maintenance database URL: `KPI_TEST_PG_URL` or [`DEFAULT_PG_URL`].
pub fn admin_url() -> String {
    std::env::var("KPI_TEST_PG_URL").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_PG_URL.to_owned())
}

/// Whether a database of that name exists on the server (for tests of the harness itself).
pub async fn database_exists(name: &str) -> bool {
    let admin_url = admin_url();
    let mut admin = connect_admin(&admin_url).await;
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("query pg_database on {admin_url}: {e}"));
    let _ = admin.close().await;
    found.is_some()
}

async fn connect_admin(admin_url: &str) -> PgConnection {
    let options: PgConnectOptions =
        admin_url.parse().unwrap_or_else(|e| panic!("KPI_TEST_PG_URL / default {admin_url:?} is not a URL: {e}"));
    let options = options.disable_statement_logging();
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "cannot connect to PostgreSQL at {admin_url}: {e}\n\
             is it running? scripts/setup.sh starts it (pg_isready -h 127.0.0.1)"
        ),
        Err(_) => panic!("connecting to PostgreSQL at {admin_url} timed out after 10s"),
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let result = async {
        let options: PgConnectOptions = admin_url.parse()?;
        let mut admin = PgConnection::connect_with(&options.disable_statement_logging()).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await?;
        admin.close().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("kpi-e2e: could not drop test database {name}: {e}");
    }
}

/// `admin_url` with its database path replaced by `name` (query parameters kept).
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    // scheme://authority[/db]: the database is whatever follows the first '/' after "//".
    let authority_start = base.find("//").map(|i| i + 2).unwrap_or(0);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_the_path() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(database_url("postgres://u:p@h", "x"), "postgres://u:p@h/x");
        assert_eq!(database_url("postgresql://u@h:1/db?sslmode=disable", "x"), "postgresql://u@h:1/x?sslmode=disable");
    }
}
