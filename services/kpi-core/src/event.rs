//! Domain events: what a raw EPR event becomes once `validate` has accepted it. The ingest
//! service publishes these (pseudonymised) as JSON on the canonical topic; the engine reads them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::codes::*;

/// A validated event. On the canonical topic every identifier in it (`event_id`, `person`, and
/// the ids inside the payload) is a pseudonym; see [`crate::Pseudonymiser`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// Calendar date of `occurred_at` in Europe/London: the date every indicator uses.
    pub date: NaiveDate,
    /// `None` only for a retraction sent without a person.
    pub person: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    pub payload: Payload,
}

/// The one payload of an event; its variant is the event's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Demographics {
        birth_date: NaiveDate,
        sex: Sex,
        ethnic_category: EthnicCategory,
        imd_decile: Option<u8>,
    },
    ReferralReceived {
        referral_id: String,
        service: Service,
        team_code: Option<String>,
    },
    ReferralDischarged {
        referral_id: String,
    },
    CareContact {
        referral_id: String,
        attended: bool,
        purpose: ContactPurpose,
    },
    Diagnosis {
        icd10: String,
        referral_id: Option<String>,
    },
    MhaDetentionStarted {
        detention_id: String,
        section: MhaSection,
    },
    MhaDetentionEnded {
        detention_id: String,
    },
    Death {
        cause: DeathCause,
        place: DeathPlace,
    },
    OutcomeMeasure {
        referral_id: String,
        instrument: Instrument,
        /// One value per item in the instrument's order; HoNOS 9 means "not known".
        items: Vec<u8>,
    },
    FftResponse {
        response: FftAnswer,
        team_code: Option<String>,
    },
    AccommodationStatus {
        status: Accommodation,
    },
    SmokingStatus {
        status: Smoking,
    },
    WardStayStarted {
        ward_stay_id: String,
        ward_code: String,
        out_of_area: bool,
        out_of_area_reason: Option<OutOfAreaReason>,
    },
    WardStayEnded {
        ward_stay_id: String,
    },
    RestrictiveIntervention {
        ward_stay_id: String,
        kind: InterventionKind,
    },
    EventRetracted {
        retracted_event_id: String,
    },
}

impl Payload {
    /// The event type: the contract's payload field name, a bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Demographics { .. } => "demographics",
            Payload::ReferralReceived { .. } => "referral_received",
            Payload::ReferralDischarged { .. } => "referral_discharged",
            Payload::CareContact { .. } => "care_contact",
            Payload::Diagnosis { .. } => "diagnosis",
            Payload::MhaDetentionStarted { .. } => "mha_detention_started",
            Payload::MhaDetentionEnded { .. } => "mha_detention_ended",
            Payload::Death { .. } => "death",
            Payload::OutcomeMeasure { .. } => "outcome_measure",
            Payload::FftResponse { .. } => "fft_response",
            Payload::AccommodationStatus { .. } => "accommodation_status",
            Payload::SmokingStatus { .. } => "smoking_status",
            Payload::WardStayStarted { .. } => "ward_stay_started",
            Payload::WardStayEnded { .. } => "ward_stay_ended",
            Payload::RestrictiveIntervention { .. } => "restrictive_intervention",
            Payload::EventRetracted { .. } => "event_retracted",
        }
    }

    /// Every patient identifier inside the payload, for pseudonymisation.
    pub fn identifiers_mut(&mut self) -> Vec<&mut String> {
        match self {
            Payload::ReferralReceived { referral_id, .. }
            | Payload::ReferralDischarged { referral_id }
            | Payload::CareContact { referral_id, .. }
            | Payload::OutcomeMeasure { referral_id, .. } => vec![referral_id],
            Payload::Diagnosis { referral_id, .. } => referral_id.iter_mut().collect(),
            Payload::MhaDetentionStarted { detention_id, .. } | Payload::MhaDetentionEnded { detention_id } => {
                vec![detention_id]
            }
            Payload::WardStayStarted { ward_stay_id, .. }
            | Payload::WardStayEnded { ward_stay_id }
            | Payload::RestrictiveIntervention { ward_stay_id, .. } => vec![ward_stay_id],
            Payload::EventRetracted { retracted_event_id } => vec![retracted_event_id],
            Payload::Demographics { .. }
            | Payload::Death { .. }
            | Payload::FftResponse { .. }
            | Payload::AccommodationStatus { .. }
            | Payload::SmokingStatus { .. } => Vec::new(),
        }
    }
}
