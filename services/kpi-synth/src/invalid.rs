//! Invalid lines, as a feed really gets them wrong (kpi-synth → `kpi generate` → NDJSON →
//! `kpi produce` → raw topic → ingest's dead-letter topic): each takes a valid event and makes
//! exactly one mistake of a named kind, so ingest's reason codes can be checked against
//! [`crate::Summary::invalid_by_kind`].

use crate::dist::Mix;
use crate::event::{Event, Instrument, Payload};
use crate::json::J;
use crate::nhs;
use crate::people::Person;
use crate::time::civil_from_days;

/// The kinds, as counted in `Summary::invalid_by_kind`.
pub const KINDS: [&str; 12] = [
    "malformed_json",
    "missing_payload",
    "multiple_payloads",
    "missing_field",
    "ill_typed_field",
    "unknown_code",
    "invalid_nhs_number",
    "invalid_person_id",
    "invalid_timestamp",
    "item_out_of_range",
    "wrong_item_count",
    "too_many_unknown_items",
];

/// Writes the invalid line of kind `KINDS[kind]` made from `base`, numbered `event_no`.
pub fn render(kind: usize, salt: u64, base: &Event, event_no: u64, p: &Person, out: &mut String) {
    let mut m = Mix(salt);
    let mut ev = base.clone();
    if let Payload::Retracted { with_person, .. } = &mut ev.payload {
        // Mistakes in the person id need one.
        *with_person |= matches!(KINDS[kind], "invalid_nhs_number" | "invalid_person_id");
    }
    let mut raw_items = None;
    match KINDS[kind] {
        "item_out_of_range" | "wrong_item_count" | "too_many_unknown_items" => {
            let (payload, items) = rating(&mut m, &ev.payload, p, KINDS[kind]);
            ev.payload = payload;
            raw_items = Some(items);
        }
        "unknown_code" if codes(&ev.payload).is_empty() => {
            ev.payload = Payload::Fft { response: "very_good", team: None };
        }
        _ => {}
    }
    let mut j = ev.to_json(event_no, &p.id);
    let kind_name = ev.payload.kind();
    if let Some(items) = raw_items {
        let items = J::Arr(items.into_iter().map(J::Int).collect());
        j.get_mut(kind_name).expect("payload").set("items", items);
    }
    match KINDS[kind] {
        "malformed_json" => {
            let mut s = String::new();
            j.write(&mut s);
            let cut = 16 + m.below(s.len() - 17);
            out.push_str(&s[..cut]);
            return;
        }
        "missing_payload" => {
            // Not a camelCase name: protobuf JSON parsers accept those as the same field.
            let payload = j.remove(kind_name).expect("payload");
            match m.below(3) {
                0 => {}
                1 => j.set("payload", payload),
                _ => {
                    j.set("event_type", J::s(kind_name));
                    j.set("data", payload);
                }
            }
        }
        "multiple_payloads" => {
            let (k, v) = if kind_name == "smoking_status" {
                ("accommodation_status", J::Obj(vec![("status", J::s("unknown"))]))
            } else {
                ("smoking_status", J::Obj(vec![("status", J::s(m.one_of(&["never", "ex", "current"])))]))
            };
            j.set(k, v);
        }
        "missing_field" => missing_field(&mut m, &mut j, &ev),
        "ill_typed_field" => ill_typed(&mut m, &mut j, &ev, event_no, p),
        "unknown_code" => {
            let options = codes(&ev.payload);
            let (field, values) = options[m.below(options.len())];
            let value = m.one_of(values);
            j.get_mut(kind_name).expect("payload").set(field, J::s(value));
        }
        "invalid_nhs_number" => {
            let valid = p.has_nhs_number.then_some(p.id.as_str());
            j.set("person_id", J::Str(nhs::with_wrong_check(valid, &mut m)));
        }
        "invalid_person_id" => {
            let digits = if p.has_nhs_number { p.id.clone() } else { format!("{:010}", 9_000_000_000 + p.no) };
            let bad = match m.below(6) {
                0 => digits[1..].to_string(),
                1 => format!("{digits}{}", m.below(10)),
                2 => "local:".to_string(),
                3 => "unknown".to_string(),
                4 => format!("RIO{:08}", p.no),
                _ => format!("NHS{digits}"),
            };
            j.set("person_id", J::Str(bad));
        }
        "invalid_timestamp" => {
            let field = if m.below(4) == 0 { "recorded_at" } else { "occurred_at" };
            let t = if field == "recorded_at" { ev.recorded } else { ev.occurred };
            j.set(field, J::Str(bad_timestamp(&mut m, t)));
        }
        _ => {}
    }
    j.write(out);
}

