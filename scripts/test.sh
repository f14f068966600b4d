#!/usr/bin/env bash
# The whole test suite: setup, lint, build, unit and end-to-end tests.
# Under CI=true a missing /dev/kvm is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

if [ "${CI:-}" = "true" ] && ! [ -w /dev/kvm ]; then
    echo "test: /dev/kvm is missing or not writable, and CI=true: failing" >&2
    exit 1
fi

echo "== format"
cargo fmt --all -- --check
(cd guest-kernel && cargo fmt -- --check)
(cd wasm-runtime && cargo fmt -- --check)
(cd tests/wasi-programs && cargo fmt -- --check)

echo "== clippy"
cargo clippy --release --workspace --all-targets -- -D warnings
(cd guest-kernel && cargo clippy --release -- -D warnings)
(cd guest-kernel && cargo clippy --release --target aarch64-unknown-none -- -D warnings)
# rvisor-vmm for aarch64 hosts (cross-built; run by tests/tests/nested_kvm_aarch64.rs).
cargo clippy --release -p rvisor-vmm --all-targets --target aarch64-unknown-linux-musl -- -D warnings

echo "== build"
cargo build --release --workspace

echo "== syscall table is current"
./target/release/rvisor-vmm --print-syscall-table > target/syscalls.md
if ! diff -u docs/syscalls.md target/syscalls.md; then
    echo "docs/syscalls.md is stale: run scripts/gen-docs.sh" >&2
    exit 1
fi
./target/release/qemu-runner --board qemu-aarch64-virt --print-syscall-table > target/syscalls-aarch64.md
if ! diff -u docs/syscalls-aarch64.md target/syscalls-aarch64.md; then
    echo "docs/syscalls-aarch64.md is stale: run scripts/gen-docs.sh" >&2
    exit 1
fi
# Both tables point at the same handlers: a call implemented on x86_64 that
# the generic numbering also has must be in the aarch64 table too.
# Columns: | nr | name | family | status | notes |
missing=$(awk -F'|' '
    FNR == NR { if ($5 ~ /full|partial/) x86[$3] = 1; next }
    ($3 in x86) && $5 !~ /full|partial/ { print $3 }
' docs/syscalls.md docs/syscalls-aarch64.md)
if [ -n "$missing" ]; then
    echo "implemented on x86_64 but missing from sentry/syscalls/aarch64.rs:$missing" >&2
    exit 1
fi

echo "== tests"
log=target/test-output.txt
set +e
cargo test --release --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^passed;?$/) sum += $(i-1) } END { print sum + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^failed;?$/) sum += $(i-1) } END { print sum + 0 }' "$log")
echo "tests: $passed passed, $failed failed"
exit "$status"
