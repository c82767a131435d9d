//! `kpi generate`: the synthetic feed at the very start of the data flow, for demos, tests and
//! benchmarks. Same arguments, same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kpi_synth::SynthConfig;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub feed: FeedArgs,
    /// Output file; standard output if omitted.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// What to generate; shared with `kpi demo`, so the same arguments give the same events there.
#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// Number of people.
    #[arg(long, default_value_t = 5_000)]
    pub people: u32,
    /// Number of months covered.
    #[arg(long, default_value_t = 24)]
    pub months: u32,
    /// First month, YYYY-MM.
    #[arg(long, default_value = "2023-01", value_parser = parse_month)]
    pub start: NaiveDate,
    /// Random seed; the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of lines that break the contract (dead-lettered by ingest), 0 to 0.5.
    #[arg(long, default_value_t = 0.01)]
    pub invalid_share: f64,
    /// Share of lines sent twice (the engine must count them once), 0 to 0.5.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_share: f64,
    /// Share of events later retracted, 0 to 0.5.
    #[arg(long, default_value_t = 0.005)]
    pub retraction_share: f64,
}

impl FeedArgs {
    pub fn config(&self) -> SynthConfig {
        SynthConfig {
            people: self.people,
            months: self.months,
            start: self.start,
            seed: self.seed,
            invalid_share: self.invalid_share,
            duplicate_share: self.duplicate_share,
            retraction_share: self.retraction_share,
        }
    }
}

fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a month like 2023-01"))
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let config = args.feed.config();
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let bar = ProgressBar::new(u64::from(args.feed.people));
    bar.set_style(
        ProgressStyle::with_template("{spinner} generating {pos}/{len} people [{bar:30}] {eta}")
            .expect("valid template"),
    );
    if args.output.is_none() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let summary = kpi_synth::generate(&config, &mut out, |done| bar.set_position(u64::from(done)))
        .context("generating events")?;
    out.flush().context("writing events")?;
    bar.finish_and_clear();
    eprintln!(
        "generated {} lines for {} people ({} valid, {} invalid by design)",
        summary.lines, summary.people, summary.valid, summary.invalid
    );
    Ok(())
}
