//! `kpi bench`, the broker end of the data flow: three topics named for this run (raw, canonical,
//! dead letters), so that a run never reads another's events; deleted at the end unless `--keep`.

use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use kpi_runtime::kafka::client_config;
use kpi_runtime::settings::KafkaSettings;

pub struct Topics {
    pub raw: String,
    pub canonical: String,
    pub dead_letter: String,
}

impl Topics {
    pub fn for_run(run: &str) -> Topics {
        Topics {
            raw: format!("kpi-bench-{run}-raw"),
            canonical: format!("kpi-bench-{run}-canonical"),
            dead_letter: format!("kpi-bench-{run}-dlq"),
        }
    }

    fn names(&self) -> [&str; 3] {
        [&self.raw, &self.canonical, &self.dead_letter]
    }

    /// Creates the three topics with `partitions` each (no broker auto-creates them reliably:
    /// Tansu never does).
    pub async fn create(&self, kafka: &KafkaSettings, partitions: i32) -> anyhow::Result<()> {
        let admin = admin(kafka)?;
        let topics: Vec<NewTopic> =
            self.names().iter().map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1))).collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin.create_topics(&topics, &options).await.with_context(|| {
            format!("creating the bench topics on {} (is the broker running? --brokers)", kafka.brokers)
        })?;
        for result in results {
            if let Err((topic, code)) = result {
                anyhow::bail!("the broker refused to create topic {topic}: {code:?}");
            }
        }
        Ok(())
    }

    pub async fn delete(&self, kafka: &KafkaSettings) -> anyhow::Result<()> {
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        admin(kafka)?.delete_topics(&self.names(), &options).await.context("deleting the bench topics")?;
        Ok(())
    }
}

fn admin(kafka: &KafkaSettings) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    client_config(kafka).create().context("creating a Kafka admin client")
}
