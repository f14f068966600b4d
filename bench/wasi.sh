#!/usr/bin/env bash
# rvisor --wasm benchmark: the same CPU-bound Rust program (tests/wasi-programs
# cpu.rs) built natively (x86_64-unknown-linux-musl), run by wasmtime on the
# host (PyPI's wasmtime package: the wasmtime C API, Cranelift) and by
# `rvisor-vmm --wasm` (warm code cache), in one run; and the start-up of a
# WASI hello with a cold and a warm cache.
#
#   bench/wasi.sh           print a Markdown section on stdout
#   bench/wasi.sh --write   ... and append it to docs/benchmarks.md
#
# Environment: RVISOR_VMM (default target/release/rvisor-vmm), BENCH_RUNS
# (default 5 for the CPU-bound runs, 4x that for hello), BENCH_ROUNDS (the
# CPU-bound program's argument, default 70: about a second natively here).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1
RUNS="${BENCH_RUNS:-5}"
ROUNDS="${BENCH_ROUNDS:-70}"
log() { echo "bench: $*" >&2; }
command -v hyperfine >/dev/null || { echo "bench: hyperfine not found" >&2; exit 1; }
cd "$ROOT"
VMM="${RVISOR_VMM:-$ROOT/target/release/rvisor-vmm}"
[ -n "${RVISOR_VMM:-}" ] || { log "building rvisor-vmm"; cargo build --release -q -p rvisor-vmm; }
PROGS="$ROOT/target/test-programs/wasi"
for target in wasm32-wasip1 x86_64-unknown-linux-musl; do
    log "building tests/wasi-programs for $target"
    cargo build --release -q --manifest-path tests/wasi-programs/Cargo.toml --target "$target" --target-dir "$PROGS"
done
WASM="$PROGS/wasm32-wasip1/release"
NATIVE="$PROGS/x86_64-unknown-linux-musl/release"
WORK="$ROOT/target/bench-wasi"
mkdir -p "$WORK"
VENV="$ROOT/target/wasi-testsuite/venv"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -c 'import wasmtime' 2>/dev/null || "$VENV/bin/pip" install -q "wasmtime==${WASMTIME_PY_VERSION:-50.0.1}"
HOST_WASMTIME="$VENV/bin/python $ROOT/scripts/wasi-testsuite/host-wasmtime.py"
CACHE="$WORK/cache"

# Same output everywhere, or the numbers mean nothing.
expected=$("$NATIVE/cpu" "$ROUNDS")
for runner in "$HOST_WASMTIME $WASM/cpu.wasm" "$VMM --wasm-cache $CACHE --wasm $WASM/cpu.wasm --"; do
    got=$($runner "$ROUNDS")
    [ "$got" = "$expected" ] || { echo "bench: $runner printed $got, native $expected" >&2; exit 1; }
done

median() { # hyperfine JSON -> "median_ms"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"]*1000) for x in r))' "$1"
}
log "CPU-bound: cpu $ROUNDS ($RUNS runs each)"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/cpu.json" \
    -n native "$NATIVE/cpu $ROUNDS" \
    -n host-wasmtime "$HOST_WASMTIME $WASM/cpu.wasm $ROUNDS" \
    -n rvisor-wasm "$VMM --wasm-cache $CACHE --wasm $WASM/cpu.wasm -- $ROUNDS" >&2
read -r cpu_native cpu_host cpu_rvisor < <(median "$WORK/cpu.json")

log "hello start-up"
HELLO_RUNS=$((RUNS * 4))
hyperfine -N --warmup 2 --runs "$HELLO_RUNS" --export-json "$WORK/hello.json" \
    -n native "$NATIVE/hello" \
    -n host-wasmtime "$HOST_WASMTIME $WASM/hello.wasm" \
    -n rvisor-elf "$VMM --elf $NATIVE/hello" \
    -n rvisor-wasm-warm "$VMM --wasm-cache $CACHE --wasm $WASM/hello.wasm" \
    -n rvisor-wasm-nocache "$VMM --no-wasm-cache --wasm $WASM/hello.wasm" >&2
read -r h_native h_host h_elf h_warm h_nocache < <(median "$WORK/hello.json")
hyperfine -N --runs "$RUNS" --prepare "rm -rf $WORK/cold-cache" --export-json "$WORK/cold.json" \
    -n rvisor-wasm-cold "$VMM --wasm-cache $WORK/cold-cache --wasm $WASM/hello.wasm" >&2
read -r h_cold < <(median "$WORK/cold.json")

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
report=$(cat <<MD

## WASI benchmark run $(date -u '+%Y-%m-%d %H:%M UTC') (bench/wasi.sh)

Host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg). Medians of
hyperfine runs. host-wasmtime is wasmtime $(${VENV}/bin/python -c 'import wasmtime,sys; sys.stdout.write(getattr(wasmtime, "__version__", "50"))' 2>/dev/null) through its
C API from Python (PyPI's wasmtime package; it compiles the module on every
run and pays Python's start-up with `import wasmtime`, ~50 ms: compare its
hello with care); rvisor-wasm runs with a warm code cache.

### CPU-bound: \`cpu $ROUNDS\` (tests/wasi-programs/src/bin/cpu.rs)

| runner | median ms | vs native | vs host wasmtime |
| --- | ---: | ---: | ---: |
| native (x86_64-unknown-linux-musl) | $cpu_native | 1.00 | |
| host wasmtime | $cpu_host | $(ratio "$cpu_host" "$cpu_native") | 1.00 |
| rvisor-vmm --wasm | $cpu_rvisor | $(ratio "$cpu_rvisor" "$cpu_native") | $(ratio "$cpu_rvisor" "$cpu_host") |

### Start-up and exit of a WASI hello (whole process)

| runner | median ms |
| --- | ---: |
| native hello (musl) | $h_native |
| host wasmtime (hello.wasm) | $h_host |
| rvisor-vmm --elf hello (musl) | $h_elf |
| rvisor-vmm --wasm, cold cache (compile step + run) | $h_cold |
| rvisor-vmm --wasm, warm cache | $h_warm |
| rvisor-vmm --wasm --no-wasm-cache (compiled in the sandbox) | $h_nocache |
MD
)
echo "$report"
if [ "$WRITE" = 1 ]; then echo "$report" >> "$ROOT/docs/benchmarks.md"; log "appended to docs/benchmarks.md"; fi
