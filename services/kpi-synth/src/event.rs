//! The generator's model of one EPR event and its JSON form (kpi-synth → `kpi generate` →
//! NDJSON → `kpi produce` → raw topic): the protobuf JSON mapping of `kpi.events.v1.Event`
//! with snake_case names, as `docs/events.md` specifies.

use crate::json::J;
use crate::time::{push_date, push_timestamp};

pub const SOURCE_SYSTEM: &str = "rio";
pub const PROVIDER_CODE: &str = "RXT";

/// An outcome instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    Phq9,
    Gad7,
    Honos,
    Reqol10,
}

impl Instrument {
    pub fn code(self) -> &'static str {
        match self {
            Self::Phq9 => "PHQ9",
            Self::Gad7 => "GAD7",
            Self::Honos => "HONOS",
            Self::Reqol10 => "REQOL10",
        }
    }

    pub fn items(self) -> usize {
        match self {
            Self::Phq9 => 9,
            Self::Gad7 => 7,
            Self::Honos => 12,
            Self::Reqol10 => 10,
        }
    }

    pub fn max_item(self) -> u8 {
        match self {
            Self::Phq9 | Self::Gad7 => 3,
            Self::Honos | Self::Reqol10 => 4,
        }
    }
}

/// One payload (the `oneof`); ids are numbers that become `ref-<n>`, `det-<n>`, `ward-<n>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Demographics {
        birth: i64,
        sex: &'static str,
        ethnic: &'static str,
        imd: Option<u8>,
    },
    ReferralReceived {
        referral: u64,
        service: &'static str,
        team: Option<&'static str>,
    },
    ReferralDischarged {
        referral: u64,
    },
    CareContact {
        referral: u64,
        attended: bool,
        purpose: &'static str,
    },
    Diagnosis {
        icd10: &'static str,
        referral: Option<u64>,
    },
    DetentionStarted {
        detention: u64,
        section: &'static str,
    },
    DetentionEnded {
        detention: u64,
    },
    Death {
        cause: &'static str,
        place: &'static str,
    },
    Outcome {
        referral: u64,
        instrument: Instrument,
        items: Vec<u8>,
    },
    Fft {
        response: &'static str,
        team: Option<&'static str>,
    },
    Accommodation {
        status: &'static str,
    },
    Smoking {
        status: &'static str,
    },
    WardStarted {
        stay: u64,
        ward: &'static str,
        out_of_area: Option<&'static str>,
    },
    WardEnded {
        stay: u64,
    },
    Restrictive {
        stay: u64,
        kind: &'static str,
    },
    /// Retracts the event numbered `target` (`rio-<target>`); `with_person` says whether the
    /// retraction carries the person id.
    Retracted {
        target: u64,
        with_person: bool,
    },
}

pub fn referral_id(n: u64) -> String {
    format!("ref-{n}")
}

pub fn event_id(n: u64) -> String {
    format!("rio-{n}")
}

