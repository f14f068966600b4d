# wasi-testsuite runtime adapter: wasmtime on the host through PyPI's
# wasmtime package (scripts/wasi-testsuite/host-wasmtime.py), for the
# comparison in docs/wasi.md. The test's root is preopened as "/", as the
# suite's own wasmtime adapter does.
import os
import shlex
from typing import Dict, List, Optional, Tuple

RUNNER = shlex.split(os.environ["WASMTIME_PY"])


def get_name() -> str:
    return "wasmtime-py"


def get_version() -> str:
    return os.getenv("WASMTIME_PY_VERSION", "50.0.1")


def get_wasi_versions() -> List[str]:
    return ["wasm32-wasip1"]


def get_wasi_worlds() -> List[str]:
    return ["wasi:cli/command"]


def compute_argv(test_path: str,
                 args_env_root: Tuple[List[str], Dict[str, str], Optional[str]],
                 proposals: List[str],
                 wasi_world: str,
                 wasi_version: str) -> List[str]:
    args, env, root = args_env_root
    argv = list(RUNNER)
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if root:
        argv += ["--dir", f"{root}::/"]
    argv += [test_path] + list(args)
    return argv
