//! Test-side reading of the generator's NDJSON (kpi-synth → `kpi generate` → NDJSON →
//! `kpi produce` → raw topic): an independent check of each line against `events.md`,
//! naming the single mistake of an invalid line with the generator's kind names.

#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::{Map, Value};

pub mod runs;

pub const PAYLOADS: [&str; 16] = [
    "demographics",
    "referral_received",
    "referral_discharged",
    "care_contact",
    "diagnosis",
    "mha_detention_started",
    "mha_detention_ended",
    "death",
    "outcome_measure",
    "fft_response",
    "accommodation_status",
    "smoking_status",
    "ward_stay_started",
    "ward_stay_ended",
    "restrictive_intervention",
    "event_retracted",
];

const SEX: &[&str] = &["1", "2", "9", "X"];
const ETHNIC: &[&str] = &["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "Z", "99"];
const SERVICE: &[&str] = &[
    "community_mental_health",
    "crisis_home_treatment",
    "inpatient",
    "early_intervention_psychosis",
    "talking_therapies",
    "perinatal",
    "learning_disability",
    "memory_assessment",
    "liaison",
    "other",
];
const PURPOSE: &[&str] = &["assessment", "treatment", "review", "other"];
pub const SECTION: &[&str] = &[
    "2", "3", "4", "5(2)", "5(4)", "35", "36", "37", "37/41", "38", "44", "45A", "47", "47/49", "48", "48/49", "135",
    "136",
];
const CAUSE: &[&str] = &["suspected_suicide", "natural", "accident", "other", "unknown"];
const PLACE: &[&str] = &["usual_residence", "care_home", "hospital", "hospice", "other", "unknown"];
const INSTRUMENT: &[&str] = &["PHQ9", "GAD7", "HONOS", "REQOL10"];
const RESPONSE: &[&str] = &["very_good", "good", "neither", "poor", "very_poor", "dont_know"];
const ACCOMMODATION: &[&str] = &[
    "settled_mainstream",
    "settled_supported",
    "temporary",
    "homeless",
    "rough_sleeping",
    "hospital_or_care",
    "criminal_justice",
    "other",
    "unknown",
];
const SMOKING: &[&str] = &["current", "ex", "never", "unknown"];
const REASON: &[&str] =
    &["no_local_bed", "safeguarding", "offending_restrictions", "staff_or_family", "patient_choice", "unknown"];
const KIND: &[&str] = &[
    "physical_restraint",
    "mechanical_restraint",
    "rapid_tranquillisation",
    "other_chemical_restraint",
    "seclusion",
    "segregation",
];

/// A line that keeps the contract.
#[derive(Debug, Clone)]
pub struct Valid {
    pub event_id: String,
    pub person_id: Option<String>,
    pub kind: &'static str,
    pub occurred: DateTime<FixedOffset>,
    pub recorded: DateTime<FixedOffset>,
    pub payload: Map<String, Value>,
}

impl Valid {
    pub fn str(&self, field: &str) -> &str {
        self.payload.get(field).and_then(Value::as_str).unwrap_or("")
    }
}

pub fn nhs_ok(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if s.len() != 10 || d.len() != 10 {
        return false;
    }
    let sum: u32 = (0..9).map(|i| d[i] * (10 - i as u32)).sum();
    let check = 11 - sum % 11;
    check != 10 && (check % 11) == d[9]
}

fn need_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, &'static str> {
    match obj.get(field) {
        None | Some(Value::Null) => Err("missing_field"),
        Some(Value::String(s)) if s.is_empty() => Err("missing_field"),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("ill_typed_field"),
    }
}

fn opt_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, &'static str> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("ill_typed_field"),
    }
}

fn code(obj: &Map<String, Value>, field: &str, codes: &[&str]) -> Result<(), &'static str> {
    let v = need_str(obj, field)?;
    if codes.contains(&v) {
        Ok(())
    } else {
        Err("unknown_code")
    }
}

fn need_bool(obj: &Map<String, Value>, field: &str) -> Result<bool, &'static str> {
    match obj.get(field) {
        None | Some(Value::Null) => Err("missing_field"),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("ill_typed_field"),
    }
}

fn timestamp(v: &Value) -> Result<DateTime<FixedOffset>, &'static str> {
    match v {
        Value::String(s) if s.is_empty() => Err("missing_field"),
        Value::String(s) => DateTime::parse_from_rfc3339(s).map_err(|_| "invalid_timestamp"),
        _ => Err("ill_typed_field"),
    }
}

fn person(v: &Value) -> Result<String, &'static str> {
    let s = match v {
        Value::String(s) if s.is_empty() => return Err("missing_field"),
        Value::String(s) => s,
        _ => return Err("ill_typed_field"),
    };
    if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
        return if nhs_ok(s) { Ok(s.clone()) } else { Err("invalid_nhs_number") };
    }
    match s.strip_prefix("local:") {
        Some(rest) if !rest.is_empty() => Ok(s.clone()),
        _ => Err("invalid_person_id"),
    }
}

