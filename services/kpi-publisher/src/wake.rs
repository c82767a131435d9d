//! The publisher's wake-up call: the warehouse notifies every engine commit that changes the
//! counts (migration 0010), so a refresh can start as soon as new counts are visible instead of
//! at the next look. Notifications only hurry the refresh loop; the loop still looks every
//! `publisher.interval_ms`, so one lost while the listening connection was down costs at most
//! an interval.

use std::sync::Arc;
use std::time::Duration;

use kpi_runtime::shutdown::CancellationToken;
use kpi_warehouse::publish::listen_counts_changed;
use tokio::sync::Notify;

/// Listens in a task of its own until `shutdown`; the returned [`Notify`] holds a permit
/// whenever counts have changed since the refresh loop last waited on it. After a failure the
/// task connects again `retry` later.
pub fn listen(url: String, retry: Duration, shutdown: CancellationToken) -> Arc<Notify> {
    let changed = Arc::new(Notify::new());
    let notify = changed.clone();
    tokio::spawn(async move {
        loop {
            let listened = tokio::select! {
                _ = shutdown.cancelled() => return,
                listened = listen_counts_changed(&url) => listened,
            };
            match listened {
                Ok(mut listener) => {
                    tracing::debug!("listening for the engine's commits");
                    // Whatever committed while not listening is found by the next look.
                    notify.notify_one();
                    loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            received = listener.recv() => match received {
                                Ok(_) => notify.notify_one(),
                                Err(error) => {
                                    tracing::warn!(%error, "lost the warehouse's notifications of new counts; refreshing every interval until they are back");
                                    break;
                                }
                            },
                        }
                    }
                }
                Err(error) => tracing::warn!(
                    %error,
                    "cannot listen for the warehouse's notifications of new counts; refreshing every interval until it can"
                ),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(retry) => {}
            }
        }
    });
    changed
}
