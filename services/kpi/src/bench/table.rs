//! `kpi bench`, printed result: the report (`report.rs`) as tables a reader can compare with the
//! goals of issue 6 at a glance.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;

use super::report::{Report, Stage};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut stages = table(&["stage", "events", "seconds", "first progress after s", "events/s", "x broker read"]);
    for s in &report.stages {
        stages.add_row(vec![
            s.name.clone(),
            s.events.to_string(),
            format!("{:.2}", s.seconds),
            s.startup_seconds.map_or("-".into(), |v| format!("{v:.2}")),
            format!("{:.0}", s.events_per_second),
            s.ratio_to_broker_read.map_or("-".into(), |r| format!("{r:.2}")),
        ]);
    }
    out.push_str(&stages.to_string());

    let mut summary = table(&["measure", "value"]);
    for s in report.stages.iter().filter(|s| !s.cpu.is_empty()) {
        summary.add_row(vec![
            format!("CPU over \"{}\", µs an event (cores busy)", s.name),
            cpu_per_event(s, report.run.cpus),
        ]);
    }
    let e2e = &report.end_to_end;
    summary.add_row(vec![
        "end to end, stages one after another (produce + ingest + engine + publisher)".to_owned(),
        format!("{:.2} s", e2e.sequential_seconds),
    ]);
    summary.add_row(vec![
        "end to end, all services running (first produced event → values published)".to_owned(),
        e2e.overlapped_seconds.map_or("not measured (--no-overlap)".into(), |s| format!("{s:.2} s")),
    ]);
    if !e2e.overlapped_cpu.is_empty() {
        let cpu: Vec<String> = e2e.overlapped_cpu.iter().map(|c| format!("{} {:.1} s", c.process, c.seconds)).collect();
        let refreshes = e2e.overlapped_publisher_refreshes.map_or("-".into(), |n| n.to_string());
        summary.add_row(vec![
            "  CPU time meanwhile, seconds (publisher refreshes)".to_owned(),
            format!("{} ({refreshes})", cpu.join(", ")),
        ]);
    }
    if let Some(peer) = &report.sql_peer {
        summary.add_row(vec![
            "SQL batch peer (load + queries)".to_owned(),
            format!("{:.2} s ({:.2} load + {:.2} queries)", peer.seconds, peer.load_seconds, peer.query_seconds),
        ]);
        summary.add_row(vec![
            "end to end / SQL peer".to_owned(),
            e2e.ratio_to_sql_peer.map_or("-".into(), |r| format!("{r:.2}")),
        ]);
        // The whole catalogue is too long a list for one row.
        let indicators = if peer.indicators.len() == kpi_core::indicators::CATALOGUE.len() {
            format!("all {} indicators", peer.indicators.len())
        } else {
            peer.indicators.join(", ")
        };
        summary.add_row(vec![
            format!("SQL peer agrees with the pipeline ({indicators}; strata {})", peer.strata.join(", ")),
            format!("{} of {} cells differ", peer.mismatches, peer.cells_compared),
        ]);
    }
    if let Some(l) = &report.latency {
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
        summary.add_row(vec![
            format!(
                "latency to committed counts at {:.0} ev/s ({} of {} probes seen)",
                l.rate_achieved, l.probes_seen, l.probes
            ),
            format!("p50 {}, p99 {}, max {}", ms(l.p50_ms), ms(l.p99_ms), ms(l.max_ms)),
        ]);
        let g = &l.gauge;
        summary.add_row(vec![
            format!(
                "latency to the publisher's gauges (event to metric; {} of {} probes seen)",
                g.probes_seen, l.probes
            ),
            format!("p50 {}, p99 {}, max {}", ms(g.p50_ms), ms(g.p99_ms), ms(g.max_ms)),
        ]);
        summary.add_row(vec![
            "publisher interval, mean refresh".to_owned(),
            format!("{} ms, {}", l.publisher_interval_ms, ms(l.publisher_refresh_mean_ms)),
        ]);
    }
    for m in &report.memory {
        summary.add_row(vec![
            format!("peak resident memory, {}", m.service),
            m.peak_rss_bytes.map_or("-".into(), |b| format!("{:.0} MiB", b as f64 / 1024.0 / 1024.0)),
        ]);
    }
    out.push('\n');
    out.push_str(&summary.to_string());

    let mut spent = table(&["where the time goes (services' own histograms)", "seconds", "count", "mean ms"]);
    for s in &report.time_spent {
        let mean = if s.count > 0 { format!("{:.1}", s.seconds * 1000.0 / s.count as f64) } else { "-".into() };
        spent.add_row(vec![s.what.clone(), format!("{:.2}", s.seconds), s.count.to_string(), mean]);
    }
    out.push('\n');
    out.push_str(&spent.to_string());

    let mut goals = table(&["goal (issue 6)", "measured", "met"]);
    for g in &report.goals {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not measured",
        };
        goals.add_row(vec![g.goal.to_owned(), g.measured.clone(), met.to_owned()]);
    }
    out.push('\n');
    out.push_str(&goals.to_string());
    out
}

/// `engine 19.6, postgresql 20.3 (1.85 of 2 cores)`: each process's CPU time over the stage
/// per event, and how many cores they kept busy together.
fn cpu_per_event(stage: &Stage, cpus: usize) -> String {
    let events = stage.events.max(1) as f64;
    let each: Vec<String> =
        stage.cpu.iter().map(|c| format!("{} {:.1}", c.process, c.seconds * 1e6 / events)).collect();
    let busy = stage.cpu.iter().map(|c| c.seconds).sum::<f64>() / stage.seconds.max(f64::MIN_POSITIVE);
    format!("{} ({busy:.2} of {cpus} cores)", each.join(", "))
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    table
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stage_and_goal_is_printed() {
        let text = super::render(&super::super::report::tests::sample());
        for expected in [
            "broker read",
            "250",
            "0.25",
            "2.00",
            "0 of 3 cells differ",
            "engine peak memory",
            "not measured",
            "PostgreSQL commits",
            "500.0",
            "CPU over \"engine (to committed counts)\", µs an event (cores busy)",
            // 2.5 s and 1.1 s over 1,000 events; 3.6 s of CPU over the stage's 4 s.
            "engine 2500.0, postgresql 1100.0 (0.90 of 2 cores)",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
    }
}
