#!/usr/bin/env bash
# rvisor benchmark: start-up cost of a static "hello" under several runners,
# per-syscall cost (getppid loop), and VM exits per run; then bench/oci.sh
# (rvisor-runtime under podman vs runc) when podman and root are there.
#
#   bench/run.sh           print a Markdown section on stdout
#   bench/run.sh --write   ... and append it to docs/benchmarks.md
#
# Progress goes to stderr, the Markdown report to stdout. Needs: cargo,
# musl-gcc, hyperfine, a usable /dev/kvm; bwrap and proot are measured when
# installed (the project's setup script installs all of them).
#
# Environment: RVISOR_VMM overrides the binary under test (default
# target/release/rvisor-vmm, built here); BENCH_RUNS (default 30),
# BENCH_WARMUP (default 3), BENCH_SYSCALLS (default 1000000).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRITE=0
for arg in "$@"; do
    case "$arg" in
        --write) WRITE=1 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

RUNS="${BENCH_RUNS:-30}"
WARMUP="${BENCH_WARMUP:-3}"
SYSCALLS="${BENCH_SYSCALLS:-1000000}"
DEFAULT_PATH="/usr/local/bin:/usr/bin:/bin"

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# --- prerequisites --------------------------------------------------------------
CARGO="${CARGO:-cargo}"
command -v "$CARGO" >/dev/null || die "cargo not found"
command -v musl-gcc >/dev/null || die "musl-gcc not found (install musl-tools; see scripts/)"
command -v hyperfine >/dev/null || die "hyperfine not found (install it; see scripts/)"
command -v awk >/dev/null || die "awk not found"
if ! { exec 9<>/dev/kvm; } 2>/dev/null; then
    die "/dev/kvm cannot be opened read-write: rvisor-vmm cannot run here"
fi
exec 9>&-

HAVE_BWRAP=0; HAVE_PROOT=0
if command -v bwrap >/dev/null; then HAVE_BWRAP=1; else log "bwrap (bubblewrap) not installed: skipping the bwrap runner"; fi
if command -v proot >/dev/null; then HAVE_PROOT=1; else log "proot not installed: skipping the proot runner"; fi

# --- build ----------------------------------------------------------------------------
cd "$ROOT"
if [[ -n "${RVISOR_VMM:-}" ]]; then
    VMM="$RVISOR_VMM"
    [[ -x "$VMM" ]] || die "RVISOR_VMM=$VMM is not an executable"
else
    log "building rvisor-vmm (cargo build --release -p rvisor-vmm)"
    "$CARGO" build --release -p rvisor-vmm >&2 || die "cargo build failed"
    VMM="$ROOT/target/release/rvisor-vmm"
fi

PROGS="$ROOT/target/test-programs"
mkdir -p "$PROGS"
# Same command as tests/src/lib.rs uses.
build_c() {
    local name="$1" src="$ROOT/tests/programs/$1.c" out="$PROGS/$1"
    if [[ ! -x "$out" || "$src" -nt "$out" ]]; then
        log "compiling $name (musl-gcc -static -O2 -Wall)"
        musl-gcc -static -O2 -Wall -o "$out.tmp.$$" "$src" || die "cannot compile $src"
        mv -f "$out.tmp.$$" "$out"
    fi
}
build_c hello
build_c getppid_loop
build_c bench_read
build_c bench_files
build_c bench_write
build_c bench_procs
build_c bench_pingpong
build_c bench_sockets
build_c bench_net
build_c bench_memory
HELLO="$PROGS/hello"
GETPPID="$PROGS/getppid_loop"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/rvisor-bench.XXXXXX")"
log "raw results in $TMP"

