//! `kpi bench`, the warehouse end of the data flow: a fresh PostgreSQL database for one run (the
//! services migrate it on start), dropped at the end unless `--keep`.

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgConnection, PgPool};
use url::Url;

pub struct BenchDb {
    pub name: String,
    /// The URL the services get (`postgres.url` with the database replaced).
    pub url: String,
    admin: PgConnectOptions,
}

impl BenchDb {
    /// Creates database `name` on the server of `server_url` (any database of it will do).
    pub async fn create(server_url: &str, name: &str) -> anyhow::Result<BenchDb> {
        let mut url = Url::parse(server_url).with_context(|| {
            format!("postgres URL {server_url:?} is not a URL; give --postgres-url postgres://user@host:port/db")
        })?;
        url.set_path(&format!("/{name}"));
        let admin: PgConnectOptions = server_url.parse().with_context(|| format!("postgres URL {server_url:?}"))?;
        let admin = admin.database("postgres").disable_statement_logging();
        let mut conn = PgConnection::connect_with(&admin).await.with_context(|| {
            format!("connecting to PostgreSQL at {server_url} (is it running? the bench needs a role that may CREATE DATABASE)")
        })?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        conn.close().await.ok();
        Ok(BenchDb { name: name.to_owned(), url: url.to_string(), admin })
    }

    pub async fn pool(&self) -> anyhow::Result<PgPool> {
        let options: PgConnectOptions = self.url.parse()?;
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.disable_statement_logging())
            .await
            .with_context(|| format!("connecting to the bench database {}", self.name))
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        let mut conn =
            PgConnection::connect_with(&self.admin).await.context("connecting to drop the bench database")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping database {}", self.name))?;
        conn.close().await.ok();
        Ok(())
    }
}
