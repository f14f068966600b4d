#!/usr/bin/env bash
# Linux conformance, measured with the Linux Test Project (LTP).
#
#   scripts/conformance.sh                full run: every test of LTP's
#                                         runtest/syscalls natively and in the
#                                         sandbox; writes docs/conformance.md
#   scripts/conformance.sh --subset       the fixed fast subset
#                                         (tests/ltp/subset.txt), sandbox only;
#                                         fails unless every test passes
#   scripts/conformance.sh --only 'RE'    the tests whose tag matches the
#                                         regular expression RE, both sides,
#                                         results printed (no doc written)
#
# Options: --jobs N (sandbox runs in parallel, default 2), --timeout S (per
# test, default 60), --vmm PATH (default target/release/rvisor-vmm),
# --label NAME (results in target/ltp/results-NAME and the report in
# target/ltp/conformance-NAME.md instead of docs/: e.g. another build's),
# --native-from NAME (take the native result of each test from the run
# labelled NAME ("-": the unlabelled one) where it has one: only the sandbox side runs again).
#
# LTP is built statically (glibc, LDFLAGS=-static) from
# ../shared/third_party/ltp.tar.gz into target/ltp (kept between runs; a
# rerun only builds what is missing). Every test runs under tests/ltp/wrap.c
# (fork, exec, wait: the test is not pid 1 in the sandbox). Natively, tests
# that would change the host (clock, swap, modules, reboot, mounts, host
# name, block devices) are skipped and marked (tests/ltp/host-changing.txt
# and the tests whose source asks LTP for a block device). Natively only one
# test runs at a time; sandboxes run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

mode=full
only=""
jobs=2
timeout=60
vmm=$ROOT/target/release/rvisor-vmm
label=""
native_from=""
while (($#)); do
    case "$1" in
        --subset) mode=subset ;;
        --only) mode=only; only=$2; shift ;;
        --jobs) jobs=$2; shift ;;
        --timeout) timeout=$2; shift ;;
        --vmm) vmm=$2; shift ;;
        --label) label=$2; shift ;;
        --native-from) native_from=$2; shift ;;
        --run-one) mode=run-one; break ;;
        *) echo "conformance: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# The subset keeps its results apart from a full run's.
[ "$mode" = subset ] && [ -z "$label" ] && label=subset
WORK=$ROOT/target/ltp
LTP=$WORK/ltp
BIN=$WORK/bin
SBIN=$WORK/sandbox-bin # busybox applets, the sandbox's /bin
RESULTS=$WORK/results${label:+-$label}
LIST=$RESULTS.list
TARBALL=$ROOT/../shared/third_party/ltp.tar.gz

# --- one test, natively and in the sandbox (run by xargs below) -------------
# Writes $RESULTS/TAG: "native_result native_code native_secs sandbox_result
# sandbox_code sandbox_secs", results pass/fail/conf/timeout/host/rvisor.
classify() { # exit-code -> result
    case "$1" in
        0) echo pass ;;
        32) echo conf ;;
        124) echo timeout ;;
        *) echo fail ;;
    esac
}
run_one() {
    local line=$1 side=${2:-both}
    local tag cmd
    read -r tag cmd <<<"$line"
    local nres=- ncode=- nsecs=- sres=- scode=- ssecs=-
    local earlier=""
    if [ -n "$native_from" ]; then
        earlier=$WORK/results-$native_from/$tag
        [ "$native_from" = "-" ] && earlier=$WORK/results/$tag
    fi
    if [ "$side" = both ] && [ -n "$earlier" ] && [ -s "$earlier" ]; then
        read -r _ nres ncode nsecs _ <"$earlier"
    elif [ "$side" = both ]; then
        if grep -qxF "$tag" "$WORK/host-skip.txt"; then
            nres=host
        else
            local dir t0 t1
            dir=$(mktemp -d /tmp/ltp-native.XXXXXX)
            t0=$(date +%s.%N)
            set +e
            (cd "$dir" && flock -o "$WORK/native.lock" \
                timeout -k 5 "$timeout" env PATH="$BIN:$PATH" LTPROOT="$LTP" TMPDIR=/tmp \
                "$BIN/ltp-wrap" $cmd) >"$RESULTS/$tag.native.log" 2>&1 </dev/null
            ncode=$?
            set -e
            t1=$(date +%s.%N)
            rm -rf "$dir"
            nres=$(classify "$ncode")
            nsecs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        fi
    fi
    local t0 t1
    t0=$(date +%s.%N)
    set +e
    # The outer timeout only catches a sandbox that outlives its own
    # --timeout (a hang of rvisor itself, reported as such).
    timeout -k 5 $((timeout + 30)) "$vmm" --timeout "$timeout" \
        --mount "$BIN:$BIN:ro" --mount "$SBIN:/bin:ro" --env "PATH=$BIN:/usr/bin:/bin" \
        --env "LTPROOT=$LTP" --env TMPDIR=/tmp \
        --elf "$BIN/ltp-wrap" -- $cmd >"$RESULTS/$tag.sandbox.log" 2>&1 </dev/null
    scode=$?
    set -e
    t1=$(date +%s.%N)
    sres=$(classify "$scode")
    case "$scode" in
        124) sres=timeout ;;
        125) sres=rvisor ;;
        137) sres=hang ;; # killed by the outer timeout: rvisor did not stop
    esac
    ssecs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    echo "$tag $nres $ncode $nsecs $sres $scode $ssecs" >"$RESULTS/$tag"
    printf '%-24s native %-7s sandbox %-7s (%ss)\n' "$tag" "$nres" "$sres" "$ssecs"
}
if [ "$mode" = run-one ]; then
    shift
    run_one "$1" "${2:-both}"
    exit 0
