//! Helpers for rvisor's end-to-end tests.
//!
//! The tests run small programs (C programs from `tests/programs/*.c`,
//! compiled with `musl-gcc -static`, and the `tests/programs/rust-hello`
//! Cargo project built for `x86_64-unknown-linux-musl`) twice: natively and
//! inside `rvisor-vmm`, and compare what they print and how they exit.
//!
//! Everything that is built here lands under `<root>/target/test-programs/`.
//! Builds are done once per test process (a mutex guards them, so parallel
//! test threads wait for each other) and are cached across processes by
//! modification time; outputs are written to a temporary name and renamed
//! into place, so concurrent test processes never see half-written files.
//!
//! Environment variables understood by the helpers:
//! - `RVISOR_VMM`: path of the `rvisor-vmm` binary to test (default
//!   `<root>/target/release/rvisor-vmm`, built with
//!   `cargo build --release -p rvisor-vmm` when it does not exist).
//! - `RVISOR_TEST_CC`: C compiler for the test programs (default `musl-gcc`).
//! - `RVISOR_TEST_TIMEOUT_SECS`: per-run timeout (default 60).
//! - `CI`: when `true`, a missing `/dev/kvm` fails the tests instead of
//!   skipping them.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The environment a program gets inside the sandbox when no `--env` is
/// given. Native runs get exactly the same.
pub const DEFAULT_ENV: &[(&str, &str)] = &[("PATH", "/usr/local/bin:/usr/bin:/bin"), ("HOME", "/")];

/// A variable set in the environment of the `rvisor-vmm` process itself
/// (never in native runs): it must not leak into the sandboxed program.
pub const HOST_CANARY: (&str, &str) = ("RVISOR_TEST_HOST_CANARY", "must-not-leak-into-the-guest");

/// An empty argument list (`&[]` alone does not infer a type).
pub const NO_ARGS: &[&str] = &[];

/// The C programs in `tests/programs/`.
pub const C_PROGRAMS: &[&str] = &[
    "hello",
    "bench_read",
    "bench_files",
    "bench_write",
    "bench_hostfs",
    "hostfs_coherence",
    "fs_copy",
    "vdso_time",
    "credentials",
    "exit_code",
    "args",
    "env",
    "stderr_split",
    "stdin_echo",
    "memory",
    "misc",
    "getppid_loop",
    "fault",
    "spin",
    "prompt",
    "sleep_ms",
    "host_signal",
    // Linux ABI conformance (tests/tests/abi_*.rs)
    "fs_tmpfs",
    "fs_pipe",
    "mm_file",
    "mm_large",
    "dev_proc",
    "time_misc",
    "errors",
    "hostdir",
    "oom",
    // Red-team findings (tests/tests/hardening.rs)
    "hostile",
    // membarrier (tests/tests/abi_misc.rs)
    "membarrier",
];

// ---------------------------------------------------------------------------
// Paths

/// The workspace root (the parent of `tests/`).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `<root>/target`, or `$CARGO_TARGET_DIR` when that is set.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root().join(d)
            }
        }
        _ => root().join("target"),
    }
}

/// Where compiled test programs go: `<target>/test-programs`.
pub fn programs_dir() -> PathBuf {
    let d = target_dir().join("test-programs");
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    d
}

/// The source directory of the test programs: `<root>/tests/programs`.
pub fn sources_dir() -> PathBuf {
    root().join("tests").join("programs")
}

fn cargo() -> OsString {
    std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(OsString::from))
        .unwrap_or_else(|| OsString::from("cargo"))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// True when `out` exists and is at least as new as every file in `inputs`.
fn up_to_date(out: &Path, inputs: &[PathBuf]) -> bool {
    let Some(o) = mtime(out) else { return false };
    inputs.iter().all(|i| mtime(i).is_some_and(|t| t <= o))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary path next to `path` (same directory, so a rename is atomic).
fn tmp_path_for(path: &Path) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()))
}

/// Writes `data` to `path` atomically.
pub fn write_atomic(path: &Path, data: &[u8]) {
    let tmp = tmp_path_for(path);
    fs::write(&tmp, data).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
    fs::rename(&tmp, path).unwrap_or_else(|e| panic!("cannot rename to {}: {e}", path.display()));
}

fn run_build(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Build cache: one `OnceLock` per artefact, so each is built at most once
/// per process; parallel test threads asking for the same artefact wait for
/// the first one, and different artefacts (which may depend on each other)
/// build independently.
static BUILT: Mutex<Option<HashMap<String, Arc<OnceLock<PathBuf>>>>> = Mutex::new(None);

fn build_once(key: &str, build: impl FnOnce() -> PathBuf) -> PathBuf {
    let cell = {
        let mut guard = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .get_or_insert_with(HashMap::new)
            .entry(key.to_string())
            .or_default()
            .clone()
    };
    cell.get_or_init(build).clone()
}

// ---------------------------------------------------------------------------
// rvisor-vmm

/// Path of the `rvisor-vmm` binary under test; builds it when it is missing.
pub fn vmm() -> PathBuf {
    static VMM: OnceLock<PathBuf> = OnceLock::new();
    VMM.get_or_init(|| {
        if let Some(p) = std::env::var_os("RVISOR_VMM").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "RVISOR_VMM={} does not exist", p.display());
            return p;
        }
        let p = target_dir().join("release").join("rvisor-vmm");
        if !p.is_file() {
            loud(&format!(
                "rvisor-tests: {} is missing, running cargo build --release -p rvisor-vmm",
                p.display()
            ));
            run_build(
                Command::new(cargo()).current_dir(root()).args([
                    "build",
                    "--release",
                    "-p",
                    "rvisor-vmm",
                ]),
                "building rvisor-vmm",
            );
            assert!(
                p.is_file(),
                "cargo build succeeded but {} does not exist",
                p.display()
            );
        } else {
            warn_if_stale(&p);
        }
        p
    })
    .clone()
}