# --- sanity: every runner must print the same thing ----------------------------------------
expected="$(env -i PATH="$DEFAULT_PATH" HOME=/ "$HELLO")"
check_runner() {
    local name="$1"; shift
    local got rc=0
    got="$("$@" 2>"$TMP/$name.sanity.err")" || rc=$?
    if [[ $rc -ne 0 || "$got" != "$expected" ]]; then
        echo "bench: error: '$*' (exit $rc) did not print what native hello prints" >&2
        echo "--- stdout ---" >&2; printf '%s\n' "$got" >&2
        echo "--- stderr ---" >&2; cat "$TMP/$name.sanity.err" >&2
        exit 1
    fi
}
check_runner rvisor "$VMM" --elf "$HELLO"
[[ $HAVE_BWRAP = 1 ]] && check_runner bwrap bwrap --bind / / "$HELLO"
[[ $HAVE_PROOT = 1 ]] && check_runner proot proot "$HELLO"

# --- start-up: one hyperfine run with all runners ----------------------------------------
cmds=(--command-name native "$HELLO")
[[ $HAVE_BWRAP = 1 ]] && cmds+=(--command-name bwrap "bwrap --bind / / $HELLO")
[[ $HAVE_PROOT = 1 ]] && cmds+=(--command-name proot "proot $HELLO")
cmds+=(--command-name rvisor "$VMM --elf $HELLO")

log "hyperfine --warmup $WARMUP --runs $RUNS -N (hello under each runner)"
hyperfine --warmup "$WARMUP" --runs "$RUNS" -N --style basic \
    --export-json "$TMP/startup.json" --export-csv "$TMP/startup.csv" \
    "${cmds[@]}" >&2

# CSV columns: command,mean,stddev,median,user,system,min,max (seconds)
csv_field() { # name column
    awk -F, -v n="$1" -v c="$2" 'NR > 1 && $1 == n { print $c }' "$TMP/startup.csv"
}
ms() { awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }

native_median="$(csv_field native 4)"
bwrap_median=""
[[ $HAVE_BWRAP = 1 ]] && bwrap_median="$(csv_field bwrap 4)"

startup_rows=""
for name in native bwrap proot rvisor; do
    median="$(csv_field "$name" 4)"
    if [[ -z "$median" ]]; then
        startup_rows+="| $name | skipped (not installed) | | | |"$'\n'
        continue
    fi
    mean="$(csv_field "$name" 2)"; sd="$(csv_field "$name" 3)"
    vs_bwrap="n/a"
    [[ -n "$bwrap_median" ]] && vs_bwrap="$(ratio "$median" "$bwrap_median")"
    startup_rows+="| $name | $(ms "$median") | $(ms "$mean") ± $(ms "$sd") | $(ratio "$median" "$native_median") | $vs_bwrap |"$'\n'
done

# --- a dynamically linked program: python3 -c pass ---------------------------------------
# The host's own python3 (dynamic, ~70 files opened at start-up): natively,
# under bwrap with the host root, and in rvisor with --root / (read-only).
PYTHON=/usr/bin/python3
python_rows=""
if [[ -x "$PYTHON" ]]; then
    pycmds=(--command-name native "$PYTHON -c pass")
    [[ $HAVE_BWRAP = 1 ]] && pycmds+=(--command-name bwrap "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp $PYTHON -c pass")
    pycmds+=(--command-name rvisor "$VMM --root / -- $PYTHON -c pass")
    "$VMM" --root / -- "$PYTHON" -c pass || die "rvisor-vmm --root / -- $PYTHON -c pass failed"
    log "hyperfine python3 -c pass under each runner"
    hyperfine --warmup "$WARMUP" --runs "$RUNS" -N --style basic \
        --export-csv "$TMP/python.csv" "${pycmds[@]}" >&2
    py_field() { awk -F, -v n="$1" -v c="$2" 'NR > 1 && $1 == n { print $c }' "$TMP/python.csv"; }
    py_native="$(py_field native 4)"
    for name in native bwrap rvisor; do
        median="$(py_field "$name" 4)"
        [[ -z "$median" ]] && continue
        python_rows+="| $name | $(ms "$median") | $(ms "$(py_field "$name" 2)") ± $(ms "$(py_field "$name" 3)") | $(ratio "$median" "$py_native") |"$'\n'
    done
    "$VMM" --stats --root / -- "$PYTHON" -c pass 2>"$TMP/python.err" >/dev/null || true
    python_stats="$(grep 'rvisor: stats:' "$TMP/python.err" | tail -n1 || true)"
