//! librdkafka client configuration shared by every Kafka client of the services. Security
//! (TLS, SASL) is passed through from `kafka.properties`, so any librdkafka option works.

use rdkafka::ClientConfig;

use crate::settings::KafkaSettings;

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
    let mut config = ClientConfig::new();
    config
        .set("acks", "all")
        .set("message.timeout.ms", "120000")
        .set("linger.ms", "50")
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
