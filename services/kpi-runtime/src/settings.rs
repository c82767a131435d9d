//! Typed settings for every service, loaded once at start-up: built-in defaults, then a TOML file
//! (`--config`, default `kpi.toml` if present), then `KPI__SECTION__KEY` environment variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub kafka: KafkaSettings,
    #[serde(default)]
    pub postgres: PostgresSettings,
    #[serde(default)]
    pub ingest: IngestSettings,
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub publisher: PublisherSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default = "defaults::shutdown_deadline_ms")]
    pub shutdown_deadline_ms: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    pub raw_topic: String,
    pub canonical_topic: String,
    pub dead_letter_topic: String,
    /// Extra librdkafka properties, e.g. `security.protocol = "SASL_SSL"`, `ssl.ca.location`,
    /// `sasl.mechanisms`, `sasl.username`, `sasl.password`.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".into(),
            raw_topic: "epr.events.v1".into(),
            canonical_topic: "kpi.events.v1".into(),
            dead_letter_topic: "epr.events.dlq".into(),
            properties: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresSettings {
    /// e.g. `postgres://kpi@db:5432/kpi?sslmode=verify-full&sslrootcert=/etc/kpi/ca.pem`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings { url: "postgres://postgres@127.0.0.1:5432/kpi".into(), max_connections: 4 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    pub group_id: String,
    /// File holding the pseudonymisation key (at least 32 bytes). Alternatively set
    /// `KPI__INGEST__HMAC_KEY`. The key is never logged.
    pub hmac_key_file: Option<PathBuf>,
    pub hmac_key: Option<Secret>,
    pub admin_listen: SocketAddr,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            group_id: "kpi-ingest".into(),
            hmac_key_file: None,
            hmac_key: None,
            admin_listen: "127.0.0.1:9101".parse().expect("valid address"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub group_id: String,
    /// Largest batch committed in one transaction.
    pub batch_max_events: usize,
    /// Longest a batch waits to fill before it is committed.
    pub batch_max_wait_ms: u64,
    /// Most person states kept in memory between batches; the least recently used beyond it are
    /// dropped and read back from the warehouse when their person next has an event. Bounds the
    /// engine's memory whatever the number of people. A batch's own persons stay until it ends,
    /// so 0 is allowed: every batch then reads its persons back (slow, but correct).
    pub person_cache_capacity: usize,
    pub admin_listen: SocketAddr,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            group_id: "kpi-engine".into(),
            batch_max_events: 20_000,
            batch_max_wait_ms: 200,
            person_cache_capacity: 50_000,
            admin_listen: "127.0.0.1:9102".parse().expect("valid address"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublisherSettings {
    /// How often the publisher looks for new counts when no notification of an engine commit
    /// has come (the warehouse notifies each; see `kpi_publisher::wake`).
    pub interval_ms: u64,
    pub population_file: PathBuf,
    pub population_imd_file: PathBuf,
    pub admin_listen: SocketAddr,
    /// SPC: points from which mean and limits are computed (all points when unset; at least 2).
    pub spc_baseline: Option<usize>,
    /// SPC: points in a run on one side of the mean that signal a shift (6 to 8).
    pub spc_shift_length: usize,
    /// SPC: points each higher (or lower) than the one before that signal a trend (6 to 8).
    pub spc_trend_length: usize,
}

impl Default for PublisherSettings {
    fn default() -> Self {
        PublisherSettings {
            interval_ms: 2_000,
            population_file: "deploy/reference/population.csv".into(),
            population_imd_file: "deploy/reference/population_imd.csv".into(),
            admin_listen: "127.0.0.1:9103".parse().expect("valid address"),
            spc_baseline: None,
            spc_shift_length: 6,
            spc_trend_length: 6,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info` or `kpi_engine=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { level: "info".into(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret string: deserialised like a string, never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Printed without secrets: librdkafka properties such as `sasl.password` or
/// `ssl.key.password` keep their keys but not their values.
impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(key, value)| (key.as_str(), if is_secret_property(key) { "<redacted>" } else { value.as_str() }))
            .collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("raw_topic", &self.raw_topic)
            .field("canonical_topic", &self.canonical_topic)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("properties", &properties)
            .finish()
    }
}

fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "key.pem", "jaas", "oauthbearer.config"].iter().any(|word| key.contains(word))
}

/// Printed without the password of the URL (`postgres://user:<redacted>@host/db`).
impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &redact_url_password(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

mod defaults {
    pub fn shutdown_deadline_ms() -> u64 {
        10_000
    }
}

/// A setting that is wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not read the settings: {0}\n  hint: check the file given with --config and the KPI__* environment variables (KPI__SECTION__KEY, e.g. KPI__KAFKA__BROKERS)")]
    Load(#[from] config::ConfigError),
    #[error("setting {key} is invalid: {problem}")]
    Invalid { key: &'static str, problem: String },
}

/// Which services a process will run, so that only their settings are required.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub ingest: bool,
    pub engine: bool,
    pub publisher: bool,
}

impl Settings {
    /// Loads defaults, then `file` (required if given, else `kpi.toml` if it exists), then the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut builder = config::Config::builder();
        match file {
            Some(path) => builder = builder.add_source(config::File::from(path).required(true)),
            None => builder = builder.add_source(config::File::with_name("kpi.toml").required(false)),
        }
        let environment =
            config::Environment::with_prefix("KPI").prefix_separator("__").separator("__").try_parsing(true);
        let settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        Ok(settings)
    }

    /// Checks what the services in `needs` rely on; the first problem found is returned.
    pub fn check(&self, needs: Needs) -> Result<(), SettingsError> {
        let invalid = |key, problem: &str| Err(SettingsError::Invalid { key, problem: problem.to_owned() });
        if self.kafka.brokers.trim().is_empty() {
            return invalid("kafka.brokers", "is empty; give host:port[,host:port] of the Kafka brokers");
        }
        let topics = [&self.kafka.raw_topic, &self.kafka.canonical_topic, &self.kafka.dead_letter_topic];
        if topics.iter().any(|t| t.trim().is_empty()) {
            return invalid("kafka.*_topic", "a topic name is empty");
        }
        if topics[0] == topics[1] || topics[0] == topics[2] || topics[1] == topics[2] {
            return invalid("kafka.*_topic", "raw, canonical and dead-letter topics must be three different topics");
        }
        if (needs.engine || needs.publisher) && !self.postgres.url.starts_with("postgres") {
            return invalid("postgres.url", "must be a postgres:// or postgresql:// URL");
        }
        if needs.ingest && self.ingest.hmac_key.is_none() && self.ingest.hmac_key_file.is_none() {
            return invalid(
                "ingest.hmac_key_file",
                "no pseudonymisation key: set ingest.hmac_key_file to a file of at least 32 secret bytes, or KPI__INGEST__HMAC_KEY",
            );
        }
        if needs.engine && (self.engine.batch_max_events == 0 || self.engine.batch_max_wait_ms == 0) {
            return invalid("engine.batch_max_events", "batch size and wait must both be above zero");
        }

        if needs.publisher {
            let p = &self.publisher;
            if !(6..=8).contains(&p.spc_shift_length) || !(6..=8).contains(&p.spc_trend_length) {
                return invalid(
                    "publisher.spc_shift_length",
                    "SPC shift and trend lengths must be 6 to 8 points (the NHS England SPC tool allows 6-8)",
                );
            }
            if p.spc_baseline.is_some_and(|b| b < 2) {
                return invalid(
                    "publisher.spc_baseline",
                    "an SPC baseline needs at least 2 points; leave it unset to use all",
                );
            }
            for (key, path) in [
                ("publisher.population_file", &self.publisher.population_file),
                ("publisher.population_imd_file", &self.publisher.population_imd_file),
            ] {
                if !path.is_file() {
                    return Err(SettingsError::Invalid {
                        key,
                        problem: format!(
                            "{} does not exist; point it at the reference population CSV (see deploy/reference/)",
                            path.display()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The pseudonymisation key bytes (file contents without a trailing newline, or the variable).
    pub fn hmac_key(&self) -> Result<Vec<u8>, SettingsError> {
        if let Some(key) = &self.ingest.hmac_key {
            return Ok(key.expose().as_bytes().to_vec());
        }
        let path = self
            .ingest
            .hmac_key_file
            .as_ref()
            .ok_or(SettingsError::Invalid { key: "ingest.hmac_key_file", problem: "is not set".into() })?;
        let mut bytes = std::fs::read(path).map_err(|e| SettingsError::Invalid {
            key: "ingest.hmac_key_file",
            problem: format!("cannot read {}: {e}", path.display()),
        })?;
        while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
            bytes.pop();
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kpi.toml");
        std::fs::write(&file, "[kafka]\nbrokers = \"b:1\"\n[engine]\nbatch_max_events = 7\n").unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(settings.kafka.brokers, "b:1");
        assert_eq!(settings.engine.batch_max_events, 7);
        assert_eq!(settings.kafka.raw_topic, "epr.events.v1");

        std::fs::write(&file, "[kafka]\nbrokerz = \"b:1\"\n").unwrap();
        let error = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("brokerz"), "{error}");
    }

    #[test]
    fn check_names_the_setting_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kpi.toml");
        std::fs::write(&file, "").unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        let error = settings.check(Needs { ingest: true, ..Needs::default() }).unwrap_err().to_string();
        assert!(error.contains("ingest.hmac_key_file"), "{error}");
        std::fs::write(&file, "[publisher]\nspc_shift_length = 9\npopulation_file = \"Cargo.toml\"\npopulation_imd_file = \"Cargo.toml\"\n").unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        let error = settings.check(Needs { publisher: true, ..Needs::default() }).unwrap_err().to_string();
        assert!(error.contains("publisher.spc_shift_length") && error.contains("6 to 8"), "{error}");
        let secret = format!("{:?}", Secret("s3cret".into()));
        assert!(!secret.contains("s3cret"));
    }

    #[test]
    fn printed_settings_show_no_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kpi.toml");
        std::fs::write(
            &file,
            "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.password\" = \"kafka-s3cret\"\n\
             \"ssl.key.password\" = \"key-s3cret\"\n[postgres]\nurl = \"postgres://kpi:pg-s3cret@db:5432/kpi?sslmode=verify-full\"\n\
             [ingest]\nhmac_key = \"hmac-s3cret\"\n",
        )
        .unwrap();
        let printed = format!("{:?}", Settings::load(Some(&file)).unwrap());
        for secret in ["kafka-s3cret", "key-s3cret", "pg-s3cret", "hmac-s3cret"] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(
            printed.contains("SASL_SSL")
                && printed.contains("postgres://kpi:<redacted>@db:5432/kpi?sslmode=verify-full"),
            "{printed}"
        );
    }
}
