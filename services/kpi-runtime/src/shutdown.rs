//! How a process stops. One [`CancellationToken`] is cancelled by SIGINT or SIGTERM; every
//! service loop watches it, finishes (commits) the batch in hand and returns. The binary then
//! waits at most the configured deadline for them before exiting anyway: work not committed by
//! then is redone from the last stored offsets on the next start, so nothing is lost. A task
//! still stuck after that (a Kafka client closing against a broker that is gone) does not hold
//! the process: the binary shuts its runtime down with a short timeout (`kpi::cli::main`).

use std::time::Duration;

pub use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested; finishing the work in hand");
        token.cancel();
    });
}

/// Waits for `work` after cancellation, but no longer than `deadline`.
pub async fn with_deadline<F: std::future::Future>(
    token: &CancellationToken,
    deadline: Duration,
    work: F,
) -> Option<F::Output> {
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return Some(out),
        _ = token.cancelled() => {}
    }
    match tokio::time::timeout(deadline, work).await {
        Ok(out) => Some(out),
        Err(_) => {
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "shutdown deadline passed; exiting with work in flight (it will be redone from stored offsets)"
            );
            None
        }
    }
}
