#!/usr/bin/env bash
# rvisor-runtime benchmark: `podman run --rm --rootfs R /bin/true` end to end
# under runc and under rvisor-runtime, in one hyperfine run (and `podman
# exec CTR /bin/true` in a running container), and where the
# time goes: the runtime's own create + start + exit + delete (without
# podman), and the VM alone (rvisor-vmm --root R).
#
#   bench/oci.sh           print a Markdown section on stdout
#   bench/oci.sh --write   ... and append it to docs/benchmarks.md
#
# Needs root, podman, conmon, runc, hyperfine, python3 and /dev/kvm (the
# project's setup script installs them). bench/run.sh calls it.
# Environment: BENCH_OCI_RUNS (default 20), BENCH_WARMUP (default 3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1
RUNS="${BENCH_OCI_RUNS:-20}"
WARMUP="${BENCH_WARMUP:-3}"
log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
for tool in podman conmon runc hyperfine python3; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs it)"
done
[ "$(id -u)" = 0 ] || die "podman runs rootful here: run as root"
cd "$ROOT"
log "building rvisor-runtime and rvisor-vmm"
cargo build --release -q -p rvisor-runtime -p rvisor-vmm
RUNTIME="$ROOT/target/release/rvisor-runtime"
VMM="$ROOT/target/release/rvisor-vmm"
WORK="$ROOT/target/bench-oci"
rm -rf "$WORK/rootfs" "$WORK/bundle"
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/busybox"
ln -s busybox "$WORK/rootfs/bin/true"
R="$WORK/rootfs"
ulimits="--ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
podman_base() {
    # $1: the runtime. A private podman state (vfs storage, no network).
    echo "podman --cgroup-manager cgroupfs --storage-driver vfs --events-backend file \
--root $WORK/podman/storage --runroot $WORK/podman/run --tmpdir $WORK/podman/tmp \
--runtime $1"
}
podman_cmd() {
    echo "$(podman_base "$1") run --rm --network none $ulimits --rootfs $R /bin/true"
}

# Same result under both, or the numbers mean nothing.
for rt in runc "$RUNTIME"; do
    $(podman_cmd "$rt") || die "podman run with $rt failed"
done

log "podman run --rm /bin/true: runc vs rvisor-runtime ($RUNS runs each)"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/podman.json" \
    -n "podman + runc" "$(podman_cmd runc)" \
    -n "podman + rvisor-runtime" "$(podman_cmd "$RUNTIME")" >&2
# podman exec of /bin/true in a running container (busybox sleep).
exec_ids=()
for rt in runc "$RUNTIME"; do
    exec_ids+=("$($(podman_base "$rt") run -d --network none $ulimits --rootfs $R /bin/busybox sleep 1000)")
done
log "podman exec CTR /bin/true: runc vs rvisor-runtime ($RUNS runs each)"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/exec.json" \
    -n "podman exec + runc" "$(podman_base runc) exec ${exec_ids[0]} /bin/true" \
    -n "podman exec + rvisor-runtime" "$(podman_base "$RUNTIME") exec ${exec_ids[1]} /bin/true" >&2
$(podman_base runc) rm -f -t 0 "${exec_ids[0]}" >/dev/null
$(podman_base "$RUNTIME") rm -f -t 0 "${exec_ids[1]}" >/dev/null
log "the VM alone: rvisor-vmm --root R -- /bin/true"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/vmm.json" \
    -n "rvisor-vmm --root" "$VMM --root $R:ro -- /bin/true" >&2

