//! Hostile raw-topic messages made from the valid seeds (what reaches `validate::decode`):
//! edits of the JSON tree or of the protobuf fields, then byte-level damage. Every choice is
//! read from `arbitrary::Unstructured`, so libFuzzer's mutations of its input steer these
//! edits rather than only the bytes: coverage feedback works on structure.

use arbitrary::{Result, Unstructured};
use prost::encoding::{decode_varint, encode_varint};
use serde_json::{json, Value};

use super::seeds::seeds;

const JSON_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("APPLICATION/JSON;charset=\"UTF8\""),
];
pub const PROTOBUF_TYPES: &[Option<&str>] = &[Some("application/x-protobuf"), Some("Application/X-Protobuf; v=1")];
const OTHER_TYPES: &[Option<&str>] = &[Some("text/plain"), Some("application/json; charset=latin1"), Some("")];

/// One raw message: bytes and the `content-type` header they arrive with.
pub struct Input {
    pub bytes: Vec<u8>,
    pub content_type: Option<&'static str>,
}

pub fn input(u: &mut Unstructured) -> Result<Input> {
    let seeds = seeds();
    let protobuf = u.arbitrary::<bool>()?;
    let seed = u.choose_index(seeds.json.len())?;
    let mut bytes = if u.ratio(1, 32)? {
        take(u, 300)?.to_vec()
    } else if protobuf {
        protobuf_edit(u, &seeds.protobuf[seed])?
    } else {
        json_edit(u, &seeds.values[seed])?
    };
    // Most messages keep their bytes intact, so that the edits above reach validation.
    for _ in 0..u.int_in_range(0..=6u8)?.saturating_sub(3) {
        damage(u, &mut bytes, protobuf)?;
    }
    let content_type = match u.int_in_range(0..=19u8)? {
        0 => *u.choose(OTHER_TYPES)?,
        1 => *u.choose(if protobuf { JSON_TYPES } else { PROTOBUF_TYPES })?,
        _ => *u.choose(if protobuf { PROTOBUF_TYPES } else { JSON_TYPES })?,
    };
    Ok(Input { bytes, content_type })
}

/// Up to `max` bytes of the fuzz input itself: the random part of a message.
fn take<'a>(u: &mut Unstructured<'a>, max: usize) -> Result<&'a [u8]> {
    let n = u.int_in_range(0..=max)?.min(u.len());
    u.bytes(n)
}

/// Values a producer gets wrong: empty, too long, placeholders, out of range, wrong type.
fn odd_value(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=27u8)? {
        0 => json!(""),
        1 => json!("x".repeat(65)),
        2 => json!("local:"),
        3 => json!("local:a b"),
        4 => json!("a\u{0}b"),
        5 => json!("9999-12-31T23:59:59Z"),
        6 => json!("0000-01-01T00:00:00Z"),
        7 => json!("1899-12-31"),
        8 => json!("2024-02-30"),
        9 => json!("F20."),
        10 => json!(i64::MAX),
        11 => json!(i64::MIN),
        12 => json!(u64::MAX),
        13 => json!(-1),
        14 => json!(0),
        15 => json!(9),
        16 => json!(1.5),
        17 => json!(1e308),
        18 => json!(true),
        19 => Value::Null,
        20 => json!([]),
        21 => json!({}),
        22 => json!([9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]),
        23 => Value::Array(vec![json!(0); u.int_in_range(0..=20_000)?]),
        24 => json!(*u.choose(&["PHQ9", "3", "5(2)", "Z", "99", "X", "homeless", "never", "seclusion", "review"])?),
        25 => json!("2024-03-01T10:15:00+25:00"),
        26 => json!("1984-02-29"),
        _ => json!(String::from_utf8_lossy(take(u, 40)?)),
    })
}

