//! Test harness for the real broker/database: where the external tools and shared test data are.

use std::path::{Path, PathBuf};

/// The Tansu build the harness is written and checked against: 0.6.0 with the patches in
/// `scripts/tansu/` (the suffix is their patch level; `tansu_behaviour.rs` checks the fix).
pub const TANSU_VERSION: &str = "0.6.0-kpi1";

/// The Tansu binary: `$KPI_TANSU_BIN`, else the cache that `scripts/setup.sh` fills
/// (`${KPI_TOOLS_DIR:-$HOME/.cache/kpi-tools}/tansu-0.6.0-kpi1/bin/tansu`), else `tansu` on `PATH`.
///
/// Panics with instructions when none exists.
pub fn tansu_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("KPI_TANSU_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "KPI_TANSU_BIN={} does not exist; run scripts/setup.sh (it installs Tansu {TANSU_VERSION}) \
             or unset KPI_TANSU_BIN",
            bin.display()
        );
        return bin;
    }
    let tools_dir = std::env::var_os("KPI_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/kpi-tools")));
    if let Some(dir) = tools_dir {
        let cached = dir.join(format!("tansu-{TANSU_VERSION}/bin/tansu"));
        if cached.is_file() {
            return cached;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the Tansu broker binary was not found (looked at $KPI_TANSU_BIN, \
         ${{KPI_TOOLS_DIR:-$HOME/.cache/kpi-tools}}/tansu-{TANSU_VERSION}/bin/tansu and PATH): \
         run scripts/setup.sh, which installs and caches Tansu {TANSU_VERSION} (about 12-25 minutes \
         the first time), or use scripts/test.sh, which runs it for you"
    );
}

/// The shared specification and test-data directory: `$KPI_SHARED_DIR`, else `<repo>/../shared`.
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KPI_SHARED_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    // This crate lives at <repo>/tests/kpi-e2e.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}
