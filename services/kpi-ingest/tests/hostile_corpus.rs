//! Hostile raw-topic messages through ingest's pure step (`transform`: raw bytes + headers →
//! canonical record or dead letter): each must become a dead letter with its own reason code
//! and a detail, never a panic, a stack overflow or an accepted event. It runs on the test
//! thread's default stack on purpose: deep nesting must not need a bigger one.

use kpi_contract::v1;
use kpi_core::Pseudonymiser;
use kpi_ingest::transform::{transform, Outcome};
use prost::encoding::encode_varint;
use prost::Message;

const JSON: Option<&str> = None;
const PROTOBUF: Option<&str> = Some("application/x-protobuf");
const SMOKING: &str = r#""smoking_status":{"status":"current"}"#;

/// (what, bytes, content type, expected reason code).
type Case = (&'static str, Vec<u8>, Option<&'static str>, &'static str);

/// A valid JSON event with `fields` (JSON members) after the envelope.
fn json(fields: &str) -> Vec<u8> {
    let envelope = r#""event_id":"h-1","occurred_at":"2024-03-01T10:15:00Z","person_id":"9434765919""#;
    format!("{{{envelope},{fields}}}").into_bytes()
}

fn demographics(birth: &str, imd: &str) -> Vec<u8> {
    json(&format!(r#""demographics":{{"birth_date":"{birth}","sex":"1","ethnic_category":"A"{imd}}}"#))
}

fn phq9(items: &str) -> Vec<u8> {
    json(&format!(r#""outcome_measure":{{"referral_id":"r","instrument":"PHQ9","items":{items}}}"#))
}

/// A JSON event with `from` replaced by `to` in its text; the four characters `\xff` in `to`
/// become that one byte, which no Rust string can hold.
fn edited(fields: &str, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(json(fields)).unwrap().replacen(from, to, 1);
    match text.split_once("\\xff") {
        Some((before, after)) => [before.as_bytes(), &[0xff], after.as_bytes()].concat(),
        None => text.into_bytes(),
    }
}

/// The valid JSON event of `fields` encoded by the contract's generated code.
fn protobuf(fields: &str) -> Vec<u8> {
    serde_json::from_slice::<v1::Event>(&json(fields)).expect("contract JSON").encode_to_vec()
}

/// One protobuf field by hand, wire type included, to say what generated code never would.
fn field(tag: u64, wire: u64, body: &[u8]) -> Vec<u8> {
    let mut out = varint(tag << 3 | wire);
    if wire == 2 {
        out.extend(varint(body.len() as u64));
    }
    out.extend_from_slice(body);
    out
}

fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_varint(value, &mut out);
    out
}

/// A protobuf event: event id, `occurred` (a Timestamp's fields), person, then `rest`.
fn pb_at(occurred: &[u8], rest: &[&[u8]]) -> Vec<u8> {
    let envelope = [field(1, 2, b"h-1"), field(2, 2, occurred), field(6, 2, b"9434765919")].concat();
    [&[&envelope[..]], rest].concat().concat()
}

fn pb(rest: &[&[u8]]) -> Vec<u8> {
    pb_at(&timestamp(1_709_288_100, 0), rest)
}

/// A Timestamp's fields; zero nanos left out, as encoders do.
fn timestamp(seconds: u64, nanos: u64) -> Vec<u8> {
    let nanos = if nanos == 0 { Vec::new() } else { field(2, 0, &varint(nanos)) };
    [field(1, 0, &varint(seconds)), nanos].concat()
}

fn size_and_nesting() -> Vec<Case> {
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let objects = (0..5_000).fold(String::from("1"), |inner, _| format!(r#"{{"a":{inner}}}"#));
    let padding = format!(r#""pad":"{}",{SMOKING}"#, "x".repeat(10 << 20));
    vec![
        ("100,000 levels of [", deep(100_000), JSON, "payload_too_large"),
        ("30,000 levels of [, within the size limit", deep(30_000), JSON, "malformed_json"),
        ("5,000 nested objects in a valid event", json(&format!(r#""x":{objects},{SMOKING}"#)), JSON, "malformed_json"),
        ("10 MiB of JSON", json(&padding), JSON, "payload_too_large"),
        (
            "10 MiB of protobuf",
            pb(&[&field(21, 2, &field(1, 2, &vec![b'x'; 10 << 20]))]),
            PROTOBUF,
            "payload_too_large",
        ),
        ("30,000 nested protobuf groups", vec![0x3b; 30_000], PROTOBUF, "malformed_protobuf"),
    ]
}

fn encodings_and_numbers() -> Vec<Case> {
    let imd = |raw: &str| demographics("1980-01-01", &format!(r#","imd_decile":{raw}"#));
    let demographics_pb = |imd: u64| {
        let body = [field(1, 2, b"1980-01-01"), field(2, 2, b"1"), field(3, 2, b"A"), field(4, 0, &varint(imd))];
        pb(&[&field(10, 2, &body.concat())])
    };
    vec![
        ("invalid UTF-8 in a value", edited(SMOKING, "current", "cur\\xffrent"), JSON, "invalid_utf8"),
        ("overlong UTF-8 NUL", b"{\"event_id\":\"h\xc0\x80\"}".to_vec(), JSON, "invalid_utf8"),
        ("UTF-8-encoded surrogate", b"{\"event_id\":\"\xed\xa0\x80\"}".to_vec(), JSON, "invalid_utf8"),
        ("invalid UTF-8 in a protobuf string", pb(&[&field(4, 2, b"\xff\xfe")]), PROTOBUF, "malformed_protobuf"),
        ("a byte-order mark", [&b"\xef\xbb\xbf"[..], &json(SMOKING)].concat(), JSON, "malformed_json"),
        ("imd_decile past i64", imd("9223372036854775808"), JSON, "ill_typed_field"),
        ("imd_decile past i32", imd("2147483648"), JSON, "ill_typed_field"),
        ("imd_decile 1e400", imd("1e400"), JSON, "malformed_json"),
        ("negative imd_decile", imd("-3"), JSON, "invalid_value"),
        ("protobuf imd_decile u64::MAX", demographics_pb(u64::MAX), PROTOBUF, "invalid_value"),
        ("item 1e400", phq9("[1e400,0,0,0,0,0,0,0,0]"), JSON, "malformed_json"),
        ("item past i64", phq9("[99999999999999999999,0,0,0,0,0,0,0,0]"), JSON, "ill_typed_field"),
        ("negative item", phq9("[-1,0,0,0,0,0,0,0,0]"), JSON, "item_out_of_range"),
        ("item i32::MIN", phq9("[-2147483648,0,0,0,0,0,0,0,0]"), JSON, "item_out_of_range"),
        ("negative age: born after the event", demographics("2030-01-01", ""), JSON, "invalid_value"),
    ]
}

fn dates() -> Vec<Case> {
    let occurred = |at: &str| edited(SMOKING, "2024-03-01T10:15:00Z", at);
    let recorded = format!(r#""recorded_at":"9999-12-31T23:59:59Z",{SMOKING}"#);
    vec![
        ("occurred in 9999", occurred("9999-12-31T23:59:59Z"), JSON, "invalid_timestamp"),
        ("recorded in 9999", json(&recorded), JSON, "invalid_timestamp"),
        ("occurred in year 0", occurred("0000-01-01T00:00:00Z"), JSON, "invalid_timestamp"),
        ("occurred in a negative year", occurred("-0001-01-01T00:00:00Z"), JSON, "invalid_timestamp"),
        ("occurred as a number", edited(SMOKING, r#""2024-03-01T10:15:00Z""#, "1709288100"), JSON, "ill_typed_field"),
        (
            "protobuf seconds i64::MIN",
            pb_at(&timestamp(i64::MIN as u64, 0), &[SMOKING_PB]),
            PROTOBUF,
            "invalid_timestamp",
        ),
        (
            "protobuf seconds i64::MAX",
            pb_at(&timestamp(i64::MAX as u64, 0), &[SMOKING_PB]),
            PROTOBUF,
            "invalid_timestamp",
        ),
        ("protobuf nanos -1", pb_at(&timestamp(1_709_288_100, u64::MAX), &[SMOKING_PB]), PROTOBUF, "invalid_timestamp"),
        ("born in 9999", demographics("9999-12-31", ""), JSON, "invalid_value"),
        ("born in year 0", demographics("0000-01-01", ""), JSON, "invalid_value"),
        ("born in a negative year", demographics("-001-01-01", ""), JSON, "invalid_value"),
    ]
}

/// The smoking status payload, field 21 of `Event`.
const SMOKING_PB: &[u8] = b"\xaa\x01\x09\x0a\x07current";

/// NUL: PostgreSQL stores U+0000 in neither `text` nor `jsonb`, so an accepted one would stop
/// the engine's commits.
fn nul_bytes() -> Vec<Case> {
    let ward = r#""ward_stay_started":{"ward_stay_id":"w","ward_code":"W\u0000","out_of_area":false}"#;
    let ward_pb = [field(1, 2, b"w"), field(2, 2, b"W\0"), field(3, 0, &[0])].concat();
    vec![
        ("raw NUL in a JSON string", edited(SMOKING, "current", "cur\0rent"), JSON, "malformed_json"),
        ("NUL after the JSON", [json(SMOKING), vec![0]].concat(), JSON, "malformed_json"),
        ("only NULs", vec![0; 64], JSON, "malformed_json"),
        ("escaped NUL in ward_code", json(ward), JSON, "invalid_value"),
        (
            "escaped NUL in team_code",
            json(r#""fft_response":{"response":"good","team_code":"\u0000"}"#),
            JSON,
            "invalid_value",
        ),
        (
            "escaped NUL in source_system",
            json(&format!(r#""source_system":"rio\u0000",{SMOKING}"#)),
            JSON,
            "invalid_value",
        ),
        (
            "escaped NUL in an identifier",
            json(r#""referral_discharged":{"referral_id":"r\u0000"}"#),
            JSON,
            "invalid_value",
        ),
        ("escaped NUL in a local person id", edited(SMOKING, "9434765919", r"local:a\u0000b"), JSON, "invalid_value"),
        ("NUL in a protobuf ward_code", pb(&[&field(22, 2, &ward_pb)]), PROTOBUF, "invalid_value"),
    ]
}

fn protobuf_structure() -> Vec<Case> {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80).collect();
    let items = |n: usize| [field(1, 2, b"r"), field(2, 2, b"PHQ9"), field(3, 2, &vec![1; n])].concat();
    let second = String::from_utf8(json(SMOKING)).unwrap().replace("h-1", "h-2");
    let second = serde_json::from_str::<v1::Event>(&second).unwrap().encode_to_vec();
    vec![
        ("binary garbage", garbage, PROTOBUF, "malformed_protobuf"),
        ("a valid event, then garbage", [protobuf(SMOKING), vec![0xff; 16]].concat(), PROTOBUF, "malformed_protobuf"),
        ("JSON sent as protobuf", json(SMOKING), PROTOBUF, "malformed_protobuf"),
        ("event_id as a varint", pb(&[&field(1, 0, &varint(7)), SMOKING_PB]), PROTOBUF, "malformed_protobuf"),
        ("a payload as a varint", pb(&[&field(21, 0, &varint(1))]), PROTOBUF, "malformed_protobuf"),
        ("a timestamp as fixed64", pb(&[&field(3, 1, &[0; 8]), SMOKING_PB]), PROTOBUF, "malformed_protobuf"),
        ("items as fixed32", pb(&[&field(18, 2, &field(3, 5, &[0; 4]))]), PROTOBUF, "malformed_protobuf"),
        ("wire type 7", pb(&[SMOKING_PB, &varint(9 << 3 | 7)]), PROTOBUF, "malformed_protobuf"),
        ("field number 0", pb(&[&field(0, 2, b""), SMOKING_PB]), PROTOBUF, "malformed_protobuf"),
        (
            "a length past the end",
            pb(&[SMOKING_PB, &varint(99 << 3 | 2), &varint(1_000)]),
            PROTOBUF,
            "malformed_protobuf",
        ),
        ("30,000 packed items", pb(&[&field(18, 2, &items(30_000))]), PROTOBUF, "wrong_item_count"),
        ("20,000 JSON items", phq9(&format!("[{}0]", "0,".repeat(19_999))), JSON, "wrong_item_count"),
        ("event_id 5,000 times", pb(&[&field(1, 2, b"h-1").repeat(5_000), SMOKING_PB]), PROTOBUF, "malformed_protobuf"),
        ("the payload 3,000 times", pb(&[&SMOKING_PB.repeat(3_000)]), PROTOBUF, "malformed_protobuf"),
        ("two events in one message", [protobuf(SMOKING), second].concat(), PROTOBUF, "malformed_protobuf"),
    ]
}

fn empty_and_not_an_object() -> Vec<Case> {
    vec![
        ("empty JSON", Vec::new(), JSON, "malformed_json"),
        ("empty protobuf", Vec::new(), PROTOBUF, "missing_payload"),
        ("whitespace only", b" \t\r\n  ".to_vec(), JSON, "malformed_json"),
        ("whitespace as protobuf", b" \t\r\n  ".to_vec(), PROTOBUF, "malformed_protobuf"),
        ("a key twice", json(&format!(r#""person_id":"9434765919",{SMOKING}"#)), JSON, "malformed_json"),
        ("a key in both spellings", json(&format!(r#""eventId":"h-2",{SMOKING}"#)), JSON, "malformed_json"),
        ("the payload key twice", json(&format!("{SMOKING},{SMOKING}")), JSON, "malformed_json"),
        ("top-level array", b"[{}]".to_vec(), JSON, "malformed_json"),
        ("top-level string", br#""smoking_status""#.to_vec(), JSON, "malformed_json"),
        ("top-level null", b"null".to_vec(), JSON, "malformed_json"),
        ("top-level number", b"1e400".to_vec(), JSON, "malformed_json"),
    ]
}

#[test]
fn every_hostile_message_is_dead_lettered_with_its_reason() {
    let pseudonymiser = Pseudonymiser::new(&[9; 32]).unwrap();
    // What the corpus breaks is valid, so each entry fails for its own reason only.
    let bases = [(json(SMOKING), JSON), (pb(&[SMOKING_PB]), PROTOBUF), (phq9("[0,0,0,0,0,0,0,0,0]"), JSON)];
    for (bytes, content_type) in bases {
        let outcome = transform(&pseudonymiser, &bytes, content_type);
        assert!(matches!(outcome, Outcome::Canonical { .. }), "{outcome:?}");
    }
    assert_eq!(pb(&[SMOKING_PB]), protobuf(SMOKING), "the hand-made protobuf is what generated code makes");
    let corpus = [size_and_nesting(), encodings_and_numbers(), dates(), nul_bytes(), protobuf_structure()];
    let mut wrong = Vec::new();
    for (what, bytes, content_type, expected) in corpus.into_iter().flatten().chain(empty_and_not_an_object()) {
        match transform(&pseudonymiser, &bytes, content_type) {
            Outcome::DeadLetter(r) if r.reason.code() == expected && !r.detail.trim().is_empty() => {}
            Outcome::DeadLetter(r) => wrong.push(format!("{what}: expected {expected}, got {r}")),
            Outcome::Canonical { payload, .. } => {
                wrong.push(format!("{what}: expected {expected}, accepted {}", String::from_utf8_lossy(&payload)))
            }
        }
    }
    assert!(wrong.is_empty(), "{} hostile messages not dead-lettered as expected:\n{}", wrong.len(), wrong.join("\n"));
}
