//! `kpi alert-rules`: at the far end of the data flow, the Prometheus alert rules over what the
//! services expose on `/metrics`: the publisher's indicator gauges (targets, SPC, rate ratios,
//! generated from the catalogue) and the ingest, engine and publisher service metrics.
//! `deploy/prometheus/rules/kpi-alerts.yml` is this command's output with its defaults; each
//! alert's `runbook` annotation points at its section of `docs/runbook.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use clap::Args;
use kpi_core::indicators::{Direction, Method, CATALOGUE};

/// The scrape jobs of `deploy/prometheus/prometheus.yml`, one per service.
pub const JOBS: [&str; 3] = ["kpi-ingest", "kpi-engine", "kpi-publisher"];

/// A Prometheus duration (`90s`, `15m`, `2h`, `1h30m`), kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromDuration {
    text: String,
    seconds: u64,
}

impl PromDuration {
    pub fn seconds(&self) -> u64 {
        self.seconds
    }
}

impl std::fmt::Display for PromDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PromDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a Prometheus duration such as 90s, 15m, 2h or 1h30m");
        let (mut seconds, mut rest) = (0u64, text);
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = &rest[digits..];
            let (scale, len) = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)]
                .into_iter()
                .find(|(u, _)| unit.starts_with(u) && !unit[1..].starts_with('s'))
                .map(|(u, s)| (s, u.len()))
                .ok_or_else(bad)?;
            seconds = n.checked_mul(scale).and_then(|d| seconds.checked_add(d)).ok_or_else(bad)?;
            rest = &unit[len..];
        }
        if seconds == 0 {
            return Err(bad());
        }
        Ok(PromDuration { text: text.to_owned(), seconds })
    }
}

/// What the alerts fire on. The defaults are what `deploy/prometheus/rules/kpi-alerts.yml` holds.
#[derive(Debug, Clone, Args)]
pub struct AlertSettings {
    /// An ethnic (or other breakdown) rate ratio above this, with its lower 95% limit above 1, alerts.
    #[arg(long, default_value_t = 2.0)]
    pub rate_ratio_threshold: f64,
    /// Period of the rate ratios alerted on: month or r12 (rolling 12 months; steadier).
    #[arg(long, default_value = "r12", value_parser = ["month", "r12"])]
    pub rate_ratio_period: String,
    /// How long an indicator condition must hold before its alert fires.
    #[arg(long, default_value = "15m")]
    pub indicator_for: PromDuration,
    /// No raw event received by ingest (accepted or dead-lettered) for this long alerts.
    #[arg(long, default_value = "2h")]
    pub no_events_for: PromDuration,
    /// Engine consumer lag (messages, summed over partitions) above this alerts ...
    #[arg(long, default_value_t = 10_000)]
    pub consumer_lag_messages: u64,
    /// ... once it has lasted this long.
    #[arg(long, default_value = "15m")]
    pub consumer_lag_for: PromDuration,
    /// Share of raw events dead-lettered over the window above this (0 to 1) alerts ...
    #[arg(long, default_value_t = 0.05)]
    pub dead_letter_ratio: f64,
    /// ... when at least this many were dead-lettered in the window ...
    #[arg(long, default_value_t = 20)]
    pub dead_letter_min: u64,
    /// ... the window.
    #[arg(long, default_value = "15m")]
    pub dead_letter_window: PromDuration,
    /// No successful publisher refresh for this long alerts.
    #[arg(long, default_value = "15m")]
    pub publisher_stale_after: PromDuration,
    /// Where docs/runbook.md is served; each alert links to its section.
    #[arg(long, default_value = "docs/runbook.md")]
    pub runbook_url: String,
}

