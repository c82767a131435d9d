//! Field-level rules shared by the envelope and the payloads. Each check takes the field's path
//! (as the contract names it, e.g. `care_contact.referral_id`) so its rejection can name it.
//! Nothing is trimmed or normalised: a value is accepted exactly as sent, or refused.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kpi_contract::Timestamp;

use crate::codes::*;
use crate::reject::{RejectReason, Rejection};

/// Longest identifier, in characters (`event_id` and the ids inside payloads).
const MAX_ID_CHARS: usize = 64;
/// Longest code value quoted back in a rejection detail.
const MAX_QUOTED_CHARS: usize = 32;
/// Supported years for timestamps: wide enough for any real record, narrow enough to catch
/// placeholder dates such as `9999-12-31`.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

pub(super) fn missing(path: &str, what: &str) -> Rejection {
    Rejection::new(RejectReason::MissingField, format!("`{path}` is missing or empty; {what}"))
}

fn invalid(path: &str, problem: &str) -> Rejection {
    Rejection::new(RejectReason::InvalidValue, format!("`{path}` {problem}"))
}

/// Refuses U+0000 in any text field. PostgreSQL can hold it in neither `text` nor `jsonb`, so
/// one free-text value carrying it (a ward code kept in the person state) would fail the
/// engine's commit of its whole batch, again at every retry, and stop the counting.
fn no_nul(path: &str, value: &str) -> Result<(), Rejection> {
    if value.contains('\0') {
        return Err(invalid(path, "contains a NUL character (U+0000); remove it"));
    }
    Ok(())
}

/// At most [`MAX_QUOTED_CHARS`] characters of a (non-identifier) value, for a detail.
pub(super) fn truncated(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// A required identifier: 1–64 characters. Its value is never quoted.
pub(super) fn identifier(path: &str, id: String) -> Result<String, Rejection> {
    if id.is_empty() {
        return Err(missing(path, "it must be an identifier of 1–64 characters"));
    }
    no_nul(path, &id)?;
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(invalid(
            path,
            &format!("is {chars} characters long; identifiers must be 1–{MAX_ID_CHARS} characters"),
        ));
    }
    Ok(id)
}

/// An optional identifier: empty means absent, otherwise the rules of [`identifier`].
pub(super) fn optional_identifier(path: &str, id: String) -> Result<Option<String>, Rejection> {
    if id.is_empty() {
        Ok(None)
    } else {
        identifier(path, id).map(Some)
    }
}

/// An optional free-text field: protobuf cannot tell empty from absent, so empty is absent.
pub(super) fn optional(path: &str, value: String) -> Result<Option<String>, Rejection> {
    no_nul(path, &value)?;
    Ok((!value.is_empty()).then_some(value))
}

/// A required free-text field (e.g. a ward code): present and non-empty.
pub(super) fn required(path: &str, value: String, what: &str) -> Result<String, Rejection> {
    if value.is_empty() {
        return Err(missing(path, what));
    }
    no_nul(path, &value)?;
    Ok(value)
}

/// A required timestamp, converted to UTC and held to the supported years.
pub(super) fn timestamp(path: &str, ts: Option<Timestamp>) -> Result<DateTime<Utc>, Rejection> {
    let ts =
        ts.ok_or_else(|| missing(path, "it must be an RFC 3339 timestamp with an offset, e.g. 2024-03-01T10:15:00Z"))?;
    let at = u32::try_from(ts.nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| {
            Rejection::new(
                RejectReason::InvalidTimestamp,
                format!("`{path}` is not a valid timestamp (`seconds` or `nanos` out of range)"),
            )
        })?;
    if !YEARS.contains(&at.year()) {
        return Err(Rejection::new(
            RejectReason::InvalidTimestamp,
            format!(
                "`{path}` is in the year {}; timestamps must fall in the years {}–{} (send the \
                 real time, not a placeholder such as 9999-12-31)",
                at.year(),
                YEARS.start(),
                YEARS.end()
            ),
        ));
    }
    Ok(at)
}

