//! qemu-runner: bare-metal boots of the `qemu-x86_64` board under QEMU TCG
//! (the sentry's `native` backend, PVH boot, UART console, isa-debug-exit).
//! Programs run natively and under qemu-runner; output and exit status must
//! match. Each boot takes well under a second, so the QEMU part of the suite
//! stays short.
//!
//! Needs `qemu-system-x86_64` (scripts/setup.sh installs it); without it the
//! tests print a loud SKIPPED, unless CI=true, where they fail.

use std::path::Path;
use std::process::Command;

use rvisor_tests::*;

const BOARD: &str = "qemu-x86_64";

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

fn same(prog: &Path, args: &[&str]) -> RunOutput {
    let native = run_native(prog, args, None);
    let qemu = run_qemu_runner(prog, args, &[]);
    assert_same(&native, &qemu, Compare::All);
    qemu
}

#[test]
fn hello_output_and_status_as_native() {
    let prog = c_program("hello");
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let out = same(&prog, NO_ARGS);
    assert!(out
        .stdout_str()
        .starts_with("Hello from rvisor test program!\n"));
}

#[test]
fn exit_statuses_and_argv_as_native() {
    let prog = c_program("exit_code");
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    for code in ["0", "3", "200", "255"] {
        let out = same(&prog, &[code]);
        assert_eq!(out.code(), code.parse::<i32>().unwrap());
    }
    same(&c_program("args"), &["one", "two words", "--flag", ""]);
}

#[test]
fn stderr_stays_separate_and_faults_are_128_plus_signal() {
    let prog = c_program("stderr_split");
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    same(&prog, NO_ARGS);
    let out = same(&c_program("fault"), NO_ARGS);
    assert_eq!(out.code(), 139, "{}", out.describe());
}

#[test]
fn files_pipes_memory_and_misc_abi_as_native() {
    let programs: Vec<_> = [
        "fs_pipe", "memory", "misc", "signals", "events", "threads", "preempt",
    ]
    .iter()
    .map(|name| c_program(name))
    .collect();
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    for prog in &programs {
        let native = run_native(prog, NO_ARGS, None);
        let qemu = run_qemu_runner(prog, NO_ARGS, &[]);
        assert_same(&native, &qemu, Compare::StdoutAndStatus);
    }
}

#[test]
fn image_out_writes_a_bootable_image() {
    let prog = c_program("exit_code");
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let dir = programs_dir().join("qemu-runner-images");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join(format!("exit_code-{}.elf", std::process::id()));
    let out = run_qemu_runner(&prog, &["21"], &["--image-out", image.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.stderr_str().contains("-kernel"), "{}", out.describe());
    let bytes = std::fs::read(&image).unwrap();
    assert!(bytes.len() > 4096 && bytes.starts_with(b"\x7fELF"));
    // Boot it by hand as --help says: QEMU exits with (status << 1) | 1.
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine",
        "microvm,rtc=on",
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
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-serial",
        "stdio",
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
    assert_eq!((boot.code() - 1) / 2, 21, "{}", boot.describe());
}

#[test]
fn timeout_and_missing_qemu_are_clear_errors() {
    let prog = c_program("spin");
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let mut cmd = Command::new(qemu_runner());
    cmd.args(["--board", BOARD, "--timeout", "1", "--elf"])
        .arg(&prog);
    let out = run_command(&mut cmd, None);
    assert_eq!(out.code(), 124, "{}", out.describe());
    assert!(out.stderr_str().contains("timed out"), "{}", out.describe());

    let mut cmd = Command::new(qemu_runner());
    cmd.env("PATH", "/nonexistent")
        .args(["--board", BOARD, "--elf"])
        .arg(c_program("hello"));
    let out = run_command(&mut cmd, None);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert!(
        out.stderr_str()
            .contains("qemu-system-x86_64 not found in PATH"),
        "{}",
        out.describe()
    );
}

/// Processes on the bare-metal `native` backend (CR3 switches on a real
/// MMU, under TCG).
#[test]
fn processes_as_native() {
    let prog = c_program("processes");
    if !require_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let native_dir = rvisor_tests::abi::fresh_dir("processes_qemu_ref");
    let native = run_native(&prog, &[native_dir.join("w").to_str().unwrap()], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    let qemu = run_qemu_runner(&prog, &["/tmp/w"], &[]);
    assert_same(&native, &qemu, Compare::StdoutAndStatus);
}
