#!/usr/bin/env bash
# Runs the official WASI test suite (WebAssembly/wasi-testsuite, preview 1
# tests, from ../shared/third_party/wasi-testsuite-p1.tar.gz) against
# `rvisor-vmm --wasm` and prints the pass rate (docs/wasi.md).
#   bash scripts/wasi-testsuite.sh            # rvisor
#   RUNTIME=host bash scripts/wasi-testsuite.sh  # wasmtime on the host (PyPI's wasmtime)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tarball=${WASI_TESTSUITE_TARBALL:-$root/../shared/third_party/wasi-testsuite-p1.tar.gz}
work=$root/target/wasi-testsuite
if [ ! -f "$tarball" ]; then
    echo "wasi-testsuite: $tarball is missing" >&2
    exit 1
fi
if [ ! -d "$work/suite" ] || [ "$tarball" -nt "$work/suite" ]; then
    rm -rf "$work/suite"
    mkdir -p "$work/suite"
    tar xzf "$tarball" -C "$work/suite"
    # run-tests walks the tree with Python 3.12's Path.walk; this machine
    # may have 3.11: the same walk with os.walk, and the same membership tests.
    python3 - "$work/suite/run-tests" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
old = '''    root = Path(__file__).parent / "tests"
    root = root.relative_to(Path('.').absolute(), walk_up=True)
    test_dirs = []
    for root, dirs, files in root.walk(on_error=print):
        if "manifest.json" in files:
            test_dirs.append(root)
    return test_dirs'''
new = '''    import os
    root = Path(os.path.relpath(Path(__file__).parent / "tests"))
    test_dirs = []
    for top, dirs, files in os.walk(root, onerror=print):
        dirs.sort()
        if "manifest.json" in files:
            test_dirs.append(Path(top))
    return test_dirs'''
if old in src:
    open(path, "w").write(src.replace(old, new))
# `str in StrEnum` is 3.12 too.
import pathlib
for module in pathlib.Path(path).parent.glob("test-runner/wasi_test_runner/*.py"):
    text = module.read_text()
    for enum in ("WasiVersion", "WasiWorld"):
        text = text.replace(f" in {enum}:", f" in [v.value for v in {enum}]:")
    module.write_text(text)
PY
fi
# The runner's Python dependencies (colorama, requests) in a venv of its own.
if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q -r "$work/suite/test-runner/requirements/prod.txt"
fi
case "${RUNTIME:-rvisor}" in
rvisor)
    [ -x target/release/rvisor-vmm ] || cargo build --release -p rvisor-vmm
    export RVISOR_VMM="$root/target/release/rvisor-vmm"
    adapter=$root/scripts/wasi-testsuite/rvisor.py
    ;;
host)
    "$work/venv/bin/python" -c 'import wasmtime' 2>/dev/null ||
        "$work/venv/bin/pip" install -q "wasmtime==${WASMTIME_PY_VERSION:-50.0.1}"
    export WASMTIME_PY="$work/venv/bin/python $root/scripts/wasi-testsuite/host-wasmtime.py"
    adapter=$root/scripts/wasi-testsuite/host_wasmtime.py
    ;;
*)
    echo "RUNTIME is rvisor or host" >&2
    exit 2
    ;;
esac
cd "$work/suite"
set +e
"$work/venv/bin/python" ./run-tests --runtime-adapter "$adapter" --disable-colors "$@" 2>&1 | tee "$work/last-run.txt"
status=${PIPESTATUS[0]}
exit "$status"