/// JSON text no `Value` holds: numbers out of every range, lone surrogates, and nesting
/// either side of serde_json's limit of 128 levels.
fn raw_token(u: &mut Unstructured) -> Result<String> {
    let tokens =
        ["1e400", "-1e400", "99999999999999999999", "-9223372036854775809", "-0", r#""\u0000""#, r#""\ud800""#];
    Ok(match u.choose_index(tokens.len() + 1)? {
        i if i < tokens.len() => tokens[i].to_owned(),
        _ => {
            let depth = u.int_in_range(100..=200)?;
            format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
        }
    })
}

#[rustfmt::skip]
const FIELD_NAMES: &[&str] = &[
    "event_id", "occurredAt", "recorded_at", "person_id", "personId", "source_system", "payload", "smoking_status",
    "death", "items", "attended", "imd_decile", "outOfArea", "referral_id", "sex", "birth_date",
];

/// Up to two edits of the tree (the root or one of its objects), then re-serialised; a raw
/// member (under an existing key, so often a duplicate, with a token no `Value` holds) may be
/// spliced into the root as text.
fn json_edit(u: &mut Unstructured, seed: &Value) -> Result<Vec<u8>> {
    let mut root = seed.clone();
    let mut raw = String::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let Value::Object(top) = &mut root else { break };
        let nested: Vec<String> = top.iter().filter(|(_, v)| v.is_object()).map(|(k, _)| k.clone()).collect();
        let object = match u.choose(&nested) {
            Ok(key) if u.arbitrary()? => top.get_mut(key).and_then(Value::as_object_mut).expect("an object member"),
            _ => top,
        };
        let keys: Vec<String> = object.keys().cloned().collect();
        let Ok(key) = u.choose(&keys).cloned() else { continue };
        match u.int_in_range(0..=5u8)? {
            0 => match object.get_mut(&key) {
                // An outcome's items: one item out of range, unknown (9) or of the wrong type.
                Some(Value::Array(items)) if !items.is_empty() && u.arbitrary()? => {
                    let i = u.choose_index(items.len())?;
                    let odd = [json!(9), json!(9), json!(-1), json!(4), json!(5), json!(2_147_483_648u64), json!("3")];
                    items[i] = u.choose(&odd)?.clone();
                }
                _ => drop(object.insert(key, odd_value(u)?)),
            },
            1 => drop(object.remove(&key)),
            2 => {
                let other = u.choose(&keys)?.clone();
                let (a, b) = (object[&key].clone(), object[&other].clone());
                object.insert(key, b);
                object.insert(other, a);
            }
            3 => {
                let value = object.remove(&key).expect("a member");
                object.insert(u.choose(FIELD_NAMES)?.to_string(), value);
            }
            4 => {
                let other = &seeds().values[u.choose_index(seeds().values.len())?];
                let (name, payload) =
                    other.as_object().and_then(|o| o.iter().find(|(_, v)| v.is_object())).expect("a payload");
                object.insert(name.clone(), payload.clone());
            }
            _ => raw.push_str(&format!(",{}:{}", json!(key), raw_token(u)?)),
        }
    }
    let mut text = serde_json::to_string(&root).expect("a Value serialises");
    if text.ends_with('}') && text.len() > 2 {
        text.insert_str(text.len() - 1, &raw);
    }
    Ok(text.into_bytes())
}

/// One protobuf field as found on the wire; `len_delta` makes a length prefix lie.
#[derive(Clone)]
struct Field {
    tag: u64,
    wire: u8,
    body: Vec<u8>,
    len_delta: i8,
}

fn parse(mut bytes: &[u8]) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = decode_varint(&mut bytes).ok()?;
        let wire = (key & 7) as u8;
        let start = bytes;
        let body = match wire {
            0 => {
                decode_varint(&mut bytes).ok()?;
                &start[..start.len() - bytes.len()]
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                let (body, rest) = bytes.split_at_checked(n)?;
                bytes = rest;
                body
            }
            2 => {
                let n = usize::try_from(decode_varint(&mut bytes).ok()?).ok()?;
                let (body, rest) = bytes.split_at_checked(n)?;
                bytes = rest;
                body
            }
            _ => return None,
        };
        fields.push(Field { tag: key >> 3, wire, body: body.to_vec(), len_delta: 0 });
    }
    Some(fields)
}

fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        encode_varint((f.tag << 3) | u64::from(f.wire), &mut out);
        if f.wire == 2 {
            encode_varint((f.body.len() as i64 + i64::from(f.len_delta)).max(0) as u64, &mut out);
        }
        out.extend_from_slice(&f.body);
    }
    out
}

fn protobuf_edit(u: &mut Unstructured, seed: &[u8]) -> Result<Vec<u8>> {
    let mut fields = parse(seed).expect("a seed parses");
    for _ in 0..u.int_in_range(0..=2)? {
        edit_fields(u, &mut fields, 0)?;
    }
    Ok(encode(&fields))
}

