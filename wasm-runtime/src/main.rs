//! rvisor's WebAssembly runtime: a static Linux program that `rvisor-vmm
//! --wasm` starts inside the sandbox (guest ring 3). It compiles a WASI
//! preview 1 command module (or a preview 2 command component) with
//! wasmtime (Cranelift) and runs it; the WASI calls become Linux syscalls
//! served by the sentry.
//!
//! Command line (written by rvisor-vmm, not meant for people):
//!
//! ```text
//! rvisor-wasm-runtime --module PATH [--precompiled] [--preopen[-ro] DIR NAME]... -- ARGV0 [ARGS]...
//! rvisor-wasm-runtime --compile PATH
//! rvisor-wasm-runtime --module-from-exe [--preopen[-ro] DIR NAME]... -- ARGV0 [ARGS]...
//! ```
//!
//! `--module-from-exe` reads the module appended to this program's own ELF
//! (`[ELF][module][module length, u64 LE]["RVWASM01"]`): a single static
//! file for boards without a way to pass a second file (the bare-metal
//! `qemu-aarch64-virt` board; tests/tests/wasi.rs).
//!
//! The module's environment is this process's environment (the VMM builds
//! it from `--env`). Every `--preopen DIR NAME` is a WASI preopen of the
//! sandbox directory DIR (a `--mount` of the user) named NAME.
//!
//! `--compile` compiles the module and writes wasmtime's serialized code to
//! stdout (the compile step of the VMM's code cache); `--precompiled` runs
//! such code (the VMM has checked its MAC).
//!
//! Exit statuses (see docs/wasi.md): the module's `proc_exit` code (0 when
//! `_start` returns); 134 for a trap (one line naming it, as wasmtime's CLI
//! exits like an abort); 126 when the module is malformed or invalid or
//! its imports cannot be satisfied... (see `EXIT_*`).

use std::io::Write;
use std::process::ExitCode;

use wasmtime::component::{self, Component, ResourceTable};
use wasmtime::{Config, Engine, Linker, Module, OptLevel, Precompiled, Store, Trap};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// musl's allocator maps and unmaps memory for most large blocks (Cranelift
/// makes ~1300 such calls compiling a small module); every fresh page is a
/// fault, and on the pvm platform each costs VM exits. dlmalloc keeps what
/// it got (trimming only above 2 MiB free at the top).
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A trap: 128 + SIGABRT, as wasmtime's CLI ends on one.
const EXIT_TRAP: u8 = 134;
/// The module cannot be run: not WebAssembly, truncated, invalid, or an
/// import that WASI preview 1 does not provide.
const EXIT_INVALID: u8 = 126;
/// The runtime itself failed (bad command line, a preopen that cannot be
/// opened): rvisor's own failure status.
const EXIT_INTERNAL: u8 = 125;