/// Path of the `rvisor-runtime` binary (the OCI runtime); builds it when it
/// is missing.
pub fn rvisor_runtime() -> PathBuf {
    static RUNTIME: OnceLock<PathBuf> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let p = target_dir().join("release").join("rvisor-runtime");
            if !p.is_file() {
                loud("rvisor-tests: rvisor-runtime is missing, running cargo build --release -p rvisor-runtime");
                run_build(
                    Command::new(cargo()).current_dir(root()).args([
                        "build",
                        "--release",
                        "-p",
                        "rvisor-runtime",
                    ]),
                    "building rvisor-runtime",
                );
                assert!(p.is_file(), "{} was not built", p.display());
            } else {
                warn_if_stale(&p);
            }
            p
        })
        .clone()
}

/// Prints a warning when sources of the VMM are newer than the binary (for
/// example when only `cargo test -p rvisor-tests` was run).
fn warn_if_stale(bin: &Path) {
    let Some(bin_time) = mtime(bin) else { return };
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for dir in ["vmm/src", "guest-kernel/src", "boards/src"] {
        visit_files(&root().join(dir), &mut |f| {
            if let Some(t) = mtime(f) {
                if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                    newest = Some((t, f.to_path_buf()));
                }
            }
        });
    }
    if let Some((t, f)) = newest {
        if t > bin_time {
            loud(&format!(
                "rvisor-tests: WARNING: {} is newer than {}; run `cargo build --release` (or \
                 `cargo test --release --workspace`) to test the current sources",
                f.display(),
                bin.display()
            ));
        }
    }
}

fn visit_files(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            visit_files(&p, f);
        } else {
            f(&p);
        }
    }
}

/// Writes a line to the process's real stderr. Unlike `eprintln!`, this is
/// not captured by the test harness, so it shows even for passing tests.
pub fn loud(msg: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{msg}");
}

/// Returns true when `/dev/kvm` can be opened read-write. Otherwise fails
/// the test when `CI=true`, or prints a loud SKIPPED message and returns
/// false (the test should then return early).
pub fn require_kvm() -> bool {
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => true,
        Err(e) => {
            let ci = std::env::var("CI")
                .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
                .unwrap_or(false);
            if ci {
                panic!("/dev/kvm is not available ({e}) and CI=true: sandbox tests cannot run");
            }
            let name = std::thread::current().name().unwrap_or("?").to_string();
            loud(&format!(
                "\n*** SKIPPED: /dev/kvm not available ({e}); test {name} did not run ***\n"
            ));
            false
        }
    }
}

// ---------------------------------------------------------------------------
// Test programs

/// Compiles `tests/programs/<name>.c` with `musl-gcc -static -O2` into
/// `<target>/test-programs/<name>` (once per process, cached by mtime) and
/// returns the absolute path.
pub fn c_program(name: &str) -> PathBuf {
    build_once(&format!("c:{name}"), || {
        let src = sources_dir().join(format!("{name}.c"));
        assert!(src.is_file(), "no such test program: {}", src.display());
        let out = programs_dir().join(name);
        compile_c(&[&src], &out, &cc(), &["-static", "-O2", "-Wall"]);
        out
    })
}

/// `tests/programs/<name>.c` linked statically against glibc (`gcc -static`,
/// a different libc start-up and signal code from musl) into
/// `<target>/test-programs/glibc/<name>`.
pub fn glibc_program(name: &str) -> PathBuf {
    build_once(&format!("glibc:{name}"), || {
        let src = sources_dir().join(format!("{name}.c"));
        assert!(src.is_file(), "no such test program: {}", src.display());
        let dir = programs_dir().join("glibc");
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join(name);
        compile_c(&[&src], &out, "gcc", &["-static", "-O2", "-Wall"]);
        out
    })
}

/// The C compiler for test programs: `$RVISOR_TEST_CC` or `musl-gcc`.
pub fn cc() -> String {
    std::env::var("RVISOR_TEST_CC")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "musl-gcc".into())
}

