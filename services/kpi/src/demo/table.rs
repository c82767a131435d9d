//! The end of the demo's data flow: the published values of the trust-wide (`all`) stratum as a
//! table a board member can read: each indicator's latest month and rolling 12 months with 95%
//! limits, its target, and the SPC reading of its latest month.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use kpi_core::indicators::{indicator, Method, CATALOGUE};
use kpi_core::period::PeriodKind;
use kpi_core::spc::SpcRow;
use kpi_core::strata::StratumType;
use kpi_core::values::PublishedValue;

/// The table of every catalogue indicator, in catalogue order.
pub fn render(published: &[PublishedValue], spc: &[SpcRow]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header([
        "Indicator",
        "Title",
        "Month",
        "Value (95% limits)",
        "Rolling 12 months",
        "Target",
        "Variation",
        "Assurance",
    ]);
    for indicator in CATALOGUE {
        let latest = |kind: PeriodKind| latest(published, indicator.id, kind);
        let month = latest(PeriodKind::Month);
        let point = month.and_then(|m| {
            spc.iter().find(|r| r.indicator == indicator.id && r.stratum == m.stratum && r.period_end == m.period.end)
        });
        table.add_row([
            indicator.id.to_owned(),
            format!("{} ({})", indicator.title, indicator.unit),
            month.map_or("-".to_owned(), |m| m.period.end.format("%Y-%m").to_string()),
            month.map_or("-".to_owned(), value_with_limits),
            latest(PeriodKind::Rolling12).map_or("-".to_owned(), value_with_limits),
            indicator.target.map_or("-".to_owned(), number),
            point.map_or("no chart".to_owned(), |p| words(p.variation_icon)),
            point.and_then(|p| p.assurance_icon).map_or("-".to_owned(), words),
        ]);
    }
    table
}

/// The latest value of the trust-wide stratum; for a rate ratio, which has none, the ethnic
/// group with the highest ratio in the latest period.
fn latest<'a>(published: &'a [PublishedValue], id: &str, kind: PeriodKind) -> Option<&'a PublishedValue> {
    let of_kind = || published.iter().filter(move |v| v.indicator == id && v.period.kind == kind);
    let ratio = matches!(indicator(id).map(|i| &i.method), Some(Method::RateRatio { .. }));
    if !ratio {
        return of_kind().filter(|v| v.stratum.kind == StratumType::All).max_by_key(|v| v.period.end);
    }
    let end = of_kind().map(|v| v.period.end).max()?;
    of_kind()
        .filter(|v| v.period.end == end && v.stratum.kind == StratumType::EthnicGroup)
        .filter_map(|v| v.value.map(|x| (x, v)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// "12.3 (10.1 to 14.8)", prefixed by the group when it is not trust-wide; "suppressed" when
/// disclosure control withheld it.
fn value_with_limits(value: &PublishedValue) -> String {
    let shown = if value.suppressed {
        "suppressed".to_owned()
    } else {
        match (value.value, value.limits95) {
            (Some(v), Some((lower, upper))) => format!("{} ({} to {})", number(v), number(lower), number(upper)),
            (Some(v), None) => number(v),
            (None, _) => "no value".to_owned(),
        }
    };
    match value.stratum.kind {
        StratumType::All => shown,
        _ => format!("{}: {shown}", value.stratum.value),
    }
}

/// One decimal place (counts are whole numbers and print as such).
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn words(code: &str) -> String {
    code.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_show_one_decimal_and_counts_none() {
        assert_eq!(number(12.0), "12");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(0.05), "0.1");
        assert_eq!(number(-3.26), "-3.3");
    }
}
