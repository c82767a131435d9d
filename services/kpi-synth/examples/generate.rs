//! A stand-in for `kpi generate` (the generator → NDJSON → `kpi produce` → raw topic): writes a
//! synthetic feed to a file and reports its size and the time taken.
//!
//! `cargo run --release -p kpi-synth --example generate -- PEOPLE MONTHS OUT [SEED] [BUDGET_MIB]`

use std::time::Instant;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let cfg = kpi_synth::SynthConfig {
        people: arg(1, "5000").parse().expect("PEOPLE"),
        months: arg(2, "24").parse().expect("MONTHS"),
        seed: arg(4, "1").parse().expect("SEED"),
        ..Default::default()
    };
    let budget: u64 = arg(5, "1024").parse::<u64>().expect("BUDGET_MIB") << 20;
    let path = arg(3, "/tmp/kpi-synth.ndjson");
    let mut file = std::fs::File::create(&path)?;
    let started = Instant::now();
    let mut last = 0;
    let summary = kpi_synth::generate_with_memory_budget(&cfg, budget, &mut file, |done| {
        if done >= last + cfg.people / 10 {
            last = done;
            eprintln!("  {done} / {} people", cfg.people);
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    println!("{summary:#?}");
    println!(
        "{} people x {} months: {} lines, {:.1} MB in {:.2} s ({:.0} lines/s) -> {path}",
        cfg.people,
        cfg.months,
        summary.lines,
        bytes as f64 / 1e6,
        secs,
        summary.lines as f64 / secs
    );
    Ok(())
}
