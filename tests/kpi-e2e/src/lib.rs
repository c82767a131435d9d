//! Test harness for end-to-end tests against the real broker (Tansu) and database (PostgreSQL).
//!
//! Every end-to-end test in the workspace builds on these pieces:
//!
//! * [`Broker`]: a Tansu 0.6.0 process (built with `scripts/tansu/`'s fixes) on a free loopback
//!   port, with in-memory or SQLite storage, that can be stopped and restarted on the same port
//!   and storage. Killed on drop, and by the kernel if the test process dies. Use
//!   [`Broker::start_durable`] (SQLite) for a test whose topics must survive a broker restart
//!   (see [`broker`]). Tansu never auto-creates topics: create them.
//! * [`TestDb`]: a fresh PostgreSQL database `kpi_test_<random>`, dropped on drop.
//! * [`produce_lines`], [`produce`], [`consume_all`] and the [`kafka`] configs: rdkafka clients
//!   (bundled librdkafka 2.12) set up the way that works against Tansu.
//! * [`free_port`], [`unique_name`].
//! * [`pipeline::Pipeline`]: broker + database + the real `kpi` binary's three services, and the
//!   in-memory reference the warehouse must agree with; [`audit`], [`promtool`], [`http`] for
//!   the privacy audit, metric format checks and admin endpoints.
//! * [`private_pg`] (a PostgreSQL cluster a test may stop, optionally serving TLS) and [`tls`] (a
//!   throw-away certificate authority, a TLS front for the broker) for the fault and TLS tests.
//!
//! Tests get their own broker or at least their own topics and groups, and their own database,
//! so they can run in parallel.
//!
//! Tools: run `scripts/setup.sh` once per machine (it caches the Tansu binary); `scripts/test.sh`
//! exports `KPI_TANSU_BIN`. PostgreSQL is expected at `postgres://postgres@127.0.0.1:5432/postgres`
//! (override with `KPI_TEST_PG_URL`).

pub mod audit;
pub mod broker;
pub mod db;
pub mod demo;
pub mod deploy;
pub mod grafana;
pub mod http;
pub mod kafka;
pub mod net;
pub mod pipeline;
pub mod private_pg;
pub mod process;
pub mod prom_rules;
pub mod promtool;
pub mod tls;
pub mod tools;

pub use broker::{Broker, Storage};
pub use db::TestDb;
pub use kafka::{
    consume_all, consume_all_with, consumer_config, group_consumer, partition_ids, per_partition, produce,
    produce_lines, producer_config, Received, Record,
};
pub use net::{free_port, unique_name, wait_for_port};
pub use tools::{shared_dir, tansu_bin};

/// The rdkafka and sqlx this harness is built with, for tests that need more than the helpers.
pub use rdkafka;
pub use sqlx;
