//! End to end on real parts: one event breaking each validation rule of the contract lands in
//! the dead-letter topic with its reason code, original bytes and headers, while the valid
//! events produced between them are all counted.

use std::collections::BTreeSet;
use std::time::Duration;

use kpi_core::RejectReason;
use kpi_e2e::pipeline::{Pipeline, Service, CANONICAL, DEAD_LETTER, RAW};
use kpi_e2e::{consume_all, produce, Record};

const JSON: &str = "application/json";

fn envelope(id: &str, person: &str, payload: &str) -> String {
    format!(r#"{{"event_id":"{id}","occurred_at":"2024-02-10T10:00:00Z","person_id":"{person}",{payload}}}"#)
}

/// (expected reason, content type, raw bytes) for one event per rule.
fn invalid_events() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let p = "9434765919";
    let detention = r#""mha_detention_started":{"detention_id":"d-x","section":"3"}"#;
    let mut too_large = envelope("bad-01", p, detention);
    too_large.insert_str(1, &format!(r#""padding":"{}","#, "x".repeat(70 * 1024)));
    let mut bad_utf8 = envelope("bad-03", p, r#""smoking_status":{"status":"current"}"#).into_bytes();
    bad_utf8[12] = 0xff;
    vec![
        ("payload_too_large", JSON, too_large.into_bytes()),
        ("unsupported_content_type", "text/csv", envelope("bad-02", p, detention).into_bytes()),
        ("invalid_utf8", JSON, bad_utf8),
        ("malformed_json", JSON, br#"{"event_id": "bad-04", "occurred_at": "#.to_vec()),
        ("malformed_protobuf", "application/x-protobuf", vec![0xff, 0xff, 0xff, 0x0f, 0x01]),
        ("missing_payload", JSON, format!(r#"{{"event_id":"bad-06","occurred_at":"2024-02-10T10:00:00Z","person_id":"{p}"}}"#).into_bytes()),
        ("multiple_payloads", JSON, envelope("bad-07", p, r#""smoking_status":{"status":"current"},"death":{"cause":"natural","place":"hospital"}"#).into_bytes()),
        ("missing_field", JSON, envelope("bad-08", p, r#""mha_detention_started":{"section":"3"}"#).into_bytes()),
        ("ill_typed_field", JSON, envelope("bad-09", p, r#""care_contact":{"referral_id":"r1","attended":"yes","purpose":"review"}"#).into_bytes()),
        ("invalid_value", JSON, envelope("bad-10", p, r#""demographics":{"birth_date":"1980-13-01","sex":"1","ethnic_category":"A"}"#).into_bytes()),
        ("unknown_code", JSON, envelope("bad-11", p, r#""mha_detention_started":{"detention_id":"d-11","section":"99"}"#).into_bytes()),
        ("invalid_timestamp", JSON, br#"{"event_id":"bad-12","occurred_at":"yesterday","person_id":"9434765919","smoking_status":{"status":"ex"}}"#.to_vec()),
        ("invalid_nhs_number", JSON, envelope("bad-13", "9434765918", r#""smoking_status":{"status":"ex"}"#).into_bytes()),
        ("invalid_person_id", JSON, envelope("bad-14", "ABC-123", r#""smoking_status":{"status":"ex"}"#).into_bytes()),
        ("wrong_item_count", JSON, envelope("bad-15", p, r#""outcome_measure":{"referral_id":"r1","instrument":"PHQ9","items":[1,1,1,1,1,1,1,1]}"#).into_bytes()),
        ("item_out_of_range", JSON, envelope("bad-16", p, r#""outcome_measure":{"referral_id":"r1","instrument":"GAD7","items":[1,1,1,4,1,1,1]}"#).into_bytes()),
        ("too_many_unknown_items", JSON, envelope("bad-17", p, r#""outcome_measure":{"referral_id":"r1","instrument":"HONOS","items":[9,9,9,1,1,1,1,1,1,1,1,1]}"#).into_bytes()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_has_an_event_in_the_dead_letter_topic_and_valid_neighbours_are_counted() {
    let mut pipeline = Pipeline::start(2).await;
    pipeline.spawn_all();
    let invalid = invalid_events();
    let mut records = Vec::new();
    let mut valid = 0;
    for (i, (_, content_type, bytes)) in invalid.iter().enumerate() {
        let person = format!("local:valid-{i}");
        let good = envelope(
            &format!("good-{i}"),
            &person,
            &format!(r#""mha_detention_started":{{"detention_id":"g-{i}","section":"3"}}"#),
        );
        records.push(Record::keyed(person.clone(), good).header("content-type", JSON));
        valid += 1;
        records.push(
            Record::keyed("9434765919", bytes.clone()).header("content-type", *content_type).header("x-feed", "rio"),
        );
    }
    // Known to be wrong only once both ends are known: an end dated before its start.
    let start =
        envelope("ebs-start", "local:late", r#""mha_detention_started":{"detention_id":"d-ebs","section":"3"}"#);
    let end = r#"{"event_id":"ebs-end","occurred_at":"2024-02-01T10:00:00Z","person_id":"local:late","mha_detention_ended":{"detention_id":"d-ebs"}}"#;
    records.push(Record::keyed("local:late", end).header("content-type", JSON));
    records.push(Record::keyed("local:late", start).header("content-type", JSON));
    valid += 2;
    produce(&pipeline.broker.bootstrap(), RAW, &records).await;

    pipeline.wait_for_engine(valid, Duration::from_secs(60)).await;
    pipeline.wait_for_publisher(Duration::from_secs(30)).await;

    let dead = consume_all(&pipeline.broker.bootstrap(), DEAD_LETTER, invalid.len() + 1, Duration::from_secs(30)).await;
    let mut reasons = BTreeSet::new();
    for message in &dead {
        let reason = String::from_utf8(message.header("kpi-reason").expect("kpi-reason header").to_vec()).unwrap();
        let detail = message.header("kpi-detail").expect("kpi-detail header");
        assert!(!detail.is_empty());
        if let Some((_, _, original)) = invalid.iter().find(|(r, _, _)| *r == reason) {
            assert_eq!(message.payload.as_deref(), Some(original.as_slice()), "{reason}: original bytes kept");
            assert_eq!(message.header("x-feed"), Some(&b"rio"[..]), "{reason}: original headers kept");
        }
        reasons.insert(reason);
    }
    let every: BTreeSet<String> = RejectReason::ALL.iter().map(|r| r.code().to_owned()).collect();
    assert_eq!(reasons, every, "one dead letter per reason code");
    // The engine counts the one it dead-lettered, so alerts and dashboards see it too.
    let engine_metrics = kpi_e2e::http::get(&format!("{}/metrics", pipeline.admin_url(Service::Engine))).await.unwrap();
    assert!(engine_metrics.lines().any(|l| l == "kpi_engine_dead_lettered_total 1"), "{engine_metrics}");

    // Every valid event was counted: 17 section 3 detentions plus the one with the bad end.
    let count: i64 = sqlx::query_scalar(
        "SELECT numerator FROM indicator_counts WHERE indicator = 'mha_detentions' AND period_kind = 'month'
         AND period_end = '2024-02-29' AND stratum_type = 'all'",
    )
    .fetch_one(&pipeline.pool)
    .await
    .unwrap();
    assert_eq!(count, invalid.len() as i64 + 1);
    let canonical = consume_all(&pipeline.broker.bootstrap(), CANONICAL, valid as usize, Duration::from_secs(30)).await;
    assert_eq!(canonical.len() as i64, valid);
}
