//! The `rvisor-vmm` command line.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::TypedValueParser;
use clap::Parser;
use rvisor_vmm::error::{internal, Failure};
use rvisor_vmm::hostfs::MountSpec;
use rvisor_vmm::hypercall::AppExit;
use rvisor_vmm::vm::{self, RunConfig, MAX_MEMORY, MIN_MEMORY};
use rvisor_vmm::{app, cli, wasm};

/// Run an unmodified static x86_64 Linux program inside a KVM virtual
/// machine. Its syscalls are served by the rvisor sentry inside the VM, never
/// by the host kernel.
///
/// With --wasm, runs a WebAssembly (WASI) command module or component instead.
///
/// Exit status: the program's own; 128+N if it was killed by signal N; 124
/// on --timeout; 125 if rvisor itself failed; 134 if a --wasm module
/// trapped; 126 if the file is not a runnable static x86_64 ELF (or
/// WebAssembly module); 127 if it does not exist.
#[derive(Parser, Debug)]
#[command(
    name = "rvisor-vmm",
    version,
    about,
    long_about,
    override_usage = "rvisor-vmm [OPTIONS] --elf <PATH> [--] [ARGS]...\n       rvisor-vmm [OPTIONS] --wasm <PATH> [--] [ARGS]...\n       rvisor-vmm [OPTIONS] --root <DIR[:ro|rw]> [--elf <PATH>] [--] [COMMAND [ARGS]...]"
)]
struct Cli {
    /// The program to run (a static x86_64 Linux ELF). It becomes argv[0] as
    /// given, and the program sees itself read-only at its absolute path.
    ///
    /// With --root, PATH names a file inside the sandbox, and --elf may be
    /// left out: the first of ARGS is then the command, looked up in the
    /// sandbox's PATH as execvp does.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present_any = ["print_syscall_table", "root", "wasm", "wasm_compile"]
    )]
    elf: Option<OsString>,

    /// Run a WebAssembly command module (WASI preview 1, e.g. built for
    /// wasm32-wasip1) or component (preview 2, wasm32-wasip2) inside the
    /// sandbox, compiled by wasmtime (Cranelift)
    /// in guest user mode. argv[0] is PATH as given; every --mount is a
    /// WASI preopen at its guest path. Exit status: the module's
    /// proc_exit code; 134 on a trap; 126 if the module is malformed or
    /// invalid or needs imports WASI does not provide.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["elf", "root"])]
    wasm: Option<OsString>,

    /// Where --wasm keeps compiled code between runs (default
    /// $XDG_CACHE_HOME/rvisor/wasm, else ~/.cache/rvisor/wasm). Code is
    /// compiled in a separate sandbox that sees only the module, and
    /// authenticated with a key kept in DIR before a sandbox loads it.
    #[arg(long, value_name = "DIR", requires = "wasm")]
    wasm_cache: Option<PathBuf>,

    /// Compile the module in the run's own sandbox every time (no cache).
    #[arg(long, requires = "wasm", conflicts_with = "wasm_cache")]
    no_wasm_cache: bool,

    /// Internal: the cache's compile step (module on stdin, code on stdout).
    #[arg(long, value_name = "NAME", hide = true, conflicts_with_all = ["elf", "root", "wasm"])]
    wasm_compile: Option<OsString>,

    /// Run in a root filesystem: the host directory DIR becomes the
    /// sandbox's `/` (read-only unless `:rw`), resolved strictly beneath DIR
    /// as --mount is, with the sandbox's own /proc, /dev and a private tmpfs
    /// /tmp over it; --mount directories go on top. Dynamically linked
    /// programs run (their interpreter and libraries come from the root).
    #[arg(long, value_name = "DIR[:ro|rw]", value_parser = parse_root)]
    root: Option<MountSpec>,

    /// Arguments for the program (argv[1..]).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<OsString>,

    /// Set an environment variable for the program (repeatable). The default
    /// environment is PATH=/usr/local/bin:/usr/bin:/bin and HOME=/; nothing
    /// is inherited from the host.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = clap::builder::OsStringValueParser::new().try_map(cli::parse_env))]
    env: Vec<OsString>,

    /// Share a host directory: HOST_DIR appears at GUEST_DIR inside the
    /// sandbox, read-only unless `:rw` (repeatable). Nothing outside
    /// HOST_DIR is reachable through it (no `..`, no symlink escapes).
    #[arg(long = "mount", value_name = "HOST_DIR:GUEST_DIR[:ro|rw]", value_parser = parse_mount)]
    mounts: Vec<MountSpec>,

    /// The program's working directory inside the sandbox (an absolute
    /// path; it must exist). Default: `/`.
    #[arg(long, value_name = "DIR", value_parser = parse_cwd)]
    cwd: Option<OsString>,

    /// Guest memory, e.g. 256M or 1G (K, M, G suffixes; a multiple of 2 MiB).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    memory: u64,

    /// Stop the program after this many seconds (exit status 124).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,

    /// Print what a run cost to stderr at exit: boot and run time, VM exits,
    /// syscalls, page faults.
    #[arg(long)]
    stats: bool,

    /// Log what rvisor does (and unsupported syscalls) to stderr; -vv for more.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Run the VMM without its jail: no Landlock, capabilities and ids kept,
    /// no seccomp filter. For debugging only (gdb, strace, perf): a VMM
    /// compromised through a guest bug then has the invoking user's full
    /// reach.
    #[arg(long)]
    no_jail: bool,

    /// The host user the jailed VMM runs as (it needs /dev/kvm and the
    /// mounts). Default: the invoking user; under sudo, SUDO_UID.
    #[arg(long, value_name = "UID", conflicts_with = "no_jail")]
    uid: Option<u32>,

    /// The host group the jailed VMM runs as. Default: the --uid user's
    /// primary group; under sudo, SUDO_GID.
    #[arg(long, value_name = "GID", requires = "uid", conflicts_with = "no_jail")]
    gid: Option<u32>,
    /// Give the sandbox the host's network: TCP connections and UDP
    /// datagrams to addresses outside the sandbox go out through host
    /// sockets that rvisor-vmm opens on its behalf; the host's
    /// /etc/resolv.conf and /etc/hosts are the sandbox's. Without it the
    /// sandbox has only its loopback interface.
    #[arg(long)]
    net: bool,

    /// With --net, allow only these destinations (repeatable): an IPv4 or
    /// IPv6 network (CIDR; a bare address is one host) and optionally one
    /// port, e.g. 10.0.0.0/8, 127.0.0.1:8080, [::1]:443. Default: all.
    /// Others fail with EPERM.
    #[arg(long = "net-allow", value_name = "CIDR[:PORT]", requires = "net", value_parser = parse_allow)]
    net_allow: Vec<rvisor_vmm::net::AllowRule>,

    /// Listen on the host's HOST_IP:HOST_PORT (HOST_IP: 127.0.0.1 unless
    /// given) and hand each connection to the sandbox's listener on
    /// GUEST_PORT (repeatable; with or without --net). TCP only.
    #[arg(long = "publish", value_name = "[HOST_IP:]HOST_PORT:GUEST_PORT", value_parser = parse_publish)]
    publish: Vec<rvisor_vmm::net::Publish>,

    /// Print the sentry's syscall support table (Markdown) and exit.
    #[arg(long)]
    print_syscall_table: bool,
}