/// Returns whether `prog` can be found on PATH.
pub fn have_tool(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// Compiles `srcs` into `out` with `compiler flags...` unless `out` is up to
/// date. Writes to a temporary file first and renames it into place.
pub fn compile_c(srcs: &[&Path], out: &Path, compiler: &str, flags: &[&str]) {
    let srcs: Vec<PathBuf> = srcs.iter().map(|p| p.to_path_buf()).collect();
    // The shared header of the ABI programs counts as an input of them all.
    let mut inputs = srcs.clone();
    inputs.push(sources_dir().join("abi_check.h"));
    if up_to_date(out, &inputs) {
        return;
    }
    if !have_tool(compiler) && !Path::new(compiler).is_file() {
        panic!("{compiler} not found: install it (musl-tools provides musl-gcc; see scripts/ for the setup script)");
    }
    let tmp = tmp_path_for(out);
    let mut cmd = Command::new(compiler);
    cmd.args(flags).arg("-o").arg(&tmp).args(&srcs);
    run_build(&mut cmd, &format!("compiling {}", out.display()));
    fs::rename(&tmp, out).unwrap_or_else(|e| panic!("cannot rename to {}: {e}", out.display()));
}

/// Builds `tests/programs/rust-hello` for `x86_64-unknown-linux-musl` with
/// the same cargo into `<target>/test-programs/rust-hello/` and returns the
/// absolute path of the binary. Cargo does its own up-to-date check and
/// locking.
pub fn rust_hello() -> PathBuf {
    build_once("rust-hello", || {
        let manifest = sources_dir().join("rust-hello").join("Cargo.toml");
        let tdir = programs_dir().join("rust-hello");
        let mut cmd = Command::new(cargo());
        cmd.current_dir(root())
            .args([
                "build",
                "--release",
                "--quiet",
                "--target",
                "x86_64-unknown-linux-musl",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&tdir)
            // Flags meant for the workspace (e.g. from the outer cargo) must not
            // leak into this standalone build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        run_build(&mut cmd, "building tests/programs/rust-hello");
        let bin = tdir
            .join("x86_64-unknown-linux-musl")
            .join("release")
            .join("rust-hello");
        assert!(bin.is_file(), "{} was not produced", bin.display());
        bin
    })
}

/// The programs of `tests/wasi-programs/src/bin/`.
pub const WASI_PROGRAMS: &[&str] = &[
    "hello",
    "args_env",
    "exit_code",
    "files",
    "dirs",
    "clock",
    "random",
    "cpu",
    "traps",
    "stdin_count",
];

/// Builds `tests/wasi-programs` for `target` (`wasm32-wasip1`,
/// `wasm32-wasip2` or `x86_64-unknown-linux-musl`) into `<target>/test-programs/wasi/` and
/// returns the directory holding its outputs.
fn wasi_programs_dir(target: &str) -> PathBuf {
    build_once(&format!("wasi-programs-{target}"), || {
        let manifest = root().join("tests/wasi-programs/Cargo.toml");
        let tdir = programs_dir().join("wasi");
        let mut cmd = Command::new(cargo());
        cmd.current_dir(root())
            .args(["build", "--release", "--quiet", "--target", target])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&tdir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        run_build(
            &mut cmd,
            &format!("building tests/wasi-programs for {target}"),
        );
        tdir.join(target).join("release")
    })
}

/// `tests/wasi-programs/src/bin/NAME.rs` built for wasm32-wasip1.
pub fn wasi_program(name: &str) -> PathBuf {
    let path = wasi_programs_dir("wasm32-wasip1").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not produced", path.display());
    path
}

/// `tests/wasi-programs/src/bin/NAME.rs` built for wasm32-wasip2 (a WASI
/// preview 2 component).
pub fn wasi_component(name: &str) -> PathBuf {
    let path = wasi_programs_dir("wasm32-wasip2").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not produced", path.display());
    path
}

/// The same source built for x86_64-unknown-linux-musl (run natively for
/// the expected output).
pub fn wasi_program_native(name: &str) -> PathBuf {
    let path = wasi_programs_dir("x86_64-unknown-linux-musl").join(name);
    assert!(path.is_file(), "{} was not produced", path.display());
    path
}

/// Runs `rvisor-vmm <extra_opts...> --wasm <module> -- <args...>`.
pub fn run_wasm<S: AsRef<OsStr>>(
    module: &Path,
    args: &[S],
    extra_opts: &[&str],
    stdin: Option<&[u8]>,
) -> RunOutput {
    let mut vmm_args: Vec<OsString> = extra_opts.iter().map(OsString::from).collect();
    vmm_args.push("--wasm".into());
    vmm_args.push(module.as_os_str().to_owned());
    vmm_args.push("--".into());
    vmm_args.extend(args.iter().map(|a| a.as_ref().to_owned()));
    run_vmm(&vmm_args, stdin)
}

// ---------------------------------------------------------------------------
// Running programs

/// What a run produced.
#[derive(Clone)]
pub struct RunOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
    /// A description of the command, for failure messages.
    pub cmdline: String,
}

impl RunOutput {
    /// The exit status as a shell reports it: the exit code, or 128+N when
    /// killed by signal N.
    pub fn code(&self) -> i32 {
        if let Some(c) = self.status.code() {
            c
        } else if let Some(s) = self.status.signal() {
            128 + s
        } else {
            -1
        }
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// A readable dump of the whole run, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {} (code {})\n--- stdout ({} bytes) ---\n{}\n--- stderr ({} bytes) ---\n{}\n--- end ---",
            self.cmdline,
            self.status,
            self.code(),
            self.stdout.len(),
            excerpt(&self.stdout),
            self.stderr.len(),
            excerpt(&self.stderr)
        )
    }
}