else
    log "$PYTHON not installed: skipping python3 -c pass"
    python_rows="| (python3 not installed) | | | |"$'\n'
    python_stats=""
fi

# --- syscall cost ------------------------------------------------------------------------
# Three runs each; the median of the three is reported.
ns_per_call() { # command...
    local out
    out="$("$@")" || die "'$*' failed"
    sed -n 's/.*ns_per_call=\([0-9.]*\).*/\1/p' <<<"$out"
}
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

log "getppid_loop $SYSCALLS, native (3 runs)"
n=(); for _ in 1 2 3; do n+=("$(ns_per_call "$GETPPID" "$SYSCALLS")"); done
log "getppid_loop $SYSCALLS, rvisor (3 runs)"
r=(); for _ in 1 2 3; do r+=("$(ns_per_call "$VMM" --elf "$GETPPID" -- "$SYSCALLS")"); done
native_ns="$(median3 "${n[@]}")"
rvisor_ns="$(median3 "${r[@]}")"
[[ -n "$native_ns" && -n "$rvisor_ns" ]] || die "getppid_loop printed no ns_per_call"

# --- VM exits --------------------------------------------------------------------------------
log "rvisor-vmm --stats --elf hello"
"$VMM" --stats --elf "$HELLO" >/dev/null 2>"$TMP/stats.err" || die "rvisor-vmm --stats failed: $(cat "$TMP/stats.err")"
stats_line="$(grep 'rvisor: stats:' "$TMP/stats.err" | tail -n1 || true)"
[[ -n "$stats_line" ]] || die "no 'rvisor: stats:' line on stderr: $(cat "$TMP/stats.err")"
vm_exits="$(sed -n 's/.*vm_exits=\([0-9]*\).*/\1/p' <<<"$stats_line")"
syscalls="$(sed -n 's/.*syscalls=\([0-9]*\).*/\1/p' <<<"$stats_line")"

# --- files ---------------------------------------------------------------------------------
# A 64 MiB file read through --mount (and natively), and 1000 small files
# created and deleted in /tmp (the sandbox's tmpfs; natively the host's /tmp).
SHARE="$TMP/share"
mkdir -p "$SHARE" "$TMP/files"
head -c $((64 << 20)) /dev/urandom >"$SHARE/big"
median3() { sort -n | sed -n 2p; }
log "bench_read 64 MiB, native and rvisor (3 runs each)"
read_native="$(for _ in 1 2 3; do "$PROGS/bench_read" "$SHARE/big" | sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p'; done | median3)"
read_rvisor="$(for _ in 1 2 3; do "$VMM" --mount "$SHARE:/data" --elf "$PROGS/bench_read" /data/big | sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p'; done | median3)"
"$VMM" --stats --mount "$SHARE:/data" --elf "$PROGS/bench_read" /data/big >/dev/null 2>"$TMP/read.err" || die "bench_read failed: $(cat "$TMP/read.err")"
read_stats="$(grep 'rvisor: stats:' "$TMP/read.err" | tail -n1)"
read_exits="$(sed -n 's/.*vmm_exits=\([0-9]*\).*/\1/p' <<<"$read_stats")"
log "bench_files 1000, native and rvisor (3 runs each)"
files_native="$(for _ in 1 2 3; do "$PROGS/bench_files" "$TMP/files" 1000 | sed -n 's/.*ms=\([0-9.]*\).*/\1/p'; done | median3)"
files_rvisor="$(for _ in 1 2 3; do "$VMM" --elf "$PROGS/bench_files" /tmp 1000 | sed -n 's/.*ms=\([0-9.]*\).*/\1/p'; done | median3)"
host_tmp_fs="$(stat -f -c %T "$TMP/files" 2>/dev/null || echo '?')"
log "bench_write 10 MiB in 4 KiB writes, native and rvisor through --mount (3 runs each)"
write_native="$(for _ in 1 2 3; do "$PROGS/bench_write" "$SHARE/out" | sed -n 's/.*ms=\([0-9.]*\).*/\1/p'; done | median3)"
write_rvisor="$(for _ in 1 2 3; do "$VMM" --mount "$SHARE:/data:rw" --elf "$PROGS/bench_write" /data/out | sed -n 's/.*ms=\([0-9.]*\).*/\1/p'; done | median3)"

