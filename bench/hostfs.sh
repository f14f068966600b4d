#!/usr/bin/env bash
# rvisor shared-directory benchmark: per-file costs on a --mount (lstat,
# open+close, open+read+close), ripgrep over a mounted source tree, an
# SQLite workload on a :rw mount, and start-up of dynamic programs with
# --root / (python3 -c pass, bash -c true, a loop of 20 python3 runs), each
# side by side with native (and bwrap where it applies) in one run.
#
#   bench/hostfs.sh           print a Markdown section on stdout
#   bench/hostfs.sh --write   ... and append it to docs/benchmarks.md
#
# Environment: RVISOR_VMM (default target/release/rvisor-vmm, built here);
# RVISOR_VMM_BEFORE: a second build measured in the same run (e.g. main's,
# for before/after tables); BENCH_RUNS (default 10); BENCH_PLOT=FILE: also
# write "workload native bwrap proot rvisor" rows for bench/run.sh's plot.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1
RUNS="${BENCH_RUNS:-10}"
log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "hyperfine not found (scripts/setup.sh installs it)"
command -v musl-gcc >/dev/null || die "musl-gcc not found"
cd "$ROOT"
VMM="${RVISOR_VMM:-$ROOT/target/release/rvisor-vmm}"
[ -n "${RVISOR_VMM:-}" ] || { log "building rvisor-vmm"; cargo build --release -q -p rvisor-vmm; }
BEFORE="${RVISOR_VMM_BEFORE:-}"
PROGS="$ROOT/target/test-programs"
mkdir -p "$PROGS"
musl-gcc -static -O2 -Wall -o "$PROGS/bench_hostfs" tests/programs/bench_hostfs.c
TMP="$(mktemp -d "${TMPDIR:-/tmp}/rvisor-bench-hostfs.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
log "raw results in $TMP"