impl Payload {
    /// The payload field name, which is the event's type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Demographics { .. } => "demographics",
            Self::ReferralReceived { .. } => "referral_received",
            Self::ReferralDischarged { .. } => "referral_discharged",
            Self::CareContact { .. } => "care_contact",
            Self::Diagnosis { .. } => "diagnosis",
            Self::DetentionStarted { .. } => "mha_detention_started",
            Self::DetentionEnded { .. } => "mha_detention_ended",
            Self::Death { .. } => "death",
            Self::Outcome { .. } => "outcome_measure",
            Self::Fft { .. } => "fft_response",
            Self::Accommodation { .. } => "accommodation_status",
            Self::Smoking { .. } => "smoking_status",
            Self::WardStarted { .. } => "ward_stay_started",
            Self::WardEnded { .. } => "ward_stay_ended",
            Self::Restrictive { .. } => "restrictive_intervention",
            Self::Retracted { .. } => "event_retracted",
        }
    }

    /// The referral the payload refers to, if any.
    pub fn referral(&self) -> Option<u64> {
        match *self {
            Self::ReferralReceived { referral, .. }
            | Self::ReferralDischarged { referral }
            | Self::CareContact { referral, .. }
            | Self::Outcome { referral, .. } => Some(referral),
            Self::Diagnosis { referral, .. } => referral,
            _ => None,
        }
    }

    pub fn to_json(&self) -> J {
        let fields: Vec<(&'static str, J)> = match self {
            Self::Demographics { birth, sex, ethnic, imd } => {
                let mut d = String::with_capacity(10);
                push_date(&mut d, *birth);
                let mut f = vec![("birth_date", J::Str(d)), ("sex", J::s(*sex)), ("ethnic_category", J::s(*ethnic))];
                if let Some(i) = imd {
                    f.push(("imd_decile", J::Int(i64::from(*i))));
                }
                f
            }
            Self::ReferralReceived { referral, service, team } => {
                let mut f = vec![("referral_id", J::s(referral_id(*referral))), ("service", J::s(*service))];
                if let Some(t) = team {
                    f.push(("team_code", J::s(*t)));
                }
                f
            }
            Self::ReferralDischarged { referral } => {
                vec![("referral_id", J::s(referral_id(*referral)))]
            }
            Self::CareContact { referral, attended, purpose } => vec![
                ("referral_id", J::s(referral_id(*referral))),
                ("attended", J::Bool(*attended)),
                ("purpose", J::s(*purpose)),
            ],
            Self::Diagnosis { icd10, referral } => {
                let mut f = vec![("icd10", J::s(*icd10))];
                if let Some(r) = referral {
                    f.push(("referral_id", J::s(referral_id(*r))));
                }
                f
            }
            Self::DetentionStarted { detention, section } => {
                vec![("detention_id", J::s(format!("det-{detention}"))), ("section", J::s(*section))]
            }
            Self::DetentionEnded { detention } => {
                vec![("detention_id", J::s(format!("det-{detention}")))]
            }
            Self::Death { cause, place } => vec![("cause", J::s(*cause)), ("place", J::s(*place))],
            Self::Outcome { referral, instrument, items } => vec![
                ("referral_id", J::s(referral_id(*referral))),
                ("instrument", J::s(instrument.code())),
                ("items", J::Arr(items.iter().map(|&i| J::Int(i64::from(i))).collect())),
            ],
            Self::Fft { response, team } => {
                let mut f = vec![("response", J::s(*response))];
                if let Some(t) = team {
                    f.push(("team_code", J::s(*t)));
                }
                f
            }
            Self::Accommodation { status } | Self::Smoking { status } => {
                vec![("status", J::s(*status))]
            }
            Self::WardStarted { stay, ward, out_of_area } => {
                let mut f = vec![
                    ("ward_stay_id", J::s(format!("ward-{stay}"))),
                    ("ward_code", J::s(*ward)),
                    ("out_of_area", J::Bool(out_of_area.is_some())),
                ];
                if let Some(reason) = out_of_area {
                    f.push(("out_of_area_reason", J::s(*reason)));
                }
                f
            }
            Self::WardEnded { stay } => vec![("ward_stay_id", J::s(format!("ward-{stay}")))],
            Self::Restrictive { stay, kind } => {
                vec![("ward_stay_id", J::s(format!("ward-{stay}"))), ("kind", J::s(*kind))]
            }
            Self::Retracted { target, .. } => vec![("retracted_event_id", J::s(event_id(*target)))],
        };
        J::Obj(fields)
    }
}

/// One event as the EPR holds it: clinical time, entry time and payload (epoch seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub occurred: i64,
    pub recorded: i64,
    /// Whether `recorded_at` is written (it is left out only when equal to `occurred_at`).
    pub show_recorded: bool,
    pub payload: Payload,
}

impl Event {
    /// The whole event as a JSON object: envelope then payload, in the proto's field order.
    pub fn to_json(&self, event_no: u64, person_id: &str) -> J {
        let mut f = Vec::with_capacity(7);
        f.push(("event_id", J::Str(event_id(event_no))));
        f.push(("occurred_at", J::Str(timestamp(self.occurred))));
        if self.show_recorded {
            f.push(("recorded_at", J::Str(timestamp(self.recorded))));
        }
        f.push(("source_system", J::s(SOURCE_SYSTEM)));
        f.push(("provider_code", J::s(PROVIDER_CODE)));
        let with_person = !matches!(self.payload, Payload::Retracted { with_person: false, .. });
        if with_person {
            f.push(("person_id", J::s(person_id)));
        }
        f.push((self.payload.kind(), self.payload.to_json()));
        J::Obj(f)
    }
}

pub fn timestamp(t: i64) -> String {
    let mut s = String::with_capacity(20);
    push_timestamp(&mut s, t);
    s
}