#[derive(Debug, Args)]
pub struct AlertRulesArgs {
    #[command(flatten)]
    pub settings: AlertSettings,
    /// Output file; standard output if omitted.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn run(args: AlertRulesArgs) -> anyhow::Result<()> {
    let s = &args.settings;
    anyhow::ensure!(s.rate_ratio_threshold > 0.0, "--rate-ratio-threshold must be above 0");
    anyhow::ensure!((0.0..=1.0).contains(&s.dead_letter_ratio), "--dead-letter-ratio must be between 0 and 1");
    let yaml = render(s);
    match &args.output {
        Some(path) => std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display())),
        None => {
            print!("{yaml}");
            Ok(())
        }
    }
}

struct Rule {
    alert: &'static str,
    expr: String,
    for_: String,
    labels: Vec<(&'static str, String)>,
    summary: String,
    description: String,
}

const LATEST_MONTH_ALL: &str = r#"period_kind="month",stratum_type="all",stratum="all""#;

fn indicator_rules(s: &AlertSettings) -> Vec<Rule> {
    let mut rules = Vec::new();
    for i in CATALOGUE {
        let (Some(target), Some((op, side))) = (i.target, breach(i.direction)) else { continue };
        rules.push(Rule {
            alert: "KpiTargetBreached",
            expr: format!("kpi_indicator_value{{indicator=\"{}\",{LATEST_MONTH_ALL}}} {op} {target}", i.id),
            for_: s.indicator_for.to_string(),
            labels: vec![("severity", "warning".into()), ("indicator", i.id.into())],
            summary: format!("{} {side} its target of {}", i.title, with_unit(&target.to_string(), i.unit)),
            description: format!(
                "{}: the latest month's trust-wide value is {}, {side} the target of {} ({}).",
                i.id,
                with_unit("{{ $value | humanize }}", i.unit),
                with_unit(&target.to_string(), i.unit),
                i.direction.code().replace('_', " ")
            ),
        });
    }
    for (direction, icon) in [(Direction::HigherIsBetter, "concern_low"), (Direction::LowerIsBetter, "concern_high")] {
        let ids: Vec<&str> = CATALOGUE.iter().filter(|i| i.direction == direction).map(|i| i.id).collect();
        if ids.is_empty() {
            continue;
        }
        rules.push(Rule {
            alert: "KpiSpecialCauseConcern",
            expr: format!("kpi_indicator_spc_variation{{indicator=~\"{}\",icon=\"{icon}\"}} == 1", ids.join("|")),
            for_: s.indicator_for.to_string(),
            labels: vec![("severity", "warning".into()), ("direction", direction.code().into())],
            summary: "Special-cause concern: {{ $labels.indicator }} ({{ $labels.stratum_type }} {{ $labels.stratum }})"
                .into(),
            description: format!(
                "The latest month of {{{{ $labels.indicator }}}} ({{{{ $labels.stratum_type }}}} {{{{ $labels.stratum }}}}) is special-cause variation in the direction of concern ({icon}; {}).",
                direction.code().replace('_', " ")
            ),
        });
    }
    for i in CATALOGUE {
        let Method::RateRatio { breakdown, reference, .. } = i.method else { continue };
        let t = s.rate_ratio_threshold;
        let select = format!(
            "{{indicator=\"{}\",period_kind=\"{}\",stratum_type=\"{}\",stratum!=\"{reference}\"}}",
            i.id,
            s.rate_ratio_period,
            breakdown.code()
        );
        rules.push(Rule {
            alert: "KpiRateRatioHigh",
            expr: format!(
                "kpi_indicator_value{select} > {t}\nand on (indicator, period_kind, stratum_type, stratum)\nkpi_indicator_lower95{select} > 1"
            ),
            for_: s.indicator_for.to_string(),
            labels: vec![("severity", "warning".into()), ("indicator", i.id.into())],
            summary: format!("{} above {t}: {{{{ $labels.stratum }}}}", i.title),
            description: format!(
                "{}: the {{{{ $labels.period_kind }}}} ratio for {{{{ $labels.stratum }}}} against {reference} is {{{{ $value | humanize }}}}, above {t}, and its lower 95% confidence limit is above 1.",
                i.id
            ),
        });
    }
    rules
}

/// A value as the catalogue's unit reads it: `50%`, `0 bed days`, `2` (counts and ratios).
fn with_unit(value: &str, unit: &str) -> String {
    match unit {
        "%" => format!("{value}%"),
        "count" | "ratio" => value.to_owned(),
        unit => format!("{value} {unit}"),
    }
}

fn breach(direction: Direction) -> Option<(&'static str, &'static str)> {
    match direction {
        Direction::HigherIsBetter => Some(("<", "below")),
        Direction::LowerIsBetter => Some((">", "above")),
        Direction::Neither => None,
    }
}

fn pipeline_rules(s: &AlertSettings) -> Vec<Rule> {
    let raw = |f: &str, w: &PromDuration| {
        format!("{f}(kpi_ingest_events_accepted_total[{w}]) or {f}(kpi_ingest_events_rejected_total[{w}])")
    };
    let w = &s.dead_letter_window;
    vec![
        Rule {
            alert: "KpiServiceDown",
            expr: format!("up{{job=~\"{}\"}} == 0", JOBS.join("|")),
            for_: "5m".into(),
            labels: vec![("severity", "critical".into())],
            summary: "{{ $labels.job }} on {{ $labels.instance }} is down".into(),
            description: "Prometheus has not scraped {{ $labels.job }} /metrics on {{ $labels.instance }} for 5 minutes.".into(),
        },
        Rule {
            alert: "KpiNoEventsIngested",
            expr: format!("sum by (job) ({}) == 0", raw("rate", &PromDuration::from_str("15m").expect("valid"))),
            for_: s.no_events_for.to_string(),
            labels: vec![("severity", "critical".into())],
            summary: format!("No EPR events received for {}", s.no_events_for),
            description: format!(
                "{{{{ $labels.job }}}} has received no raw event (accepted or dead-lettered) for {}: the EPR feed has stopped or ingest cannot consume.",
                s.no_events_for
            ),
        },
        Rule {
            alert: "KpiConsumerLagHigh",
            expr: format!("sum by (job) (kpi_engine_consumer_lag_messages) > {}", s.consumer_lag_messages),
            for_: s.consumer_lag_for.to_string(),
            labels: vec![("severity", "warning".into())],
            summary: "Engine consumer lag is {{ $value }} messages".into(),
            description: format!(
                "{{{{ $labels.job }}}} has had more than {} canonical messages not yet consumed for {}: indicator counts are behind the feed.",
                s.consumer_lag_messages, s.consumer_lag_for
            ),
        },
        Rule {
            alert: "KpiDeadLetterSurge",
            expr: format!(
                "(\n  sum by (job) (rate(kpi_ingest_events_rejected_total[{w}]))\n/\n  sum by (job) ({})\n) > {}\nand\nsum by (job) (increase(kpi_ingest_events_rejected_total[{w}])) >= {}",
                raw("rate", w),
                s.dead_letter_ratio,
                s.dead_letter_min
            ),
            for_: "10m".into(),
            labels: vec![("severity", "critical".into())],
            summary: "{{ $value | humanizePercentage }} of EPR events dead-lettered".into(),
            description: format!(
                "{{{{ $labels.job }}}} refused {{{{ $value | humanizePercentage }}}} of raw events over the last {w} (threshold {}): they are missing from every indicator until corrected and resent.",
                s.dead_letter_ratio
            ),
        },
        Rule {
            alert: "KpiPublisherStale",
            expr: format!(
                "time() - kpi_publisher_last_refresh_timestamp_seconds > {}",
                s.publisher_stale_after.seconds()
            ),
            for_: "5m".into(),
            labels: vec![("severity", "warning".into())],
            summary: "Indicator values not refreshed for {{ $value | humanizeDuration }}".into(),
            description: format!(
                "{{{{ $labels.job }}}} on {{{{ $labels.instance }}}} has not refreshed indicator values for over {}: published values and gauges are stale.",
                s.publisher_stale_after
            ),
        },
    ]
}

/// The alert rules file for these settings.
pub fn render(s: &AlertSettings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `kpi alert-rules` from the indicator catalogue (services/kpi-core/src/indicators/mod.rs)."
    );
    let _ = writeln!(out, "# Do not edit: change the catalogue or the options, then regenerate with");
    let _ = writeln!(
        out,
        "#   kpi alert-rules --rate-ratio-threshold {} --rate-ratio-period {} --indicator-for {} \\",
        s.rate_ratio_threshold, s.rate_ratio_period, s.indicator_for
    );
    let _ = writeln!(
        out,
        "#     --no-events-for {} --consumer-lag-messages {} --consumer-lag-for {} \\",
        s.no_events_for, s.consumer_lag_messages, s.consumer_lag_for
    );
    let _ = writeln!(
        out,
        "#     --dead-letter-ratio {} --dead-letter-min {} --dead-letter-window {} \\",
        s.dead_letter_ratio, s.dead_letter_min, s.dead_letter_window
    );
    let _ = writeln!(out, "#     --publisher-stale-after {} --runbook-url {}", s.publisher_stale_after, s.runbook_url);
    out.push_str("groups:\n");
    for (name, rules) in [("kpi-indicators", indicator_rules(s)), ("kpi-pipeline", pipeline_rules(s))] {
        let _ = writeln!(out, "  - name: {name}\n    rules:");
        for rule in rules {
            write_rule(&mut out, &rule, &s.runbook_url);
        }
    }
    out
}

