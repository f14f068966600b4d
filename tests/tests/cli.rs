//! rvisor-vmm's own options: --stats, --memory, -v, argv[0], option parsing.

use rvisor_tests::*;

/// Splits stderr into (program part, stats line); asserts there is exactly
/// one stats line and that it is the last line.
fn split_stats(out: &RunOutput) -> (String, String) {
    let err = out.stderr_str();
    let stats: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("rvisor: stats:"))
        .collect();
    assert_eq!(
        stats.len(),
        1,
        "expected exactly one `rvisor: stats:` line on stderr\n{out:?}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("rvisor: stats:"),
        "the stats line should be the last line of stderr\n{out:?}"
    );
    let idx = err.rfind("rvisor: stats:").unwrap();
    (err[..idx].to_string(), last.to_string())
}

fn number(kv: &std::collections::HashMap<String, String>, key: &str, out: &RunOutput) -> f64 {
    let v = kv
        .get(key)
        .unwrap_or_else(|| panic!("stats line lacks `{key}=`\n{out:?}"));
    v.parse::<f64>()
        .unwrap_or_else(|_| panic!("`{key}={v}` is not a number\n{out:?}"))
}

#[test]
fn stats_line() {
    let prog = c_program("hello");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    let sandbox = run_sandbox(&prog, NO_ARGS, &["--stats"], None);
    assert_no_panic(&sandbox);
    assert_bytes_eq(
        "stdout",
        &native.stdout,
        &sandbox.stdout,
        &sandbox.describe(),
    );
    assert_eq!(native.code(), sandbox.code(), "{sandbox:?}");
    let (before, line) = split_stats(&sandbox);
    assert_eq!(
        before,
        native.stderr_str(),
        "--stats changed the program's stderr\n{sandbox:?}"
    );
    assert!(
        line.contains("vm_exits=") && line.contains("syscalls="),
        "{line}"
    );
    let kv = parse_kv(&line);
    for key in ["boot_ms", "run_ms"] {
        assert!(number(&kv, key, &sandbox) >= 0.0);
    }
    // hello makes at least a write and an exit_group.
    assert!(number(&kv, "syscalls", &sandbox) >= 2.0, "{line}");
    assert!(number(&kv, "vm_exits", &sandbox) >= 0.0, "{line}");
}

#[test]
fn stats_keeps_program_stderr_and_status() {
    let prog = c_program("stderr_split");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    let sandbox = run_sandbox(&prog, NO_ARGS, &["--stats"], None);
    assert_no_panic(&sandbox);
    assert_bytes_eq(
        "stdout",
        &native.stdout,
        &sandbox.stdout,
        &sandbox.describe(),
    );
    let (before, _) = split_stats(&sandbox);
    assert_eq!(before, native.stderr_str(), "{sandbox:?}");
    assert_eq!(sandbox.code(), 3, "{sandbox:?}");
}

#[test]
fn stats_counts_syscalls() {
    let prog = c_program("getppid_loop");
    if !require_kvm() {
        return;
    }
    let sandbox = run_sandbox(&prog, &["5000"], &["--stats"], None);
    assert_no_panic(&sandbox);
    assert_eq!(sandbox.code(), 0, "{sandbox:?}");
    let (_, line) = split_stats(&sandbox);
    let n = number(&parse_kv(&line), "syscalls", &sandbox);
    assert!(
        n >= 5000.0,
        "5000 getppid calls were made but syscalls={n}\n{line}"
    );
}

#[test]
fn no_stats_without_option() {
    let prog = c_program("hello");
    if !require_kvm() {
        return;
    }
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_no_panic(&sandbox);
    assert!(
        sandbox.stderr.is_empty(),
        "rvisor-vmm printed something on stderr without -v/--stats\n{sandbox:?}"
    );
}

#[test]
fn memory_option() {
    let prog = c_program("memory");
    let hello = c_program("hello");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    for size in ["512M", "1G"] {
        let sandbox = run_sandbox(&prog, NO_ARGS, &["--memory", size], None);
        assert_same(&native, &sandbox, Compare::All);
    }
    let native = run_native(&hello, NO_ARGS, None);
    let sandbox = run_sandbox(&hello, NO_ARGS, &["--memory", "64M"], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn verbose_keeps_stdout_clean() {
    let prog = c_program("hello");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    let sandbox = run_sandbox(&prog, NO_ARGS, &["-v"], None);
    assert_same(&native, &sandbox, Compare::StdoutAndStatus);
}

#[test]
fn argv0_is_the_path_as_given() {
    let prog = c_program("args");
    if !require_kvm() {
        return;
    }
    let dir = prog.parent().unwrap();
    let native = run_native_argv0(&prog, "./args", &["x"], None);
    let mut cmd = vmm_command();
    cmd.current_dir(dir).args(["--elf", "./args", "--", "x"]);
    let sandbox = run_command(&mut cmd, None);
    assert_same(&native, &sandbox, Compare::All);
    assert!(
        sandbox.stdout_str().contains("argv[0]=[./args]\n"),
        "{sandbox:?}"
    );
}

#[test]
fn args_without_separator() {
    let prog = c_program("args");
    if !require_kvm() {
        return;
    }
    // `rvisor-vmm --elf PATH a b` (no `--`) passes a and b to the program.
    let native = run_native(&prog, &["a", "b"], None);
    let sandbox = run_vmm(
        &[
            "--elf".as_ref(),
            prog.as_os_str(),
            "a".as_ref(),
            "b".as_ref(),
        ],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn help_mentions_elf() {
    let out = run_vmm(&["--help"], None);
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout_str().contains("--elf"), "{out:?}");
}

#[test]
fn bad_options_fail_cleanly() {
    let hello = c_program("hello");
    let hello = hello.to_str().unwrap();
    for args in [
        vec!["--memory", "lots", "--elf", hello],
        vec!["--memory", "0", "--elf", hello],
        vec!["--env", "NO_EQUALS_SIGN", "--elf", hello],
        vec!["--no-such-option", "--elf", hello],
        vec![],
    ] {
        let out = run_vmm(&args, None);
        assert_no_panic(&out);
        assert_ne!(out.code(), 0, "rvisor-vmm {args:?} should fail\n{out:?}");
        assert!(out.stdout.is_empty(), "errors go to stderr\n{out:?}");
        assert!(
            !out.stderr.is_empty(),
            "rvisor-vmm {args:?} failed without saying why\n{out:?}"
        );
    }
}

#[test]
fn timeout_stops_a_spinning_guest() {
    let prog = c_program("spin");
    if !require_kvm() {
        return;
    }
    let start = std::time::Instant::now();
    let out = run_sandbox(&prog, NO_ARGS, &["--timeout", "1"], None);
    let elapsed = start.elapsed();
    assert_no_panic(&out);
    assert_eq!(
        out.code(),
        124,
        "--timeout should end with status 124\n{out:?}"
    );
    assert_eq!(out.stdout_str(), "spinning\n", "{out:?}");
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "--timeout 1 took {elapsed:?}\n{out:?}"
    );
}