/// One edit of a message's fields, or (for a payload or timestamp) of its sub-message's.
fn edit_fields(u: &mut Unstructured, fields: &mut Vec<Field>, depth: u8) -> Result<()> {
    if fields.is_empty() {
        return Ok(());
    }
    let i = u.choose_index(fields.len())?;
    match u.int_in_range(0..=9u8)? {
        0 => {
            let j = u.choose_index(fields.len())?;
            fields.swap(i, j);
        }
        1 => fields[i].wire = u.int_in_range(0..=7)?,
        2 => fields[i].tag = *u.choose(&[0, 1, 2, 3, 4, 6, 10, 13, 18, 22, 25, 26, 99, (1 << 29) - 1])?,
        3 => fields.insert(u.choose_index(fields.len() + 1)?, fields[i].clone()),
        4 => drop(fields.remove(i)),
        5 => fields[i].body = odd_body(u, fields[i].wire)?,
        6 => fields[i].len_delta = u.int_in_range(-3..=3)?,
        7 if depth < 2 && fields[i].wire == 2 => {
            if let Some(mut sub) = parse(&fields[i].body) {
                edit_fields(u, &mut sub, depth + 1)?;
                fields[i].body = encode(&sub);
            }
        }
        8 => {
            let copies = u.int_in_range(2..=3_000)?;
            let copy = fields[i].clone();
            fields.splice(i..i, std::iter::repeat_n(copy, copies));
        }
        _ => {
            let other = parse(&seeds().protobuf[u.choose_index(seeds().protobuf.len())?]).expect("a seed parses");
            fields.push(u.choose(&other)?.clone());
        }
    }
    Ok(())
}

/// A field body a producer should never send, shaped for the wire type.
fn odd_body(u: &mut Unstructured, wire: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match wire {
        0 => match u.int_in_range(0..=3u8)? {
            0 => out.extend_from_slice(&[0xff; 10]),
            1 => out.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            _ => encode_varint(*u.choose(&[0, 1, 9, 10, 1 << 31, 1 << 32, i64::MIN as u64, u64::MAX])?, &mut out),
        },
        2 => match u.int_in_range(0..=6u8)? {
            0 => {}
            1 => out.extend_from_slice(b"a\0b"),
            2 => out.extend_from_slice(&[0xff, 0xfe, b'x']),
            3 => out.extend_from_slice("x".repeat(65).as_bytes()),
            4 => out.extend_from_slice(b"local:"),
            5 => out.extend_from_slice(&[9; 12]), // packed items, all HoNOS "not known"
            _ => out.extend_from_slice(take(u, 40)?),
        },
        _ => out.extend_from_slice(take(u, 8)?),
    }
    Ok(out)
}

/// Byte-level damage: what a broken producer, a bad proxy or a truncated write does.
fn damage(u: &mut Unstructured, bytes: &mut Vec<u8>, protobuf: bool) -> Result<()> {
    let at = |u: &mut Unstructured, len: usize| u.int_in_range(0..=len);
    match u.int_in_range(0..=7u8)? {
        0 if !bytes.is_empty() => {
            let i = u.choose_index(bytes.len())?;
            bytes[i] ^= 1 << u.int_in_range(0..=7)?;
        }
        1 if !bytes.is_empty() => {
            let i = u.choose_index(bytes.len())?;
            bytes[i] = *u.choose(&b"\0\xff\x7f\x80\"{}[],:\\09-e\x08\n\x12\x1a"[..])?;
        }
        2 => bytes.truncate(at(u, bytes.len())?),
        3 => {
            let start = at(u, bytes.len())?;
            let end = start + at(u, bytes.len() - start)?.min(16);
            bytes.drain(start..end);
        }
        4 => {
            let start = at(u, bytes.len())?;
            let end = start + at(u, bytes.len() - start)?.min(64);
            let copy = bytes[start..end].to_vec();
            let to = at(u, bytes.len())?;
            bytes.splice(to..to, copy);
        }
        5 => {
            let to = at(u, bytes.len())?;
            bytes.splice(to..to, take(u, 16)?.iter().copied());
        }
        6 => {
            let pool = if protobuf { &seeds().protobuf } else { &seeds().json };
            let other = &pool[u.choose_index(pool.len())?];
            bytes.truncate(at(u, bytes.len())?);
            bytes.extend_from_slice(&other[at(u, other.len())?..]);
        }
        _ => bytes.extend_from_slice(take(u, 64)?),
    }
    Ok(())
}