impl std::fmt::Debug for RunOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// At most ~3 KiB of `b`, lossily decoded.
pub fn excerpt(b: &[u8]) -> String {
    const MAX: usize = 3072;
    if b.len() <= MAX {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!(
            "{}\n[... {} bytes omitted ...]\n{}",
            String::from_utf8_lossy(&b[..MAX / 2]),
            b.len() - MAX,
            String::from_utf8_lossy(&b[b.len() - MAX / 2..])
        )
    }
}

fn timeout() -> Duration {
    let secs = std::env::var("RVISOR_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn describe_cmd(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let _ = write!(s, "{}={} ", k.to_string_lossy(), shell_quote(v));
        }
    }
    let _ = write!(s, "{}", shell_quote(cmd.get_program()));
    for a in cmd.get_args() {
        let _ = write!(s, " {}", shell_quote(a));
    }
    s
}

fn shell_quote(s: &OsStr) -> String {
    let t = s.to_string_lossy();
    if !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        t.into_owned()
    } else {
        format!("'{}'", t.replace('\'', "'\\''"))
    }
}

/// Runs `cmd`, feeding `stdin` (None: /dev/null) and capturing stdout and
/// stderr separately. Panics, with whatever was captured, when the run takes
/// longer than the timeout (`RVISOR_TEST_TIMEOUT_SECS`, default 60 s).
pub fn run_command(cmd: &mut Command, stdin: Option<&[u8]>) -> RunOutput {
    let cmdline = describe_cmd(cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Programs start with fds 0-2 only, natively as in the sandbox: cargo
    // hands the test process extra descriptors (its jobserver pipes).
    // SAFETY: close_range is async-signal-safe and touches only the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            libc::close_range(3, u32::MAX, 0);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmdline}: {e}"));

    let writer = stdin.map(|data| {
        let data = data.to_vec();
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            // The program may exit without reading everything: ignore EPIPE.
            let _ = pipe.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });

    let deadline = Instant::now() + timeout();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {cmdline}: {e}"),
        }
    };
    // A grandchild could keep the pipes open; do not wait forever for EOF.
    let stdout = join_with_deadline(out_reader, Duration::from_secs(10));
    let stderr = join_with_deadline(err_reader, Duration::from_secs(10));
    if let Some(w) = writer {
        join_with_deadline(w, Duration::from_secs(1));
    }
    let out = RunOutput {
        stdout,
        stderr,
        status,
        cmdline,
    };
    if timed_out {
        panic!("TIMEOUT after {:?}, killed:\n{}", timeout(), out.describe());
    }
    out
}

fn join_with_deadline<T: Default + Send + 'static>(
    h: std::thread::JoinHandle<T>,
    d: Duration,
) -> T {
    let end = Instant::now() + d;
    while !h.is_finished() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
    }
    if h.is_finished() {
        h.join().unwrap_or_default()
    } else {
        T::default()
    }
}

/// Runs `prog` natively with argv[0] = `prog` (as given, normally an
/// absolute path), then `args`, in the sandbox's default environment
/// (cleared, then PATH and HOME as in [`DEFAULT_ENV`]).
pub fn run_native<S: AsRef<OsStr>>(prog: &Path, args: &[S], stdin: Option<&[u8]>) -> RunOutput {
    run_native_env(prog, args, &[], stdin)
}

/// Like [`run_native`], with `env` added to (or overriding) the defaults,
/// the way `--env KEY=VALUE` does in the sandbox.
pub fn run_native_env<S: AsRef<OsStr>>(
    prog: &Path,
    args: &[S],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> RunOutput {
    let mut cmd = Command::new(prog);
    cmd.env_clear();
    for (k, v) in DEFAULT_ENV.iter().chain(env.iter()) {
        cmd.env(k, v);
    }
    cmd.args(args);
    run_command(&mut cmd, stdin)
}

/// Runs `rvisor-vmm <extra_opts...> --elf <prog> -- <args...>`. The VMM
/// process inherits the test's environment minus `RUST_LOG`, plus
/// [`HOST_CANARY`] (which must not show up in the guest).
pub fn run_sandbox<S: AsRef<OsStr>>(
    prog: &Path,
    args: &[S],
    extra_opts: &[&str],
    stdin: Option<&[u8]>,
) -> RunOutput {
    let mut vmm_args: Vec<OsString> = extra_opts.iter().map(OsString::from).collect();
    vmm_args.push("--elf".into());
    vmm_args.push(prog.as_os_str().to_owned());
    vmm_args.push("--".into());
    vmm_args.extend(args.iter().map(|a| a.as_ref().to_owned()));
    run_vmm(&vmm_args, stdin)
}

/// Runs `rvisor-vmm` with exactly `vmm_args`.
pub fn run_vmm<S: AsRef<OsStr>>(vmm_args: &[S], stdin: Option<&[u8]>) -> RunOutput {
    let mut cmd = vmm_command();
    cmd.args(vmm_args);
    run_command(&mut cmd, stdin)
}

/// A `Command` for `rvisor-vmm` with the test environment applied.
pub fn vmm_command() -> Command {
    let mut cmd = Command::new(vmm());
    cmd.env_remove("RUST_LOG").env(HOST_CANARY.0, HOST_CANARY.1);
    cmd
}

/// Like [`run_native`] but with a chosen argv[0].
pub fn run_native_argv0<S: AsRef<OsStr>>(
    prog: &Path,
    argv0: &str,
    args: &[S],
    stdin: Option<&[u8]>,
) -> RunOutput {
    let mut cmd = Command::new(prog);
    cmd.arg0(argv0).env_clear();
    for (k, v) in DEFAULT_ENV {
        cmd.env(k, v);
    }
    cmd.args(args);
    run_command(&mut cmd, stdin)
}

// ---------------------------------------------------------------------------
// Assertions

/// Index and text of the first line where `a` and `b` differ.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let la: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
    let lb: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    for i in 0..la.len().max(lb.len()) {
        let x = la.get(i);
        let y = lb.get(i);
        if x != y {
            let show = |l: Option<&&[u8]>| match l {
                Some(l) => format!("{:?}", String::from_utf8_lossy(l)),
                None => "<no such line>".into(),
            };
            return format!(
                "first difference at line {}:\n  native:  {}\n  sandbox: {}",
                i + 1,
                show(x),
                show(y)
            );
        }
    }
    "no line difference (lengths differ only)".into()
}

