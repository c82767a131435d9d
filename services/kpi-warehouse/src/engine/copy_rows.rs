//! Engine → PostgreSQL `events_seen`: a batch's new events as rows of `COPY … FROM STDIN` in
//! its text format, and back again for the rare batch whose copy PostgreSQL refuses (an id it
//! already holds), which is then recorded row by row with `ON CONFLICT`.
//!
//! The text format: fields separated by a tab, rows ended by a newline, `\N` for NULL, and a
//! backslash, tab, newline or carriage return inside a value written as `\\`, `\t`, `\n`, `\r`
//! (PostgreSQL's `COPY` documentation, "Text Format"). Nothing else is escaped, so [`parse`]
//! only has these to undo.
//!
//! The ids are `bytea` columns (migration 0012) and rows carry them as the hex they are spelled
//! in: `bytea`'s hex input is `\x` followed by the digits, its backslash doubled in this format.

/// One row of `events_seen (event_id, person, partition, event)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub event_id: String,
    pub person: Option<String>,
    pub partition: i32,
    pub event: Option<String>,
}

/// Appends one row in the text format; the ids are hex, sent as `bytea`.
pub fn push(out: &mut Vec<u8>, event_id: &str, person: Option<&str>, partition: i32, event: Option<&str>) {
    push_hex_bytes(out, Some(event_id));
    out.push(b'\t');
    push_hex_bytes(out, person);
    out.push(b'\t');
    out.extend_from_slice(partition.to_string().as_bytes());
    out.push(b'\t');
    push_field(out, event);
    out.push(b'\n');
}

/// A `bytea` field given in hex: `\x` (its backslash escaped) and the digits.
fn push_hex_bytes(out: &mut Vec<u8>, hex: Option<&str>) {
    if hex.is_some() {
        out.extend_from_slice(BYTEA_HEX_PREFIX);
    }
    push_field(out, hex);
}

const BYTEA_HEX_PREFIX: &[u8] = b"\\\\x";

fn push_field(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    // Event ids and pseudonyms are hex and canonical JSON escapes its control characters, so
    // only a JSON backslash escape ever needs the slow path.
    if !value.bytes().any(needs_escape) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for byte in value.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

fn needs_escape(byte: u8) -> bool {
    matches!(byte, b'\\' | b'\t' | b'\n' | b'\r')
}

/// The rows [`push`] wrote, in order.
pub fn parse(text: &[u8]) -> Vec<Row> {
    text.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = line.split(|b| *b == b'\t');
            let mut next = || unescape(fields.next().expect("a row written by `push` has four fields"));
            let hex = |field: Option<String>| {
                field.map(|f| f.strip_prefix("\\x").expect("written with its prefix").to_owned())
            };
            let event_id = hex(next()).expect("an event id is never NULL");
            let person = hex(next());
            let partition = next().and_then(|p| p.parse().ok()).expect("a partition is a number");
            let event = next();
            Row { event_id, person, partition, event }
        })
        .collect()
}

fn unescape(field: &[u8]) -> Option<String> {
    if field == b"\\N" {
        return None;
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    Some(String::from_utf8(out).expect("written from UTF-8 strings, split at ASCII bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_written_whatever_their_characters() {
        let rows = vec![
            Row { event_id: "ab12".into(), person: Some("cd34".into()), partition: 1, event: Some("{}".into()) },
            Row {
                event_id: "tab\there".into(),
                person: None,
                partition: -2,
                event: Some(r#"{"note":"a \"quote\", a \\ and a \u00e9"} line\nbreak\r\\N é"#.into()),
            },
            Row { event_id: "\\N".into(), person: Some(String::new()), partition: 0, event: None },
        ];
        let mut text = Vec::new();
        for row in &rows {
            push(&mut text, &row.event_id, row.person.as_deref(), row.partition, row.event.as_deref());
        }
        assert_eq!(text.iter().filter(|b| **b == b'\n').count(), 3, "one line a row");
        assert_eq!(parse(&text), rows);
    }

    #[test]
    fn special_characters_are_written_as_copy_reads_them() {
        let mut text = Vec::new();
        push(&mut text, "e\\1", None, 7, Some("a\tb\nc\rd"));
        assert_eq!(text, b"\\\\xe\\\\1\t\\N\t7\ta\\tb\\nc\\rd\n".to_vec());
        text.clear();
        push(&mut text, "0a", Some("ff"), 0, Some("{}"));
        assert_eq!(text, b"\\\\x0a\t\\\\xff\t0\t{}\n".to_vec(), "bytea's hex input, its backslash doubled");
    }
}
