//! A person's care records read from their events in effect: referrals with their contacts and
//! scores, ward stays with their interventions, deaths and diagnoses. The families read these
//! instead of raw events. An event that refers to a referral or ward stay has no effect while
//! the event that opens it is unknown (`events.md`, "References").

use std::cell::OnceCell;
use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

use crate::codes::{
    Accommodation, ContactPurpose, DeathCause, DeathPlace, Instrument, InterventionKind, OutOfAreaReason, Service,
    Smoking,
};
use crate::event::{Event, Payload};
use crate::person::PersonView;
use crate::strata::age_on;

/// One referral: opened by its first `referral_received`, closed by the earliest discharge dated
/// on or after it (a discharge dated before the referral was received is ignored).
#[derive(Debug, Clone)]
pub struct Referral<'a> {
    pub service: Service,
    pub received: NaiveDate,
    pub discharged: Option<NaiveDate>,
    pub contacts: Vec<Contact>,
    pub scores: Vec<Score<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Contact {
    pub date: NaiveDate,
    pub attended: bool,
    pub purpose: ContactPurpose,
}

/// One outcome measure, in event-time order within its referral.
#[derive(Debug, Clone, Copy)]
pub struct Score<'a> {
    pub date: NaiveDate,
    pub instrument: Instrument,
    pub items: &'a [u8],
}

impl Referral<'_> {
    /// Open on `day`: received on or before it and not discharged before it.
    pub fn open_on(&self, day: NaiveDate) -> bool {
        self.open_during(day, day)
    }

    /// Open at any time during `[from, to]`: received on or before `to`, not discharged before `from`.
    pub fn open_during(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.received <= to && self.discharged.is_none_or(|discharged| discharged >= from)
    }

    /// The first and last score of one instrument: first = earliest, last = latest dated after
    /// the first. `None` when there is no later-dated score to pair with.
    pub fn paired(&self, instrument: Instrument) -> Option<(Score<'_>, Score<'_>)> {
        let mut scores = self.scores.iter().filter(|s| s.instrument == instrument);
        let first = *scores.next()?;
        let last = scores.rfind(|s| s.date > first.date)?;
        Some((first, *last))
    }

    /// The first attended contact on or after the day the referral was received. One dated
    /// earlier is a recording error (a wait cannot be negative) and would count as seen at once,
    /// so it is passed over, as a discharge dated before receipt is.
    pub fn first_attended_contact(&self) -> Option<NaiveDate> {
        self.contacts.iter().filter(|c| c.attended && c.date >= self.received).map(|c| c.date).min()
    }
}

/// The care records several families read, each read from a view's events once: a person's
/// referrals were read six times an evaluation, 6 % of the engine's CPU
/// (docs/performance-history.md, "Contributions measured alone").
#[derive(Default)]
pub struct Records<'a> {
    referrals: OnceCell<Vec<Referral<'a>>>,
    ward_stays: OnceCell<Vec<WardStay>>,
}

/// The person's referrals, in the order of their ids.
pub fn referrals<'v, 'a>(view: &'v PersonView<'a>) -> &'v [Referral<'a>] {
    view.records().referrals.get_or_init(|| read_referrals(view))
}

/// The person's ward stays, in the order of their ids.
pub fn ward_stays<'v>(view: &'v PersonView) -> &'v [WardStay] {
    view.records().ward_stays.get_or_init(|| read_ward_stays(view))
}