/// Asserts that two byte strings are equal, with a message that shows the
/// first differing line and both texts.
#[track_caller]
pub fn assert_bytes_eq(what: &str, native: &[u8], sandbox: &[u8], context: &str) {
    if native != sandbox {
        panic!(
            "{what} differs between native and sandbox runs ({} vs {} bytes)\n{}\n--- native ---\n{}\n--- sandbox ---\n{}\n--- context ---\n{context}",
            native.len(),
            sandbox.len(),
            first_difference(native, sandbox),
            excerpt(native),
            excerpt(sandbox),
        );
    }
}

/// Which parts of two runs [`assert_same`] compares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// stdout and exit status.
    StdoutAndStatus,
    /// stdout, stderr and exit status.
    All,
}

/// A conformance program's check: it runs natively with `native_args`
/// (and must report `failures=0` and exit 0: otherwise the program, not the
/// sandbox, is broken), then in the sandbox with `sandbox_args` and `opts`;
/// both must agree as `cmp` says. Returns the sandbox run.
#[track_caller]
pub fn assert_conforms(
    prog: &Path,
    native_args: &[&str],
    sandbox_args: &[&str],
    opts: &[&str],
    cmp: Compare,
) -> RunOutput {
    let native = run_native(prog, native_args, None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "the test program itself fails natively (fix the program, not the sandbox):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(prog, sandbox_args, opts, None);
    assert_same(&native, &sandbox, cmp);
    sandbox
}

/// Asserts that a sandbox run behaved like the native run of the same program.
#[track_caller]
pub fn assert_same(native: &RunOutput, sandbox: &RunOutput, cmp: Compare) {
    let context = format!(
        "NATIVE RUN:\n{}\nSANDBOX RUN:\n{}",
        native.describe(),
        sandbox.describe()
    );
    assert_no_panic(sandbox);
    assert_bytes_eq("stdout", &native.stdout, &sandbox.stdout, &context);
    if cmp == Compare::All {
        assert_bytes_eq("stderr", &native.stderr, &sandbox.stderr, &context);
    }
    assert_eq!(
        native.code(),
        sandbox.code(),
        "exit status differs (native vs sandbox)\n{context}"
    );
}

/// Asserts that rvisor-vmm did not panic.
#[track_caller]
pub fn assert_no_panic(out: &RunOutput) {
    let err = out.stderr_str();
    assert!(
        !err.contains("panicked") && !err.to_lowercase().contains("backtrace") && out.code() != 101,
        "rvisor-vmm panicked:\n{}",
        out.describe()
    );
}

/// Asserts the shape of an rvisor-vmm error: the expected exit code, and a
/// single stderr line starting with `rvisor-vmm:`, no panic, no backtrace,
/// nothing on stdout. Returns the line.
#[track_caller]
pub fn assert_vmm_error(out: &RunOutput, expected_code: i32) -> String {
    assert_no_panic(out);
    assert_eq!(
        out.code(),
        expected_code,
        "wrong exit status\n{}",
        out.describe()
    );
    let err = out.stderr_str();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr\n{}",
        out.describe()
    );
    assert!(
        err.ends_with('\n'),
        "the error line should end with a newline\n{}",
        out.describe()
    );
    assert!(
        lines[0].starts_with("rvisor-vmm:"),
        "the error line should start with `rvisor-vmm:`\n{}",
        out.describe()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing should be printed on stdout\n{}",
        out.describe()
    );
    lines[0].to_string()
}