fi

start=$(date +%s)
mkdir -p "$WORK" "$RESULTS"

# --- build ------------------------------------------------------------------
if ! [ -f "$LTP/configure.ac" ]; then
    echo "conformance: unpacking $TARBALL"
    tar -xzf "$TARBALL" -C "$WORK"
fi
if ! [ -f "$WORK/configured.stamp" ]; then
    echo "conformance: configuring LTP (static)"
    (cd "$LTP" && make autotools >"$WORK/autotools.log" 2>&1 &&
        ./configure LDFLAGS=-static >"$WORK/configure.log" 2>&1) ||
        { echo "conformance: configure failed, see $WORK/configure.log" >&2; exit 1; }
    touch "$WORK/configured.stamp"
fi
if ! [ -f "$LTP/lib/libltp.a" ]; then
    echo "conformance: building LTP's library"
    nice -n 15 make -C "$LTP/lib" -j2 gen_version >"$WORK/lib.log" 2>&1
    nice -n 15 make -C "$LTP/lib" -j2 libltp.a >>"$WORK/lib.log" 2>&1 ||
        { echo "conformance: LTP's library does not build, see $WORK/lib.log" >&2; exit 1; }
fi

# The test list: LTP's runtest/syscalls ("tag command args..."), or the subset.
grep -v '^#' "$LTP/runtest/syscalls" | awk 'NF >= 2' >"$WORK/all.txt"
case "$mode" in
    full) cp "$WORK/all.txt" "$LIST" ;;
    subset) awk 'NR == FNR { if ($1 !~ /^#/ && NF) want[$1] = 1; next } $1 in want' \
        tests/ltp/subset.txt "$WORK/all.txt" >"$LIST" ;;
    only) awk -v re="$only" '$1 ~ re' "$WORK/all.txt" >"$LIST" ;;
esac
[ -s "$LIST" ] || { echo "conformance: no tests selected" >&2; exit 1; }

syscalls=$LTP/testcases/kernel/syscalls
if [ "$mode" = full ]; then
    if ! [ -f "$WORK/syscalls-built.stamp" ]; then
        echo "conformance: building testcases/kernel/syscalls (nice -n 15 make -j2; ~25 min the first time)"
        nice -n 15 make -C "$syscalls" -k -j2 >"$WORK/syscalls.log" 2>&1 || true
        touch "$WORK/syscalls-built.stamp"
    fi
else
    # Only the programs the selected tests run, each in its own directory.
    while read -r tag cmd _; do
        src=$(find "$syscalls" -name "$cmd.c" -print -quit)
        # A _64 variant is built from its base test's source.
        [ -n "$src" ] || src=$(find "$syscalls" -name "${cmd%_64}.c" -print -quit)
        [ -n "$src" ] || { echo "conformance: no source for $cmd" >&2; continue; }
        # With the helpers it runs (execve01 runs execve01_child).
        dir=$(dirname "$src")
        targets=("$cmd")
        for helper in "$dir/${cmd}"_*.c; do
            [ -e "$helper" ] && targets+=("$(basename "$helper" .c)")
        done
        built=1
        for t in "${targets[@]}"; do [ -x "$dir/$t" ] || built=0; done
        [ $built = 1 ] && continue
        echo "conformance: building ${targets[*]}"
        nice -n 15 make -C "$dir" -j2 "${targets[@]}" >>"$WORK/subset-build.log" 2>&1 ||
            echo "conformance: $cmd does not build, see $WORK/subset-build.log" >&2
    done <"$LIST"
fi

