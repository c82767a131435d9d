//! Indicator gauges for Prometheus: the latest period's published value of every indicator and
//! stratum. Only published (disclosure-controlled) values reach them; a suppressed cell has no
//! value series and `kpi_indicator_suppressed` 1 instead. Labels are bounded by the catalogue
//! and the closed stratum lists, never by data.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use kpi_core::period::PeriodKind;
use kpi_core::spc::SpcRow;
use kpi_core::values::PublishedValue;
use prometheus::{GaugeVec, Opts, Registry};
use rustc_hash::FxHashMap;

const LABELS: [&str; 4] = ["indicator", "period_kind", "stratum_type", "stratum"];

#[derive(Clone)]
pub struct IndicatorGauges {
    value: GaugeVec,
    numerator: GaugeVec,
    lower95: GaugeVec,
    upper95: GaugeVec,
    lower998: GaugeVec,
    upper998: GaugeVec,
    suppressed: GaugeVec,
    period_end: GaugeVec,
    spc_mean: GaugeVec,
    spc_lower: GaugeVec,
    spc_upper: GaugeVec,
    spc_special_cause: GaugeVec,
    spc_variation: GaugeVec,
    /// Every series the last [`show`](Self::show) set, with its value.
    shown: Arc<Mutex<FxHashMap<Series, f64>>>,
}

const SPC_LABELS: [&str; 3] = ["indicator", "stratum_type", "stratum"];

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
    let gauge = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

impl IndicatorGauges {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        Ok(IndicatorGauges {
            value: gauge(
                registry,
                "kpi_indicator_value",
                "Latest published indicator value (unit per indicator_catalogue).",
                &LABELS,
            )?,
            numerator: gauge(
                registry,
                "kpi_indicator_numerator",
                "Latest published numerator (rounded to 5 outside the trust-wide stratum).",
                &LABELS,
            )?,
            lower95: gauge(
                registry,
                "kpi_indicator_lower95",
                "Lower 95% confidence limit of the latest value.",
                &LABELS,
            )?,
            upper95: gauge(
                registry,
                "kpi_indicator_upper95",
                "Upper 95% confidence limit of the latest value.",
                &LABELS,
            )?,
            lower998: gauge(
                registry,
                "kpi_indicator_lower998",
                "Lower 99.8% confidence limit of the latest value.",
                &LABELS,
            )?,
            upper998: gauge(
                registry,
                "kpi_indicator_upper998",
                "Upper 99.8% confidence limit of the latest value.",
                &LABELS,
            )?,
            suppressed: gauge(
                registry,
                "kpi_indicator_suppressed",
                "1 when the latest value is suppressed by disclosure control.",
                &LABELS,
            )?,
            period_end: gauge(
                registry,
                "kpi_indicator_period_end_timestamp_seconds",
                "End (Unix time, start of the last day) of the latest period the gauges show.",
                &["indicator", "period_kind"],
            )?,
            spc_mean: gauge(registry, "kpi_indicator_spc_mean", "SPC mean of the monthly series.", &SPC_LABELS)?,
            spc_lower: gauge(registry, "kpi_indicator_spc_lower_limit", "SPC lower process limit.", &SPC_LABELS)?,
            spc_upper: gauge(registry, "kpi_indicator_spc_upper_limit", "SPC upper process limit.", &SPC_LABELS)?,
            spc_special_cause: gauge(
                registry,
                "kpi_indicator_spc_special_cause",
                "1 when the latest month is special-cause variation, else 0.",
                &SPC_LABELS,
            )?,
            spc_variation: gauge(
                registry,
                "kpi_indicator_spc_variation",
                "1 for the variation icon of the latest month (label icon).",
                &["indicator", "stratum_type", "stratum", "icon"],
            )?,
            shown: Arc::default(),
        })
    }

    /// Replaces every gauge with the latest period's published values and SPC reading: sets the
    /// series whose value changed since the last call, removes those no longer wanted (a value
    /// suppressed, an icon changed) and leaves the rest. Resetting and setting every series
    /// again made labels anew for each, a quarter of a refresh at a steady rate.
    pub fn show(&self, published: &[PublishedValue], spc: &[SpcRow]) {
        let wanted = wanted(published, spc);
        let mut shown = self.shown.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (&(gauge, labels), &value) in &wanted {
            if shown.get(&(gauge, labels)) != Some(&value) {
                let (vec, arity) = self.gauge(gauge);
                vec.with_label_values(&labels[..arity]).set(value);
            }
        }
        for (gauge, labels) in shown.keys().filter(|series| !wanted.contains_key(*series)) {
            let (vec, arity) = self.gauge(*gauge);
            // Only series this function set are removed, so the series is there.
            let _ = vec.remove_label_values(&labels[..arity]);
        }
        *shown = wanted;
    }

    fn gauge(&self, gauge: Gauge) -> (&GaugeVec, usize) {
        match gauge {
            Gauge::Value => (&self.value, 4),
            Gauge::Numerator => (&self.numerator, 4),
            Gauge::Lower95 => (&self.lower95, 4),
            Gauge::Upper95 => (&self.upper95, 4),
            Gauge::Lower998 => (&self.lower998, 4),
            Gauge::Upper998 => (&self.upper998, 4),
            Gauge::Suppressed => (&self.suppressed, 4),
            Gauge::PeriodEnd => (&self.period_end, 2),
            Gauge::SpcMean => (&self.spc_mean, 3),
            Gauge::SpcLower => (&self.spc_lower, 3),
            Gauge::SpcUpper => (&self.spc_upper, 3),
            Gauge::SpcSpecialCause => (&self.spc_special_cause, 3),
            Gauge::SpcVariation => (&self.spc_variation, 4),
        }
    }
}