fn parse_allow(s: &str) -> Result<rvisor_vmm::net::AllowRule, String> {
    rvisor_vmm::net::AllowRule::parse(s)
}

fn parse_publish(s: &str) -> Result<rvisor_vmm::net::Publish, String> {
    rvisor_vmm::net::Publish::parse(s)
}

fn parse_root(s: &str) -> Result<MountSpec, String> {
    MountSpec::parse_root(s)
}

fn parse_cwd(s: &str) -> Result<OsString, String> {
    vm::check_cwd(s).map(|()| OsString::from(s))
}

/// `/` is accepted here and refused in `run` unless --wasm is given.
fn parse_mount(s: &str) -> Result<MountSpec, String> {
    MountSpec::parse_allowing_root(s)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size {s:?} (use e.g. 256M or 1G)"))?;
    let multiplier = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("invalid size unit in {s:?} (use K, M or G)")),
    };
    let bytes = value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {s:?} is too large"))?;
    if !(MIN_MEMORY..=MAX_MEMORY).contains(&bytes) {
        return Err(format!(
            "guest memory must be between {} MiB and {} GiB",
            MIN_MEMORY >> 20,
            MAX_MEMORY >> 30
        ));
    }
    if bytes % (2 << 20) != 0 {
        return Err("guest memory must be a multiple of 2 MiB".into());
    }
    Ok(bytes)
}

