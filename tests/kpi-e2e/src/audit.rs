//! Test harness for the privacy audit: every patient identifier of a feed (and its unsalted
//! SHA-256, which anyone could recompute from a guessed NHS number) searched for in whatever
//! the pipeline writes after ingest: topics, tables, logs, metrics.

use std::collections::BTreeSet;

use aho_corasick::AhoCorasick;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// Fields of the raw contract that hold patient identifiers.
const IDENTIFIER_FIELDS: [&str; 6] =
    ["person_id", "event_id", "referral_id", "detention_id", "ward_stay_id", "retracted_event_id"];

/// Every identifier value in a feed's lines (lines that are not JSON are skipped).
pub fn identifiers_of(lines: &[String]) -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match value.as_str() {
                        Some(text) if IDENTIFIER_FIELDS.contains(&key.as_str()) && !text.is_empty() => {
                            out.insert(text.to_owned());
                        }
                        _ => walk(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for line in lines {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
            walk(&value, &mut out);
        }
    }
    out
}

/// Searches text for any identifier or its SHA-256 (hex), as a whole token.
pub struct Finder {
    patterns: Vec<String>,
    automaton: AhoCorasick,
}

impl Finder {
    pub fn new(identifiers: &BTreeSet<String>) -> Finder {
        let mut patterns: Vec<String> = identifiers.iter().cloned().collect();
        patterns.extend(identifiers.iter().map(|id| hex::encode(Sha256::digest(id.as_bytes()))));
        let automaton = AhoCorasick::new(&patterns).expect("identifier automaton");
        Finder { patterns, automaton }
    }

    /// The first identifier found in `haystack` as a whole token (not inside a longer word or
    /// hex string), if any.
    pub fn find(&self, haystack: &[u8]) -> Option<&str> {
        let is_word = |b: u8| b.is_ascii_alphanumeric();
        self.automaton.find_overlapping_iter(haystack).find_map(|m| {
            let before = m.start().checked_sub(1).map(|i| haystack[i]);
            let after = haystack.get(m.end()).copied();
            let whole = !before.is_some_and(is_word) && !after.is_some_and(is_word);
            whole.then(|| self.patterns[m.pattern().as_usize()].as_str())
        })
    }

    /// Panics, naming where, if any identifier is found.
    pub fn assert_absent(&self, place: &str, haystack: &[u8]) {
        if let Some(found) = self.find(haystack) {
            panic!("identifier (or its SHA-256) {found:?} found in {place}");
        }
    }
}

/// Every table of the public schema.
pub async fn all_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        .fetch_all(pool)
        .await
        .expect("listing tables")
}

/// A whole table as text, one row per line.
pub async fn dump_table(pool: &PgPool, table: &str) -> String {
    let sql = format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t");
    sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("dumping {table}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_identifiers_and_their_hashes_only() {
        let ids: BTreeSet<String> = ["9434765919".to_owned(), "rio-12".to_owned()].into();
        let finder = Finder::new(&ids);
        assert_eq!(finder.find(b"key=9434765919;"), Some("9434765919"));
        assert_eq!(finder.find(b"rio-123 and a19434765919b"), None);
        let hash = hex::encode(Sha256::digest(b"rio-12"));
        assert!(finder.find(format!("\"{hash}\"").as_bytes()).is_some());
    }
}