# --- processes and signals ------------------------------------------------------------------
# One bench_procs run prints fork_us, spawn_us, pipe_mb_s and signal_ns;
# each figure is the median of three runs.
log "bench_procs, native and rvisor (3 runs each)"
for _ in 1 2 3; do "$PROGS/bench_procs"; done >"$TMP/procs.native" || die "bench_procs failed natively"
for _ in 1 2 3; do "$VMM" --elf "$PROGS/bench_procs"; done >"$TMP/procs.rvisor" || die "bench_procs failed in rvisor"
procs_field() { # file key
    sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$1" | median3
}
declare -A procs_native procs_rvisor
for key in fork_us spawn_us pipe_mb_s signal_ns; do
    procs_native[$key]="$(procs_field "$TMP/procs.native" "$key")"
    procs_rvisor[$key]="$(procs_field "$TMP/procs.rvisor" "$key")"
done

# --- thread ping-pong (the scheduler) -------------------------------------------------------
# Native pinned to one CPU (the sandbox has one vCPU); 0 and 100 idle threads.
log "bench_pingpong, native (taskset -c 0) and rvisor (3 runs each)"
pingpong() { # runner-prefix... -- idle
    local idle="${@: -1}"
    set -- "${@:1:$#-1}"
    for _ in 1 2 3; do "$@" "$PROGS/bench_pingpong" 20000 "$idle"; done \
        | sed -n 's/.*round_trips_s=\([0-9.]*\).*/\1/p' | median3
}
pp_native0="$(pingpong taskset -c 0 0)"
pp_native100="$(pingpong taskset -c 0 100)"
pp_rvisor0="$(pingpong "$VMM" --elf 0)"
pp_rvisor100="$(pingpong "$VMM" --elf 100)"

# --- sockets over loopback ------------------------------------------------------------------
# Two processes: 256 MiB in 64 KiB writes, and 20000 1-byte round trips,
# over TCP 127.0.0.1 and an AF_UNIX stream pair. Native on both CPUs and
# pinned to one (the sandbox has one vCPU).
log "bench_sockets, native, native pinned and rvisor (3 runs each)"
sockets() { # output-file runner-prefix...
    local out="$1"; shift
    for _ in 1 2 3; do "$@" "$PROGS/bench_sockets" 256 20000; done >"$out" \
        || die "bench_sockets failed under: $*"
}
sockets "$TMP/sockets.native" env
sockets "$TMP/sockets.pinned" taskset -c 0
sockets "$TMP/sockets.rvisor" "$VMM" --elf
declare -A sk_native sk_pinned sk_rvisor
sk_field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$1" | median3; }
for field in tcp_mb_s tcp_rtt_s unix_mb_s unix_rtt_s; do
    sk_native[$field]="$(sk_field "$TMP/sockets.native" "$field")"
    sk_pinned[$field]="$(sk_field "$TMP/sockets.pinned" "$field")"
    sk_rvisor[$field]="$(sk_field "$TMP/sockets.rvisor" "$field")"
done

