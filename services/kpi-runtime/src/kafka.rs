//! librdkafka client configuration shared by every Kafka client of the services. Security
//! (TLS, SASL) is passed through from `kafka.properties`, so any librdkafka option works.

use rdkafka::consumer::ConsumerContext;
use rdkafka::{ClientConfig, ClientContext, Statistics};

use crate::admin::Readiness;
use crate::settings::KafkaSettings;

/// How often librdkafka reports its statistics to a [`BrokerReadiness`], in milliseconds.
pub const STATISTICS_INTERVAL_MS: &str = "2000";

/// Keeps a readiness flag in step with the broker: librdkafka's statistics (every
/// [`STATISTICS_INTERVAL_MS`], delivered while the consumer is polled) give the state of each
/// broker connection; ready while at least one is `UP`. So `/readyz` answers 503 while the
/// broker is away, and 200 again once librdkafka has reconnected by itself.
pub struct BrokerReadiness {
    pub ready: Readiness,
}

impl BrokerReadiness {
    pub fn observe(&self, statistics: &Statistics) {
        let up = statistics.brokers.values().any(|broker| broker.state == "UP");
        if up != self.ready.get() {
            tracing::info!(
                connected = up,
                "broker connection {}",
                if up { "up" } else { "lost; librdkafka reconnects by itself" }
            );
        }
        self.ready.set(up);
    }
}

impl ClientContext for BrokerReadiness {
    fn stats(&self, statistics: Statistics) {
        self.observe(&statistics);
    }
}

impl ConsumerContext for BrokerReadiness {}

/// A client configuration with the brokers, the pass-through properties and the defaults this
/// project relies on (which `kafka.properties` may override).
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers);
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// A consumer configuration: manual offset handling (offsets are stored only after the
/// downstream write is confirmed), reading from the start of a topic new to the group.
pub fn consumer_config(settings: &KafkaSettings, group_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "10000")
        .set("enable.partition.eof", "false")
        // A waiting fetch is not always answered early when data arrives (seen on Tansu);
        // 100 ms bounds the added latency.
        .set("fetch.wait.max.ms", "100");
    merge(config, client_config(settings))
}

/// A producer configuration: durable (acks from all replicas; no Kafka transactions, which the
/// test broker does not support) and batched, because brokers that write each request to disk
/// (Tansu on SQLite measured 22,000 events/s with these batches against time-outs with 5 ms
/// ones). Batches stay under Kafka's default 1 MB message limit.
pub fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    producer_config_lingering(settings, "50")
}

/// A producer configuration for a service that hands the producer a whole batch at once and then
/// waits for its acknowledgements (ingest): the batch is already complete when it is handed
/// over, so lingering only delays it. With 50 ms, ingest spent more than half of each
/// 2,000-event batch waiting for the linger to run out. The requests stay as large as before
/// (the whole batch is queued within a millisecond or two). `kafka.properties` still overrides.
pub fn batch_producer_config(settings: &KafkaSettings) -> ClientConfig {
    producer_config_lingering(settings, "5")
}

fn producer_config_lingering(settings: &KafkaSettings, linger_ms: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("acks", "all")
        .set("message.timeout.ms", "120000")
        .set("linger.ms", linger_ms)
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("compression.type", "none");
    merge(config, client_config(settings))
}

fn merge(mut base: ClientConfig, overrides: ClientConfig) -> ClientConfig {
    for (key, value) in overrides.config_map() {
        base.set(key, value);
    }
    base
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::BaseProducer;

    use super::*;

    /// librdkafka refuses TLS and SASL/SCRAM properties when it was built without OpenSSL; this
    /// build must accept them, or the settings the README documents would not start a service.
    #[test]
    fn tls_and_sasl_properties_are_accepted() {
        let mut settings = KafkaSettings { brokers: "127.0.0.1:9".into(), ..KafkaSettings::default() };
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "kpi"),
            ("sasl.password", "secret"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            settings.properties.insert(key.into(), value.into());
        }
        let producer: Result<BaseProducer, _> = producer_config(&settings).create();
        assert!(producer.is_ok(), "producer refused TLS/SASL settings: {:?}", producer.err());
        let consumer: Result<BaseConsumer, _> = consumer_config(&settings, "g").create();
        assert!(consumer.is_ok(), "consumer refused TLS/SASL settings: {:?}", consumer.err());
    }

    #[test]
    fn the_batch_producer_lingers_briefly_unless_the_properties_say_otherwise() {
        let mut settings = KafkaSettings::default();
        assert_eq!(batch_producer_config(&settings).get("linger.ms"), Some("5"));
        assert_eq!(producer_config(&settings).get("linger.ms"), Some("50"));
        assert_eq!(batch_producer_config(&settings).get("batch.num.messages"), Some("10000"));
        settings.properties.insert("linger.ms".into(), "20".into());
        assert_eq!(batch_producer_config(&settings).get("linger.ms"), Some("20"));
    }

    #[test]
    fn an_unknown_property_is_refused_by_name() {
        let mut settings = KafkaSettings::default();
        settings.properties.insert("sasl.mechanismz".into(), "PLAIN".into());
        let error = producer_config(&settings).create::<BaseProducer>().err().expect("refused").to_string();
        assert!(error.contains("sasl.mechanismz"), "{error}");
    }
}