runners=(rvisor)
[ -n "$BEFORE" ] && runners+=(before)
vmm_of() { if [ "$1" = before ]; then echo "$BEFORE"; else echo "$VMM"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'; }

# --- per-file costs ------------------------------------------------------------------------
N=1000
mkdir -p "$TMP/files"
for i in $(seq 0 $((N - 1))); do printf '%4096s' "$i" >"$TMP/files/$(printf 'f%04d' "$i")"; done
median_of() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*[^_]$1=\([0-9.]*\).*/\1/p; s/^$1=\([0-9.]*\).*/\1/p" | head -n1; }
declare -A per
for who in native "${runners[@]}"; do
    for _ in 1 2 3; do
        if [ "$who" = native ]; then "$PROGS/bench_hostfs" "$TMP/files" $N 5
        else "$(vmm_of "$who")" --mount "$TMP/files:/d" --elf "$PROGS/bench_hostfs" -- /d $N 5; fi
    done >"$TMP/per.$who"
    for key in lstat_first_us lstat_us open_close_first_us open_close_us open_read_close_first_us open_read_close_us; do
        per[$who.$key]="$(grep -o "\b$key=[0-9.]*" "$TMP/per.$who" | cut -d= -f2 | median_of)"
    done
done
per_rows=""
for key in lstat open_close open_read_close; do
    row="| ${key//_/+} (warm) | ${per[native.${key}_us]}"
    for who in "${runners[@]}"; do row+=" | ${per[$who.${key}_us]} | $(ratio "${per[$who.${key}_us]}" "${per[native.${key}_us]}")"; done
    per_rows+="$row |"$'\n'
    row="| ${key//_/+} (first pass) | ${per[native.${key}_first_us]}"
    for who in "${runners[@]}"; do row+=" | ${per[$who.${key}_first_us]} | $(ratio "${per[$who.${key}_first_us]}" "${per[native.${key}_first_us]}")"; done
    per_rows+="$row |"$'\n'
done

# --- hyperfine workloads -------------------------------------------------------------------------
declare -A med
hf() { # tag prepare name cmd [name cmd]...
    local tag="$1" prepare="$2"; shift 2
    local args=()
    while (($#)); do args+=(--command-name "$1" "$2"); shift 2; done
    hyperfine -N --warmup 1 --runs "$RUNS" --style basic ${prepare:+--prepare "$prepare"} \
        --export-csv "$TMP/$tag.csv" "${args[@]}" >&2
    while IFS=, read -r name _mean _sd median _rest; do
        [ "$name" = command ] && continue
        med[$tag.$name]="$median"
    done <"$TMP/$tag.csv"
}

# ripgrep over a copy of this repository's source.
rg_rows=""
if command -v rg >/dev/null; then
    mkdir -p "$TMP/src"
    git -C "$ROOT" archive HEAD | tar -x -C "$TMP/src"
    cmds=(native "rg -c fn $TMP/src")
    for who in "${runners[@]}"; do cmds+=("$who" "$(vmm_of "$who") --root / --mount $TMP/src:/src -- rg -c fn /src"); done
    log "ripgrep over $(find "$TMP/src" -type f | wc -l) files"
    hf rg "" "${cmds[@]}"
else
    log "ripgrep not installed: skipped"
fi

# SQLite: a generated workload through the sqlite3 shell, on a :rw mount.
if command -v sqlite3 >/dev/null; then
    mkdir -p "$TMP/db"
    {
        echo "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INTEGER);"
        for tx in $(seq 0 99); do
            echo "BEGIN;"
            for i in $(seq 0 49); do echo "INSERT INTO t(b, c) VALUES ('row $tx $i', $((tx * 50 + i)));"; done
            echo "COMMIT;"
        done
        echo "CREATE INDEX tc ON t(c);"
        for q in $(seq 0 49); do echo "SELECT count(*), sum(c) FROM t WHERE c % 50 = $q;"; done
        for tx in $(seq 0 49); do echo "UPDATE t SET b = b || 'x' WHERE c % 100 = $tx;"; done
        echo "DELETE FROM t WHERE c % 3 = 0; VACUUM;"
    } >"$TMP/db/work.sql"
    cmds=(native "sqlite3 $TMP/db/test.db '.read $TMP/db/work.sql'")
    for who in "${runners[@]}"; do cmds+=("$who" "$(vmm_of "$who") --root / --mount $TMP/db:/w:rw -- sqlite3 /w/test.db '.read /w/work.sql'"); done
    log "sqlite3: 200 transactions, queries, updates, vacuum on a :rw mount"
    hf sql "rm -f $TMP/db/test.db $TMP/db/test.db-journal" "${cmds[@]}"
else
    log "sqlite3 not installed: skipped"
fi

# Start-up of dynamic programs with --root /.
start_cmds() { # native-command...
    local c="$*"
    local out=(native "$c")
    command -v bwrap >/dev/null && out+=(bwrap "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp $c")
    for who in "${runners[@]}"; do out+=("$who" "$(vmm_of "$who") --root / -- $c"); done
    printf '%s\n' "${out[@]}"
}
mapfile -t cmds < <(start_cmds /usr/bin/python3 -c pass); hf py "" "${cmds[@]}"
mapfile -t cmds < <(start_cmds /bin/bash -c true); hf bash "" "${cmds[@]}"
# (hyperfine -N splits commands as a shell would, quotes included. The full
# path: natively PATH may find a wrapper such as a pyenv shim first.)
mapfile -t cmds < <(start_cmds /bin/bash -c "'for i in \$(seq 20); do /usr/bin/python3 -c pass; done'")
hf loop "" "${cmds[@]}"
# Inside one sandbox: each of 5 python3 runs (the page cache fills in the first).
runs_inside="$("$VMM" --root / -- /bin/bash -c 'TIMEFORMAT=%R; for i in 1 2 3 4 5; do time /usr/bin/python3 -c pass; done' 2>&1 | tr '\n' ' ')"
stats_py="$("$VMM" --stats --root / -- /usr/bin/python3 -c pass 2>&1 | grep 'rvisor: stats:' || true)"

rows() { # tag label
    local tag="$1" label="$2" native="${med[$1.native]:-}" row
    [ -n "$native" ] || return 0
    row="| $label | $(ms "$native")"
    if command -v bwrap >/dev/null && [ -n "${med[$tag.bwrap]:-}" ]; then row+=" | $(ms "${med[$tag.bwrap]}")"; else row+=" | –"; fi
    for who in "${runners[@]}"; do row+=" | $(ms "${med[$tag.$who]}") | $(ratio "${med[$tag.$who]}" "$native")"; done
    echo "$row |"
}
hdr="| Workload | native, ms | bwrap, ms"
sep="|---|---:|---:"
for who in "${runners[@]}"; do hdr+=" | $who, ms | vs native"; sep+="|---:|---:"; done
per_hdr="| Per file, µs | native"
per_sep="|---|---:"
for who in "${runners[@]}"; do per_hdr+=" | $who | vs native"; per_sep+="|---:|---:"; done

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n1)" ] && commit+=" (+ uncommitted changes)"
report="$(cat <<MD
## Shared directories and --root $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(nproc) CPUs, kernel \`$(uname -r)\`, load average at the start $(cut -d' ' -f1-3 /proc/loadavg)
- rvisor: \`$commit\`${BEFORE:+; \"before\": \`$BEFORE\`}; hyperfine \`-N --warmup 1 --runs $RUNS\` (medians)

### Per file on a \`--mount\` (read-only) of $N files of 4 KiB: \`bench_hostfs\` (median of 3 runs)

First pass: nothing cached in the sandbox yet (natively: the host's dentry cache is warm). Warm: the best of 4 more passes.

$per_hdr |
$per_sep|
${per_rows%$'\n'}

### Programs

$hdr |
$sep|
$(rows rg "ripgrep \`rg -c fn\` over this repository's source (--mount)")
$(rows sql "sqlite3: 5000 inserts in 100 transactions, index, queries, updates, vacuum (:rw mount)")
$(rows py "\`python3 -c pass\` (--root /)")
$(rows bash "\`bash -c true\` (--root /)")
$(rows loop "\`bash\`: 20 × \`python3 -c pass\` (--root /)")

Five \`python3 -c pass\` in one sandbox (bash's \`time\`, s): $runs_inside

\`$stats_py\`
MD
)"
printf '%s\n' "$report"
if [ -n "${BENCH_PLOT:-}" ]; then
    plot() { [ -n "${med[$1.native]:-}" ] && awk -v l="$2" -v n="${med[$1.native]}" -v b="${med[$1.bwrap]:-}" -v r="${med[$1.rvisor]}" \
        'BEGIN { printf "\"%s\" 1 %s ? %.3f\n", l, (b == "" ? "?" : sprintf("%.3f", b / n)), r / n }'; }
    { plot rg "ripgrep, mount"; plot sql "sqlite3, :rw mount"; plot loop "20 x python3"; } >"$BENCH_PLOT"
fi
if [ $WRITE = 1 ]; then
    printf '\n%s\n' "$report" >>"$ROOT/docs/benchmarks.md"
    log "appended to docs/benchmarks.md"
fi