# --- TCP to a host server (--net) -----------------------------------------------------------
# A server on the host's 127.0.0.1 (bench_net server, native); the client
# natively and in the sandbox with --net: 64 MiB down and up in 64 KiB
# chunks, 5000 1-byte round trips.
log "bench_net against a host server, native and rvisor --net (3 runs each)"
"$PROGS/bench_net" server >"$TMP/net.port" &
NET_SERVER=$!
trap 'kill $NET_SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do [[ -s "$TMP/net.port" ]] && break; sleep 0.1; done
NET_PORT="$(cat "$TMP/net.port")"
for _ in 1 2 3; do "$PROGS/bench_net" client "$NET_PORT" 64 5000; done >"$TMP/net.native" \
    || die "bench_net failed natively"
for _ in 1 2 3; do "$VMM" --net --elf "$PROGS/bench_net" -- client "$NET_PORT" 64 5000; done \
    >"$TMP/net.rvisor" || die "bench_net failed under rvisor --net"
kill "$NET_SERVER" 2>/dev/null || true
declare -A net_native net_rvisor
for field in dl_mb_s ul_mb_s rtt_s; do
    net_native[$field]="$(sk_field "$TMP/net.native" "$field")"
    net_rvisor[$field]="$(sk_field "$TMP/net.rvisor" "$field")"
done

# --- memory and CPU ---------------------------------------------------------------------------
# bench_memory: fresh memory (map + touch + unmap 128 MiB, best of 4),
# fork + _exit + waitpid with a touched 16 MiB heap (median of 21), a
# CPU-bound loop (best of 3); once under each runner. And the peak RSS of
# the whole runner process for hello (GNU time's %M).
log "bench_memory under each runner"
declare -A mem_fresh mem_fork mem_cpu hello_rss
mem_runners=(native)
[[ $HAVE_BWRAP = 1 ]] && mem_runners+=(bwrap)
[[ $HAVE_PROOT = 1 ]] && mem_runners+=(proot)
mem_runners+=(rvisor)
runner_prefix() { # name -> command prefix words
    case "$1" in
        native) echo "env" ;;
        bwrap) echo "bwrap --bind / /" ;;
        proot) echo "proot" ;;
        rvisor) echo "$VMM --memory 512M --elf" ;;
    esac
}
for name in "${mem_runners[@]}"; do
    # shellcheck disable=SC2046
    line="$($(runner_prefix "$name") "$PROGS/bench_memory")" || die "bench_memory failed under $name"
    mem_fresh[$name]="$(sed -n 's/.*fresh_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    mem_fork[$name]="$(sed -n 's/.*fork16_us=\([0-9.]*\).*/\1/p' <<<"$line")"
    mem_cpu[$name]="$(sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    if [[ -x /usr/bin/time ]]; then
        # shellcheck disable=SC2046
        hello_rss[$name]="$( { /usr/bin/time -f 'rss_kb=%M' $(runner_prefix "$name") "$HELLO" >/dev/null; } 2>&1 | sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p' | tail -n1)"
    fi
done
mem_rows=""
for name in "${mem_runners[@]}"; do
    mem_rows+="| $name | ${mem_fresh[$name]} | $(ratio "${mem_fresh[$name]}" "${mem_fresh[native]}") | ${mem_fork[$name]} | $(ratio "${mem_fork[$name]}" "${mem_fork[native]}") | ${mem_cpu[$name]} | $(ratio "${mem_cpu[$name]}" "${mem_cpu[native]}") | ${hello_rss[$name]:-?} |"$'\n'
done

# --- shared directories and --root (bench/hostfs.sh) --------------------------------------------
hostfs_report=""
if [[ "${BENCH_HOSTFS:-1}" = 1 ]]; then
    log "bench/hostfs.sh (set BENCH_HOSTFS=0 to skip)"
    hostfs_report="$(RVISOR_VMM="$VMM" BENCH_PLOT="$TMP/hostfs.plot" bash "$ROOT/bench/hostfs.sh")" \
        || { log "bench/hostfs.sh failed"; hostfs_report=""; }
fi

