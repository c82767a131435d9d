//! `kpi bench`, the end of a run: what was measured, as one value that is both printed as a
//! table (`table.rs`) and written as JSON (`--json`), with the goals checked.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run: RunInfo,
    /// Throughput stages in data-flow order; the first is the broker's read speed.
    pub stages: Vec<Stage>,
    pub end_to_end: EndToEnd,
    pub sql_peer: Option<SqlPeer>,
    pub latency: Option<Latency>,
    pub memory: Vec<Memory>,
    /// Where each service spent its time, from its own duration histograms.
    pub time_spent: Vec<Spent>,
    pub goals: Vec<Goal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Spent {
    pub what: String,
    pub seconds: f64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub lines: u64,
    pub people: u32,
    pub months: u32,
    pub partitions: i32,
    pub brokers: String,
    pub cpus: usize,
    pub started_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub events: u64,
    /// Time the stage took for all its events; for a service, from starting its process (start-up,
    /// group join and migration included: a conservative rate).
    pub seconds: f64,
    /// For a service: from starting its process until its metrics first showed progress (for the
    /// engine, its first committed batch). Part of `seconds`.
    pub startup_seconds: Option<f64>,
    pub events_per_second: f64,
    pub ratio_to_broker_read: Option<f64>,
    /// For a service run alone (ingest, engine): CPU time of the service, then of PostgreSQL and
    /// the broker (each if it runs on this machine), over `seconds`; empty for the other stages.
    /// Set against the events, it is the work an event costs each, which bounds the rate two
    /// cores can give.
    pub cpu: Vec<ProcessCpu>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndToEnd {
    /// Produce + ingest + engine + publisher, each from its start to its last event, run one
    /// after another: an upper bound for the same stages overlapping.
    pub sequential_seconds: f64,
    /// From the first produced event to published values with all services running (warmed up)
    /// while the feed is produced; `None` with `--no-overlap`.
    pub overlapped_seconds: Option<f64>,
    /// The overlapped time (else the sequential one) over the SQL peer's.
    pub ratio_to_sql_peer: Option<f64>,
    /// CPU time of each service over the overlapped time, then of PostgreSQL, the broker (each
    /// if it runs on this machine) and the bench itself (empty with `--no-overlap`).
    pub overlapped_cpu: Vec<ProcessCpu>,
    /// Refreshes the publisher made over the overlapped time.
    pub overlapped_publisher_refreshes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessCpu {
    /// A service, `postgresql`, `broker (tansu)` or `bench (producer)`.
    pub process: &'static str,
    /// User plus system, from /proc.
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SqlPeer {
    pub load_seconds: f64,
    pub query_seconds: f64,
    pub seconds: f64,
    pub indicators: Vec<&'static str>,
    pub strata: Vec<&'static str>,
    pub cells_compared: u64,
    pub mismatches: u64,
    pub mismatch_examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub definition: &'static str,
    pub rate_target: u32,
    pub rate_achieved: f64,
    pub seconds: f64,
    pub probes: usize,
    /// Probes whose commit was seen; the others count as slower than any seen (so a p99 that
    /// falls on them is `None`: not measured, and not met).
    pub probes_seen: usize,
    /// Load events the broker did not acknowledge (the rate was more than it took).
    pub events_not_produced: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The same probes to the publisher's gauges: the event-to-metric latency.
    pub gauge: GaugeLatency,
    /// The publisher's look interval (a fallback: it refreshes on each commit's notification)
    /// and its mean refresh over the run, most of the gauge latency beyond the commit.
    pub publisher_interval_ms: u64,
    pub publisher_refresh_mean_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GaugeLatency {
    pub definition: &'static str,
    /// Probes the gauges were seen to include; the others count as slower than any seen.
    pub probes_seen: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub service: &'static str,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: &'static str,
    /// None when the run did not measure it.
    pub met: Option<bool>,
    pub measured: String,
}

/// [`percentile`] of `total` samples of which only `seen` were observed, the others known to
/// be larger than any of them: `None` when the rank falls on an unobserved one.
pub fn percentile_censored(seen: &[f64], total: usize, p: f64) -> Option<f64> {
    let mut samples = seen.to_vec();
    samples.resize(total.max(seen.len()), f64::INFINITY);
    percentile(&samples, p).filter(|v| v.is_finite())
}

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; `None` for none. Nearest rank
/// (a sample that was actually seen, no interpolation) because the samples are few (one probe
/// per second).
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

pub fn per_second(events: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        events as f64 / seconds
    } else {
        0.0
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Report {
    /// Fills each stage's ratio to the broker's read speed, the end-to-end ratio and the goals.
    pub fn finish(mut self) -> Report {
        let broker = self.stages.iter().find(|s| s.name == BROKER_READ).map(|s| s.events_per_second);
        for stage in &mut self.stages {
            stage.ratio_to_broker_read = broker.filter(|b| *b > 0.0).map(|b| stage.events_per_second / b);
        }
        let sql = self.sql_peer.as_ref().map(|p| p.seconds);
        let e2e = self.end_to_end.overlapped_seconds.unwrap_or(self.end_to_end.sequential_seconds);
        self.end_to_end.ratio_to_sql_peer = sql.filter(|s| *s > 0.0).map(|s| e2e / s);
        let engine = self.stages.iter().find(|s| s.name == ENGINE);
        let engine_memory = self.memory.iter().find(|m| m.service == "engine").and_then(|m| m.peak_rss_bytes);
        let p99 = self.latency.as_ref().filter(|l| l.probes > 0).map(|l| l.gauge.p99_ms);
        self.goals = vec![
            Goal {
                goal: "engine throughput >= 0.5 x broker read speed",
                met: engine.and_then(|e| e.ratio_to_broker_read).map(|r| r >= 0.5),
                measured: engine.and_then(|e| e.ratio_to_broker_read).map_or("-".into(), |r| format!("{r:.2} x")),
            },
            Goal {
                goal: "end to end below the SQL peer",
                met: self.end_to_end.ratio_to_sql_peer.map(|r| r < 1.0),
                measured: self.end_to_end.ratio_to_sql_peer.map_or("-".into(), |r| format!("{r:.2} x SQL peer")),
            },
            Goal {
                goal: "event-to-metric p99 < 2 s at the steady rate",
                met: p99.map(|p| p.is_some_and(|p| p < 2000.0)),
                measured: match p99 {
                    Some(Some(p)) => format!("p99 {p:.0} ms to the gauges"),
                    Some(None) => "p99 not seen (probes lost or too slow)".into(),
                    None => "-".into(),
                },
            },
            Goal {
                goal: "engine peak memory < 1 GiB",
                met: engine_memory.map(|m| (m as f64) < GIB),
                measured: engine_memory.map_or("-".into(), |m| format!("{:.0} MiB", m as f64 / 1024.0 / 1024.0)),
            },
        ];
        self
    }
}

pub const BROKER_READ: &str = "broker read (plain consumer)";
pub const ENGINE: &str = "engine (to committed counts)";

#[cfg(test)]
pub mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50.0));
        assert_eq!(percentile(&samples, 99.0), Some(99.0));
        assert_eq!(percentile(&samples, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile_censored(&[1.0, 2.0], 4, 50.0), Some(2.0));
        assert_eq!(percentile_censored(&[1.0, 2.0], 4, 99.0), None);
    }

    pub fn sample() -> Report {
        let stage = |name: &str, events, seconds| Stage {
            name: name.to_owned(),
            events,
            seconds,
            startup_seconds: None,
            events_per_second: per_second(events, seconds),
            ratio_to_broker_read: None,
            cpu: vec![],
        };
        let engine = Stage {
            cpu: vec![
                ProcessCpu { process: "engine", seconds: 2.5 },
                ProcessCpu { process: "postgresql", seconds: 1.1 },
            ],
            ..stage(ENGINE, 1000, 4.0)
        };
        Report {
            run: RunInfo {
                lines: 1000,
                people: 10,
                months: 3,
                partitions: 2,
                brokers: "b:1".into(),
                cpus: 2,
                started_at: "t".into(),
            },
            stages: vec![stage(BROKER_READ, 1000, 1.0), engine],
            end_to_end: EndToEnd {
                sequential_seconds: 10.0,
                overlapped_seconds: None,
                ratio_to_sql_peer: None,
                overlapped_cpu: vec![],
                overlapped_publisher_refreshes: None,
            },
            sql_peer: Some(SqlPeer {
                load_seconds: 1.0,
                query_seconds: 4.0,
                seconds: 5.0,
                indicators: vec!["mha_detentions"],
                strata: vec!["all"],
                cells_compared: 3,
                mismatches: 0,
                mismatch_examples: vec![],
            }),
            latency: None,
            memory: vec![Memory { service: "engine", peak_rss_bytes: Some(512 * 1024 * 1024) }],
            time_spent: vec![Spent { what: "engine: PostgreSQL commits".into(), seconds: 1.5, count: 3 }],
            goals: vec![],
        }
        .finish()
    }

    #[test]
    fn ratios_and_goals_are_filled_in() {
        let report = sample();
        assert_eq!(report.stages[1].ratio_to_broker_read, Some(0.25));
        assert_eq!(report.end_to_end.ratio_to_sql_peer, Some(2.0));
        let met: Vec<Option<bool>> = report.goals.iter().map(|g| g.met).collect();
        assert_eq!(met, [Some(false), Some(false), None, Some(true)]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["stages"][1]["events_per_second"], 250.0);
        assert_eq!(json["goals"][2]["met"], serde_json::Value::Null);
    }

    fn latency(committed_p99: f64, gauge_p99: Option<f64>) -> Latency {
        Latency {
            definition: "d",
            rate_target: 2000,
            rate_achieved: 2000.0,
            seconds: 30.0,
            probes: 30,
            probes_seen: 30,
            events_not_produced: 0,
            p50_ms: Some(committed_p99 / 2.0),
            p99_ms: Some(committed_p99),
            max_ms: Some(committed_p99),
            gauge: GaugeLatency {
                definition: "g",
                probes_seen: if gauge_p99.is_some() { 30 } else { 29 },
                p50_ms: gauge_p99.map(|p| p / 2.0),
                p99_ms: gauge_p99,
                max_ms: gauge_p99,
            },
            publisher_interval_ms: 2000,
            publisher_refresh_mean_ms: Some(300.0),
        }
    }

    #[test]
    fn the_latency_goal_is_judged_on_the_gauges_not_the_commit() {
        let goal = |l: Latency| {
            let report = Report { latency: Some(l), ..sample() }.finish();
            let goal = report.goals.into_iter().find(|g| g.goal.contains("event-to-metric")).unwrap();
            (goal.met, goal.measured)
        };
        assert_eq!(goal(latency(700.0, Some(1900.0))), (Some(true), "p99 1900 ms to the gauges".into()));
        assert_eq!(goal(latency(700.0, Some(2600.0))).0, Some(false), "committed in time is not published in time");
        assert_eq!(goal(latency(700.0, None)).0, Some(false), "a probe the gauges never showed fails it");
    }
}
