//! qemu-runner: bare-metal boots of the `qemu-aarch64-virt` board under
//! QEMU TCG (the sentry at EL1, Linux arm64 Image boot, PL011 stdout,
//! semihosting stderr and exit status). The test programs are built with
//! `aarch64-linux-gnu-gcc -static` (glibc; Rust: `aarch64-unknown-linux-musl`)
//! and run "natively" under
//! `qemu-aarch64` user mode (real Linux semantics: QEMU passes their
//! syscalls to the host kernel) and under qemu-runner; output and exit
//! status must match (stdin is at end-of-file in both). Each boot takes
//! ~0.1 s.
//!
//! Needs `qemu-system-aarch64`, `qemu-aarch64` and `aarch64-linux-gnu-gcc`
//! (scripts/setup.sh installs them); without them the tests print a loud
//! SKIPPED, unless CI=true, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use rvisor_tests::*;

const BOARD: &str = "qemu-aarch64-virt";
const CROSS_CC: &str = "aarch64-linux-gnu-gcc";

/// `tests/programs/<name>.c` built for aarch64 (glibc, static) into
/// `<target>/test-programs/aarch64/<name>`.
fn arm_program(name: &str) -> PathBuf {
    let src = sources_dir().join(format!("{name}.c"));
    let dir = programs_dir().join("aarch64");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    compile_c(&[&src], &out, CROSS_CC, &["-static", "-O2", "-Wall"]);
    out
}

/// `tests/programs/rust-hello` built for `aarch64-unknown-linux-musl`
/// (linked by the cross gcc) into `<target>/test-programs/rust-hello-aarch64`.
fn arm_rust_hello() -> PathBuf {
    let manifest = sources_dir().join("rust-hello").join("Cargo.toml");
    let tdir = programs_dir().join("rust-hello-aarch64");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .args(["build", "--release", "--quiet", "--target"])
        .arg("aarch64-unknown-linux-musl")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&tdir)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", CROSS_CC)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo");
    assert!(status.success(), "building rust-hello for aarch64 failed");
    tdir.join("aarch64-unknown-linux-musl")
        .join("release")
        .join("rust-hello")
}

/// Runs the aarch64 program under `qemu-aarch64` user mode in the
/// sandbox's default environment.
fn run_native_arm(prog: &Path, args: &[&str]) -> RunOutput {
    let mut cmd = Command::new("qemu-aarch64");
    cmd.env_clear();
    for (k, v) in DEFAULT_ENV {
        cmd.env(k, v);
    }
    cmd.arg(prog).args(args);
    run_command(&mut cmd, None)
}

fn run_qemu_runner(prog: &Path, args: &[&str], extra: &[&str]) -> RunOutput {
    let mut cmd = Command::new(qemu_runner());
    cmd.args(["--board", BOARD, "--timeout", "60"])
        .args(extra)
        .arg("--elf")
        .arg(prog)
        .arg("--")
        .args(args);
    run_command(&mut cmd, None)
}

fn same_as(prog: &Path, args: &[&str], cmp: Compare) -> RunOutput {
    let native = run_native_arm(prog, args);
    let qemu = run_qemu_runner(prog, args, &[]);
    assert_same(&native, &qemu, cmp);
    qemu
}

fn same(prog: &Path, args: &[&str]) -> RunOutput {
    same_as(prog, args, Compare::All)
}

#[test]
fn hello_output_and_status_as_native() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    let out = same(&arm_program("hello"), NO_ARGS);
    assert!(out
        .stdout_str()
        .starts_with("Hello from rvisor test program!\n"));
}

#[test]
fn rust_musl_program_as_native() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    let prog = arm_rust_hello();
    let args = ["7", "two words"];
    let native = run_native_arm(&prog, &args);
    let qemu = run_qemu_runner(&prog, &args, &[]);
    assert_eq!(qemu.code(), 7, "{}", qemu.describe());
    assert_eq!(native.code(), qemu.code(), "{}", qemu.describe());
    // Environment order is not specified: compare the env lines sorted.
    assert_eq!(
        sort_lines_with_prefix(&native.stdout, "env["),
        sort_lines_with_prefix(&qemu.stdout, "env["),
        "{}",
        qemu.describe()
    );
    assert_eq!(native.stderr, qemu.stderr, "{}", qemu.describe());
}