/// Sorted lines of `b` (for outputs whose order is not specified, such as
/// the environment block).
pub fn sorted_lines(b: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Parses `key=value` pairs from a line such as
/// `rvisor: stats: boot_ms=1.2 run_ms=3 syscalls=5 vm_exits=7`.
/// The `rvisor: stats:` line of a run with `--stats`, and its key=value
/// pairs.
pub fn stats_of(out: &RunOutput) -> (String, HashMap<String, String>) {
    let stderr = out.stderr_str();
    let line = stderr
        .lines()
        .find(|l| l.contains("rvisor: stats:"))
        .unwrap_or_else(|| panic!("no stats line: {}", out.describe()))
        .to_string();
    let kv = parse_kv(line.trim_start_matches("rvisor: stats: "));
    (line, kv)
}

pub fn parse_kv(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// Deterministic data

/// `n` pseudo-random bytes (xorshift; every byte value occurs), same on
/// every run.
pub fn test_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Also plant every byte value, and some CR/LF/^D/^C/NUL runs that a
        // tty-like layer might mangle.
        let b = match i % 1024 {
            0..=255 => i as u8,
            256 => b'\r',
            257 => b'\n',
            258 => 0x04,
            259 => 0x03,
            260 => 0,
            _ => (x >> 24) as u8,
        };
        v.push(b);
    }
    v
}

// ---------------------------------------------------------------------------
// Bad inputs for the ELF checks

/// Minimal ELF64 program header parsing: returns (p_type, p_offset, p_filesz).
pub fn elf_program_headers(elf: &[u8]) -> Vec<(u32, u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    assert!(
        elf.len() >= 64 && &elf[..4] == b"\x7fELF" && elf[4] == 2,
        "not an ELF64 file"
    );
    let phoff = u64_at(32) as usize;
    let phentsize = u16_at(54) as usize;
    let phnum = u16_at(56) as usize;
    (0..phnum)
        .map(|i| {
            let o = phoff + i * phentsize;
            (u32_at(o), u64_at(o + 8), u64_at(o + 32))
        })
        .collect()
}

/// Artefacts for the bad-input tests, created under
/// `<target>/test-programs/bad/`.
pub mod bad {
    use super::*;

    fn dir() -> PathBuf {
        let d = programs_dir().join("bad");
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn make(name: &str, data: impl FnOnce() -> Vec<u8>) -> PathBuf {
        build_once(&format!("bad:{name}"), || {
            let p = dir().join(name);
            write_atomic(&p, &data());
            p
        })
    }

    /// A shell-script-like text file.
    pub fn text_file() -> PathBuf {
        make("text.txt", || {
            b"#!/bin/sh\necho this is a text file, not an ELF\n".to_vec()
        })
    }

    /// An empty file.
    pub fn empty_file() -> PathBuf {
        make("empty", Vec::new)
    }

    /// The first 200 bytes of the C hello (ELF header + part of the program
    /// headers).
    pub fn truncated_header() -> PathBuf {
        make("hello-first-200-bytes", || {
            fs::read(c_program("hello")).unwrap()[..200].to_vec()
        })
    }

    /// The C hello cut in the middle of its largest PT_LOAD segment: the
    /// headers are intact but the segment data runs past the end of file.
    pub fn truncated_segments() -> PathBuf {
        make("hello-cut-in-segment", || {
            let elf = fs::read(c_program("hello")).unwrap();
            let (_, off, filesz) = elf_program_headers(&elf)
                .into_iter()
                .filter(|&(t, _, filesz)| t == 1 && filesz > 0) // PT_LOAD
                .max_by_key(|&(_, _, filesz)| filesz)
                .expect("hello has a PT_LOAD segment");
            let cut = (off + filesz / 2) as usize;
            assert!(
                cut > 64 && cut < elf.len(),
                "cut point {cut} outside the file"
            );
            elf[..cut].to_vec()
        })
    }

    /// The hello program for aarch64: built with `aarch64-linux-gnu-gcc
    /// -static` when available, else the x86_64 build with e_machine patched
    /// to 183 (EM_AARCH64).
    pub fn wrong_arch() -> PathBuf {
        build_once("bad:wrong-arch", || {
            let out = dir().join("hello-aarch64");
            if have_tool("aarch64-linux-gnu-gcc") {
                let src = sources_dir().join("hello.c");
                compile_c(&[&src], &out, "aarch64-linux-gnu-gcc", &["-static", "-O2"]);
            } else {
                let mut elf = fs::read(c_program("hello")).unwrap();
                elf[18..20].copy_from_slice(&183u16.to_le_bytes());
                write_atomic(&out, &elf);
            }
            out
        })
    }

    /// The hello program linked dynamically against glibc (`gcc`, no -static).
    pub fn dynamic() -> PathBuf {
        build_once("bad:dynamic", || {
            let out = dir().join("hello-dynamic");
            let src = sources_dir().join("hello.c");
            compile_c(&[&src], &out, "gcc", &["-O2"]);
            out
        })
    }

    /// A relocatable object (`musl-gcc -c`): an x86_64 ELF, but not an executable.
    pub fn object_file() -> PathBuf {
        build_once("bad:object", || {
            let out = dir().join("hello.o");
            let src = sources_dir().join("hello.c");
            compile_c(&[&src], &out, &cc(), &["-c", "-O2"]);
            out
        })
    }

    /// A path that does not exist.
    pub fn missing() -> PathBuf {
        let p = dir().join("does-not-exist");
        let _ = fs::remove_file(&p);
        p
    }

    /// A directory.
    pub fn directory() -> PathBuf {
        dir()
    }
}

/// Convenience: `&[&str]` from string literals including non-UTF-8 bytes.
pub fn os(b: &[u8]) -> OsString {
    OsStr::from_bytes(b).to_owned()
}

/// Sorts, in place, the lines of `b` that start with `prefix`, leaving all
/// other lines where they are. Used to compare environment listings whose
/// order is not specified (std's `Command` passes the environment sorted by
/// key; the sandbox is free to use another order).
pub fn sort_lines_with_prefix(b: &[u8], prefix: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(b);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let idx: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with(prefix))
        .collect();
    let mut selected: Vec<&str> = idx.iter().map(|&i| lines[i]).collect();
    selected.sort();
    for (k, &i) in idx.iter().enumerate() {
        lines[i] = selected[k];
    }
    lines.concat().into_bytes()
}

