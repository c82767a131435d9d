//! End to end on real parts, the warehouse lost for 30 s (engine → PostgreSQL → publisher): on a
//! private PostgreSQL cluster, stopped mid-run while events keep arriving. The engine and the
//! publisher must report not ready (`/readyz`) while it is down, stay alive, resume by
//! themselves when it is back, and end with counts equal to the core over the same lines.

use std::time::{Duration, Instant};

use kpi_e2e::http;
use kpi_e2e::pipeline::{as_rows, distinct_events, generated_feed, Pipeline, Service};
use kpi_e2e::private_pg::PrivatePg;

const OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn warehouse_down_for_thirty_seconds_then_back_loses_and_doubles_nothing() {
    let started = Instant::now();
    let phase = |name: &str| eprintln!("[fault_postgres] {:>6.1} s  {name}", started.elapsed().as_secs_f64());
    let lines = tokio::task::spawn_blocking(|| generated_feed(3_000, 24, 61)).await.unwrap();
    let (first, second) = lines.split_at(lines.len() / 2);

    // Declared before the pipeline, so dropped after it: the test database lives on it.
    let mut pg = PrivatePg::start().await;
    let mut pipeline = Pipeline::start_on(4, &pg.admin_url()).await;
    pipeline.spawn_all();
    pipeline.produce_lines("first.ndjson", first).await;
    pipeline.wait_for_engine(distinct_events(first), Duration::from_secs(300)).await;
    for service in [Service::Engine, Service::Publisher] {
        wait_for_readyz(&pipeline, service, 200, Duration::from_secs(60)).await;
    }
    let pids = [pipeline.pid(Service::Engine), pipeline.pid(Service::Publisher)];
    phase("first half applied; engine and publisher ready; stopping PostgreSQL");

    pg.stop().await;
    let down_at = Instant::now();
    // The second half arrives while the warehouse is down, so the engine has batches to fail.
    let producer = pipeline.spawn_producer("second.ndjson", second);
    let mut not_ready = [None, None];
    while down_at.elapsed() < OUTAGE {
        for (i, service) in [Service::Engine, Service::Publisher].into_iter().enumerate() {
            assert!(pipeline.is_alive(service), "{service:?} exited while PostgreSQL was down:\n{}", pipeline.logs());
            if not_ready[i].is_none() && readyz(&pipeline, service).await != Some(200) {
                not_ready[i] = Some(down_at.elapsed());
                phase(&format!("{service:?} /readyz not ready"));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (engine_down, publisher_down) = (not_ready[0], not_ready[1]);
    assert!(engine_down.is_some(), "the engine's /readyz stayed 200 for the whole outage:\n{}", pipeline.logs());
    assert!(publisher_down.is_some(), "the publisher's /readyz stayed 200 for the whole outage:\n{}", pipeline.logs());
    phase("outage over; starting PostgreSQL again");

    pg.start_again().await;
    for service in [Service::Engine, Service::Publisher] {
        wait_for_readyz(&pipeline, service, 200, Duration::from_secs(60)).await;
    }
    phase("engine and publisher ready again");
    producer.finish().await;
    pipeline.wait_for_drain(&lines, Duration::from_secs(5), None, Duration::from_secs(300)).await;
    pipeline.wait_for_publisher(Duration::from_secs(60)).await;
    // The same processes throughout: they resumed by themselves, nobody restarted them.
    assert_eq!([pipeline.pid(Service::Engine), pipeline.pid(Service::Publisher)], pids);
    assert!(pipeline.is_alive(Service::Engine) && pipeline.is_alive(Service::Publisher));
    assert!(
        pipeline.counts().await == as_rows(&pipeline.reference(&lines)),
        "counts after the outage differ from the core's"
    );
    phase("drained; counts equal the reference; publisher caught up");
}

async fn readyz(pipeline: &Pipeline, service: Service) -> Option<u16> {
    http::status(&format!("{}/readyz", pipeline.admin_url(service))).await.ok()
}

async fn wait_for_readyz(pipeline: &Pipeline, service: Service, want: u16, timeout: Duration) {
    let started = Instant::now();
    while readyz(pipeline, service).await != Some(want) {
        assert!(started.elapsed() < timeout, "{service:?} /readyz not {want} within {timeout:?}:\n{}", pipeline.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
