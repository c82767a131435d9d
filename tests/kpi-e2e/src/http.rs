//! Test harness for the services' admin endpoints: a plain HTTP GET, and reading a sample of
//! what `/metrics` returns.

/// GETs `url` and returns the body; an error for a transport failure or a non-2xx status.
pub async fn get(url: &str) -> Result<String, reqwest::Error> {
    reqwest::get(url).await?.error_for_status()?.text().await
}

/// The status code of a GET, for `/readyz` checks.
pub async fn status(url: &str) -> Result<u16, reqwest::Error> {
    Ok(reqwest::get(url).await?.status().as_u16())
}

/// The value of an unlabelled sample in a Prometheus text exposition, if it is there.
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
