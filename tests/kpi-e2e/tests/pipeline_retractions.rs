//! End to end on real parts: a retraction takes effect however quiet its target's partition has
//! gone. Sent after the engine restarted (so that it has claimed no partition), under another
//! person's id (so that it lands on another partition than its target), it is applied with no
//! further message on the target's partition.

use std::time::Duration;

use kpi_core::Pseudonymiser;
use kpi_e2e::pipeline::{as_rows, count_differences, distinct_events, generated_feed, Pipeline, Service};
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread")]
async fn retraction_landing_on_another_partition_is_applied_while_the_targets_partition_is_quiet() {
    let lines = generated_feed(200, 12, 5);
    let mut pipeline = Pipeline::start(4).await;
    pipeline.spawn(Service::Ingest);
    pipeline.spawn(Service::Engine);
    pipeline.produce_lines("feed.ndjson", &lines).await;
    pipeline.wait_for_engine(distinct_events(&lines), Duration::from_secs(120)).await;

    // A restarted engine owns a partition from the first message of it it reads.
    pipeline.stop(Service::Engine).await;
    pipeline.spawn(Service::Engine);

    let pseudonymiser = Pseudonymiser::new(pipeline.hmac_key.as_bytes()).unwrap();
    let pool = &pipeline.pool;
    let events: Vec<serde_json::Value> = lines.iter().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let retracted: Vec<&serde_json::Value> =
        events.iter().filter_map(|event| event.get("event_retracted").map(|r| &r["retracted_event_id"])).collect();
    let target = events
        .iter()
        .find(|event| {
            event.get("mha_detention_started").is_some()
                && event["person_id"].is_string()
                && !retracted.contains(&&event["event_id"])
        })
        .expect("the feed has a detention not retracted");
    let target_person = target["person_id"].as_str().unwrap();
    let target_partition =
        partition_of_person(pool, &pseudonymiser.pseudonym("person", target_person)).await.expect("target recorded");
    let mut carrier = None;
    for event in &events {
        let Some(person) = event["person_id"].as_str() else { continue };
        if person != target_person
            && partition_of_person(pool, &pseudonymiser.pseudonym("person", person))
                .await
                .is_some_and(|partition| partition != target_partition)
        {
            carrier = Some(person.to_owned());
            break;
        }
    }
    let carrier = carrier.expect("a person on another partition than the target's");
    let retraction = serde_json::json!({
        "event_id": "retraction-on-a-quiet-partition",
        "occurred_at": target["occurred_at"],
        "person_id": carrier,
        "event_retracted": { "retracted_event_id": target["event_id"] },
    })
    .to_string();
    let all: Vec<String> = lines.iter().cloned().chain([retraction]).collect();
    assert!(
        as_rows(&pipeline.reference(&all)) != as_rows(&pipeline.reference(&lines)),
        "retracting the detention must change the counts, or this test could not fail"
    );

    pipeline.produce_lines("retraction.ndjson", &all[lines.len()..]).await;
    pipeline.wait_for_engine(distinct_events(&all), Duration::from_secs(60)).await;
    let retraction_partition: i32 =
        sqlx::query_scalar("SELECT partition FROM events_seen WHERE event_id = decode($1, 'hex')")
            .bind(pseudonymiser.pseudonym("event", "retraction-on-a-quiet-partition"))
            .fetch_one(pool)
            .await
            .unwrap();
    assert_ne!(retraction_partition, target_partition, "the retraction must land away from its target");
    let (got, want) = (pipeline.counts().await, as_rows(&pipeline.reference(&all)));
    assert!(got == want, "counts after the retraction: {}", count_differences(&got, &want, 20));

    // The engine warns when nothing refreshes PostgreSQL's statistics (its reads then degrade).
    let autovacuum_on = kpi_warehouse::autovacuum_is_on(pool).await.expect("autovacuum setting");
    let warned = pipeline.logs().contains("autovacuum is off");
    assert_eq!(warned, !autovacuum_on, "autovacuum on: {autovacuum_on}; the services warned of it: {warned}");
}

/// The partition of a person's recorded events (`None`: none recorded).
async fn partition_of_person(pool: &PgPool, person: &str) -> Option<i32> {
    sqlx::query_scalar("SELECT partition FROM events_seen WHERE person = decode($1, 'hex') LIMIT 1")
        .bind(person)
        .fetch_optional(pool)
        .await
        .unwrap()
}