/// Every linear memory gets this much address space reserved up front;
/// growth beyond it moves the memory (memcpy). wasmtime's default on 64-bit
/// hosts is 4 GiB plus a 32 MiB guard, which makes bounds checks free
/// (every 32-bit index lands inside the reservation or its guard). The
/// sentry has room for that (its user half is 128 TiB), so we keep the
/// default: see docs/wasi.md.
struct Options {
    module: String,
    /// The module is appended to the executable (see the module docs).
    from_exe: bool,
    precompiled: bool,
    compile_only: bool,
    /// (directory in the sandbox, preopen name, read-only).
    dirs: Vec<(String, String, bool)>,
    argv: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    // WASI arguments are strings: a non-UTF-8 one is refused here.
    let mut args = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string().map_err(|arg| {
                format!("argument {arg:?} is not UTF-8 (WASI arguments are strings)")
            })
        })
        .collect::<Result<Vec<String>, String>>()?
        .into_iter();
    let mut options = Options {
        module: String::new(),
        from_exe: false,
        precompiled: false,
        compile_only: false,
        dirs: Vec::new(),
        argv: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--module" => options.module = args.next().ok_or("--module needs a path")?,
            "--compile" => {
                options.module = args.next().ok_or("--compile needs a path")?;
                options.compile_only = true;
            }
            "--precompiled" => options.precompiled = true,
            "--module-from-exe" => {
                options.module = "/proc/self/exe".into();
                options.from_exe = true;
            }
            "--preopen" | "--preopen-ro" => {
                let dir = args.next().ok_or("--preopen needs a directory")?;
                let name = args.next().ok_or("--preopen needs a name")?;
                options.dirs.push((dir, name, arg == "--preopen-ro"));
            }
            "--" => {
                options.argv.extend(args.by_ref());
                break;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.module.is_empty() {
        return Err("no module given".into());
    }
    Ok(options)
}

fn engine() -> Result<Engine, String> {
    let mut config = Config::new();
    // Built without the parallel-compilation feature: one vCPU, compiling
    // on several threads would only add switches.
    config.cranelift_opt_level(OptLevel::Speed);
    // wasmtime maps a module's initial memory copy-on-write from a sealed
    // memfd; the sentry's memfd has no sealing (F_ADD_SEALS) yet, so data
    // segments are copied at instantiation instead (see docs/wasi.md).
    config.memory_init_cow(false);
    Engine::new(&config).map_err(|e| format!("cannot create the engine: {e}"))
}

/// The module appended to an executable: `[ELF][module][len u64 LE][magic]`.
fn appended_module(exe: &[u8]) -> Option<&[u8]> {
    const MAGIC: &[u8; 8] = b"RVWASM01";
    let (rest, magic) = exe.split_at(exe.len().checked_sub(8)?);
    if magic != MAGIC {
        return None;
    }
    let (rest, len) = rest.split_at(rest.len().checked_sub(8)?);
    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    rest.get(rest.len().checked_sub(len)?..)
}

/// The short name of a trap, as the user sees it.
fn describe_trap(trap: Trap) -> &'static str {
    match trap {
        Trap::UnreachableCodeReached => "unreachable instruction executed",
        Trap::MemoryOutOfBounds => "out-of-bounds memory access",
        Trap::StackOverflow => "call stack exhausted (stack overflow)",
        Trap::IntegerDivisionByZero => "integer divide by zero",
        Trap::IntegerOverflow => "integer overflow",
        Trap::BadConversionToInteger => "invalid conversion to integer",
        Trap::IndirectCallToNull => "indirect call to a null table entry",
        Trap::BadSignature => "indirect call type mismatch",
        Trap::TableOutOfBounds => "undefined element: out of bounds table access",
        _ => "wasm trap",
    }
}

/// What the runtime runs: a core module (WASI preview 1 command) or a
/// component (WASI preview 2 command, `wasm32-wasip2`).
enum Program {
    Module(Module),
    Component(Component),
}

/// The store's state for a component: WASI preview 2.
struct P2State {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A component binary: the `\0asm` magic, then version 0x0d and layer 1.
fn is_component(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

fn load(engine: &Engine, options: &Options) -> Result<Program, (u8, String)> {
    let invalid = |e: wasmtime::Error| (EXIT_INVALID, format!("invalid WebAssembly module: {e}"));
    let bytes = std::fs::read(&options.module).map_err(|e| {
        (
            EXIT_INTERNAL,
            format!("cannot read {}: {e}", options.module),
        )
    })?;
    if options.precompiled {
        // SAFETY (both arms): the bytes are wasmtime's own serialization of
        // this module, produced by `--compile` in a sandbox that saw nothing
        // but the module, and authenticated by the VMM (a MAC with a key
        // only the VMM holds) before it was placed here; wasmtime also
        // checks its header (engine version and configuration).
        return match Engine::detect_precompiled(&bytes) {
            Some(Precompiled::Component) => {
                unsafe { Component::deserialize(engine, &bytes) }.map(Program::Component)
            }
            _ => unsafe { Module::deserialize(engine, &bytes) }.map(Program::Module),
        }
        .map_err(invalid);
    }
    let bytes = if options.from_exe {
        appended_module(&bytes).ok_or((
            EXIT_INVALID,
            "no module appended to the runtime".to_string(),
        ))?
    } else {
        &bytes[..]
    };
    if is_component(bytes) {
        Component::new(engine, bytes)
            .map(Program::Component)
            .map_err(invalid)
    } else {
        Module::new(engine, bytes)
            .map(Program::Module)
            .map_err(invalid)
    }
}

/// The WASI context of the run: arguments, environment, stdio, preopens.
fn wasi_builder(options: &Options) -> Result<WasiCtxBuilder, (u8, String)> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .inherit_stdio()
        .args(&options.argv)
        // The module runs synchronously on this thread: file operations
        // block it directly instead of being handed to a tokio blocking
        // thread and back (a futex wakeup and a switch each, in the sentry).
        .allow_blocking_current_thread(true);
    for (key, value) in std::env::vars_os() {
        match (key.to_str(), value.to_str()) {
            (Some(key), Some(value)) => {
                builder.env(key, value);
            }
            _ => {
                return Err((
                    EXIT_INVALID,
                    format!("environment variable {key:?} is not UTF-8 (WASI's are strings)"),
                ));
            }
        }
    }
    for (dir, name, read_only) in &options.dirs {
        let perms = if *read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder.preopened_dir(dir, name, perms).map_err(|e| {
            (
                EXIT_INTERNAL,
                format!("cannot open the shared directory {dir}: {e}"),
            )
        })?;
    }
    Ok(builder)
}

/// How a run that ended with an error ends the process: proc_exit's code,
/// or a trap.
fn ended(e: wasmtime::Error) -> Result<u8, (u8, String)> {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        // proc_exit / wasi:cli/exit: Linux keeps the low 8 bits.
        Ok(exit.0 as u8)
    } else if let Some(trap) = e.downcast_ref::<Trap>() {
        Err((EXIT_TRAP, format!("wasm trap: {}", describe_trap(*trap))))
    } else {
        Err((EXIT_TRAP, format!("wasm trap: {e}")))
    }
}