/// A wrong rating for `item_out_of_range`, `wrong_item_count` or `too_many_unknown_items`,
/// on the referral of `payload` when it has one: the payload, and the items to write.
fn rating(m: &mut Mix, payload: &Payload, p: &Person, kind: &str) -> (Payload, Vec<i64>) {
    let referral = payload.referral().unwrap_or(p.no * 100);
    let instrument = match (payload, kind) {
        (_, "too_many_unknown_items") => Instrument::Honos,
        (Payload::Outcome { instrument, .. }, _) => *instrument,
        _ => m.one_of(&[Instrument::Phq9, Instrument::Gad7, Instrument::Honos, Instrument::Reqol10]),
    };
    let max = i64::from(instrument.max_item());
    let mut items: Vec<i64> = match payload {
        Payload::Outcome { items, instrument: i, .. } if *i == instrument => {
            items.iter().map(|&v| if v == 9 { 0 } else { i64::from(v) }).collect()
        }
        _ => (0..instrument.items()).map(|_| m.below(max as usize + 1) as i64).collect(),
    };
    match kind {
        "wrong_item_count" => {
            let count = match instrument {
                Instrument::Phq9 => m.one_of(&[8, 10]),
                Instrument::Gad7 => m.one_of(&[6, 9]),
                Instrument::Honos => m.one_of(&[10, 11, 13]),
                Instrument::Reqol10 => m.one_of(&[9, 20]),
            };
            items.resize(count, 1);
        }
        "too_many_unknown_items" => {
            let unknown = 3 + m.below(3);
            let start = m.below(items.len());
            for k in 0..unknown {
                let n = items.len();
                items[(start + k * 2) % n] = 9;
            }
        }
        _ => {
            let wrong = match instrument {
                Instrument::Phq9 | Instrument::Gad7 => m.one_of(&[4, 5, 10, -1]),
                Instrument::Honos => m.one_of(&[5, 6, 8, -1]),
                Instrument::Reqol10 => m.one_of(&[5, 6, 10, -1]),
            };
            let k = m.below(items.len());
            items[k] = wrong;
        }
    }
    let stored = items.iter().map(|&i| i.clamp(0, 9) as u8).collect();
    (Payload::Outcome { referral, instrument, items: stored }, items)
}

