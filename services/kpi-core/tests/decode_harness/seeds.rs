//! Valid raw-topic events, one or more per payload type, that the harness mutates: what a
//! feed sends before it goes wrong. Their identifiers are distinctive so that a rejection
//! detail quoting one can be spotted.

use std::sync::OnceLock;

use kpi_contract::v1;
use prost::Message;

/// Identifiers used in the seeds; no rejection detail may quote them (see `super::rejected`).
pub const IDENTIFIERS: [&str; 6] = ["9434765919", "local:fz-person", "fz-evt-", "fz-ref-", "fz-det-", "fz-ward-"];

const JSON: [&str; 21] = [
    r#"{"event_id":"fz-evt-01","occurred_at":"2024-03-01T10:15:00Z","person_id":"9434765919","demographics":{"birth_date":"1984-02-29","sex":"2","ethnic_category":"M","imd_decile":3}}"#,
    r#"{"event_id":"fz-evt-02","occurred_at":"2024-03-01T10:15:00+01:00","recorded_at":"2024-03-04T08:00:00Z","source_system":"rio","provider_code":"RXT","person_id":"9434765919","referral_received":{"referral_id":"fz-ref-1","service":"community_mental_health","team_code":"T1"}}"#,
    r#"{"event_id":"fz-evt-03","occurred_at":"2024-05-01T10:15:00Z","person_id":"9434765919","referral_discharged":{"referral_id":"fz-ref-1"}}"#,
    r#"{"event_id":"fz-evt-04","occurred_at":"2024-03-02T10:15:00Z","person_id":"local:fz-person","care_contact":{"referral_id":"fz-ref-1","attended":true,"purpose":"assessment"}}"#,
    r#"{"event_id":"fz-evt-05","occurred_at":"2024-03-02T10:15:00Z","person_id":"9434765919","diagnosis":{"icd10":"F20.0","referral_id":"fz-ref-1"}}"#,
    r#"{"event_id":"fz-evt-06","occurred_at":"2024-03-03T10:15:00Z","person_id":"9434765919","mha_detention_started":{"detention_id":"fz-det-1","section":"5(2)"}}"#,
    r#"{"event_id":"fz-evt-07","occurred_at":"2024-03-09T10:15:00Z","person_id":"9434765919","mha_detention_ended":{"detention_id":"fz-det-1"}}"#,
    r#"{"event_id":"fz-evt-08","occurred_at":"2024-07-01T23:30:00Z","person_id":"9434765919","death":{"cause":"suspected_suicide","place":"usual_residence"}}"#,
    r#"{"event_id":"fz-evt-09","occurred_at":"2024-03-05T10:15:00Z","person_id":"9434765919","outcome_measure":{"referral_id":"fz-ref-1","instrument":"PHQ9","items":[3,2,1,0,3,2,1,0,3]}}"#,
    r#"{"event_id":"fz-evt-10","occurred_at":"2024-03-05T10:15:00Z","person_id":"9434765919","outcome_measure":{"referral_id":"fz-ref-1","instrument":"HONOS","items":[0,1,2,3,4,9,9,0,1,2,3,4]}}"#,
    r#"{"event_id":"fz-evt-11","occurred_at":"2024-03-06T10:15:00Z","person_id":"9434765919","fft_response":{"response":"very_good","team_code":"T1"}}"#,
    r#"{"event_id":"fz-evt-12","occurred_at":"2024-03-06T10:15:00Z","person_id":"9434765919","accommodation_status":{"status":"rough_sleeping"}}"#,
    r#"{"event_id":"fz-evt-13","occurred_at":"2024-03-06T10:15:00Z","person_id":"9434765919","smoking_status":{"status":"current"}}"#,
    r#"{"event_id":"fz-evt-14","occurred_at":"2024-03-07T10:15:00Z","person_id":"9434765919","ward_stay_started":{"ward_stay_id":"fz-ward-1","ward_code":"W1","out_of_area":true,"out_of_area_reason":"no_local_bed"}}"#,
    r#"{"event_id":"fz-evt-15","occurred_at":"2024-03-20T10:15:00Z","person_id":"9434765919","ward_stay_ended":{"ward_stay_id":"fz-ward-1"}}"#,
    r#"{"event_id":"fz-evt-16","occurred_at":"2024-03-08T10:15:00Z","person_id":"9434765919","restrictive_intervention":{"ward_stay_id":"fz-ward-1","kind":"seclusion"}}"#,
    r#"{"event_id":"fz-evt-17","occurred_at":"2024-03-08T10:15:00Z","event_retracted":{"retracted_event_id":"fz-evt-16"}}"#,
    r#"{"event_id":"fz-evt-18","occurred_at":"2024-03-08T10:15:00Z","person_id":"9434765919","event_retracted":{"retracted_event_id":"fz-evt-15"}}"#,
    r#"{"eventId":"fz-evt-19","occurredAt":"2024-03-07T10:15:00.123456789Z","personId":"local:fz-person","wardStayStarted":{"wardStayId":"fz-ward-2","wardCode":"W2","outOfArea":false}}"#,
    r#"{"event_id":"fz-evt-21","occurred_at":"2024-03-05T10:15:00Z","person_id":"local:fz-person","outcome_measure":{"referral_id":"fz-ref-2","instrument":"HONOS","items":[9,0,0,0,0,9,0,0,0,0,0,4]}}"#,
    r#"{"event_id":"fz-evt-20","occurred_at":"2024-03-05T10:15:00Z","person_id":"9434765919","outcome_measure":{"referral_id":"fz-ref-1","instrument":"REQOL10","items":[4,4,3,2,1,0,1,2,3,4]}}"#,
];

pub struct Seeds {
    pub json: Vec<Vec<u8>>,
    pub protobuf: Vec<Vec<u8>>,
    /// The seeds as values, for mutations that edit the JSON structure.
    pub values: Vec<serde_json::Value>,
}

pub fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| Seeds {
        json: JSON.iter().map(|s| s.as_bytes().to_vec()).collect(),
        protobuf: JSON
            .iter()
            .map(|s| serde_json::from_str::<v1::Event>(s).expect("seed is contract JSON").encode_to_vec())
            .collect(),
        values: JSON.iter().map(|s| serde_json::from_str(s).expect("seed is JSON")).collect(),
    })
}
