#!/usr/bin/env bash
# Builds rvisor-vmm and the bundled demo program, then runs the demo in the
# sandbox (and, for comparison, natively).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p rvisor-vmm
mkdir -p target/demo
musl-gcc -static -O2 tests/programs/demo.c -o target/demo/demo
echo "== in the rvisor sandbox"
./target/release/rvisor-vmm --stats --elf target/demo/demo -- "$@"
echo "== natively, for comparison"
./target/demo/demo "$@"
