//! The ingest boundary (raw-topic bytes → `validate::decode`) under 1,000,000 hostile
//! messages: the cargo-fuzz target `fuzz/fuzz_targets/decode.rs` run the way CI can (stable
//! Rust, seeded, no coverage feedback). Each case feeds 256 seeded random bytes to the shared
//! harness, which turns them into a mutated valid JSON or protobuf event and checks it.
//!
//! `KPI_FUZZ_CASES` and `KPI_FUZZ_SEED` change the run. A failing case's data is written to
//! a file that `cargo fuzz run decode FILE` (in `fuzz/`) replays.

mod decode_harness;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

#[test]
fn a_million_hostile_messages_are_each_accepted_or_dead_lettered_with_a_reason() {
    let cases = setting("KPI_FUZZ_CASES", 1_000_000);
    let seed = setting("KPI_FUZZ_SEED", 5);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = [0u8; 256];
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    for case in 0..cases {
        rng.fill_bytes(&mut data);
        let verdict = catch_unwind(AssertUnwindSafe(|| decode_harness::check(&data))).unwrap_or_else(|_| {
            let path = std::env::temp_dir().join(format!("kpi-decode-fuzz-{seed}-{case}.bin"));
            std::fs::write(&path, data).unwrap();
            panic!("case {case} of seed {seed} broke a property (see above); its data is in {}", path.display())
        });
        let key = match verdict {
            Ok(kind) => format!("accepted {kind}"),
            Err(reason) => reason.code().to_owned(),
        };
        *verdicts.entry(key).or_default() += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{cases} cases in {seconds:.1} s: {:.0} cases/s", cases as f64 / seconds);
    for (verdict, n) in &verdicts {
        println!("{n:>9}  {verdict}");
    }
    // The mutations must reach every rejection and still let valid events through; otherwise
    // the million cases prove little.
    if cases >= 100_000 {
        for code in decode_harness::INGEST_CODES {
            assert!(verdicts.get(code).is_some_and(|&n| n >= 10), "hardly any {code}: {verdicts:?}");
        }
        let accepted: u64 = verdicts.iter().filter(|(v, _)| v.starts_with("accepted")).map(|(_, n)| n).sum();
        assert!(accepted * 50 > cases, "only {accepted} of {cases} mutants were valid events");
    }
}

/// The seeds themselves are valid in both formats, and decode to the same event.
#[test]
fn every_seed_is_accepted_the_same_in_json_and_protobuf() {
    let seeds = decode_harness::seeds::seeds();
    for (json, protobuf) in seeds.json.iter().zip(&seeds.protobuf) {
        let from_json = kpi_core::validate::decode(json, None);
        assert!(from_json.is_ok(), "{from_json:?}: {}", String::from_utf8_lossy(json));
        assert_eq!(kpi_core::validate::decode(protobuf, Some("application/x-protobuf")), from_json);
    }
}