fn read_referrals<'a>(view: &PersonView<'a>) -> Vec<Referral<'a>> {
    let mut by_id: BTreeMap<&str, Referral<'a>> = BTreeMap::new();
    for event in &view.events {
        if let Payload::ReferralReceived { referral_id, service, .. } = &event.payload {
            by_id.entry(referral_id).or_insert(Referral {
                service: *service,
                received: event.date,
                discharged: None,
                contacts: Vec::new(),
                scores: Vec::new(),
            });
        }
    }
    for event in &view.events {
        match &event.payload {
            Payload::ReferralDischarged { referral_id } => {
                if let Some(r) = by_id.get_mut(referral_id.as_str()) {
                    if event.date >= r.received && r.discharged.is_none_or(|d| event.date < d) {
                        r.discharged = Some(event.date);
                    }
                }
            }
            Payload::CareContact { referral_id, attended, purpose } => {
                if let Some(r) = by_id.get_mut(referral_id.as_str()) {
                    r.contacts.push(Contact { date: event.date, attended: *attended, purpose: *purpose });
                }
            }
            Payload::OutcomeMeasure { referral_id, instrument, items } => {
                if let Some(r) = by_id.get_mut(referral_id.as_str()) {
                    r.scores.push(Score { date: event.date, instrument: *instrument, items });
                }
            }
            _ => {}
        }
    }
    by_id.into_values().collect()
}

/// One ward stay: opened by its first `ward_stay_started`, closed by the earliest end dated on
/// or after its start (an earlier end is `ended_before_started` and has no effect).
#[derive(Debug, Clone)]
pub struct WardStay {
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub out_of_area_reason: Option<OutOfAreaReason>,
    pub interventions: Vec<(NaiveDate, InterventionKind)>,
}

impl WardStay {
    /// An inappropriate out-of-area placement: out of area because no local bed was available.
    pub fn is_inappropriate_out_of_area(&self) -> bool {
        self.out_of_area_reason == Some(OutOfAreaReason::NoLocalBed)
    }
}

fn read_ward_stays(view: &PersonView) -> Vec<WardStay> {
    let mut by_id: BTreeMap<&str, WardStay> = BTreeMap::new();
    for event in &view.events {
        if let Payload::WardStayStarted { ward_stay_id, out_of_area, out_of_area_reason, .. } = &event.payload {
            by_id.entry(ward_stay_id).or_insert(WardStay {
                start: event.date,
                end: None,
                out_of_area_reason: if *out_of_area { *out_of_area_reason } else { None },
                interventions: Vec::new(),
            });
        }
    }
    for event in &view.events {
        match &event.payload {
            Payload::WardStayEnded { ward_stay_id } => {
                if let Some(stay) = by_id.get_mut(ward_stay_id.as_str()) {
                    if event.date >= stay.start && stay.end.is_none_or(|end| event.date < end) {
                        stay.end = Some(event.date);
                    }
                }
            }
            Payload::RestrictiveIntervention { ward_stay_id, kind } => {
                if let Some(stay) = by_id.get_mut(ward_stay_id.as_str()) {
                    stay.interventions.push((event.date, *kind));
                }
            }
            _ => {}
        }
    }
    by_id.into_values().collect()
}

/// The person's death: the earliest `death` event (a person dies once; a wrong record is
/// corrected by retracting it).
#[derive(Debug, Clone, Copy)]
pub struct Death {
    pub date: NaiveDate,
    pub cause: DeathCause,
    pub place: DeathPlace,
}

pub fn death(view: &PersonView) -> Option<Death> {
    view.events.iter().find_map(|e| match e.payload {
        Payload::Death { cause, place } => Some(Death { date: e.date, cause, place }),
        _ => None,
    })
}

/// Alive at the end of `day`: no death dated on or before it.
pub fn alive_on(view: &PersonView, day: NaiveDate) -> bool {
    death(view).is_none_or(|d| d.date > day)
}

/// The earliest date of a diagnosis matching `is_match`, if any.
pub fn first_diagnosis(view: &PersonView, is_match: fn(&str) -> bool) -> Option<NaiveDate> {
    view.events.iter().find_map(|e| match &e.payload {
        Payload::Diagnosis { icd10, .. } if is_match(icd10) => Some(e.date),
        _ => None,
    })
}

/// The ICD-10 letter and two-digit category of a validated code (`F20.0` → ('F', 20)).
fn category(icd10: &str) -> Option<(u8, u8)> {
    let b = icd10.as_bytes();
    let number = std::str::from_utf8(b.get(1..3)?).ok()?.parse().ok()?;
    Some((*b.first()?, number))
}