/// Coded fields of a payload and codes a feed might wrongly send for them.
fn codes(payload: &Payload) -> Vec<(&'static str, &'static [&'static str])> {
    match payload {
        Payload::Demographics { .. } => {
            vec![("sex", &["M", "F", "0", "U"][..]), ("ethnic_category", &["W", "I", "WB", "White British", "98"][..])]
        }
        Payload::ReferralReceived { .. } => {
            vec![("service", &["cmht", "IAPT", "community", "camhs"][..])]
        }
        Payload::CareContact { .. } => vec![("purpose", &["consultation", "follow_up", "dna"][..])],
        Payload::DetentionStarted { .. } => vec![("section", &["99", "S2", "Section 3", "2A", "37-41", "136A"][..])],
        Payload::Death { .. } => {
            vec![("cause", &["suicide", "cancer", "self_harm"][..]), ("place", &["home", "hosp"][..])]
        }
        Payload::Outcome { .. } => {
            vec![("instrument", &["PHQ-9", "CORE10", "WEMWBS", "HONOS65"][..])]
        }
        Payload::Fft { .. } => vec![("response", &["excellent", "5", "likely"][..])],
        Payload::Accommodation { .. } => {
            vec![("status", &["settled", "nfa", "owner_occupier"][..])]
        }
        Payload::Smoking { .. } => vec![("status", &["smoker", "yes", "non_smoker"][..])],
        Payload::WardStarted { out_of_area: Some(_), .. } => vec![("out_of_area_reason", &["no_bed", "capacity"][..])],
        Payload::Restrictive { .. } => {
            vec![("kind", &["restraint", "prone_restraint", "time_out"][..])]
        }
        _ => vec![],
    }
}

/// Drops a required field (or sends it empty).
fn missing_field(m: &mut Mix, j: &mut J, ev: &Event) {
    let kind = ev.payload.kind();
    let payload_fields: &[&'static str] = match &ev.payload {
        Payload::Demographics { .. } => &["birth_date", "sex", "ethnic_category"],
        Payload::ReferralReceived { .. } => &["referral_id", "service"],
        Payload::CareContact { .. } => &["referral_id", "attended", "purpose"],
        Payload::Diagnosis { .. } => &["icd10"],
        Payload::DetentionStarted { .. } => &["detention_id", "section"],
        Payload::DetentionEnded { .. } => &["detention_id"],
        Payload::Death { .. } => &["cause", "place"],
        Payload::Outcome { .. } => &["referral_id", "instrument"],
        Payload::Fft { .. } => &["response"],
        Payload::Accommodation { .. } | Payload::Smoking { .. } => &["status"],
        Payload::WardStarted { out_of_area: Some(_), .. } => &["ward_stay_id", "ward_code", "out_of_area_reason"],
        Payload::WardStarted { .. } => &["ward_stay_id", "ward_code"],
        Payload::WardEnded { .. } | Payload::Restrictive { .. } => &["ward_stay_id"],
        Payload::ReferralDischarged { .. } => &["referral_id"],
        Payload::Retracted { .. } => &["retracted_event_id"],
    };
    let envelope: &[&'static str] = match ev.payload {
        Payload::Retracted { .. } => &["event_id", "occurred_at"],
        _ => &["event_id", "occurred_at", "person_id"],
    };
    if m.below(4) == 0 {
        let field = m.one_of(envelope);
        j.remove(field);
    } else {
        let field = m.one_of(payload_fields);
        let payload = j.get_mut(kind).expect("payload");
        if field != "attended" && m.below(4) == 0 {
            payload.set(field, J::s(""));
        } else {
            payload.remove(field);
        }
    }
}

/// Sends a field with the wrong JSON type.
fn ill_typed(m: &mut Mix, j: &mut J, ev: &Event, event_no: u64, p: &Person) {
    let kind = ev.payload.kind();
    let mut options: Vec<(&'static str, bool, J)> = vec![("event_id", false, J::Int(event_no as i64))];
    if p.has_nhs_number && !matches!(ev.payload, Payload::Retracted { with_person: false, .. }) {
        options.push(("person_id", false, J::Int(p.id.parse().expect("digits"))));
    }
    match &ev.payload {
        Payload::CareContact { attended, .. } => {
            let yes = if *attended { "yes" } else { "no" };
            options.push(("attended", true, J::s(yes)));
            options.push(("attended", true, J::Int(i64::from(*attended))));
            options.push(("attended", true, J::s(if *attended { "Y" } else { "N" })));
        }
        Payload::Outcome { items, .. } => {
            // Not an array of strings: protobuf JSON accepts int32 values given as strings.
            let joined = items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            options.push(("items", true, J::Str(joined)));
        }
        Payload::WardStarted { out_of_area, .. } => {
            options.push(("out_of_area", true, J::s(if out_of_area.is_some() { "Y" } else { "N" })));
        }
        Payload::DetentionStarted { section: s @ ("2" | "3" | "37" | "136"), .. } => {
            options.push(("section", true, J::Int(s.parse().expect("digits"))));
        }
        _ => {}
    }
    if let Some(r) = ev.payload.referral() {
        options.push(("referral_id", true, J::Int(r as i64)));
    }
    let (field, in_payload, value) = options.swap_remove(m.below(options.len()));
    if in_payload {
        j.get_mut(kind).expect("payload").set(field, value);
    } else {
        j.set(field, value);
    }
}

/// A timestamp a feed might send that is not RFC 3339 with an offset, or not a real time.
fn bad_timestamp(m: &mut Mix, t: i64) -> String {
    let (y, mo, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let (h, mi, se) = (s / 3600, s / 60 % 60, s % 60);
    match m.below(5) {
        0 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{se:02}"),
        1 => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}"),
        2 => format!("{d:02}/{mo:02}/{y:04} {h:02}:{mi:02}"),
        3 => format!("{y:04}-02-30T{h:02}:{mi:02}:{se:02}Z"),
        _ => format!("{y:04}-{mo:02}-{d:02}T24:{mi:02}:{se:02}Z"),
    }
}