fn run(cli: &Cli, started: Instant) -> Result<i32, Failure> {
    if cli.wasm.is_none() && (cli.no_wasm_cache || cli.wasm_cache.is_some()) {
        return Err(internal(
            "--wasm-cache and --no-wasm-cache need --wasm (see --help)",
        ));
    }
    if cli.wasm.is_none() && cli.mounts.iter().any(|m| m.guest == "/") {
        return Err(internal(format!(
            "{} (see --help)",
            rvisor_vmm::hostfs::ROOT_MOUNT_REFUSED
        )));
    }
    // The command line shares directories; single files are shared by the
    // library for rvisor-runtime's file bind mounts only.
    for mount in &cli.mounts {
        if std::fs::metadata(&mount.host).is_ok_and(|m| !m.is_dir()) {
            return Err(internal(format!(
                "--mount {}: not a directory",
                mount.host.display()
            )));
        }
    }
    let mut args = cli.args.clone();
    let mut mounts: Vec<MountSpec> = cli.root.iter().chain(cli.mounts.iter()).cloned().collect();
    let mut data_file = None;
    let app = match (&cli.elf, &cli.root) {
        _ if cli.wasm_compile.is_some() => {
            let name = cli.wasm_compile.clone().unwrap_or_default();
            let mut module = Vec::new();
            std::io::stdin()
                .take(app::MAX_APP_SIZE)
                .read_to_end(&mut module)
                .map_err(|e| internal(format!("reading the module: {e}")))?;
            let (runtime, runtime_args) = wasm::compile_invocation(&name);
            args = runtime_args;
            data_file = Some((wasm::MODULE_GUEST_PATH.as_bytes().to_vec(), module));
            runtime
        }
        _ if cli.wasm.is_some() && !cli.print_syscall_table => {
            let module = wasm::load(cli.wasm.as_deref().unwrap_or_default())?;
            let code = match code_cache(cli)? {
                Some(cache) => match cache.lookup(&module.bytes) {
                    Some(code) => Some(code),
                    None => match compile_step(cli, &module)? {
                        Ok(code) => {
                            if let Err(e) = cache.store(&module.bytes, &code) {
                                log::warn!("{e}");
                            }
                            Some(code)
                        }
                        // The compile step said why (one line) and how to end.
                        Err(status) => return Ok(status),
                    },
                },
                None => None,
            };
            let (runtime, runtime_args, sandbox_mounts) =
                wasm::runtime_invocation(&module, &args, &cli.mounts, code.is_some());
            args = runtime_args;
            mounts = sandbox_mounts;
            let file = code.unwrap_or(module.bytes);
            data_file = Some((wasm::MODULE_GUEST_PATH.as_bytes().to_vec(), file));
            runtime
        }
        // Under --root the sentry finds and checks the program itself (126
        // and 127 are about what it finds in the root).
        (elf, Some(_)) if !cli.print_syscall_table => {
            let command = match elf {
                Some(path) => path.clone(),
                None if !args.is_empty() => args.remove(0),
                None => return Err(internal("--root needs --elf PATH or a command after --")),
            };
            if command.is_empty() || command.as_encoded_bytes().contains(&0) {
                return Err(Failure::NotFound(format!(
                    "{}: no such file",
                    command.to_string_lossy()
                )));
            }
            app::AppImage {
                path_as_given: command.clone(),
                canonical_path: command.into(),
                bytes: Vec::new().into(),
            }
        }
        (Some(path), None) => app::load(path)?,
        _ => app::AppImage {
            // --print-syscall-table: the sentry never looks at the image.
            path_as_given: OsString::from("rvisor"),
            canonical_path: "/rvisor".into(),
            bytes: Vec::new().into(),
        },
    };
    let timeout = match cli.timeout {
        None => None,
        Some(seconds) if seconds > 0.0 && seconds.is_finite() => {
            Some(Duration::from_secs_f64(seconds))
        }
        Some(_) => return Err(internal("--timeout must be a positive number of seconds")),
    };
    let env = if cli.wasm_compile.is_some() {
        Vec::new()
    } else if cli.wasm.is_some() {
        // A module's environment is what --env gives, nothing else (as
        // wasmtime's): WASI programs have no PATH or HOME to look for.
        cli.env.clone()
    } else {
        cli::environment(&cli.env)
    };
    let config = RunConfig {
        app,
        args,
        env,
        memory: cli.memory,
        verbose: cli.verbose > 0,
        print_syscall_table: cli.print_syscall_table,
        timeout,
        mounts: if cli.wasm_compile.is_some() {
            Vec::new()
        } else {
            mounts
        },
        root: cli.root.is_some() && !cli.print_syscall_table,
        rlimits: vm::host_rlimits(),
        cwd: cli.cwd.clone(),
        data_file,
        jail: rvisor_vmm::jail::JailOptions {
            disabled: cli.no_jail,
            uid: cli.uid,
            gid: cli.gid,
        },
        net: rvisor_vmm::net::NetConfig {
            outbound: cli.net,
            allow: cli.net_allow.clone(),
            publish: cli.publish.clone(),
        },
        container: Default::default(),
        control_socket: None,
    };
    if config.net.enabled() && cfg!(not(target_arch = "x86_64")) {
        return Err(internal(
            "--net and --publish need the x86_64 VMM for now (see --help)",
        ));
    }
    let outcome = vm::run(&config, started)?;
    if cli.stats {
        eprintln!("{}", outcome.stats.summary());
    }
    if cli.verbose > 1 {
        for (name, value) in outcome.stats.kvm.iter().filter(|(_, v)| **v != 0) {
            log::debug!("kvm stat {name}={value}");
        }
    }
    Ok(match outcome.exit {
        AppExit::Exited(code) => code as i32,
        AppExit::Signaled(signal) => 128 + signal as i32,
    })
}

