//! How the services stop (SIGTERM → finish the batch in hand → exit within the shutdown
//! deadline) when the broker has gone first, as when an orchestrator stops a whole stack: the
//! Kafka clients can no longer leave their group cleanly. The process must still exit by itself.
//! (An engine was once seen alive 5 minutes after its deadline, its runtime waiting on a consumer
//! closing against a vanished group coordinator, mid-rebalance; `kpi::cli::main` now shuts the
//! runtime down with a timeout. That exact state is not reproduced here: this checks the plain
//! case end to end.)

use std::time::{Duration, Instant};

use kpi_e2e::pipeline::{distinct_events, generated_feed, Pipeline, Service};

#[tokio::test(flavor = "multi_thread")]
async fn services_exit_on_sigterm_after_the_broker_has_gone() {
    let lines = tokio::task::spawn_blocking(|| generated_feed(100, 6, 7)).await.unwrap();
    let mut pipeline = Pipeline::start(2).await;
    pipeline.spawn(Service::Ingest);
    pipeline.spawn(Service::Engine);
    pipeline.produce_lines("feed.ndjson", &lines).await;
    pipeline.wait_for_engine(distinct_events(&lines), Duration::from_secs(120)).await;

    pipeline.broker.kill().await;
    // Past the group session (6 s): the consumers have lost their coordinator.
    tokio::time::sleep(Duration::from_secs(8)).await;

    for service in [Service::Ingest, Service::Engine] {
        let asked = Instant::now();
        // `stop` sends SIGTERM and fails the test with the logs if there is no exit within 15 s.
        let status = pipeline.stop(service).await;
        eprintln!("[shutdown_broker_gone] {service:?} exited in {:.1} s: {status}", asked.elapsed().as_secs_f64());
        assert!(status.success(), "{service:?} exited with {status}:\n{}", pipeline.logs());
    }
}
