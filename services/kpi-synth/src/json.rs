//! A tiny ordered JSON value for writing event lines (kpi-synth → `kpi generate` → NDJSON →
//! `kpi produce` → raw topic). Field order is kept so output is byte-for-byte reproducible, and
//! invalid-event mutations can drop, retype or add fields before writing.

/// A JSON value whose objects keep their field order.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Str(String),
    Int(i64),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    pub fn s(v: impl Into<String>) -> J {
        J::Str(v.into())
    }

    /// The field `key` of an object.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut J> {
        match self {
            J::Obj(fields) => fields.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Removes the field `key` of an object, returning it.
    pub fn remove(&mut self, key: &str) -> Option<J> {
        match self {
            J::Obj(fields) => {
                let i = fields.iter().position(|(k, _)| *k == key)?;
                Some(fields.remove(i).1)
            }
            _ => None,
        }
    }

    /// Sets the field `key` (replacing it in place, or appending it).
    pub fn set(&mut self, key: &'static str, value: J) {
        if let J::Obj(fields) = self {
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => *v = value,
                None => fields.push((key, value)),
            }
        }
    }

    pub fn write(&self, out: &mut String) {
        match self {
            J::Str(s) => push_str(out, s),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string literal, escaping what must be escaped (so a line never holds a raw newline).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_ordered_json() {
        let v = J::Obj(vec![("b", J::s("x\"\n")), ("a", J::Arr(vec![J::Int(1), J::Int(-2)])), ("c", J::Bool(true))]);
        let mut s = String::new();
        v.write(&mut s);
        assert_eq!(s, r#"{"b":"x\"\u000a","a":[1,-2],"c":true}"#);
    }
}
