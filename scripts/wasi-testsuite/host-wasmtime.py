# Runs a WASI preview 1 command module with wasmtime on the host, through
# PyPI's wasmtime package (the wasmtime C API, Cranelift): the host-side
# comparison for scripts/wasi-testsuite.sh and bench/wasi.sh.
#   python host-wasmtime.py [--env K=V]... [--dir HOST::GUEST]... MODULE [ARGS]...
# Exit status: the module's proc_exit code; 134 on a trap (as wasmtime's CLI).
import sys

import wasmtime


def main() -> int:
    argv = sys.argv[1:]
    env, dirs = [], []
    while argv and argv[0].startswith("--"):
        flag, value = argv[0], argv[1]
        argv = argv[2:]
        if flag == "--env":
            key, _, val = value.partition("=")
            env.append((key, val))
        elif flag == "--dir":
            host, _, guest = value.partition("::")
            dirs.append((host, guest or host))
    module_path, args = argv[0], argv[1:]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, module_path)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [module_path] + args
    wasi.env = env
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for host, guest in dirs:
        wasi.preopen_dir(host, guest)
    store.set_wasi(wasi)
    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        return e.code
    except wasmtime.Trap as e:
        print(f"wasmtime: {str(e).splitlines()[0]}", file=sys.stderr)
        return 134
    except wasmtime.WasmtimeError as e:
        print(f"wasmtime: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
