#!/usr/bin/env bash
# Longer fuzzing than CI's bounded runs (issue 11; docs/security.md):
#   scripts/fuzz.sh [MINUTES]        (default 10)
# Splits the time between
#   - the syscall fuzzer (tests/programs/syscall_fuzz.c) in the sandbox,
#     with and without fork, a new seed each run;
#   - the ELF mutator (tests/tests/elf_mutator.rs) with many mutants;
#   - the proptest targets (vmm/tests/props.rs) with many cases.
# Any run that ends in 125 (rvisor failed), a VMM killed by a signal, or a
# hang past its --timeout is a bug: the seed and the output are kept in
# target/fuzz/.
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
end=$(( $(date +%s) + minutes * 60 ))
out=target/fuzz
mkdir -p "$out"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

cargo build --release -p rvisor-vmm >/dev/null || exit 1
vmm=target/release/rvisor-vmm
cc=${RVISOR_TEST_CC:-musl-gcc}
$cc -static -O2 -Wall tests/programs/syscall_fuzz.c -o "$out/syscall_fuzz" || exit 1

failures=0
runs=0
syscall_end=$(( $(date +%s) + minutes * 60 / 2 ))
while [ "$(date +%s)" -lt "$syscall_end" ]; do
    seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    for mode in "" "-f"; do
        runs=$((runs + 1))
        log="$out/run-$seed${mode}.log"
        timeout 200 "$vmm" --timeout 120 --elf "$out/syscall_fuzz" -- $mode -s "$seed" -t 30 \
            </dev/null >"$log" 2>&1
        status=$?
        if [ "$status" -ne 0 ]; then
            failures=$((failures + 1))
            echo "FAIL: seed $seed mode '${mode}' exit $status (log: $log)"
        else
            rm -f "$log"
        fi
    done
done
echo "syscall fuzzer: $runs runs, $failures failed"

left=$(( end - $(date +%s) ))
[ "$left" -lt 60 ] && left=60
# The ELF mutator: about 100 mutants a second; half the time left.
RVISOR_ELF_MUTANTS=$(( left * 50 )) cargo test --release -p rvisor-tests --test elf_mutator \
    || failures=$((failures + 1))
PROPTEST_CASES=20000 cargo test --release -p rvisor-vmm --test props || failures=$((failures + 1))
echo "fuzz: $failures failed"
[ "$failures" -eq 0 ]