/// The compiled-code cache for --wasm, unless it is turned off. An
/// explicit --wasm-cache that cannot be used is an error; the default one
/// is skipped (with a note under -v).
fn code_cache(cli: &Cli) -> Result<Option<wasm::CodeCache>, rvisor_vmm::error::Failure> {
    if cli.no_wasm_cache {
        return Ok(None);
    }
    if let Some(dir) = &cli.wasm_cache {
        return wasm::CodeCache::open(dir).map(Some);
    }
    let Some(dir) = wasm::default_cache_dir() else {
        log::info!("no wasm cache: neither XDG_CACHE_HOME nor HOME is set");
        return Ok(None);
    };
    match wasm::CodeCache::open(&dir) {
        Ok(cache) => Ok(Some(cache)),
        Err(e) => {
            log::info!("no wasm cache: {e}");
            Ok(None)
        }
    }
}

/// The cache's compile step: this program again (`--wasm-compile`), so the
/// step gets a fresh sandbox that sees nothing but the module (stdin). Its
/// stdout is the compiled code. Ok(Err(status)) when it failed: it has
/// printed why.
fn compile_step(cli: &Cli, module: &wasm::WasmModule) -> Result<Result<Vec<u8>, i32>, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| internal(format!("cannot find rvisor-vmm itself: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--wasm-compile")
        .arg(&module.path_as_given)
        .arg("--memory")
        .arg(cli.memory.to_string());
    if let Some(timeout) = cli.timeout {
        cmd.arg("--timeout").arg(timeout.to_string());
    }
    for _ in 0..cli.verbose {
        cmd.arg("-v");
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| internal(format!("cannot start the compile step: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let bytes = module.bytes.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let mut code = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(wasm::MAX_CODE_SIZE + 1)
        .read_to_end(&mut code);
    let status = child
        .wait()
        .map_err(|e| internal(format!("waiting for the compile step: {e}")))?;
    let _ = writer.join();
    read.map_err(|e| internal(format!("reading the compiled code: {e}")))?;
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        return Ok(Err(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))));
    }
    if code.len() as u64 > wasm::MAX_CODE_SIZE {
        return Err(internal("the compiled code is larger than the cache takes"));
    }
    Ok(Ok(code))
}

const PROGRAM: &str = "rvisor-vmm";

fn main() -> ExitCode {
    let started = Instant::now();
    rvisor_vmm::seccomp::prepare_allocator();
    cli::close_inherited_fds();
    // Usage errors are rvisor's own failures: 125, like every other one.
    let cli: Cli = match cli::parse_or_exit(PROGRAM) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp(None)
        .format_target(false)
        .init();
    match run(&cli, started) {
        Ok(code) => ExitCode::from(code as u8),
        Err(failure) => {
            eprintln!("rvisor-vmm: {failure}");
            ExitCode::from(failure.exit_code() as u8)
        }
    }
}
