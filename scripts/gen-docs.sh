#!/usr/bin/env bash
# Regenerates docs/syscalls.md and docs/syscalls-aarch64.md from the sentry's
# dispatch tables (the aarch64 one by booting the aarch64 sentry in QEMU).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p rvisor-vmm -p qemu-runner
./target/release/rvisor-vmm --print-syscall-table > docs/syscalls.md
./target/release/qemu-runner --board qemu-aarch64-virt --print-syscall-table > docs/syscalls-aarch64.md
echo "wrote docs/syscalls.md docs/syscalls-aarch64.md"
