//! Payload rules: each contract payload → its domain [`Payload`], field by field, with the
//! contract's own field paths in every rejection.

use chrono::NaiveDate;
use kpi_contract::v1::{self, event::Payload as Raw};

use super::fields::{self, code, identifier, missing};
use crate::codes::{Instrument, HONOS_NOT_KNOWN};
use crate::event::Payload;
use crate::reject::{RejectReason, Rejection};

/// Converts a payload; `date` is the event's Europe/London date (a birth date may not follow it).
pub(super) fn convert(raw: Raw, date: NaiveDate) -> Result<Payload, Rejection> {
    Ok(match raw {
        Raw::Demographics(d) => Payload::Demographics {
            birth_date: fields::birth_date("demographics.birth_date", &d.birth_date, date)?,
            sex: code("demographics.sex", &d.sex)?,
            ethnic_category: code("demographics.ethnic_category", &d.ethnic_category)?,
            imd_decile: imd_decile(d.imd_decile)?,
        },
        Raw::ReferralReceived(r) => Payload::ReferralReceived {
            referral_id: identifier("referral_received.referral_id", r.referral_id)?,
            service: code("referral_received.service", &r.service)?,
            team_code: fields::optional("referral_received.team_code", r.team_code)?,
        },
        Raw::ReferralDischarged(r) => {
            Payload::ReferralDischarged { referral_id: identifier("referral_discharged.referral_id", r.referral_id)? }
        }
        Raw::CareContact(c) => Payload::CareContact {
            referral_id: identifier("care_contact.referral_id", c.referral_id)?,
            attended: c.attended.ok_or_else(|| missing("care_contact.attended", "send true or false"))?,
            purpose: code("care_contact.purpose", &c.purpose)?,
        },
        Raw::Diagnosis(d) => Payload::Diagnosis {
            icd10: fields::icd10("diagnosis.icd10", d.icd10)?,
            referral_id: fields::optional_identifier("diagnosis.referral_id", d.referral_id)?,
        },
        Raw::MhaDetentionStarted(m) => Payload::MhaDetentionStarted {
            detention_id: identifier("mha_detention_started.detention_id", m.detention_id)?,
            section: code("mha_detention_started.section", &m.section)?,
        },
        Raw::MhaDetentionEnded(m) => {
            Payload::MhaDetentionEnded { detention_id: identifier("mha_detention_ended.detention_id", m.detention_id)? }
        }
        Raw::Death(d) => {
            Payload::Death { cause: code("death.cause", &d.cause)?, place: code("death.place", &d.place)? }
        }
        Raw::OutcomeMeasure(o) => outcome_measure(o)?,
        Raw::FftResponse(f) => Payload::FftResponse {
            response: code("fft_response.response", &f.response)?,
            team_code: fields::optional("fft_response.team_code", f.team_code)?,
        },
        Raw::AccommodationStatus(a) => {
            Payload::AccommodationStatus { status: code("accommodation_status.status", &a.status)? }
        }
        Raw::SmokingStatus(s) => Payload::SmokingStatus { status: code("smoking_status.status", &s.status)? },
        Raw::WardStayStarted(w) => ward_stay_started(w)?,
        Raw::WardStayEnded(w) => {
            Payload::WardStayEnded { ward_stay_id: identifier("ward_stay_ended.ward_stay_id", w.ward_stay_id)? }
        }
        Raw::RestrictiveIntervention(r) => Payload::RestrictiveIntervention {
            ward_stay_id: identifier("restrictive_intervention.ward_stay_id", r.ward_stay_id)?,
            kind: code("restrictive_intervention.kind", &r.kind)?,
        },
        Raw::EventRetracted(r) => Payload::EventRetracted {
            retracted_event_id: identifier("event_retracted.retracted_event_id", r.retracted_event_id)?,
        },
    })
}

fn imd_decile(decile: Option<i32>) -> Result<Option<u8>, Rejection> {
    match decile {
        None => Ok(None),
        Some(d @ 1..=10) => Ok(Some(d as u8)),
        Some(d) => Err(Rejection::new(
            RejectReason::InvalidValue,
            format!("`demographics.imd_decile` is {d}; it must be 1–10 (1 = most deprived), or omitted if unknown"),
        )),
    }
}

/// The out-of-area reason is required when `out_of_area` is true and ignored when it is false,
/// so a feed that always fills the reason column is not refused for it.
fn ward_stay_started(w: v1::WardStayStarted) -> Result<Payload, Rejection> {
    let ward_stay_id = identifier("ward_stay_started.ward_stay_id", w.ward_stay_id)?;
    let ward_code = fields::required("ward_stay_started.ward_code", w.ward_code, "send the ward's code")?;
    let out_of_area = w.out_of_area.ok_or_else(|| missing("ward_stay_started.out_of_area", "send true or false"))?;
    let out_of_area_reason = if out_of_area {
        let path = "ward_stay_started.out_of_area_reason";
        if w.out_of_area_reason.is_empty() {
            return Err(missing(path, "it is required when `out_of_area` is true"));
        }
        Some(code(path, &w.out_of_area_reason)?)
    } else {
        None
    };
    Ok(Payload::WardStayStarted { ward_stay_id, ward_code, out_of_area, out_of_area_reason })
}

/// Item count first (a misaligned rating makes every range message misleading), then each
/// item's range, then the HoNOS limit of two "not known" items.
fn outcome_measure(o: v1::OutcomeMeasure) -> Result<Payload, Rejection> {
    let referral_id = identifier("outcome_measure.referral_id", o.referral_id)?;
    let instrument: Instrument = code("outcome_measure.instrument", &o.instrument)?;
    let name = instrument.code();
    let expected = instrument.item_count();
    if o.items.len() != expected {
        return Err(Rejection::new(
            RejectReason::WrongItemCount,
            format!(
                "`outcome_measure.items` has {} items; {name} has {expected}: send one score per \
                 item in the instrument's order",
                o.items.len()
            ),
        ));
    }
    let max = instrument.max_item();
    let honos = instrument == Instrument::Honos;
    let items = o
        .items
        .iter()
        .enumerate()
        .map(|(i, &item)| {
            u8::try_from(item).ok().filter(|&v| v <= max || (honos && v == HONOS_NOT_KNOWN)).ok_or_else(|| {
                let range =
                    if honos { format!("0–{max}, or {HONOS_NOT_KNOWN} for not known") } else { format!("0–{max}") };
                Rejection::new(
                    RejectReason::ItemOutOfRange,
                    format!("`outcome_measure.items[{i}]` is {item}; {name} items must be {range}"),
                )
            })
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let unknown = items.iter().filter(|&&v| honos && v == HONOS_NOT_KNOWN).count();
    if unknown > 2 {
        return Err(Rejection::new(
            RejectReason::TooManyUnknownItems,
            format!(
                "`outcome_measure.items` has {unknown} HONOS items rated {HONOS_NOT_KNOWN} (not \
                 known); a rating with more than 2 is not valid and must not be sent as a score"
            ),
        ));
    }
    Ok(Payload::OutcomeMeasure { referral_id, instrument, items })
}
