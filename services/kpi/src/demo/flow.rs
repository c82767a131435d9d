//! The demo's data flow, stage by stage, over bounded in-process queues: generator thread →
//! raw lines → ingest (validate, pseudonymise, or dead-letter) → canonical events → engine
//! (the person states of `Replay`) → publication. A bounded queue makes a slow stage hold up
//! the one before it instead of buffering the whole feed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use kpi_core::population::Population;
use kpi_core::replay::{Applied, Replay};
use kpi_core::spc::SpcSettings;
use kpi_core::{Event, Pseudonymiser};
use kpi_engine::batch::BatchReport;
use kpi_engine::internal_events::EngineMetrics;
use kpi_ingest::internal_events::IngestMetrics;
use kpi_ingest::transform::{transform, Outcome as Transformed};
use kpi_publisher::gauges::IndicatorGauges;
use kpi_publisher::internal_events::PublisherMetrics;
use kpi_publisher::service::Publication;
use kpi_runtime::admin::{self, Readiness};
use kpi_runtime::settings::PublisherSettings;
use kpi_runtime::shutdown::CancellationToken;
use kpi_warehouse::publish::WriteSummary;
use prometheus::Registry;
use tokio::sync::mpsc::{channel, Receiver, Sender};

use super::DemoArgs;

/// Lines per queue message, and messages a queue holds.
const CHUNK: usize = 1_000;
const QUEUE_CHUNKS: usize = 16;

const POPULATION: &str = include_str!("../../../../deploy/reference/population.csv");
const POPULATION_IMD: &str = include_str!("../../../../deploy/reference/population_imd.csv");

/// The reference populations: the given files, else the illustrative ones built in.
pub fn population(main: Option<&Path>, imd: Option<&Path>) -> anyhow::Result<Population> {
    let population = match (main, imd) {
        (Some(main), Some(imd)) => {
            let open = |path: &Path| File::open(path).with_context(|| format!("opening {}", path.display()));
            Population::from_csv(open(main)?, open(imd)?)
        }
        _ => Population::from_csv(POPULATION.as_bytes(), POPULATION_IMD.as_bytes()),
    };
    population.context("reading the reference population")
}

/// Events refused along the way, counted by reason. (Not their details: a detail may quote a
/// bad value, which in a real feed could be an identifier.)
#[derive(Debug, Default)]
pub struct DeadLetters {
    pub by_reason: BTreeMap<&'static str, u64>,
}

impl DeadLetters {
    fn add(&mut self, reason: &'static str, events: u64) {
        if events > 0 {
            *self.by_reason.entry(reason).or_default() += events;
        }
    }

    pub fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }

    /// "12 invalid_nhs_number, 3 missing_field", largest first.
    pub fn summary(&self) -> String {
        let mut reasons: Vec<_> = self.by_reason.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = reasons.iter().map(|(reason, events)| format!("{events} {reason}")).collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What the run produced.
pub struct Outcome {
    pub lines: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub dead_letters: DeadLetters,
    pub publication: Publication,
    pub metrics_addr: std::net::SocketAddr,
    /// Stops the /metrics server.
    pub admin_shutdown: CancellationToken,
}

struct Metrics {
    ingest: IngestMetrics,
    engine: EngineMetrics,
    publisher: PublisherMetrics,
    gauges: IndicatorGauges,
}

pub async fn run(args: &DemoArgs, population: &Population) -> anyhow::Result<Outcome> {
    let registry = Registry::new();
    let metrics = Metrics {
        ingest: IngestMetrics::register(&registry)?,
        engine: EngineMetrics::register(&registry)?,
        publisher: PublisherMetrics::register(&registry)?,
        gauges: IndicatorGauges::register(&registry)?,
    };
    let ready = Readiness::default();
    let admin_shutdown = CancellationToken::new();
    let metrics_addr = admin::serve(args.metrics_listen, registry, vec![ready.clone()], admin_shutdown.clone())
        .await
        .context("serving /metrics for the demo (choose another address with --metrics-listen)")?;
    ready.set(true);

    let progress = ProgressBar::new(u64::from(args.feed.people));
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>3} [{bar:30}] {pos}/{len} people  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let (raw_in, raw_out) = channel::<Vec<Vec<u8>>>(QUEUE_CHUNKS);
    let (canonical_in, canonical_out) = channel::<Vec<Vec<u8>>>(QUEUE_CHUNKS);

    let config = args.feed.config();
    let bar = progress.clone();
    let feeder = tokio::task::spawn_blocking(move || {
        let mut queue = LineQueue { queue: raw_in, chunk: Vec::with_capacity(CHUNK), partial: Vec::new() };
        let summary = kpi_synth::generate(&config, &mut queue, |done| bar.set_position(u64::from(done)))?;
        queue.flush()?;
        Ok::<_, io::Error>(summary.lines)
    });
    // A fresh random key each run: the demo's pseudonyms are never compared with anything.
    let pseudonymiser = Pseudonymiser::new(&rand::random::<[u8; 32]>()).expect("32 bytes is long enough");
    let ingest_metrics = metrics.ingest.clone();
    let ingest = tokio::task::spawn_blocking(move || ingest(&pseudonymiser, raw_out, canonical_in, &ingest_metrics));
    let engine_metrics = metrics.engine.clone();
    let bar = progress.clone();
    let engine = tokio::task::spawn_blocking(move || engine(canonical_out, &engine_metrics, &bar));

    let generated = feeder.await?.context("generating the synthetic feed")?;
    let (lines, mut dead_letters) = ingest.await?;
    let (replay, applied, duplicates) = engine.await?;
    debug_assert_eq!(lines, generated);

    progress.set_message("publishing: values, limits, disclosure control, SPC");
    let started = Instant::now();
    let inconsistent = replay.ended_before_started();
    metrics.engine.batch_committed(&BatchReport { ended_before_started: inconsistent, ..Default::default() }, 0.0, 0.0);
    dead_letters.add("ended_before_started", inconsistent as u64);
    let publication = publish(&replay, population)?;
    // As the publisher's first refresh writes them: whole.
    let rows = publication.values.len() + publication.published.len() + publication.spc.len();
    let written = WriteSummary { whole: true, upserted: rows, deleted: 0 };
    metrics.publisher.refreshed(publication.values.len(), written, started.elapsed().as_secs_f64(), None);
    metrics.publisher.current();
    metrics.gauges.show(&publication.published, &publication.spc);
    progress.finish_and_clear();
    Ok(Outcome { lines, applied, duplicates, dead_letters, publication, metrics_addr, admin_shutdown })
}

