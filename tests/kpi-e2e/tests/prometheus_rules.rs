//! The monitoring end of the data flow: the Prometheus and Alertmanager configuration in
//! `deploy/` over the services' `/metrics`. The alert rules must be exactly what `kpi
//! alert-rules` generates from the catalogue, pass promtool and their unit tests (a firing and a
//! non-firing case for every alert), use only metric names the services register, and link to a
//! runbook section; the Alertmanager configuration must pass amtool.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use kpi_e2e::pipeline::{kpi_bin, repo_root};
use kpi_e2e::prom_rules::{self, amtool_bin, promtool_bin, run_tool};

const ALERTS: &str = "deploy/prometheus/rules/kpi-alerts.yml";
const RECORDING: &str = "deploy/prometheus/rules/kpi-recording.yml";
const TESTS: &str = "deploy/prometheus/tests/kpi-alerts.test.yml";

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn committed_alert_rules_are_what_the_catalogue_generates() {
    let output = Command::new(kpi_bin()).arg("alert-rules").output().expect("running kpi alert-rules");
    assert!(output.status.success(), "kpi alert-rules failed: {}", String::from_utf8_lossy(&output.stderr));
    let generated = String::from_utf8(output.stdout).expect("UTF-8 rules");
    assert!(
        generated == read(ALERTS),
        "{ALERTS} differs from `kpi alert-rules` (the catalogue or the generator changed): regenerate it with\n  \
         target/debug/kpi alert-rules -o {ALERTS}\nand update {TESTS} to match"
    );
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let root = repo_root();
    run_tool(&promtool_bin(), &["check", "config", "deploy/prometheus/prometheus.yml"], &root);
    run_tool(&promtool_bin(), &["check", "rules", ALERTS, RECORDING], &root);
}

#[test]
fn alert_unit_tests_pass_and_cover_every_alert_firing_and_not() {
    run_tool(&promtool_bin(), &["test", "rules", TESTS], &repo_root());
    let alerts = prom_rules::alerts(&read(ALERTS));
    let tested = prom_rules::tested_alerts(&read(TESTS));
    assert!(alerts.len() >= 8, "alerts found in {ALERTS}: {alerts:?}");
    for alert in &alerts {
        let (name, label) = alert;
        assert!(tested.fires(alert), "{TESTS} has no case where {name} fires (rule label {label:?})");
        assert!(tested.not_firing.contains(name), "{TESTS} has no case where {name} does not fire (exp_alerts: [])");
    }
}

#[test]
fn alertmanager_config_passes_amtool() {
    run_tool(&amtool_bin(), &["check-config", "deploy/alertmanager/alertmanager.yml"], &repo_root());
}

#[test]
fn rules_and_tests_use_only_metrics_the_services_register() {
    let root = repo_root();
    let mut defined = BTreeSet::new();
    for service in ["kpi-ingest", "kpi-engine", "kpi-publisher", "kpi-runtime"] {
        defined.extend(prom_rules::metric_names_in_sources(&root.join("services").join(service).join("src")));
    }
    for expected in ["kpi_indicator_value", "kpi_ingest_events_rejected_total", "kpi_engine_consumer_lag_messages"] {
        assert!(defined.contains(expected), "{expected} not found in the services' sources: {defined:?}");
    }
    let recorded = prom_rules::recorded_names(&read(RECORDING));
    let mut used = BTreeSet::new();
    for file in [ALERTS, RECORDING] {
        for expr in prom_rules::exprs(&read(file)) {
            for name in prom_rules::identifiers(&expr) {
                if name.contains(':') {
                    assert!(recorded.contains(&name), "{file}: {name} is no recording rule of {RECORDING}");
                } else if name.starts_with("kpi_") {
                    used.insert((file, name));
                }
            }
        }
    }
    assert!(used.len() >= 10, "metric names found in the rules: {used:?}");
    for (file, name) in &used {
        assert!(prom_rules::is_defined(name, &defined), "{file} uses {name}, which no service registers");
    }
    for name in prom_rules::test_series_names(&read(TESTS)) {
        assert!(
            name == "up" || prom_rules::is_defined(&name, &defined),
            "{TESTS} feeds {name}, which no service registers"
        );
    }
}

#[test]
fn every_alert_has_a_runbook_section() {
    let runbook = read("docs/runbook.md");
    let headings: BTreeSet<&str> = runbook.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
    for (name, _) in prom_rules::alerts(&read(ALERTS)) {
        assert!(headings.contains(name.as_str()), "docs/runbook.md has no section `## {name}`");
    }
    let links: Vec<String> = read(ALERTS)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook: "))
        .map(|link| link.trim_matches('"').to_owned())
        .collect();
    assert!(!links.is_empty());
    for link in links {
        let (file, anchor) = link.split_once('#').expect("runbook link with an anchor");
        assert!(PathBuf::from(file).is_relative() && repo_root().join(file).is_file(), "{link}: no such file");
        assert!(headings.iter().any(|h| h.to_lowercase() == anchor), "{link}: no such section");
    }
}
