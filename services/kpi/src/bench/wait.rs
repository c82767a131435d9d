//! `kpi bench`, between phases: polls a condition until it holds, with a spinner saying what is
//! awaited and a time limit that names what to look at when it is not met.

use std::future::Future;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::services::ServiceExited;

/// How often a condition is polled: short next to the phases it times (seconds), cheap
/// for the services (one `/metrics` scrape or one small query).
pub const POLL: Duration = Duration::from_millis(50);

/// What a poll saw: `Some(done_value)` ends the wait; the message updates the spinner.
pub struct Seen<T> {
    pub done: Option<T>,
    pub progress: String,
}

/// Polls `check` until it returns a `done` value, or fails after `timeout` with `hint`.
/// A poll that errors (a service still starting) counts as no progress, unless a service has
/// exited ([`ServiceExited`]): nothing more can come, so the wait fails at once.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, hint: &str, mut check: F) -> anyhow::Result<(T, Instant)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Seen<T>>>,
{
    let bar = spinner(what);
    let started = Instant::now();
    let mut last_error = String::new();
    loop {
        match check().await {
            Ok(Seen { done: Some(value), .. }) => {
                let at = Instant::now();
                bar.finish_and_clear();
                return Ok((value, at));
            }
            Ok(Seen { progress, .. }) => bar.set_message(progress),
            Err(error) if error.is::<ServiceExited>() => {
                bar.finish_and_clear();
                return Err(error);
            }
            Err(error) => last_error = format!("{error:#}"),
        }
        if started.elapsed() > timeout {
            bar.finish_and_clear();
            anyhow::bail!(
                "{what}: not done after {} s ({hint}){}",
                timeout.as_secs(),
                if last_error.is_empty() { String::new() } else { format!("; last error: {last_error}") }
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A spinner for one phase, with its elapsed time.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {msg}").expect("valid template"));
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_service_that_exited_ends_the_wait_at_once() {
        let started = Instant::now();
        let result = until::<(), _, _>("engine", Duration::from_secs(60), "see engine.log", || async {
            Err(ServiceExited("kpi engine exited (signal: 9)".into()).into())
        })
        .await;
        assert!(result.unwrap_err().to_string().contains("kpi engine exited"));
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?} for a dead service", started.elapsed());
    }

    #[tokio::test]
    async fn other_errors_are_retried_until_the_time_limit() {
        let polls = std::cell::Cell::new(0);
        let result = until::<(), _, _>("engine", Duration::from_millis(300), "see engine.log", || {
            polls.set(polls.get() + 1);
            async { Err(anyhow::anyhow!("connection refused")) }
        })
        .await;
        let error = result.unwrap_err().to_string();
        assert!(error.contains("not done after") && error.contains("connection refused"), "{error}");
        assert!(polls.get() > 2, "polled {} times", polls.get());
    }
}