/// What the publisher would publish from these events, with its default SPC settings.
fn publish(replay: &Replay, population: &Population) -> anyhow::Result<Publication> {
    let horizon = replay.horizon().context("no valid event reached the engine: nothing to publish")?;
    let defaults = PublisherSettings::default();
    let spc = SpcSettings::new(defaults.spc_baseline, defaults.spc_shift_length, defaults.spc_trend_length)
        .context("the publisher's default SPC settings")?;
    Publication::compute(&replay.counts(), horizon, Utc::now().date_naive(), population, spc)
        .context("the events gave no counted month to publish")
}

/// The ingest stage: each raw line becomes a canonical event or a dead letter.
fn ingest(
    pseudonymiser: &Pseudonymiser,
    mut raw: Receiver<Vec<Vec<u8>>>,
    canonical: Sender<Vec<Vec<u8>>>,
    metrics: &IngestMetrics,
) -> (u64, DeadLetters) {
    let mut lines = 0u64;
    let mut dead_letters = DeadLetters::default();
    while let Some(chunk) = raw.blocking_recv() {
        let mut out = Vec::with_capacity(chunk.len());
        for line in chunk {
            match transform(pseudonymiser, &line, None) {
                Transformed::Canonical { event_type, payload, .. } => {
                    metrics.event_accepted(event_type);
                    out.push(payload);
                }
                Transformed::DeadLetter(rejection) => {
                    metrics.event_rejected(&rejection, 0, lines as i64);
                    dead_letters.add(rejection.reason.code(), 1);
                }
            }
            lines += 1;
        }
        if canonical.blocking_send(out).is_err() {
            break; // the engine stage ended early; its error is reported when it is joined
        }
    }
    (lines, dead_letters)
}

/// The engine stage: canonical events into person states, one "batch" per chunk.
fn engine(
    mut canonical: Receiver<Vec<Vec<u8>>>,
    metrics: &EngineMetrics,
    progress: &ProgressBar,
) -> (Replay, u64, u64) {
    let mut replay = Replay::default();
    let (mut applied, mut duplicates) = (0u64, 0u64);
    while let Some(chunk) = canonical.blocking_recv() {
        let started = Instant::now();
        let mut report = BatchReport::default();
        for payload in chunk {
            match serde_json::from_slice::<Event>(&payload) {
                Ok(event) => match replay.apply(event) {
                    Applied::New => report.new_events += 1,
                    Applied::Duplicate => report.duplicates += 1,
                },
                Err(_) => report.undecodable += 1,
            }
        }
        applied += report.new_events as u64;
        duplicates += report.duplicates as u64;
        metrics.batch_committed(&report, started.elapsed().as_secs_f64(), 0.0);
        progress.set_message(format!("{applied} events applied"));
    }
    (replay, applied, duplicates)
}

/// The generator's output, split into lines and sent a chunk at a time.
struct LineQueue {
    queue: Sender<Vec<Vec<u8>>>,
    chunk: Vec<Vec<u8>>,
    partial: Vec<u8>,
}

impl LineQueue {
    fn send_chunk(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.queue
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the ingest stage stopped"))
    }
}

impl Write for LineQueue {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(rest) => {
                    self.partial.extend_from_slice(rest);
                    self.chunk.push(std::mem::take(&mut self.partial));
                    if self.chunk.len() == CHUNK {
                        self.send_chunk()?;
                    }
                }
                None => self.partial.extend_from_slice(piece),
            }
        }
        Ok(bytes.len())
    }

    /// Sends what is queued (a last line without its newline included).
    fn flush(&mut self) -> io::Result<()> {
        if !self.partial.is_empty() {
            self.chunk.push(std::mem::take(&mut self.partial));
        }
        if self.chunk.is_empty() {
            Ok(())
        } else {
            self.send_chunk()
        }
    }
}
