//! `kpi bench`, watching the services: reads a child service's `/metrics` (the same counters an
//! operator's Prometheus scrapes) to tell when a stage has processed every event.

use std::net::SocketAddr;

use anyhow::Context;
use prometheus_parse::{Scrape, Value};

/// One scrape of a service's `/metrics`.
pub struct Metrics(Scrape);

impl Metrics {
    /// GETs `http://addr/metrics`; an error while the service is still starting.
    pub async fn scrape(client: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<Metrics> {
        let url = format!("http://{addr}/metrics");
        let body = client.get(&url).send().await?.error_for_status()?.text().await?;
        let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).with_context(|| format!("parsing {url}"))?;
        Ok(Metrics(scrape))
    }

    /// The sum of a counter or gauge over all its label values (0 if absent).
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    /// A counter or gauge's value for one value of one label (0 if absent).
    pub fn labelled(&self, name: &str, label: &str, value: &str) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get(label) == Some(value))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    /// Total seconds and observations of a duration histogram (`_sum`, `_count`).
    pub fn histogram(&self, name: &str) -> (f64, u64) {
        (self.sum(&format!("{name}_sum")), self.sum(&format!("{name}_count")) as u64)
    }

    /// Mean of a histogram (`_sum / _count`), if it has observations.
    pub fn histogram_mean(&self, name: &str) -> Option<f64> {
        let (sum, count) = (self.sum(&format!("{name}_sum")), self.sum(&format!("{name}_count")));
        (count > 0.0).then(|| sum / count)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_summed_over_labels_and_histograms_read() {
        let text = "# TYPE a_total counter\na_total{x=\"1\"} 2\na_total{x=\"2\"} 3\n\
# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 4\nh_seconds_sum 6\nh_seconds_count 4\n";
        let metrics = super::Metrics(prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap());
        assert_eq!(metrics.sum("a_total"), 5.0);
        assert_eq!(metrics.labelled("a_total", "x", "2"), 3.0);
        assert_eq!(metrics.labelled("a_total", "x", "3"), 0.0);
        assert_eq!(metrics.histogram("h_seconds"), (6.0, 4));
        assert_eq!(metrics.histogram_mean("h_seconds"), Some(1.5));
        assert_eq!(metrics.sum("missing"), 0.0);
    }
}
