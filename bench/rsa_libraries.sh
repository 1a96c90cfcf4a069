#!/usr/bin/env bash
# Signing speed of ring, aws-lc-rs and RustCrypto rsa (RSA PKCS#1 v1.5 SHA-256, one thread), in a scratch cargo
# project outside the workspace (bench/rsa_libraries.rs): the figures behind the choice in docs/benchmarks.md.
#   bench/rsa_libraries.sh            (CARGO_TARGET_DIR is kept between runs if set)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${RSA_BENCH_DIR:-/tmp/licensd-rsa-bench}
mkdir -p "$WORK/src"
cat > "$WORK/Cargo.toml" <<'TOML'
[package]
name = "rsa-libraries"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
ring = "0.17"
aws-lc-rs = "1"
rsa = { version = "0.9", features = ["sha2"] }
sha2 = "0.10"
rand = "0.8"

[profile.release]
codegen-units = 1
TOML
cp "$HERE/rsa_libraries.rs" "$WORK/src/main.rs"
cd "$WORK"
cargo build --release --quiet
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
taskset -c 0 ./target/release/rsa-libraries
