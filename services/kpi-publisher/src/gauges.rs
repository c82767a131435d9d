//! Indicator gauges for Prometheus: the latest period's published value of every indicator and
//! stratum. Only published (disclosure-controlled) values reach them; a suppressed cell has no
//! value series and `kpi_indicator_suppressed` 1 instead. Labels are bounded by the catalogue
//! and the closed stratum lists, never by data.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use kpi_core::period::PeriodKind;
use kpi_core::spc::SpcRow;
use kpi_core::values::PublishedValue;
use prometheus::{GaugeVec, Opts, Registry};

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
        })
    }

    /// Replaces every gauge with the latest period's published values and SPC reading.
    pub fn show(&self, published: &[PublishedValue], spc: &[SpcRow]) {
        let mut latest: BTreeMap<(&str, PeriodKind), NaiveDate> = BTreeMap::new();
        for v in published {
            let end = latest.entry((v.indicator, v.period.kind)).or_insert(v.period.end);
            *end = (*end).max(v.period.end);
        }
        for g in [
            &self.value,
            &self.numerator,
            &self.lower95,
            &self.upper95,
            &self.lower998,
            &self.upper998,
            &self.suppressed,
            &self.period_end,
            &self.spc_mean,
            &self.spc_lower,
            &self.spc_upper,
            &self.spc_special_cause,
            &self.spc_variation,
        ] {
            g.reset();
        }
        for ((indicator, kind), end) in &latest {
            let seconds = end.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp();
            self.period_end.with_label_values(&[indicator, kind.code()]).set(seconds as f64);
        }
        for v in published.iter().filter(|v| latest.get(&(v.indicator, v.period.kind)) == Some(&v.period.end)) {
            let labels = [v.indicator, v.period.kind.code(), v.stratum.kind.code(), v.stratum.value];
            self.suppressed.with_label_values(&labels).set(if v.suppressed { 1.0 } else { 0.0 });
            if let Some(n) = v.numerator {
                self.numerator.with_label_values(&labels).set(n as f64);
            }
            if let Some(x) = v.value {
                self.value.with_label_values(&labels).set(x);
            }
            if let Some((lower, upper)) = v.limits95 {
                self.lower95.with_label_values(&labels).set(lower);
                self.upper95.with_label_values(&labels).set(upper);
            }
            if let Some((lower, upper)) = v.limits998 {
                self.lower998.with_label_values(&labels).set(lower);
                self.upper998.with_label_values(&labels).set(upper);
            }
        }
        // Rows come series by series in date order, so the last row of a series is its latest.
        let mut latest: BTreeMap<(&str, &str, &str), &SpcRow> = BTreeMap::new();
        for row in spc {
            latest.insert((row.indicator, row.stratum.kind.code(), row.stratum.value), row);
        }
        for ((indicator, stratum_type, stratum), row) in latest {
            let labels = [indicator, stratum_type, stratum];
            self.spc_mean.with_label_values(&labels).set(row.mean);
            self.spc_lower.with_label_values(&labels).set(row.lower_limit);
            self.spc_upper.with_label_values(&labels).set(row.upper_limit);
            self.spc_special_cause.with_label_values(&labels).set(if row.special_cause.is_some() { 1.0 } else { 0.0 });
            self.spc_variation.with_label_values(&[indicator, stratum_type, stratum, row.variation_icon]).set(1.0);
        }
    }
}