/// The contract's verdict on one line: the event, or the kind of its mistake.
pub fn classify(line: &str) -> Result<Valid, &'static str> {
    let v: Value = serde_json::from_str(line).map_err(|_| "malformed_json")?;
    let Value::Object(obj) = v else {
        return Err("malformed_json");
    };
    // Protobuf JSON parsers accept a field's lowerCamelCase name as well as its own.
    let present: Vec<&'static str> =
        PAYLOADS.iter().copied().filter(|k| obj.contains_key(*k) || obj.contains_key(&camel(k))).collect();
    let kind = match present.len() {
        0 => return Err("missing_payload"),
        1 => present[0],
        _ => return Err("multiple_payloads"),
    };
    let event_id = need_str(&obj, "event_id")?.to_string();
    assert!(event_id.len() <= 64);
    let occurred = timestamp(obj.get("occurred_at").ok_or("missing_field")?)?;
    let recorded = match obj.get("recorded_at") {
        Some(v) => timestamp(v)?,
        None => occurred,
    };
    let person_id = match obj.get("person_id") {
        Some(v) => Some(person(v)?),
        None if kind == "event_retracted" => None,
        None => return Err("missing_field"),
    };
    for f in ["source_system", "provider_code"] {
        opt_str(&obj, f)?;
    }
    let Some(Value::Object(p)) = obj.get(kind).or_else(|| obj.get(&camel(kind))) else {
        return Err("ill_typed_field");
    };
    payload(kind, p)?;
    Ok(Valid { event_id, person_id, kind, occurred, recorded, payload: p.clone() })
}

fn payload(kind: &str, p: &Map<String, Value>) -> Result<(), &'static str> {
    match kind {
        "demographics" => {
            let d = need_str(p, "birth_date")?;
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| "invalid_value")?;
            code(p, "sex", SEX)?;
            code(p, "ethnic_category", ETHNIC)?;
            match p.get("imd_decile") {
                None => {}
                Some(v) => match int(v) {
                    Some(1..=10) => {}
                    Some(_) => return Err("invalid_value"),
                    None => return Err("ill_typed_field"),
                },
            }
        }
        "referral_received" => {
            need_str(p, "referral_id")?;
            code(p, "service", SERVICE)?;
            opt_str(p, "team_code")?;
        }
        "referral_discharged" => {
            need_str(p, "referral_id")?;
        }
        "care_contact" => {
            need_str(p, "referral_id")?;
            need_bool(p, "attended")?;
            code(p, "purpose", PURPOSE)?;
        }
        "diagnosis" => {
            need_str(p, "icd10")?;
            opt_str(p, "referral_id")?;
        }
        "mha_detention_started" => {
            need_str(p, "detention_id")?;
            code(p, "section", SECTION)?;
        }
        "mha_detention_ended" => {
            need_str(p, "detention_id")?;
        }
        "death" => {
            code(p, "cause", CAUSE)?;
            code(p, "place", PLACE)?;
        }
        "outcome_measure" => {
            need_str(p, "referral_id")?;
            code(p, "instrument", INSTRUMENT)?;
            items(need_str(p, "instrument")?, p.get("items"))?;
        }
        "fft_response" => {
            code(p, "response", RESPONSE)?;
            opt_str(p, "team_code")?;
        }
        "accommodation_status" => code(p, "status", ACCOMMODATION)?,
        "smoking_status" => code(p, "status", SMOKING)?,
        "ward_stay_started" => {
            need_str(p, "ward_stay_id")?;
            need_str(p, "ward_code")?;
            if need_bool(p, "out_of_area")? {
                code(p, "out_of_area_reason", REASON)?;
            }
        }
        "ward_stay_ended" => {
            need_str(p, "ward_stay_id")?;
        }
        "restrictive_intervention" => {
            need_str(p, "ward_stay_id")?;
            code(p, "kind", KIND)?;
        }
        "event_retracted" => {
            need_str(p, "retracted_event_id")?;
        }
        _ => unreachable!(),
    }
    Ok(())
}

fn items(instrument: &str, v: Option<&Value>) -> Result<(), &'static str> {
    let Some(Value::Array(items)) = v else {
        return Err(if v.is_none() { "missing_field" } else { "ill_typed_field" });
    };
    let mut values = Vec::new();
    for i in items {
        values.push(int(i).ok_or("ill_typed_field")?);
    }
    let (n, max) = match instrument {
        "PHQ9" => (9, 3),
        "GAD7" => (7, 3),
        "HONOS" => (12, 4),
        _ => (10, 4),
    };
    if values.len() != n {
        return Err("wrong_item_count");
    }
    let honos = instrument == "HONOS";
    if values.iter().any(|&x| x < 0 || (x > max && !(honos && x == 9))) {
        return Err("item_out_of_range");
    }
    if honos && values.iter().filter(|&&x| x == 9).count() > 2 {
        return Err("too_many_unknown_items");
    }
    Ok(())
}

/// An int32 as protobuf JSON takes it: a number, or a string holding one.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The lowerCamelCase JSON name of a snake_case field.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