// ---------------------------------------------------------------------------
// Linux ABI conformance: scratch directories, shared host trees, busybox

/// Helpers for the ABI conformance tests (`tests/tests/abi_*.rs`,
/// `tests/tests/busybox.rs`): fresh scratch directories, the host trees that
/// are shared with `--mount`, snapshots of those trees, and busybox.
pub mod abi {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{symlink, PermissionsExt};

    static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

    /// A fresh, empty directory `<target>/abi-work/<tag>-<pid>-<n>` (absolute;
    /// whatever was there before is removed). Directories are left behind
    /// for inspection; those of test processes that no longer run are
    /// removed on the first call.
    pub fn fresh_dir(tag: &str) -> PathBuf {
        static CLEANED: OnceLock<()> = OnceLock::new();
        CLEANED.get_or_init(|| {
            let Ok(rd) = fs::read_dir(target_dir().join("abi-work")) else {
                return;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
                if let Some(pid) = pid {
                    if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        });
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let d = target_dir()
            .join("abi-work")
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        d.canonicalize().unwrap()
    }

    fn put(dir: &Path, rel: &str, data: &[u8], mode: u32) {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, data).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mkdir(dir: &Path, rel: &str, mode: u32) {
        let p = dir.join(rel);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Content of `hello.txt` in [`populate`]d trees (24 bytes).
    pub const HELLO: &str = "Hello from the host dir\n";

    /// Fills `dir` with the tree `hostdir` and the busybox tests expect:
    /// text files (`hello.txt`, `sub/nested.txt`, ...), a 1 000 003-byte
    /// `big.bin`, a relative symlink `inside_link -> hello.txt`, a hard link,
    /// files with modes 0600/0755, `many/` with 100 files, `emptydir/`, and the
    /// files the rw tests change (`rename-me.txt`, `delete-me.txt`,
    /// `moved.txt`, `truncate-me.txt`). Sizes and modes are fixed (mtimes are
    /// not).
    pub fn populate(dir: &Path) {
        put(dir, "hello.txt", HELLO.as_bytes(), 0o644);
        put(dir, "big.bin", &test_bytes(1_000_003), 0o644);
        put(dir, "sub/nested.txt", b"nested file\n", 0o644);
        put(dir, "sub/deeper/leaf.txt", b"leaf\nwith two lines\n", 0o644);
        put(dir, "private.txt", b"only root may read this\n", 0o600);
        put(dir, "run.sh", b"#!/bin/sh\necho not run\n", 0o755);
        put(dir, "with space.txt", b"a name with a space\n", 0o644);
        put(
            dir,
            "unsorted.txt",
            b"pear\napple\nfig\nbanana\napple\ncherry\n10\n9\n100\n",
            0o644,
        );
        put(dir, "empty.txt", b"", 0o644);
        put(dir, "rename-me.txt", b"rename me\n", 0o644);
        put(dir, "delete-me.txt", b"delete me\n", 0o644);
        put(dir, "moved.txt", b"move me into sub\n", 0o644);
        put(dir, "truncate-me.txt", b"truncate me please\n", 0o644);
        mkdir(dir, "emptydir", 0o755);
        for i in 0..100 {
            put(
                dir,
                &format!("many/file-{i:03}"),
                format!("{i}\n").as_bytes(),
                0o644,
            );
        }
        fs::hard_link(dir.join("sub/nested.txt"), dir.join("sub/hardlink.txt")).unwrap();
        symlink("hello.txt", dir.join("inside_link")).unwrap();
        fs::set_permissions(dir.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The escape layout: `<base>/secret.txt` (holding the returned secret)
    /// and `<base>/shared/` (the directory to share) with `hello.txt`,
    /// `sub/`, and symlinks that point outside: `link_out -> ../secret.txt`,
    /// `abs_link -> <base>/secret.txt`, `sub/deep_link -> ../../secret.txt`,
    /// `dirlink_out -> ..`, `link_new -> ../escaped-link.txt` (dangling).
    /// Returns (base, shared, secret path, secret string).
    pub fn escape_layout(tag: &str) -> (PathBuf, PathBuf, PathBuf, String) {
        let base = fresh_dir(tag);
        let secret = format!(
            "TOP-SECRET-{}-{}",
            std::process::id(),
            DIR_COUNTER.load(Ordering::Relaxed)
        );
        let secret_path = base.join("secret.txt");
        fs::write(&secret_path, format!("{secret}\n")).unwrap();
        let shared = base.join("shared");
        put(&shared, "hello.txt", HELLO.as_bytes(), 0o644);
        mkdir(&shared, "sub", 0o755);
        symlink("../secret.txt", shared.join("link_out")).unwrap();
        symlink(&secret_path, shared.join("abs_link")).unwrap();
        symlink("../../secret.txt", shared.join("sub/deep_link")).unwrap();
        symlink("..", shared.join("dirlink_out")).unwrap();
        symlink("../escaped-link.txt", shared.join("link_new")).unwrap();
        (base, shared, secret_path, secret)
    }

    /// One entry of a [`snapshot`].
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Entry {
        Dir { mode: u32 },
        File { mode: u32, data: Vec<u8> },
        Link { target: PathBuf },
    }

    /// Every entry below `dir` (relative path -> type, mode, content or link
    /// target), without following symlinks. Modification times are left out.
    pub fn snapshot(dir: &Path) -> BTreeMap<String, Entry> {
        fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Entry>) {
            let mut entries: Vec<_> = fs::read_dir(d)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let md = fs::symlink_metadata(&p).unwrap();
                let mode = md.permissions().mode() & 0o7777;
                if md.file_type().is_symlink() {
                    out.insert(
                        rel,
                        Entry::Link {
                            target: fs::read_link(&p).unwrap(),
                        },
                    );
                } else if md.is_dir() {
                    out.insert(rel, Entry::Dir { mode });
                    walk(root, &p, out);
                } else {
                    out.insert(
                        rel,
                        Entry::File {
                            mode,
                            data: fs::read(&p).unwrap(),
                        },
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// A readable difference between two snapshots (empty when equal).
    pub fn snapshot_diff(a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) -> String {
        let mut s = String::new();
        for (k, v) in a {
            match b.get(k) {
                None => {
                    let _ = writeln!(s, "  only in first: {k}");
                }
                Some(w) if w != v => {
                    let _ = writeln!(s, "  differs: {k}: {} vs {}", short(v), short(w));
                }
                _ => {}
            }
        }
        for k in b.keys() {
            if !a.contains_key(k) {
                let _ = writeln!(s, "  only in second: {k}");
            }
        }
        s
    }

    fn short(e: &Entry) -> String {
        match e {
            Entry::Dir { mode } => format!("dir {mode:o}"),
            Entry::Link { target } => format!("link -> {}", target.display()),
            Entry::File { mode, data } => format!(
                "file {mode:o} {} bytes {:?}",
                data.len(),
                String::from_utf8_lossy(&data[..data.len().min(40)])
            ),
        }
    }

    /// Replaces every occurrence of `from` by `to` in `hay`.
    pub fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        if from.is_empty() {
            return hay.to_vec();
        }
        let mut out = Vec::with_capacity(hay.len());
        let mut i = 0;
        while i < hay.len() {
            if hay[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(hay[i]);
                i += 1;
            }
        }
        out
    }

    /// True when `needle` occurs in `hay`.
    pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
    }

    /// `--mount HOST:GUEST[:MODE]` as one argument.
    pub fn mount_arg(host: &Path, guest: &str, mode: Option<&str>) -> String {
        match mode {
            Some(m) => format!("{}:{guest}:{m}", host.display()),
            None => format!("{}:{guest}", host.display()),
        }
    }

    /// Path of Debian's busybox-static (`/bin/busybox`); fails the test with
    /// a clear message when it is missing or not a static binary.
    pub fn busybox() -> PathBuf {
        let p = PathBuf::from("/bin/busybox");
        assert!(
            p.is_file(),
            "/bin/busybox is missing: install busybox-static (bash scripts/setup.sh does)"
        );
        let elf = fs::read(&p).unwrap();
        assert!(
            !elf_program_headers(&elf).iter().any(|&(t, _, _)| t == 3),
            "/bin/busybox has a PT_INTERP (dynamically linked): install busybox-static, not busybox"
        );
        p
    }
}

/// The qemu-runner binary (`$QEMU_RUNNER`, else target/release/qemu-runner,
/// built when missing).
pub fn qemu_runner() -> PathBuf {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("QEMU_RUNNER").filter(|p| !p.is_empty()) {
                return PathBuf::from(p);
            }
            let p = target_dir().join("release").join("qemu-runner");
            if !p.is_file() {
                loud("rvisor-tests: building qemu-runner (cargo build --release -p qemu-runner)");
                let status = Command::new(cargo())
                    .current_dir(root())
                    .args(["build", "--release", "-p", "qemu-runner"])
                    .status()
                    .expect("running cargo");
                assert!(status.success(), "building qemu-runner failed");
            }
            p
        })
        .clone()
}

/// True when every tool in `tools` is installed; otherwise fails under
/// CI=true (scripts/setup.sh installs them), else skips the test loudly.
pub fn require_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have_tool(t)).collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false);
    if ci {
        panic!("{missing:?} not installed and CI=true (scripts/setup.sh installs them)");
    }
    let name = std::thread::current().name().unwrap_or("?").to_string();
    loud(&format!(
        "\n*** SKIPPED: {missing:?} not installed; test {name} did not run ***\n"
    ));
    false
}
