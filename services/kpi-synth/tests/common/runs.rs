//! Generated runs for the tests (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw
//! topic): the default configuration once per test binary, smaller ones on demand.

use super::{classify, Valid};
use kpi_synth::{generate, Summary, SynthConfig};
use std::sync::OnceLock;

pub struct Run {
    pub text: String,
    pub summary: Summary,
}

pub fn run(cfg: &SynthConfig) -> Run {
    let mut out = Vec::new();
    let summary = generate(cfg, &mut out, |_| {}).expect("generate");
    Run { text: String::from_utf8(out).expect("UTF-8"), summary }
}

/// The default configuration (5,000 people, 24 months), generated once for all tests.
pub fn default_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run(&SynthConfig::default()))
}

pub fn small(people: u32, months: u32) -> SynthConfig {
    SynthConfig { people, months, ..Default::default() }
}

pub fn valid_lines(text: &str) -> Vec<Valid> {
    text.lines().filter_map(|l| classify(l).ok()).collect()
}