/// Which of the gauges a series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Gauge {
    Value,
    Numerator,
    Lower95,
    Upper95,
    Lower998,
    Upper998,
    Suppressed,
    PeriodEnd,
    SpcMean,
    SpcLower,
    SpcUpper,
    SpcSpecialCause,
    SpcVariation,
}

/// One series: its gauge and its label values (the gauge's arity of them, then empty).
type Series = (Gauge, [&'static str; 4]);

/// Every series the gauges should show, with its value.
fn wanted(published: &[PublishedValue], spc: &[SpcRow]) -> FxHashMap<Series, f64> {
    let mut wanted = FxHashMap::default();
    let mut latest: BTreeMap<(&'static str, PeriodKind), NaiveDate> = BTreeMap::new();
    for v in published {
        let end = latest.entry((v.indicator, v.period.kind)).or_insert(v.period.end);
        *end = (*end).max(v.period.end);
    }
    for ((indicator, kind), end) in &latest {
        let seconds = end.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp();
        wanted.insert((Gauge::PeriodEnd, [*indicator, kind.code(), "", ""]), seconds as f64);
    }
    for v in published.iter().filter(|v| latest.get(&(v.indicator, v.period.kind)) == Some(&v.period.end)) {
        let labels = [v.indicator, v.period.kind.code(), v.stratum.kind.code(), v.stratum.value];
        wanted.insert((Gauge::Suppressed, labels), if v.suppressed { 1.0 } else { 0.0 });
        if let Some(n) = v.numerator {
            wanted.insert((Gauge::Numerator, labels), n as f64);
        }
        if let Some(x) = v.value {
            wanted.insert((Gauge::Value, labels), x);
        }
        if let Some((lower, upper)) = v.limits95 {
            wanted.insert((Gauge::Lower95, labels), lower);
            wanted.insert((Gauge::Upper95, labels), upper);
        }
        if let Some((lower, upper)) = v.limits998 {
            wanted.insert((Gauge::Lower998, labels), lower);
            wanted.insert((Gauge::Upper998, labels), upper);
        }
    }
    // Rows come series by series in date order, so the last row of a series is its latest.
    let mut latest: BTreeMap<(&'static str, &'static str, &'static str), &SpcRow> = BTreeMap::new();
    for row in spc {
        latest.insert((row.indicator, row.stratum.kind.code(), row.stratum.value), row);
    }
    for ((indicator, stratum_type, stratum), row) in latest {
        let labels = [indicator, stratum_type, stratum, ""];
        wanted.insert((Gauge::SpcMean, labels), row.mean);
        wanted.insert((Gauge::SpcLower, labels), row.lower_limit);
        wanted.insert((Gauge::SpcUpper, labels), row.upper_limit);
        wanted.insert((Gauge::SpcSpecialCause, labels), if row.special_cause.is_some() { 1.0 } else { 0.0 });
        wanted.insert((Gauge::SpcVariation, [indicator, stratum_type, stratum, row.variation_icon]), 1.0);
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi_core::period::Period;
    use kpi_core::strata::{Stratum, StratumType};

    fn value(stratum: &'static str, x: Option<f64>) -> PublishedValue {
        PublishedValue {
            indicator: "mha_detentions",
            period: Period { kind: PeriodKind::Month, end: NaiveDate::from_ymd_opt(2024, 1, 31).unwrap() },
            stratum: Stratum { kind: StratumType::EthnicGroup, value: stratum },
            numerator: x.map(|x| x as i64),
            denominator: None,
            value: x,
            limits95: None,
            limits998: None,
            suppressed: x.is_none(),
        }
    }

    fn spc(icon: &'static str) -> SpcRow {
        SpcRow {
            indicator: "mha_detentions",
            stratum: Stratum::ALL,
            period_end: NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(),
            value: 3.0,
            mean: 2.0,
            lower_limit: 0.0,
            upper_limit: 5.0,
            special_cause: None,
            variation_icon: icon,
            assurance_icon: None,
        }
    }

    /// Every series of `name` as (its labels, name=value in name order, and its value), sorted.
    fn series(registry: &Registry, name: &str) -> Vec<(String, f64)> {
        let mut found: Vec<(String, f64)> = registry
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().iter())
            .map(|m| {
                let labels: Vec<String> = m.get_label().iter().map(|l| format!("{}={}", l.name(), l.value())).collect();
                (labels.join(","), m.get_gauge().get_value())
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    #[test]
    fn a_second_show_leaves_exactly_the_series_a_first_show_of_the_same_rows_would() {
        let registry = Registry::new();
        let gauges = IndicatorGauges::register(&registry).unwrap();
        gauges.show(&[value("black", Some(10.0)), value("white", Some(20.0))], &[spc("common_cause")]);
        // White now suppressed (its value series goes), black changed, the SPC icon changed.
        let second = [value("black", Some(15.0)), value("white", None)];
        gauges.show(&second, &[spc("special_cause_concern")]);

        let fresh = Registry::new();
        IndicatorGauges::register(&fresh).unwrap().show(&second, &[spc("special_cause_concern")]);
        for name in ["kpi_indicator_value", "kpi_indicator_suppressed", "kpi_indicator_spc_variation"] {
            assert_eq!(series(&registry, name), series(&fresh, name), "{name}");
        }
        let black = "indicator=mha_detentions,period_kind=month,stratum=black,stratum_type=ethnic_group";
        assert_eq!(series(&registry, "kpi_indicator_value"), vec![(black.into(), 15.0)]);
        let icon = "icon=special_cause_concern,indicator=mha_detentions,stratum=all,stratum_type=all";
        assert_eq!(series(&registry, "kpi_indicator_spc_variation"), vec![(icon.into(), 1.0)]);
    }
}
