# wasi-testsuite runtime adapter for rvisor (scripts/wasi-testsuite.sh):
# runs each test module with `rvisor-vmm --wasm`. The test's directory
# (its "root") is shared read-write and preopened as "/", as the suite's
# wasmtime adapter does.
import os
import shlex
import subprocess
from typing import Dict, List, Optional, Tuple

RVISOR = shlex.split(os.getenv("RVISOR_VMM", "rvisor-vmm"))


def get_name() -> str:
    return "rvisor"


def get_version() -> str:
    result = subprocess.run(RVISOR[0:1] + ["--version"], encoding="UTF-8",
                            capture_output=True, check=True)
    return result.stdout.split()[-1]


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
    argv = list(RVISOR)
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if root:
        argv += ["--mount", f"{root}:/:rw"]
    argv += ["--wasm", test_path, "--"] + list(args)
    return argv
