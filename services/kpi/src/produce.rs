//! `kpi produce FILE`: plays the role of an EPR feed, publishing NDJSON lines to the raw topic.
//! Each line is sent as it is (even a malformed one, which ingest will dead-letter), keyed by
//! its `person_id`, or its `event_id` when it has none, as the contract asks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use kpi_runtime::kafka::producer_config;
use kpi_runtime::settings::Settings;

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// NDJSON file of raw events (as written by `kpi generate`).
    pub file: PathBuf,
    /// Topic to write; defaults to kafka.raw_topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Events per second to send at (0: as fast as the broker takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
}

/// Most sends awaiting acknowledgement at once.
const IN_FLIGHT: usize = 10_000;
/// Tries per event. librdkafka retries what Kafka calls retriable by itself, but a broker going
/// down may answer the sends in hand with a permanent-looking error first (Tansu answers
/// UNKNOWN_SERVER_ERROR while it stops); a later try waits in librdkafka's queue until the
/// broker is back.
const SEND_ATTEMPTS: u32 = 5;

pub async fn run(config: Option<&std::path::Path>, args: ProduceArgs) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    settings.check(Default::default())?;
    kpi_runtime::telemetry::init(&settings.log);
    let topic = args.topic.clone().unwrap_or_else(|| settings.kafka.raw_topic.clone());
    let producer: FutureProducer = producer_config(&settings.kafka).create().context("creating the producer")?;
    let file = File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template("{spinner} producing [{bar:30}] {bytes}/{total_bytes} {msg} {eta}")
            .expect("valid template"),
    );

    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut sent = 0u64;
    let mut failures = Failures::default();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.with_context(|| format!("reading {}", args.file.display()))?;
        bar.inc(line.len() as u64 + 1);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if args.rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / f64::from(args.rate));
            tokio::time::sleep_until(due.into()).await;
        }
        let key = key_of(&line);
        let producer = &producer;
        let topic = &topic;
        in_flight.push(async move { send(producer, topic, &line, key.as_deref()).await });
        sent += 1;
        if in_flight.len() >= IN_FLIGHT {
            if let Some(Err(error)) = in_flight.next().await {
                failures.add(&error);
            }
        }
        if sent.is_multiple_of(10_000) {
            bar.set_message(format!("{sent} events"));
        }
    }
    while let Some(result) = in_flight.next().await {
        if let Err(error) = result {
            failures.add(&error);
        }
    }
    let failed = failures.total();
    producer.flush(Duration::from_secs(30)).context("flushing the producer")?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {} events to {topic} in {seconds:.1} s ({:.0}/s)",
        sent - failed,
        (sent - failed) as f64 / seconds.max(1e-9)
    );
    if failed > 0 {
        anyhow::bail!(
            "{failed} events could not be produced after {SEND_ATTEMPTS} tries each ({}); check the broker \
             and re-run (the engine ignores repeats)",
            failures.summary()
        );
    }
    Ok(())
}

/// Sends one line, trying again after a pause when the broker refuses it.
async fn send(producer: &FutureProducer, topic: &str, line: &[u8], key: Option<&str>) -> Result<(), KafkaError> {
    let mut pause = Duration::from_millis(500);
    for attempt in 1.. {
        let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some("application/json") });
        let mut record = FutureRecord::to(topic).payload(line).headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => return Ok(()),
            Err((error, _)) if attempt >= SEND_ATTEMPTS => return Err(error),
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
        }
    }
    unreachable!("the loop returns by the last attempt")
}

/// Sends that failed for good, counted by error (one log line per kind, not per event).
#[derive(Default)]
struct Failures(BTreeMap<String, u64>);

impl Failures {
    fn add(&mut self, error: &KafkaError) {
        let count = self.0.entry(error.to_string()).or_default();
        if *count == 0 {
            tracing::error!(%error, "produce failed (further events failing the same way are counted, not logged)");
        }
        *count += 1;
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn summary(&self) -> String {
        self.0.iter().map(|(error, count)| format!("{count} x {error}")).collect::<Vec<_>>().join("; ")
    }
}

/// The message key: `person_id`, else `event_id`, else none (for lines that are not JSON).
fn key_of(line: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    ["person_id", "event_id"].iter().find_map(|field| value.get(field).and_then(|v| v.as_str()).map(str::to_owned))
}
