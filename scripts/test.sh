#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run): set up the tools, build everything,
# run every test in the workspace. Exit code is cargo's.
#
# Environment it sets for the tests (unless already set):
#   KPI_TANSU_BIN   the (patched) Tansu 0.6.0 broker binary that scripts/setup.sh caches
#   KPI_SHARED_DIR  the shared spec and test data, <repo>/../shared (or beside the checkout this
#                   one was cloned from)
# Extra arguments are passed to `cargo test` (e.g. scripts/test.sh -p kpi-e2e).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

echo "[test] set-up"
bash "$repo_root/scripts/setup.sh"

tools_dir="${KPI_TOOLS_DIR:-$HOME/.cache/kpi-tools}"
export KPI_TANSU_BIN="${KPI_TANSU_BIN:-$tools_dir/tansu-0.6.0-kpi1/bin/tansu}"
# The shared spec and test data sit beside the repository; a clone made elsewhere (CI clones into
# /tmp/ci-check) finds them beside the checkout it was cloned from.
if [ -z "${KPI_SHARED_DIR:-}" ]; then
    KPI_SHARED_DIR="$(cd "$repo_root/.." && pwd)/shared"
    origin="$(git -C "$repo_root" remote get-url origin 2>/dev/null || true)"
    if [ ! -d "$KPI_SHARED_DIR/testdata" ] && [ -d "$origin" ] && [ -d "$origin/../shared/testdata" ]; then
        KPI_SHARED_DIR="$(cd "$origin/../shared" && pwd)"
    fi
fi
if [ ! -d "$KPI_SHARED_DIR/testdata" ]; then
    echo "[test] ERROR: no shared test data at $KPI_SHARED_DIR/testdata: set KPI_SHARED_DIR to the shared/ directory" >&2
    exit 1
fi
export KPI_SHARED_DIR
echo "[test] KPI_TANSU_BIN=$KPI_TANSU_BIN"
echo "[test] KPI_SHARED_DIR=$KPI_SHARED_DIR"

echo "[test] cargo build --workspace --all-targets"
cargo build --workspace --all-targets

echo "[test] cargo test --workspace $*"
cargo test --workspace "$@"