# --- plot: each workload's time relative to native, per runner ---------------------------------
# (throughputs enter as native / runner, so lower is better everywhere).
plot_value() { # value native [inverse]
    if [[ -z "$1" || -z "$2" ]]; then echo "?"; return; fi
    if [[ "${3:-}" = inverse ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b / a }'
    else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; fi
}
{
    echo "workload native bwrap proot rvisor"
    printf '"hello start-up" 1'
    for name in bwrap proot rvisor; do printf ' %s' "$(plot_value "$(csv_field "$name" 4)" "$native_median")"; done; echo
    printf '"python3 -c pass" 1'
    for name in bwrap proot rvisor; do
        v="?"; [[ -f "$TMP/python.csv" ]] && v="$(plot_value "$(awk -F, -v n="$name" 'NR > 1 && $1 == n { print $4 }' "$TMP/python.csv")" "${py_native:-}")"
        printf ' %s' "$v"
    done; echo
    printf '"getppid()" 1 ? ? %s\n' "$(plot_value "$rvisor_ns" "$native_ns")"
    for w in fresh fork cpu; do
        case $w in fresh) label='"fresh 128 MiB"' ;; fork) label='"fork, 16 MiB heap"' ;; cpu) label='"CPU loop"' ;; esac
        printf '%s 1' "$label"
        for name in bwrap proot rvisor; do
            case $w in
                fresh) printf ' %s' "$(plot_value "${mem_fresh[$name]:-}" "${mem_fresh[native]}")" ;;
                fork) printf ' %s' "$(plot_value "${mem_fork[$name]:-}" "${mem_fork[native]}")" ;;
                cpu) printf ' %s' "$(plot_value "${mem_cpu[$name]:-}" "${mem_cpu[native]}")" ;;
            esac
        done; echo
    done
    printf '"pipe MB/s" 1 ? ? %s\n' "$(plot_value "${procs_rvisor[pipe_mb_s]}" "${procs_native[pipe_mb_s]}" inverse)"
    printf '"TCP loopback MB/s" 1 ? ? %s\n' "$(plot_value "${sk_rvisor[tcp_mb_s]}" "${sk_native[tcp_mb_s]}" inverse)"
    printf '"read --mount MB/s" 1 ? ? %s\n' "$(plot_value "$read_rvisor" "$read_native" inverse)"
    if [[ -s "$TMP/hostfs.plot" ]]; then cat "$TMP/hostfs.plot"; fi
} >"$TMP/plot.dat"
plot_png=""
if command -v gnuplot >/dev/null; then
    plot_png="$TMP/benchmarks.png"
    gnuplot <<GNUPLOT 2>"$TMP/gnuplot.err" || { log "gnuplot failed: $(cat "$TMP/gnuplot.err")"; plot_png=""; }
set terminal pngcairo size 1100,520 font ",10" noenhanced
set output "$plot_png"
set title "rvisor benchmarks: time relative to native (lower is better; throughputs as native / runner)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.125:64]
set ytics ("1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64)
set grid ytics
set xtics rotate by -25 scale 0
set key top left
set datafile missing "?"
plot "$TMP/plot.dat" using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), '' using 4 title columnheader(4), '' using 5 title columnheader(5)
GNUPLOT
else
    log "gnuplot not installed: no plot (scripts/setup.sh installs gnuplot-nox)"
fi

# --- report ----------------------------------------------------------------------------------
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")"
if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n1)" ]]; then commit+=" (+ uncommitted changes)"; fi
cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"