/// `person_id`: an NHS number (10 digits passing Modulus 11) or `local:` and 1–64 characters
/// without whitespace. The value is never quoted.
pub(super) fn person_id(id: String) -> Result<String, Rejection> {
    if id.is_empty() {
        return Err(missing(
            "person_id",
            "every event except `event_retracted` needs the person's NHS number or a `local:` id",
        ));
    }
    no_nul("person_id", &id)?;
    if id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()) {
        if nhs_number_is_valid(&id) {
            return Ok(id);
        }
        return Err(Rejection::new(
            RejectReason::InvalidNhsNumber,
            "`person_id` is 10 digits but fails the NHS number Modulus 11 check digit; check \
             the number in the source record (a mistyped digit), or send a `local:` id",
        ));
    }
    if let Some(local) = id.strip_prefix("local:") {
        let chars = local.chars().count();
        if (1..=MAX_ID_CHARS).contains(&chars) && !local.chars().any(char::is_whitespace) {
            return Ok(id);
        }
    }
    Err(Rejection::new(
        RejectReason::InvalidPersonId,
        format!(
            "`person_id` is neither an NHS number (exactly 10 digits, no spaces or dashes) nor \
             `local:` followed by 1–{MAX_ID_CHARS} characters without whitespace"
        ),
    ))
}

/// True for exactly 10 ASCII digits whose last digit is the NHS Modulus 11 check digit: weights
/// 10 down to 2 on the first nine digits, check = 11 − (sum mod 11), where 11 means 0 and 10
/// means the number cannot be valid.
pub fn nhs_number_is_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let digit = |i: usize| u32::from(bytes[i] - b'0');
    let sum: u32 = (0..9).map(|i| digit(i) * (10 - i as u32)).sum();
    match 11 - sum % 11 {
        11 => digit(9) == 0,
        10 => false,
        check => digit(9) == check,
    }
}

/// A calendar date, strictly `YYYY-MM-DD` (chrono alone would also take `2024-3-1`).
pub(super) fn date(path: &str, value: &str) -> Result<NaiveDate, Rejection> {
    if value.is_empty() {
        return Err(missing(path, "it must be a date written YYYY-MM-DD"));
    }
    let b = value.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    shaped
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| invalid(path, "is not a calendar date written YYYY-MM-DD (e.g. 1984-02-29)"))
}

/// A birth date: a valid date, year 1900 or later, and not after the event's own date.
pub(super) fn birth_date(path: &str, value: &str, event_date: NaiveDate) -> Result<NaiveDate, Rejection> {
    let born = date(path, value)?;
    if born.year() < 1900 {
        return Err(invalid(path, "is before 1900; send the real birth date, not a placeholder"));
    }
    if born > event_date {
        return Err(invalid(path, "is after the event's date (`occurred_at` in Europe/London)"));
    }
    Ok(born)
}

/// An ICD-10 code: upper-case letter, two digits, then optionally an optional `.` and one or two
/// upper-case letters or digits (`F20`, `F20.0`, `F200`, `F10.2X`).
pub(super) fn icd10(path: &str, value: String) -> Result<String, Rejection> {
    if value.is_empty() {
        return Err(missing(path, "it must be an ICD-10 code such as F20.0"));
    }
    let b = value.as_bytes();
    let head = b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit();
    let rest = b.get(3..).unwrap_or_default();
    let rest = rest.strip_prefix(b".").unwrap_or(rest);
    let tail_ok = rest.len() <= 2 && rest.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let dangling_dot = b.len() > 3 && b[3] == b'.' && rest.is_empty();
    if head && tail_ok && !dangling_dot {
        return Ok(value);
    }
    Err(invalid(
        path,
        &format!(
            "{:?} is not an ICD-10 code: expected an upper-case letter, two digits and optionally \
             `.` and one or two characters, e.g. F20.0",
            truncated(&value)
        ),
    ))
}

/// A closed code list from [`crate::codes`], so one function can check every coded field.
pub(super) trait Code: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn parse(code: &str) -> Option<Self>;
    fn code(self) -> &'static str;
}

macro_rules! impl_code {
    ($($t:ty),+) => {$(
        impl Code for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn parse(code: &str) -> Option<Self> { <$t>::parse(code) }
            fn code(self) -> &'static str { <$t>::code(self) }
        }
    )+};
}

impl_code!(
    Sex,
    EthnicCategory,
    Service,
    ContactPurpose,
    MhaSection,
    DeathCause,
    DeathPlace,
    Instrument,
    FftAnswer,
    Accommodation,
    Smoking,
    OutOfAreaReason,
    InterventionKind
);

/// A required coded field: present, and exactly one of the contract's codes (case-sensitive).
pub(super) fn code<C: Code>(path: &str, value: &str) -> Result<C, Rejection> {
    let allowed = || C::ALL.iter().map(|c| c.code()).collect::<Vec<_>>().join(", ");
    if value.is_empty() {
        return Err(missing(path, &format!("it must be one of: {}", allowed())));
    }
    C::parse(value).ok_or_else(|| {
        Rejection::new(
            RejectReason::UnknownCode,
            format!("`{path}` is {:?}, a code the contract does not list; use one of: {}", truncated(value), allowed()),
        )
    })
}
