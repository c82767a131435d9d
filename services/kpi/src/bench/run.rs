//! `kpi bench`, the order of the phases along the data flow, and clean-up: each phase's result
//! goes into the report; the topics, the database and the child services go whatever happens.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::producer::FutureProducer;
use sqlx::PgPool;

use kpi_runtime::kafka::producer_config;
use kpi_runtime::settings::{LogSettings, Needs, Settings};

use super::database::BenchDb;
use super::host_cpu::Shared;
use super::metrics::Metrics;
use super::report::{
    per_second, percentile_censored, EndToEnd, GaugeLatency, Latency, Memory, ProcessCpu, Report, RunInfo, Spent,
    Stage, BROKER_READ, ENGINE,
};
use super::services::{pin_executable, service_env, Running, Service, HMAC_KEY};
use super::topics::Topics;
use super::wait::{self, Seen};
use super::{broker_read, feed, latency, overlapped, produce, sql_peer, table, BenchArgs};

pub async fn run(config: Option<&Path>, args: BenchArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(config)?;
    if let Some(brokers) = &args.brokers {
        settings.kafka.brokers = brokers.clone();
    }
    if let Some(url) = &args.postgres_url {
        settings.postgres.url = url.clone();
    }
    // What the engine and publisher need, checked before anything is made (ingest's key is the
    // bench's own).
    settings.check(Needs { engine: true, publisher: true, ..Needs::default() })?;
    kpi_runtime::telemetry::init(&LogSettings { level: "error".into(), ..Default::default() });
    let run_id = format!("{:x}{:06x}", chrono::Utc::now().timestamp(), rand::random::<u32>() & 0xff_ffff);
    let dir = tempfile::Builder::new().prefix("kpi-bench-").tempdir().context("creating a working directory")?;
    eprintln!("kpi bench run {run_id}: working directory (feed, service logs) {}", dir.path().display());

    let topics = Topics::for_run(&run_id);
    topics.create(&settings.kafka, args.partitions).await?;
    let db = match BenchDb::create(&settings.postgres.url, &format!("kpi_bench_{run_id}")).await {
        Ok(db) => db,
        Err(error) => {
            topics.delete(&settings.kafka).await.ok();
            return Err(error);
        }
    };
    let mut bench = Bench {
        args: &args,
        config,
        settings: settings.clone(),
        topics,
        db,
        dir: dir.path().to_path_buf(),
        services: Vec::new(),
        run_id: run_id.clone(),
        exe: pin_executable(dir.path())?,
    };
    let outcome = bench.phases().await;
    // Stop the services before dropping their database.
    bench.services.clear();
    if args.keep || outcome.is_err() {
        let kept = dir.keep();
        eprintln!(
            "kept: database {}, topics {}*, logs in {}",
            bench.db.name,
            bench.topics.raw.trim_end_matches("raw"),
            kept.display()
        );
    } else {
        bench.db.drop_database().await.ok();
        bench.topics.delete(&bench.settings.kafka).await.ok();
    }
    let report = outcome?;
    println!("{}", table::render(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

struct Bench<'a> {
    args: &'a BenchArgs,
    config: Option<&'a Path>,
    settings: Settings,
    topics: Topics,
    db: BenchDb,
    dir: std::path::PathBuf,
    services: Vec<Running>,
    run_id: String,
    /// The executable the services run (see [`pin_executable`]).
    exe: std::path::PathBuf,
}

impl Bench<'_> {
    async fn phases(&mut self) -> anyhow::Result<Report> {
        let args = self.args;
        let timeout = Duration::from_secs(args.phase_timeout);
        let started_at = chrono::Utc::now().to_rfc3339();
        let mut stages = Vec::new();

        // 1. Generate.
        let synth =
            kpi_synth::SynthConfig { people: args.people, months: args.months, seed: args.seed, ..Default::default() };
        let feed = feed::generate(&synth, args.events, &self.dir)?;
        eprintln!("1/9 generated {} lines in {:.1} s", feed.lines, feed.seconds);
        if feed.lines < args.events {
            eprintln!("    (fewer than --events {}: raise --people for more)", args.events);
        }

        // 2. Produce as fast as the broker takes it.
        let producer: FutureProducer =
            producer_config(&self.settings.kafka).create().context("creating the producer")?;
        let bar = bar(feed.lines, "producing");
        let produced =
            produce::lines(&producer, &self.topics.raw, feed::file_lines(&feed.path)?, None, &bar, |_, _| {})
                .await?
                .all(&self.topics.raw)?;
        bar.finish_and_clear();
        eprintln!("2/9 produced {} events in {:.1} s", produced.events, produced.seconds);
        stages.push(stage("produce (to acknowledged)", produced.events, produced.seconds, None));

        // 3. The broker's read speed.
        let read = broker_read::read(
            &self.settings.kafka,
            &self.topics.raw,
            &format!("kpi-bench-read-{}", self.db.name),
            produced.events,
            timeout,
        )
        .await?;
        eprintln!("3/9 read the raw topic back in {:.1} s", read.seconds);
        stages.push(stage(BROKER_READ, read.events, read.seconds, None));

        let client = reqwest::Client::new();
        // 4. Ingest alone: done when every raw event is accepted or refused.
        let shared = Shared::now();
        let ingest = self.start(Service::Ingest)?;
        let (since_start, since_first, accepted) = self
            .until_count(&client, ingest, "ingest", produced.events, timeout, |m| {
                (
                    m.sum("kpi_ingest_events_accepted_total") + m.sum("kpi_ingest_events_rejected_total"),
                    m.sum("kpi_ingest_events_accepted_total"),
                )
            })
            .await?;
        eprintln!("4/9 ingest: {} events in {:.1} s ({accepted} accepted)", produced.events, since_start);
        stages.push(Stage {
            cpu: phase_cpu(&self.services[ingest], &shared)?,
            ..stage(
                "ingest (validated, pseudonymised, produced)",
                produced.events,
                since_start,
                Some(since_start - since_first),
            )
        });
        let mut e2e = produced.seconds + since_start;
        let mut time_spent = Vec::new();
        let m = Metrics::scrape(&client, self.services[ingest].admin).await?;
        time_spent.push(spent(
            "ingest: validate, pseudonymise, produce, acknowledge (batches)",
            m.histogram("kpi_ingest_batch_duration_seconds"),
        ));

        // 5. Engine: done when every canonical event is in a committed batch.
        let accepted = accepted as u64;
        let shared = Shared::now();
        let engine = self.start(Service::Engine)?;
        let (since_start, since_first, _) = self
            .until_count(&client, engine, "engine", accepted, timeout, |m| (m.sum("kpi_engine_events_total"), 0.0))
            .await?;
        eprintln!("5/9 engine: {accepted} events committed in {since_start:.1} s");
        stages.push(Stage {
            cpu: phase_cpu(&self.services[engine], &shared)?,
            ..stage(ENGINE, accepted, since_start, Some(since_start - since_first))
        });
        e2e += since_start;
        let m = Metrics::scrape(&client, self.services[engine].admin).await?;
        let (batches, count) = m.histogram("kpi_engine_batch_duration_seconds");
        let (commits, _) = m.histogram("kpi_engine_commit_duration_seconds");
        time_spent
            .push(spent("engine: batch time outside its steps (overlap, claims, waits)", (batches - commits, count)));
        time_spent.push(spent(
            "engine: batch steps (person states, contributions, PostgreSQL transactions)",
            (commits, count),
        ));
        for (step, _) in kpi_engine::batch::StepTimes::default().labelled() {
            let seconds = m.labelled("kpi_engine_batch_step_seconds_total", "step", step);
            time_spent.push(spent(&format!("  of which {}", engine_step(step)), (seconds, count)));
        }

        // 6. Publisher: done when values newer than the last count change are written.
        let pool = self.db.pool().await?;
        let publisher_started = Instant::now();
        let publisher = self.start(Service::Publisher)?;
        let (_, at) = wait::until("publisher", timeout, "see publisher.log in the working directory", || {
            let alive = self.services[publisher].check_alive();
            let pool = &pool;
            async move {
                alive?;
                overlapped::fresh(pool).await
            }
        })
        .await?;
        let publish_seconds = at.duration_since(publisher_started).as_secs_f64();
        eprintln!("6/9 publisher: values published {publish_seconds:.1} s after its start");
        stages.push(stage("publisher (start to values published)", accepted, publish_seconds, None));
        e2e += publish_seconds;
        let m = Metrics::scrape(&client, self.services[publisher].admin).await?;
        let first_refreshes = m.histogram("kpi_publisher_refresh_duration_seconds");
        time_spent.push(spent("publisher: read counts, compute, write values (refreshes)", first_refreshes));
        let first_steps = publisher_steps(&m);

        // 7. The SQL batch peer, while the services are idle.
        let peer = sql_peer::run(&pool, &feed.path, feed.lines).await?;
        eprintln!("7/9 SQL peer: {:.1} s, {} of {} cells differ", peer.seconds, peer.mismatches, peer.cells_compared);

        // 8. Latency at a steady rate.
        let latency = if args.latency_seconds > 0 {
            let latency = self.latency(&producer, &pool, &feed.path, &client, publisher).await?;
            // The refreshes of the steady rate alone: the phase's less those of phase 6.
            let m = Metrics::scrape(&client, self.services[publisher].admin).await?;
            let (seconds, count) = m.histogram("kpi_publisher_refresh_duration_seconds");
            let count = count.saturating_sub(first_refreshes.1);
            time_spent.push(spent("publisher at the steady rate (refreshes)", (seconds - first_refreshes.0, count)));
            for ((step, now), (_, before)) in publisher_steps(&m).into_iter().zip(first_steps) {
                time_spent.push(spent(&format!("  of which {}", publisher_step(step)), (now - before, count)));
            }
            Some(latency)
        } else {
            None
        };

        // Peak memory of the services of the phases above, before the overlapped run's own.
        let memory: Vec<Memory> = self
            .services
            .iter()
            .map(|s| Memory { service: s.service.name(), peak_rss_bytes: s.peak_rss().ok() })
            .collect();

        // 9. End to end with the stages overlapping.
        let overlapped = if args.no_overlap {
            None
        } else {
            self.services.clear(); // two sets of services would compete for the same cores
            let overlap = overlapped::Overlap {
                settings: &self.settings,
                exe: &self.exe,
                config: self.config,
                run_id: &self.run_id,
                partitions: args.partitions,
                keep: args.keep,
                dir: &self.dir,
                feed: &feed.path,
                lines: feed.lines,
                accepted,
                timeout,
            };
            let measured = overlapped::run(overlap, &producer, &client).await?;
            eprintln!("9/9 overlapped: published {:.1} s after the first event", measured.seconds);
            Some(measured)
        };
        let report = Report {
            run: RunInfo {
                lines: feed.lines,
                people: args.people,
                months: args.months,
                partitions: args.partitions,
                brokers: self.settings.kafka.brokers.clone(),
                cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
                started_at,
            },
            stages,
            end_to_end: EndToEnd {
                sequential_seconds: e2e,
                overlapped_seconds: overlapped.as_ref().map(|o| o.seconds),
                ratio_to_sql_peer: None,
                overlapped_publisher_refreshes: overlapped.as_ref().map(|o| o.publisher_refreshes),
                overlapped_cpu: overlapped.map(|o| o.cpu).unwrap_or_default(),
            },
            sql_peer: Some(peer),
            latency,
            memory,
            time_spent,
            goals: Vec::new(),
        };
        Ok(report.finish())
    }

    async fn latency(
        &mut self,
        producer: &FutureProducer,
        pool: &PgPool,
        feed: &Path,
        client: &reqwest::Client,
        publisher: usize,
    ) -> anyhow::Result<Latency> {
        let args = self.args;
        let count = u64::from(args.rate) * u64::from(args.latency_seconds);
        let lines = latency::load_lines(feed, count)?;
        let shown = latency::Publisher { client: client.clone(), admin: self.services[publisher].admin };
        let measured =
            latency::measure(producer, &self.topics.raw, pool, shown, HMAC_KEY.as_bytes(), lines, args.rate).await?;
        for service in &mut self.services {
            service.check_alive()?;
        }
        let refresh = Metrics::scrape(client, self.services[publisher].admin)
            .await
            .ok()
            .and_then(|m| m.histogram_mean("kpi_publisher_refresh_duration_seconds"));
        let samples = &measured.latencies_ms;
        let gauge = &measured.gauge_latencies_ms;
        eprintln!(
            "8/9 latency: {} of {} probes seen committed, {} in the publisher's gauges",
            samples.len(),
            measured.probes,
            gauge.len()
        );
        Ok(Latency {
            definition: latency::DEFINITION,
            rate_target: args.rate,
            rate_achieved: per_second(measured.sent, measured.seconds),
            seconds: measured.seconds,
            probes: measured.probes,
            probes_seen: samples.len(),
            events_not_produced: measured.failed,
            p50_ms: percentile_censored(samples, measured.probes, 50.0),
            p99_ms: percentile_censored(samples, measured.probes, 99.0),
            max_ms: percentile_censored(samples, measured.probes, 100.0),
            gauge: GaugeLatency {
                definition: latency::GAUGE_DEFINITION,
                probes_seen: gauge.len(),
                p50_ms: percentile_censored(gauge, measured.probes, 50.0),
                p99_ms: percentile_censored(gauge, measured.probes, 99.0),
                max_ms: percentile_censored(gauge, measured.probes, 100.0),
            },
            publisher_interval_ms: self.settings.publisher.interval_ms,
            publisher_refresh_mean_ms: refresh.map(|s| s * 1000.0),
        })
    }

    /// Starts a service with the run's settings; returns its index in `services`.
    fn start(&mut self, service: Service) -> anyhow::Result<usize> {
        let env = service_env(&self.settings, &self.topics, &self.db);
        let running = Running::start(&self.exe, service, self.config, &env, &self.dir)?;
        self.services.push(running);
        Ok(self.services.len() - 1)
    }

    /// Waits until `count(metrics).0` reaches `expected`; returns the seconds since the start of
    /// the wait and since the first progress, and `count(..).1` at the end.
    async fn until_count(
        &mut self,
        client: &reqwest::Client,
        service: usize,
        what: &str,
        expected: u64,
        timeout: Duration,
        count: impl Fn(&Metrics) -> (f64, f64),
    ) -> anyhow::Result<(f64, f64, f64)> {
        let started = Instant::now();
        let first = std::cell::Cell::new(None);
        let hint = format!("see {what}.log in the working directory");
        let admin = self.services[service].admin;
        let services = &mut self.services;
        let ((_, extra), at) = wait::until(what, timeout, &hint, || {
            let alive = services[service].check_alive();
            let count = &count;
            let first = &first;
            async move {
                alive?;
                let metrics = Metrics::scrape(client, admin).await?;
                let (done, extra) = count(&metrics);
                if done > 0.0 && first.get().is_none() {
                    first.set(Some(Instant::now()));
                }
                let finished = done as u64 >= expected;
                Ok(Seen { done: finished.then_some((done, extra)), progress: format!("{done} of {expected} events") })
            }
        })
        .await?;
        let first = first.get().unwrap_or(started);
        Ok((at.duration_since(started).as_secs_f64(), at.duration_since(first).as_secs_f64(), extra))
    }
}

fn stage(name: &str, events: u64, seconds: f64, startup_seconds: Option<f64>) -> Stage {
    Stage {
        name: name.to_owned(),
        events,
        seconds,
        startup_seconds,
        events_per_second: per_second(events, seconds),
        ratio_to_broker_read: None,
        cpu: Vec::new(),
    }
}

/// The CPU time of a service run alone (since its process started, as its stage's time is) and
/// of PostgreSQL and the broker over the same phase.
fn phase_cpu(service: &Running, shared: &Shared) -> anyhow::Result<Vec<ProcessCpu>> {
    let mut cpu = vec![ProcessCpu { process: service.service.name(), seconds: service.cpu_seconds()? }];
    cpu.extend(shared.since()?);
    Ok(cpu)
}

/// How the table names an engine batch step (`kpi_engine_batch_step_seconds_total{step}`).
fn engine_step(step: &str) -> &str {
    match step {
        "read_persons" => "reading back persons not in memory (PostgreSQL)",
        "record_events" => "recording events in events_seen (PostgreSQL, beside the next step)",
        "apply_events" => "applying events and retractions (retraction lookups in PostgreSQL)",
        "contributions" => "contribution differences (engine, both cores, beside recording)",
        "add_counts" => "adding count changes to indicator_counts (PostgreSQL)",
        "commit" => "horizon, offsets and commit (PostgreSQL)",
        other => other,
    }
}

/// The publisher's `kpi_publisher_refresh_step_seconds_total`, step by step.
fn publisher_steps(m: &Metrics) -> Vec<(&'static str, f64)> {
    kpi_publisher::service::RefreshSteps::default()
        .labelled()
        .into_iter()
        .map(|(step, _)| (step, m.labelled("kpi_publisher_refresh_step_seconds_total", "step", step)))
        .collect()
}

/// How the table names a publisher refresh step.
fn publisher_step(step: &str) -> &str {
    match step {
        "read" => "reading the counts changed (PostgreSQL)",
        "compute" => "computing the values whose counts changed, disclosure control, SPC",
        "write" => "writing the rows that changed (PostgreSQL)",
        "gauges" => "setting the gauges that changed",
        other => other,
    }
}

fn spent(what: &str, (seconds, count): (f64, u64)) -> Spent {
    Spent { what: what.to_owned(), seconds, count }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{elapsed:>4}} {what}: {{pos}}/{{len}} [{{bar:30}}] {{eta}}"
        ))
        .expect("valid template"),
    );
    bar
}