report="$(cat <<EOF
## Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(nproc) CPUs${cpu:+ ($cpu)}, kernel \`$(uname -r)\`
- rvisor: \`$commit\`; hyperfine $(hyperfine --version | awk '{print $2}'), \`--warmup $WARMUP --runs $RUNS -N\`
- Program: \`tests/programs/hello.c\` built with \`musl-gcc -static -O2\`

### Start-up and exit of a static hello

| Runner | Median (ms) | Mean ± σ (ms) | vs native | vs bwrap |
|---|---:|---:|---:|---:|
${startup_rows%$'\n'}

### A dynamically linked program: \`python3 -c pass\`

The host's \`$PYTHON\`; bwrap with \`--ro-bind / /\`, rvisor with \`--root /\`.

| Runner | Median (ms) | Mean ± σ (ms) | vs native |
|---|---:|---:|---:|
${python_rows%$'\n'}

\`${python_stats:-no stats}\`

### System call cost: \`getppid_loop $SYSCALLS\` (median of 3 runs)

| Runner | ns per getppid() |
|---|---:|
| native | $native_ns |
| rvisor | $rvisor_ns |

Ratio rvisor / native: $(ratio "$rvisor_ns" "$native_ns")

### Files

| Workload | native | rvisor | rvisor / native |
|---|---:|---:|---:|
| read a 64 MiB file (256 KiB reads), MB/s; rvisor through \`--mount\` | $read_native | $read_rvisor | $(ratio "$read_rvisor" "$read_native") |
| write 10 MiB in 4 KiB writes + fsync, ms; rvisor through \`--mount\` | $write_native | $write_rvisor | $(ratio "$write_rvisor" "$write_native") |
| create + delete 1000 small files, ms; rvisor in its tmpfs /tmp, native in a host dir ($host_tmp_fs) | $files_native | $files_rvisor | $(ratio "$files_rvisor" "$files_native") |

Exits to the VMM for the 64 MiB read: ${read_exits:-?} ($(awk -v e="${read_exits:-0}" 'BEGIN { printf "%.1f", e / 64 }') per MiB).

### Processes and signals: \`bench_procs\` (median of 3 runs)

| Workload | native | rvisor | rvisor / native |
|---|---:|---:|---:|
| fork + _exit + waitpid, µs | ${procs_native[fork_us]} | ${procs_rvisor[fork_us]} | $(ratio "${procs_rvisor[fork_us]}" "${procs_native[fork_us]}") |
| posix_spawn (vfork + exec) + waitpid, µs | ${procs_native[spawn_us]} | ${procs_rvisor[spawn_us]} | $(ratio "${procs_rvisor[spawn_us]}" "${procs_native[spawn_us]}") |
| 64 MiB through a pipe between two processes, MB/s | ${procs_native[pipe_mb_s]} | ${procs_rvisor[pipe_mb_s]} | $(ratio "${procs_rvisor[pipe_mb_s]}" "${procs_native[pipe_mb_s]}") |
| raise(SIGUSR1) to a handler and back, ns | ${procs_native[signal_ns]} | ${procs_rvisor[signal_ns]} | $(ratio "${procs_rvisor[signal_ns]}" "${procs_native[signal_ns]}") |

### Thread ping-pong over a pipe: \`bench_pingpong 20000 IDLE\` (median of 3 runs; native pinned to one CPU)

| Idle threads | native, round trips/s | rvisor, round trips/s | rvisor / native |
|---:|---:|---:|---:|
| 0 | $pp_native0 | $pp_rvisor0 | $(ratio "$pp_rvisor0" "$pp_native0") |
| 100 | $pp_native100 | $pp_rvisor100 | $(ratio "$pp_rvisor100" "$pp_native100") |

### Sockets over loopback between two processes: \`bench_sockets 256 20000\` (median of 3 runs)

| Workload | native | native, one CPU | rvisor | rvisor / native | rvisor / one CPU |
|---|---:|---:|---:|---:|---:|
| TCP 127.0.0.1 bulk, MB/s | ${sk_native[tcp_mb_s]} | ${sk_pinned[tcp_mb_s]} | ${sk_rvisor[tcp_mb_s]} | $(ratio "${sk_rvisor[tcp_mb_s]}" "${sk_native[tcp_mb_s]}") | $(ratio "${sk_rvisor[tcp_mb_s]}" "${sk_pinned[tcp_mb_s]}") |
| TCP 127.0.0.1 1-byte round trips/s | ${sk_native[tcp_rtt_s]} | ${sk_pinned[tcp_rtt_s]} | ${sk_rvisor[tcp_rtt_s]} | $(ratio "${sk_rvisor[tcp_rtt_s]}" "${sk_native[tcp_rtt_s]}") | $(ratio "${sk_rvisor[tcp_rtt_s]}" "${sk_pinned[tcp_rtt_s]}") |
| AF_UNIX stream bulk, MB/s | ${sk_native[unix_mb_s]} | ${sk_pinned[unix_mb_s]} | ${sk_rvisor[unix_mb_s]} | $(ratio "${sk_rvisor[unix_mb_s]}" "${sk_native[unix_mb_s]}") | $(ratio "${sk_rvisor[unix_mb_s]}" "${sk_pinned[unix_mb_s]}") |
| AF_UNIX stream 1-byte round trips/s | ${sk_native[unix_rtt_s]} | ${sk_pinned[unix_rtt_s]} | ${sk_rvisor[unix_rtt_s]} | $(ratio "${sk_rvisor[unix_rtt_s]}" "${sk_native[unix_rtt_s]}") | $(ratio "${sk_rvisor[unix_rtt_s]}" "${sk_pinned[unix_rtt_s]}") |

### TCP to a server on the host's 127.0.0.1 with \`--net\`: \`bench_net client PORT 64 5000\` (median of 3 runs)

| Workload | native | rvisor --net | rvisor / native |
|---|---:|---:|---:|
| download (host -> program), MB/s | ${net_native[dl_mb_s]} | ${net_rvisor[dl_mb_s]} | $(ratio "${net_rvisor[dl_mb_s]}" "${net_native[dl_mb_s]}") |
| upload (program -> host), MB/s | ${net_native[ul_mb_s]} | ${net_rvisor[ul_mb_s]} | $(ratio "${net_rvisor[ul_mb_s]}" "${net_native[ul_mb_s]}") |
| 1-byte round trips/s | ${net_native[rtt_s]} | ${net_rvisor[rtt_s]} | $(ratio "${net_rvisor[rtt_s]}" "${net_native[rtt_s]}") |

### Memory and CPU: \`bench_memory\` (once per runner; rvisor with \`--memory 512M\`)

Fresh memory: map + touch every page + unmap 128 MiB, best of 4. Fork: fork + _exit + waitpid with a touched 16 MiB heap, median of 21. CPU: a xorshift loop, best of 3. RSS: peak resident memory of the whole runner process running hello (GNU time).

| Runner | fresh 128 MiB, ms | vs native | fork, 16 MiB heap, µs | vs native | CPU loop, ms | vs native | hello peak RSS, KiB |
|---|---:|---:|---:|---:|---:|---:|---:|
${mem_rows%$'\n'}

### VM exits

\`rvisor-vmm --stats --elf hello\`: vm_exits=${vm_exits:-?}, syscalls=${syscalls:-?}

\`\`\`
$stats_line
\`\`\`

${hostfs_report/#"## "/"### "}
EOF
)"

printf '%s\n' "$report"

if [[ $WRITE = 1 ]]; then
    doc="$ROOT/docs/benchmarks.md"
    mkdir -p "$(dirname "$doc")"
    [[ -s "$doc" ]] || printf '# Benchmarks\n\nSections appended by `bench/run.sh --write`.\n' >"$doc"
    printf '\n%s\n' "$report" >>"$doc"
    log "appended to $doc"
    if [[ -n "$plot_png" ]]; then
        cp "$plot_png" "$ROOT/docs/benchmarks.png"
        log "plot written to docs/benchmarks.png"
    fi
fi

# --- rvisor-runtime under podman (its own script; needs root and podman) ----------------------
if command -v podman >/dev/null && command -v runc >/dev/null && [[ $(id -u) = 0 ]]; then
    if [[ $WRITE = 1 ]]; then "$ROOT/bench/oci.sh" --write; else "$ROOT/bench/oci.sh"; fi
else
    log "podman, runc or root missing: skipping bench/oci.sh (rvisor-runtime under podman)"
fi