fn write_rule(out: &mut String, rule: &Rule, runbook_url: &str) {
    let _ = writeln!(out, "      - alert: {}\n        expr: |-", rule.alert);
    for line in rule.expr.lines() {
        let _ = writeln!(out, "          {line}");
    }
    let _ = writeln!(out, "        for: {}\n        labels:", rule.for_);
    for (key, value) in &rule.labels {
        let _ = writeln!(out, "          {key}: {}", scalar(value));
    }
    let runbook = format!("{runbook_url}#{}", rule.alert.to_lowercase());
    let _ = writeln!(out, "        annotations:");
    for (key, value) in [("summary", &rule.summary), ("description", &rule.description), ("runbook", &runbook)] {
        let _ = writeln!(out, "          {key}: {}", scalar(value));
    }
}

/// A YAML scalar: plain when it is a simple word, else double-quoted (JSON escapes are YAML's).
fn scalar(value: &str) -> String {
    let simple = value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "_-./#".contains(c))
        && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(&value.to_lowercase().as_str());
    if simple {
        value.to_owned()
    } else {
        serde_json::to_string(value).expect("a string serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: AlertSettings,
    }

    fn defaults() -> AlertSettings {
        Wrapper::parse_from(["x"]).settings
    }

    #[test]
    fn durations_parse_as_prometheus_does() {
        assert_eq!("1h30m".parse::<PromDuration>().unwrap().seconds(), 5400);
        assert_eq!("15m".parse::<PromDuration>().unwrap().to_string(), "15m");
        for bad in ["", "15", "m", "0s", "1.5h", "15ms", "2 h"] {
            assert!(bad.parse::<PromDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_catalogue_target_has_a_rule_in_the_right_direction() {
        let yaml = render(&defaults());
        assert!(yaml.contains(r#"kpi_indicator_value{indicator="tt_recovery_rate",period_kind="month",stratum_type="all",stratum="all"} < 50"#));
        assert!(yaml.contains(
            r#"{indicator="inappropriate_oap_bed_days",period_kind="month",stratum_type="all",stratum="all"} > 0"#
        ));
        let targets = CATALOGUE.iter().filter(|i| i.target.is_some()).count();
        assert_eq!(yaml.matches("alert: KpiTargetBreached").count(), targets);
        assert!(yaml.contains("runbook: docs/runbook.md#kpitargetbreached"));
    }

    #[test]
    fn scalars_are_quoted_when_needed() {
        assert_eq!(scalar("warning"), "warning");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("a: {{ $value }}"), "\"a: {{ $value }}\"");
    }
}