# The runtime alone: create, start, wait for the container's process (this
# script is its subreaper), delete, timed per phase.
log "the runtimes alone: create / start..exit / delete ($RUNS runs each)"
mkdir -p "$WORK/bundle"
runc spec --bundle "$WORK/bundle"
python3 - "$WORK" "$R" "$RUNS" runc "$RUNTIME" >"$WORK/phases.txt" <<'PY'
import ctypes, json, os, statistics, subprocess, sys, time
work, rootfs, runs, runtimes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the container's process is ours to wait for
bundle = os.path.join(work, "bundle")
config = json.load(open(os.path.join(bundle, "config.json")))
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/true"]
config["root"] = {"path": rootfs, "readonly": True}
json.dump(config, open(os.path.join(bundle, "config.json"), "w"))
null = subprocess.DEVNULL
for runtime in runtimes:
    name = "runc" if runtime == "runc" else "rvisor-runtime"
    state = os.path.join(work, "state-" + name)
    phases = {"create": [], "start + run + exit": [], "delete": [], "total": []}
    for i in range(runs + 2):
        cid = f"bench-{i}"
        pid_file = os.path.join(work, "pid")
        t0 = time.monotonic()
        subprocess.run([runtime, "--root", state, "create", "--bundle", bundle, "--pid-file", pid_file, cid],
                       stdin=null, stdout=null, stderr=null, check=True)
        pid = int(open(pid_file).read())
        t1 = time.monotonic()
        subprocess.run([runtime, "--root", state, "start", cid], stdin=null, stdout=null, check=True)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        t2 = time.monotonic()
        subprocess.run([runtime, "--root", state, "delete", cid], stdin=null, stdout=null, check=True)
        t3 = time.monotonic()
        if i >= 2:  # warm-up
            for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                phases[key].append(value * 1000)
    print(name, " ".join(f"{statistics.median(v):.1f}" for v in phases.values()))
PY

median() { python3 -c "import json,sys,statistics; r=json.load(open(sys.argv[1]))['results']; print(' '.join(f\"{statistics.median(x['times'])*1000:.1f}\" for x in r))" "$1"; }
read -r podman_runc podman_rvisor < <(median "$WORK/podman.json")
read -r vmm_alone < <(median "$WORK/vmm.json")
read -r exec_runc exec_rvisor < <(median "$WORK/exec.json")
read -r _ runc_create runc_run runc_delete runc_total < <(grep '^runc ' "$WORK/phases.txt")
read -r _ rv_create rv_run rv_delete rv_total < <(grep '^rvisor-runtime ' "$WORK/phases.txt")
diff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
report="$(cat <<MD
## rvisor-runtime under podman: \`podman run --rm --rootfs R /bin/true\` ($(date -u '+%Y-%m-%d %H:%M UTC'))

- Machine: $(nproc) CPUs, kernel \`$(uname -r)\`; rvisor \`$commit\`; $(podman --version), $(runc --version | head -1)
- R: busybox (static) as /bin/true; podman with cgroupfs, vfs storage, \`--network none\`; hyperfine \`-N --warmup $WARMUP --runs $RUNS\`; medians in ms

| | runc | rvisor-runtime | difference |
|---|---:|---:|---:|
| \`podman run --rm\`, end to end | $podman_runc | $podman_rvisor | $(diff "$podman_rvisor" "$podman_runc") |
| \`podman exec CTR /bin/true\` in a running container | $exec_runc | $exec_rvisor | $(diff "$exec_rvisor" "$exec_runc") |
| the runtime alone: create + start + exit + delete | $runc_total | $rv_total | $(diff "$rv_total" "$runc_total") |
| - create | $runc_create | $rv_create | $(diff "$rv_create" "$runc_create") |
| - start, run, exit | $runc_run | $rv_run | $(diff "$rv_run" "$runc_run") |
| - delete | $runc_delete | $rv_delete | $(diff "$rv_delete" "$runc_delete") |
| podman and conmon (end to end minus the runtime alone) | $(diff "$podman_runc" "$runc_total") | $(diff "$podman_rvisor" "$rv_total") | |
| the VM alone: \`rvisor-vmm --root R:ro -- /bin/true\` | | $vmm_alone | |
MD
)"
printf '%s\n' "$report"
if [ "$WRITE" = 1 ]; then
    printf '\n%s\n' "$report" >>"$ROOT/docs/benchmarks.md"
    log "appended to docs/benchmarks.md"
fi
