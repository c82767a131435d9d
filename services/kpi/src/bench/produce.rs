//! `kpi bench`, phases 2 and 8: raw events onto the raw topic, as fast as the broker takes them
//! or at a steady rate, keyed as the contract asks (`person_id`, else `event_id`).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::ProgressBar;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// Most sends awaiting acknowledgement at once (as `kpi produce`).
const IN_FLIGHT: usize = 10_000;

pub struct Produced {
    /// Events acknowledged.
    pub events: u64,
    /// From the first send to the last acknowledgement.
    pub seconds: f64,
    /// Events the broker did not acknowledge in time, and the first error.
    pub failed: u64,
    pub first_error: Option<String>,
}

impl Produced {
    /// Fails unless every event was acknowledged: a throughput phase needs all of them.
    pub fn all(self, topic: &str) -> anyhow::Result<Produced> {
        if let Some(error) = &self.first_error {
            anyhow::bail!(
                "{} of {} events could not be produced to {topic} (first error: {error}); check the broker",
                self.failed,
                self.failed + self.events
            );
        }
        Ok(self)
    }
}

/// Sends every line to `topic`, `rate` per second if given, and waits for every acknowledgement
/// (or its failure: see [`Produced::all`]).
/// `on_send(i, at)` is told when line `i` is handed to the producer.
pub async fn lines(
    producer: &FutureProducer,
    topic: &str,
    lines: impl Iterator<Item = anyhow::Result<Vec<u8>>>,
    rate: Option<u32>,
    bar: &ProgressBar,
    mut on_send: impl FnMut(u64, Instant),
) -> anyhow::Result<Produced> {
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut first_error = None;
    for line in lines {
        let line = line?;
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(sent as f64 / f64::from(rate));
            tokio::time::sleep_until(due.into()).await;
        }
        let key = key_of(&line);
        let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some("application/json") });
        on_send(sent, Instant::now());
        // send_result enqueues now (an async send would only enqueue when first polled, which a
        // rated loop does not do between its sleeps); a full queue is waited out.
        let delivery = loop {
            let mut record = FutureRecord::to(topic).payload(&line).headers(headers.clone());
            if let Some(key) = &key {
                record = record.key(key);
            }
            match producer.send_result(record) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => anyhow::bail!("producing to {topic}: {error}"),
            }
        };
        in_flight.push(async move {
            match delivery.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((error, _))) => Err(error.to_string()),
                Err(_) => Err("the producer dropped the delivery report".to_owned()),
            }
        });
        sent += 1;
        bar.inc(1);
        // A slow broker holds the sender back at IN_FLIGHT instead of letting the queue grow.
        if in_flight.len() >= IN_FLIGHT {
            if let Some(Err(error)) = in_flight.next().await {
                failed += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        if let Err(error) = result {
            failed += 1;
            first_error.get_or_insert(error);
        }
    }
    producer.flush(Duration::from_secs(30)).context("flushing the producer")?;
    Ok(Produced { events: sent - failed, seconds: started.elapsed().as_secs_f64(), failed, first_error })
}

/// The message key: `person_id`, else `event_id`, else none (a line that is not JSON), as
/// `kpi produce` keys it.
pub fn key_of(line: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    ["person_id", "event_id"].iter().find_map(|field| value.get(field).and_then(|v| v.as_str()).map(str::to_owned))
}
