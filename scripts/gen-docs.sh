#!/usr/bin/env bash
# Regenerates docs/syscalls.md from the sentry's dispatch table.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p rvisor-vmm
./target/release/rvisor-vmm --print-syscall-table > docs/syscalls.md
echo "wrote docs/syscalls.md"
