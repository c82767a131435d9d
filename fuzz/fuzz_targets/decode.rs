//! cargo-fuzz target for the ingest boundary (raw-topic bytes + `content-type` →
//! `kpi_core::validate::decode`): the harness of `services/kpi-core/tests/decode_fuzz.rs`, here
//! with libFuzzer's coverage feedback steering its structure-aware mutations.
#![no_main]

#[path = "../../services/kpi-core/tests/decode_harness/mod.rs"]
mod decode_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _verdict = decode_harness::check(data);
});
