#!/usr/bin/env bash
# Builds the test broker: Tansu 0.6.0 from crates.io with this folder's patches to its storage
# crate, into ROOT/bin/tansu. Called by scripts/setup.sh when ROOT has no binary yet.
#
#   scripts/tansu/build.sh ROOT
#
# The patches (each says what it fixes; see also tests/kpi-e2e/src/broker.rs):
#   fetch-from-the-batch-holding-the-offset.patch  memory storage answered a fetch from an offset
#       inside a record batch with the *next* batch, skipping the rest of that one. The tests
#       worked around it by sending one message per batch, which made every fetch list one object
#       per message: quadratic, and 20 minutes for the 400,000-line end-to-end test in CI.
#   latest-offset-is-the-high-watermark.patch  memory storage answered ListOffsets(latest) with
#       the newest batch's base offset + 1, short of the high watermark by the rest of the batch
#       (hidden, too, while every batch held one message).
#
# The crates are downloaded from crates.io and checked against known SHA-256 sums (the storage
# crate's is the one in tansu 0.6.0's own Cargo.lock); every other dependency is built at the
# version that Cargo.lock pins.
set -euo pipefail

root="${1:?usage: build.sh ROOT}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=0.6.0
declare -A sha256=(
    [tansu]=4fdd85473ec265140488cf8d55e82b844f5c051c8916fabdd4a71156ac053f6d
    [tansu-storage]=720d2ed8e6010c70f7f06e5af5a7274ebbf6e42fdcd9e46de542b10dc4d2f35d
)

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in cargo curl tar git sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: it is needed to build Tansu"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/tansu-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
for crate in tansu tansu-storage; do
    file="$crate-$version.crate"
    curl -sSfL --retry 3 -o "$file" "https://static.crates.io/crates/$crate/$file" \
        || die "could not download $file from static.crates.io"
    echo "${sha256[$crate]}  $file" | sha256sum --check --quiet - \
        || die "$file does not have the expected SHA-256; not building from it"
    tar xzf "$file"
done
for patch in "$here"/*.patch; do
    say "tansu: applying $(basename "$patch")"
    git -C "tansu-storage-$version" apply "$patch" || die "could not apply $patch to tansu-storage $version"
done
# Cargo rewrites only the patched crate's entry in Cargo.lock (its source becomes the path).
printf '\n[patch.crates-io]\ntansu-storage = { path = "../tansu-storage-%s" }\n' "$version" >>"tansu-$version/Cargo.toml"
(cd "tansu-$version" && cargo build --release --features dynostore,libsql --bin tansu)
mkdir -p "$root/bin"
install -m 0755 "tansu-$version/target/release/tansu" "$root/bin/tansu"