/// Severe mental illness: F20–F29, F30 or F31.
pub fn is_smi(icd10: &str) -> bool {
    matches!(category(icd10), Some((b'F', 20..=31)))
}

/// Dementia: F00–F03 or G30.
pub fn is_dementia(icd10: &str) -> bool {
    matches!(category(icd10), Some((b'F', 0..=3) | (b'G', 30)))
}

/// Age in whole years on `day`, when the person has demographics.
pub fn age(view: &PersonView, day: NaiveDate) -> Option<i32> {
    view.attributes.map(|a| age_on(a.birth_date, day))
}

/// The 12 months up to a day, `(day − 365 days, day]`: where "within 12 months" looks. Made
/// once per period and asked several times (chrono's date subtraction, made for every question,
/// was 2 % of the engine's CPU).
#[derive(Debug, Clone, Copy)]
pub struct TwelveMonthsTo {
    after: NaiveDate,
    day: NaiveDate,
}

impl TwelveMonthsTo {
    pub fn new(day: NaiveDate) -> Self {
        TwelveMonthsTo { after: day - Days::new(365), day }
    }

    fn contains(self, date: NaiveDate) -> bool {
        self.after < date && date <= self.day
    }
}

/// The latest record dated within `window`, in latest-wins order; `pick` returns `None` for
/// records that do not count (status `unknown`).
pub fn latest_within<'a, T>(
    events: &[&'a Event],
    window: TwelveMonthsTo,
    pick: impl Fn(&'a Event) -> Option<T>,
) -> Option<T> {
    events.iter().rev().filter(|e| window.contains(e.date)).find_map(|e| pick(e))
}

pub fn accommodation(event: &Event) -> Option<Accommodation> {
    match event.payload {
        Payload::AccommodationStatus { status } if status != Accommodation::Unknown => Some(status),
        _ => None,
    }
}

pub fn smoking(event: &Event) -> Option<Smoking> {
    match event.payload {
        Payload::SmokingStatus { status } if status != Smoking::Unknown => Some(status),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_ranges_follow_the_catalogue() {
        for smi in ["F20", "F20.0", "F25.1", "F29", "F30.2", "F31"] {
            assert!(is_smi(smi), "{smi}");
        }
        for not in ["F19.9", "F32.1", "F03", "G30.0", "Z20"] {
            assert!(!is_smi(not), "{not}");
        }
        for dementia in ["F00.1", "F01", "F03", "G30", "G30.9"] {
            assert!(is_dementia(dementia), "{dementia}");
        }
        for not in ["F04", "G31", "F10", "E30"] {
            assert!(!is_dementia(not), "{not}");
        }
    }

    fn event(id: &str, date: &str, payload: &str) -> Event {
        serde_json::from_str(&format!(
            r#"{{"event_id": "{id}", "occurred_at": "{date}T10:00:00Z", "recorded_at": "{date}T10:00:00Z",
                "date": "{date}", "person": "p1", "payload": {payload}}}"#
        ))
        .expect("a canonical event")
    }

    /// Every family asking a view for its referrals or ward stays gets the records read once.
    #[test]
    fn a_view_reads_its_records_once_for_every_family() {
        let mut state = crate::person::PersonState::default();
        state.insert(event(
            "e1",
            "2024-01-05",
            r#"{"type": "referral_received", "referral_id": "r1", "service": "community_mental_health"}"#,
        ));
        state.insert(event("e2", "2024-02-05", r#"{"type": "referral_discharged", "referral_id": "r1"}"#));
        state.insert(event(
            "e3",
            "2024-01-06",
            r#"{"type": "ward_stay_started", "ward_stay_id": "w1", "ward_code": "W1", "out_of_area": false}"#,
        ));
        let view = state.view();
        let (first, again) = (referrals(&view), referrals(&view));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].discharged, NaiveDate::from_ymd_opt(2024, 2, 5));
        assert!(std::ptr::eq(first, again), "the referrals were read again");
        let (first, again) = (ward_stays(&view), ward_stays(&view));
        assert_eq!(first.len(), 1);
        assert!(std::ptr::eq(first, again), "the ward stays were read again");
    }
}
