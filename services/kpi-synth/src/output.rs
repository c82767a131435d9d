//! Writes the stream in arrival order (kpi-synth → `kpi generate` → NDJSON → `kpi produce` →
//! raw topic), with bounded memory.
//!
//! People are generated one at a time, but each person's events span the whole window, so
//! the output (sorted by `recorded_at`, the order a feed would publish) cannot be streamed in
//! one go. The generator makes passes instead: each pass covers a range of whole months of
//! arrival time, regenerates every person from their own seeded stream (cheap), keeps only the
//! lines arriving in that range (compactly: one string arena and a 32-byte index entry per
//! line), sorts them by (arrival, person, line) and writes them. The passes are planned from a
//! sample of people so that each holds about `memory_budget` bytes; since the sort key is a
//! total order, the bytes written do not depend on how many passes there are.

use crate::invalid::KINDS;
use crate::lines::{person_lines, Kind};
use crate::time::Window;
use crate::{Summary, SynthConfig};
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};

/// Index entry of one line of a pass.
struct Entry {
    arrival: i64,
    person: u32,
    order: u32,
    offset: u64,
    len: u32,
}

const SAMPLE: u32 = 2_000;
/// Bytes of index per line, besides the line itself.
const ENTRY_BYTES: u64 = std::mem::size_of::<Entry>() as u64;

pub fn run(
    cfg: &SynthConfig,
    memory_budget: u64,
    out: &mut impl Write,
    mut progress: impl FnMut(u32),
) -> io::Result<Summary> {
    let win = check(cfg)?;
    let passes = plan(cfg, &win, memory_budget);
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let mut summary = Summary {
        lines: 0,
        valid: 0,
        invalid: 0,
        invalid_by_kind: KINDS.iter().map(|&k| (k, 0)).collect::<BTreeMap<_, _>>(),
        people: cfg.people,
    };
    let total = passes.len() as u64 * u64::from(cfg.people);
    let mut arena = String::new();
    let mut index: Vec<Entry> = Vec::new();
    for (k, &(lo, hi, bytes)) in passes.iter().enumerate() {
        arena.clear();
        index.clear();
        arena.reserve(bytes as usize);
        for idx in 0..cfg.people {
            let pl = person_lines(cfg, &win, idx);
            for line in pl.lines.iter().filter(|l| l.arrival >= lo && l.arrival < hi) {
                let offset = arena.len() as u64;
                pl.render(line, &mut arena);
                let len = (arena.len() as u64 - offset) as u32;
                index.push(Entry { arrival: line.arrival, person: idx, order: line.order, offset, len });
                summary.lines += 1;
                match line.kind {
                    Kind::Valid => summary.valid += 1,
                    Kind::Invalid { kind, .. } => {
                        summary.invalid += 1;
                        *summary.invalid_by_kind.entry(KINDS[kind]).or_default() += 1;
                    }
                }
            }
            if (idx + 1) % 1024 == 0 || idx + 1 == cfg.people {
                let done = k as u64 * u64::from(cfg.people) + u64::from(idx) + 1;
                progress((done * u64::from(cfg.people) / total.max(1)) as u32);
            }
        }
        index.sort_unstable_by_key(|e| (e.arrival, e.person, e.order));
        for e in &index {
            let start = e.offset as usize;
            w.write_all(&arena.as_bytes()[start..start + e.len as usize])?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()?;
    Ok(summary)
}

fn check(cfg: &SynthConfig) -> io::Result<Window> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    if cfg.people > 10_000_000 {
        return Err(bad("people: at most 10,000,000 (unique NHS numbers)"));
    }
    if cfg.months == 0 {
        return Err(bad("months: at least 1"));
    }
    for (name, share) in [
        ("invalid_share", cfg.invalid_share),
        ("duplicate_share", cfg.duplicate_share),
        ("retraction_share", cfg.retraction_share),
    ] {
        if !(0.0..0.5).contains(&share) {
            return Err(bad(&format!("{name}: must be in [0, 0.5)")));
        }
    }
    Window::new(cfg.start, cfg.months).ok_or_else(|| bad("start and months run out of range"))
}

/// Arrival ranges `[lo, hi)` of whole months, each with its estimated bytes, so that a pass
/// holds about `budget` bytes: estimated from every `people / SAMPLE`-th person.
fn plan(cfg: &SynthConfig, win: &Window, budget: u64) -> Vec<(i64, i64, u64)> {
    let months = win.bounds.len() - 1;
    let sample = cfg.people.min(SAMPLE);
    let mut per_month = vec![0_u64; months];
    let mut buf = String::new();
    for s in 0..sample {
        let idx = (u64::from(s) * u64::from(cfg.people) / u64::from(sample)) as u32;
        let pl = person_lines(cfg, win, idx);
        for line in &pl.lines {
            buf.clear();
            pl.render(line, &mut buf);
            per_month[win.month_of(line.arrival)] += buf.len() as u64 + ENTRY_BYTES;
        }
    }
    // Scale up, with a margin for sampling error.
    let scale = |b: u64| (b as f64 * f64::from(cfg.people) / f64::from(sample.max(1)) * 1.15) as u64;
    let mut passes = Vec::new();
    let mut lo = 0;
    let mut bytes = 0;
    for (m, &month_bytes) in per_month.iter().enumerate() {
        let add = scale(month_bytes);
        if m > lo && bytes + add > budget {
            passes.push((win.bounds[lo], win.bounds[m], bytes));
            lo = m;
            bytes = 0;
        }
        bytes += add;
    }
    passes.push((win.bounds[lo], win.bounds[months], bytes));
    passes
}