#[test]
fn exit_statuses_and_argv_as_native() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    let prog = arm_program("exit_code");
    for code in ["0", "42", "255"] {
        let out = same(&prog, &[code]);
        assert_eq!(out.code(), code.parse::<i32>().unwrap());
    }
    same(&arm_program("args"), &["one", "two words", "--flag", ""]);
}

#[test]
fn stderr_stays_separate_and_faults_are_128_plus_signal() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    same(&arm_program("stderr_split"), NO_ARGS);
    // (qemu-aarch64 itself reports the signal on stderr: not compared.)
    let out = same_as(&arm_program("fault"), &["segv"], Compare::StdoutAndStatus);
    assert_eq!(out.code(), 139, "{}", out.describe());
}

#[test]
fn files_pipes_memory_and_misc_abi_as_native() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    for name in ["fs_pipe", "memory", "misc", "signals", "events"] {
        same_as(&arm_program(name), NO_ARGS, Compare::StdoutAndStatus);
    }
    // Death by a signal the program sends itself (glibc's abort).
    let out = same_as(
        &arm_program("signals"),
        &["abort"],
        Compare::StdoutAndStatus,
    );
    assert_eq!(out.code(), 134, "{}", out.describe());
}

#[test]
fn nanosleep_sleeps_on_the_timer_interrupt() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    // The sentry arms the generic timer and waits in wfi (GICv3 PPI 27).
    let started = std::time::Instant::now();
    let out = run_qemu_runner(&arm_program("sleep_ms"), &["300"], &[]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(out.stdout_str(), "slept 300 ms: ok\n");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn image_out_writes_a_bootable_arm64_image() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    let prog = arm_program("exit_code");
    let dir = programs_dir().join("qemu-runner-images");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join(format!("exit_code-{}.Image", std::process::id()));
    let out = run_qemu_runner(&prog, &["21"], &["--image-out", image.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.stderr_str().contains("-kernel"), "{}", out.describe());
    let bytes = std::fs::read(&image).unwrap();
    assert!(bytes.len() > 4096 && &bytes[56..60] == b"ARM\x64");
    // Boot it by hand as --help says: QEMU exits with the status.
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args([
        "-machine",
        "virt,gic-version=3",
        "-cpu",
        "max",
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-m",
        "256M",
        "-serial",
        "stdio",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
    ])
    .arg(&image);
    let boot = run_command(&mut cmd, None);
    let _ = std::fs::remove_file(&image);
    assert_eq!(
        boot.stdout_str(),
        "exiting with 21\n",
        "{}",
        boot.describe()
    );
    assert_eq!(boot.code(), 21, "{}", boot.describe());
}

#[test]
fn wrong_architecture_is_126() {
    if !require_tools(&["qemu-system-aarch64", "qemu-aarch64", CROSS_CC]) {
        return;
    }
    let out = run_qemu_runner(&c_program("hello"), NO_ARGS, &[]);
    assert_eq!(out.code(), 126, "{}", out.describe());
    assert!(
        out.stderr_str()
            .contains("this board runs aarch64 programs"),
        "{}",
        out.describe()
    );
}

/// fork, vfork, exec, wait, pipes and signals between processes, and
/// threads, bare metal. qemu-aarch64 (user mode) cannot exec /proc/self/exe, so the
/// reference is the same program run natively on this x86_64 host: it
/// prints only architecture-neutral facts.
#[test]
fn processes_as_on_linux() {
    if !require_tools(&["qemu-system-aarch64", CROSS_CC]) {
        return;
    }
    let host_build = c_program("processes");
    let native_dir = rvisor_tests::abi::fresh_dir("processes_arm_ref");
    let native = run_native(&host_build, &[native_dir.join("w").to_str().unwrap()], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    let qemu = run_qemu_runner(&arm_program("processes"), &["/tmp/w"], &[]);
    assert_same(&native, &qemu, Compare::StdoutAndStatus);
    // Threads too (qemu-aarch64 hangs on this program's barrier), and
    // preemption by the generic-timer tick.
    for name in ["threads", "preempt"] {
        let native = run_native(&c_program(name), NO_ARGS, None);
        let qemu = run_qemu_runner(&arm_program(name), NO_ARGS, &[]);
        assert_same(&native, &qemu, Compare::StdoutAndStatus);
    }
}