fn instantiation_failed(e: wasmtime::Error) -> (u8, String) {
    match e.downcast_ref::<Trap>() {
        // A start function that traps.
        Some(trap) => (EXIT_TRAP, format!("wasm trap: {}", describe_trap(*trap))),
        None => (EXIT_INVALID, format!("cannot instantiate the module: {e}")),
    }
}

fn run(options: &Options) -> Result<u8, (u8, String)> {
    let engine = engine().map_err(|e| (EXIT_INTERNAL, e))?;
    let program = load(&engine, options)?;
    if options.compile_only {
        let code = match &program {
            Program::Module(module) => module.serialize(),
            Program::Component(component) => component.serialize(),
        }
        .map_err(|e| (EXIT_INTERNAL, format!("{e}")))?;
        let mut out = std::io::stdout().lock();
        out.write_all(&code)
            .and_then(|()| out.flush())
            .map_err(|e| {
                (
                    EXIT_INTERNAL,
                    format!("cannot write the compiled code: {e}"),
                )
            })?;
        return Ok(0);
    }
    let mut builder = wasi_builder(options)?;
    let outcome = match program {
        Program::Module(module) => {
            let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
            p1::add_to_linker_sync(&mut linker, |ctx| ctx)
                .map_err(|e| (EXIT_INTERNAL, format!("{e}")))?;
            let mut store = Store::new(&engine, builder.build_p1());
            let instance = linker
                .instantiate(&mut store, &module)
                .map_err(instantiation_failed)?;
            let start = instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .map_err(|_| {
                    (
                        EXIT_INVALID,
                        "not a WASI command: no exported `_start` function of type () -> ()"
                            .to_string(),
                    )
                })?;
            start.call(&mut store, ()).map(|()| 0)
        }
        Program::Component(component) => {
            let mut linker: component::Linker<P2State> = component::Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
                .map_err(|e| (EXIT_INTERNAL, format!("{e}")))?;
            let state = P2State {
                ctx: builder.build(),
                table: ResourceTable::new(),
            };
            let mut store = Store::new(&engine, state);
            let command = Command::instantiate(&mut store, &component, &linker)
                .map_err(instantiation_failed)?;
            // wasi:cli/run returning an error is exit status 1.
            command
                .wasi_cli_run()
                .call_run(&mut store)
                .map(|result| if result.is_ok() { 0 } else { 1 })
        }
    };
    // Whatever the module wrote must be out before we exit.
    let _ = std::io::stdout().flush();
    outcome.or_else(ended)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("rvisor-wasm-runtime: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let name = options
        .argv
        .first()
        .cloned()
        .unwrap_or_else(|| options.module.clone());
    match run(&options) {
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eprintln!("rvisor-vmm: {name}: {message}");
            ExitCode::from(code)
        }
    }
}