# A flat directory of the built programs (hard links), mounted read-only in
# the sandbox at the same path, and which family (source directory) each is in.
mkdir -p "$BIN"
gcc -static -O2 -o "$BIN/ltp-wrap.$$" tests/ltp/wrap.c && mv "$BIN/ltp-wrap.$$" "$BIN/ltp-wrap"
: >"$WORK/families.txt.$$"
while IFS= read -r f; do
    name=${f##*/}
    rel=${f#"$syscalls"/}
    echo "$name ${rel%/*}" >>"$WORK/families.txt.$$"
    [ "$BIN/$name" -ef "$f" ] || ln -f "$f" "$BIN/$name"
done < <(find "$syscalls" -type f -perm -u+x ! -name '*.sh' ! -name '*.o' ! -name '*.a' \
    ! -name Makefile ! -name '*.c' ! -name '*.h' | sort)
mv "$WORK/families.txt.$$" "$WORK/families.txt"
# Shell-script helpers some tests run.
find "$syscalls" -type f -name '*.sh' -perm -u+x -exec ln -f {} "$BIN/" \;
# Without --root the sandbox has no /bin: tests that run /bin/sh (system()),
# /bin/cat or /bin/true get busybox's applets there (static, from
# busybox-static), a small stand-in for the host's /bin of the native side.
# Not the kernel-module tools: the sandbox's kernel has no modules, and a
# test that runs modprobe (keyctl05) expects it to work or to be missing.
mkdir -p "$SBIN"
cmp -s /usr/bin/busybox "$SBIN/busybox" || cp /usr/bin/busybox "$SBIN/busybox"
for applet in $(/usr/bin/busybox --list); do
    case "$applet" in
        busybox) ;;
        modprobe | insmod | rmmod | lsmod | depmod | modinfo) rm -f "$SBIN/$applet" ;;
        *) ln -sfn busybox "$SBIN/$applet" ;;
    esac
done

# Tests skipped natively: the listed host-changing ones, and those whose
# source asks LTP for a block device (it would format and mount a loop device).
awk '$1 !~ /^#/ && NF { print $1 }' tests/ltp/host-changing.txt >"$WORK/host-patterns.txt"
grep -rlE '\.(needs_device|mount_device|all_filesystems|format_device|needs_rofs)[[:space:]]*=[[:space:]]*1' \
    "$syscalls" --include='*.c' | sed 's|.*/||; s|\.c$||' | sort -u >"$WORK/device-tests.txt"
awk 'NR == FNR { pat[$1] = 1; next }
     FILENAME ~ /device-tests/ { dev[$1] = 1; next }
     { for (p in pat) if ($1 ~ ("^" p "$")) { print $1; next } }
     { base = $2; sub(/_64$/, "", base) }
     (base in dev) { print $1 }' \
    "$WORK/host-patterns.txt" "$WORK/device-tests.txt" "$WORK/all.txt" | sort -u >"$WORK/host-skip.txt.$$"
mv "$WORK/host-skip.txt.$$" "$WORK/host-skip.txt"

[ -x "$vmm" ] || { echo "conformance: $vmm missing: cargo build --release" >&2; exit 1; }

# --- run ----------------------------------------------------------------------
side=both
[ "$mode" = subset ] && side=sandbox
while read -r tag _; do rm -f "$RESULTS/$tag"; done <"$LIST"
echo "conformance: running $(wc -l <"$LIST") tests ($side, $jobs sandboxes at a time, ${timeout}s each)"
tr '\n' '\0' <"$LIST" |
    xargs -0 -P "$jobs" -I{} bash "$ROOT/scripts/conformance.sh" --timeout "$timeout" --vmm "$vmm" \
        ${label:+--label "$label"} ${native_from:+--native-from "$native_from"} --run-one {} "$side"
elapsed=$(($(date +%s) - start))

while read -r tag _; do cat "$RESULTS/$tag"; done <"$LIST" >"$RESULTS.txt"
echo "conformance: done in $((elapsed / 60)) min $((elapsed % 60)) s"

if [ "$mode" = subset ]; then
    bad=$(awk '$5 != "pass"' "$RESULTS.txt")
    total=$(wc -l <"$RESULTS.txt")
    if [ -n "$bad" ]; then
        echo "conformance: subset tests failing in the sandbox (logs in $RESULTS/TAG.sandbox.log):" >&2
        echo "$bad" >&2
        exit 1
    fi
    echo "conformance: subset: all $total tests pass in the sandbox"
    exit 0
fi
if [ "$mode" = only ]; then
    exit 0
fi

report=docs/conformance.md
[ -n "$label" ] && report=$WORK/conformance-$label.md
bash scripts/conformance-report.sh "$WORK" "$elapsed" "$RESULTS.txt" >"$report"
echo "conformance: wrote $report"
grep -m1 -A18 '^## Totals' "$report"
