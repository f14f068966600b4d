//! Test programs run natively and inside rvisor-vmm; their stdout, stderr
//! and exit status must match. Expected results come from the native run (or
//! from the program's definition), never from the sandbox.

use std::ffi::OsString;
use std::path::Path;

use rvisor_tests::*;

/// Runs `prog args` natively and in the sandbox and asserts they match.
fn same<S: AsRef<std::ffi::OsStr>>(
    prog: &Path,
    args: &[S],
    stdin: Option<&[u8]>,
    cmp: Compare,
) -> (RunOutput, RunOutput) {
    let native = run_native(prog, args, stdin);
    let sandbox = run_sandbox(prog, args, &[], stdin);
    assert_same(&native, &sandbox, cmp);
    (native, sandbox)
}

// --- hello ------------------------------------------------------------------

#[test]
fn c_hello() {
    let prog = c_program("hello");
    if !require_kvm() {
        return;
    }
    let (native, _) = same(&prog, NO_ARGS, None, Compare::All);
    assert!(
        native
            .stdout_str()
            .starts_with("Hello from rvisor test program!\n"),
        "{native:?}"
    );
    assert_eq!(native.code(), 0);
}

#[test]
fn rust_hello_matches_native() {
    let prog = rust_hello();
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_no_panic(&sandbox);
    let context = format!(
        "NATIVE:\n{}\nSANDBOX:\n{}",
        native.describe(),
        sandbox.describe()
    );
    // The order of environment entries is not specified: compare them as a set.
    assert_bytes_eq(
        "stdout (env lines sorted)",
        &sort_lines_with_prefix(&native.stdout, "env["),
        &sort_lines_with_prefix(&sandbox.stdout, "env["),
        &context,
    );
    assert_bytes_eq("stderr", &native.stderr, &sandbox.stderr, &context);
    assert_eq!(sandbox.code(), 0, "{context}");
    assert!(
        sandbox
            .stdout_str()
            .starts_with("Hello from Rust in rvisor!\n"),
        "{context}"
    );
    assert_eq!(
        sandbox.stderr_str(),
        "rust-hello: this line goes to stderr\n",
        "{context}"
    );
}

// --- exit codes ---------------------------------------------------------------

#[test]
fn c_exit_codes() {
    let prog = c_program("exit_code");
    if !require_kvm() {
        return;
    }
    for code in [0, 7, 42] {
        let arg = code.to_string();
        let (native, sandbox) = same(&prog, &[&arg], None, Compare::All);
        assert_eq!(
            native.code(),
            code,
            "native run did not exit with {code}: {native:?}"
        );
        assert_eq!(
            sandbox.code(),
            code,
            "sandbox run did not exit with {code}: {sandbox:?}"
        );
    }
}

#[test]
fn c_exit_codes_edge_cases() {
    let prog = c_program("exit_code");
    if !require_kvm() {
        return;
    }
    // 256 wraps to 0 and -1 to 255; 125-127 are also rvisor's own error
    // codes, but a program may use them too.
    for arg in ["1", "125", "126", "127", "128", "255", "256", "-1", "300"] {
        same(&prog, &[arg], None, Compare::All);
    }
}

#[test]
fn rust_exit_codes() {
    let prog = rust_hello();
    if !require_kvm() {
        return;
    }
    for code in [0, 7, 42] {
        let arg = code.to_string();
        let native = run_native(&prog, &[&arg], None);
        let sandbox = run_sandbox(&prog, &[&arg], &[], None);
        assert_no_panic(&sandbox);
        assert_eq!(
            native.code(),
            code,
            "native run did not exit with {code}: {native:?}"
        );
        assert_eq!(
            sandbox.code(),
            code,
            "sandbox run did not exit with {code}: {sandbox:?}"
        );
        assert_bytes_eq(
            "stdout (env lines sorted)",
            &sort_lines_with_prefix(&native.stdout, "env["),
            &sort_lines_with_prefix(&sandbox.stdout, "env["),
            &sandbox.describe(),
        );
    }
}

// --- argv -----------------------------------------------------------------------

fn tricky_args() -> Vec<OsString> {
    [
        "plain",
        "with space",
        "",
        "  leading and trailing  ",
        "",
        "tab\there",
        "new\nline",
        "ünïcødé ✓ 日本語 🦀",
        "quotes ' \" `",
        "$HOME ~ * ?",
        "--",
        "-v",
        "--elf",
        "--env",
        "A=B",
        "--stats",
    ]
    .iter()
    .map(OsString::from)
    .chain(std::iter::once(OsString::from("x".repeat(5000))))
    .collect()
}

#[test]
fn c_args() {
    let prog = c_program("args");
    if !require_kvm() {
        return;
    }
    let (native, _) = same(&prog, &tricky_args(), None, Compare::All);
    let argv0 = format!("argv[0]=[{}]\n", prog.display());
    assert!(native.stdout_str().contains(&argv0), "{native:?}");
    // No arguments at all.
    same(&prog, NO_ARGS, None, Compare::All);
}

#[test]
fn c_args_many() {
    let prog = c_program("args");
    if !require_kvm() {
        return;
    }
    let args: Vec<String> = (0..2000)
        .map(|i| format!("arg-{i}-{}", "y".repeat(i % 50)))
        .collect();
    same(&prog, &args, None, Compare::All);
}

#[test]
fn c_args_not_utf8() {
    let prog = c_program("args");
    if !require_kvm() {
        return;
    }
    let args = [os(b"\xff\xfe not utf-8"), os(b"latin1 caf\xe9")];
    same(&prog, &args, None, Compare::All);
}

#[test]
fn rust_args() {
    let prog = rust_hello();
    if !require_kvm() {
        return;
    }
    let mut args = vec![OsString::from("0")];
    args.extend(tricky_args());
    let native = run_native(&prog, &args, None);
    let sandbox = run_sandbox(&prog, &args, &[], None);
    assert_no_panic(&sandbox);
    assert_bytes_eq(
        "stdout (env lines sorted)",
        &sort_lines_with_prefix(&native.stdout, "env["),
        &sort_lines_with_prefix(&sandbox.stdout, "env["),
        &format!(
            "NATIVE:\n{}\nSANDBOX:\n{}",
            native.describe(),
            sandbox.describe()
        ),
    );
    assert_eq!(native.code(), sandbox.code());
}

// --- environment ----------------------------------------------------------------

/// Runs the env program with `--env` options in the sandbox and with the
/// same variables natively, and compares the listings as sets.
fn check_env(vars: &[(&str, &str)]) {
    let prog = c_program("env");
    let native = run_native_env(&prog, NO_ARGS, vars, None);
    let mut opts: Vec<String> = Vec::new();
    for (k, v) in vars {
        opts.push("--env".into());
        opts.push(format!("{k}={v}"));
    }
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let sandbox = run_sandbox(&prog, NO_ARGS, &opts, None);
    let context = format!(
        "NATIVE:\n{}\nSANDBOX:\n{}",
        native.describe(),
        sandbox.describe()
    );
    assert_no_panic(&sandbox);
    assert_eq!(sandbox.code(), 0, "{context}");
    assert!(sandbox.stderr.is_empty(), "unexpected stderr\n{context}");
    assert!(
        !sandbox.stdout_str().contains(HOST_CANARY.0),
        "the host environment of rvisor-vmm leaked into the guest\n{context}"
    );
    assert_eq!(
        sorted_lines(&native.stdout),
        sorted_lines(&sandbox.stdout),
        "environment differs (compared as sorted sets of lines)\n{context}"
    );
}

#[test]
fn env_default() {
    c_program("env");
    if !require_kvm() {
        return;
    }
    check_env(&[]);
}

#[test]
fn env_added_and_overridden() {
    c_program("env");
    if !require_kvm() {
        return;
    }
    check_env(&[
        ("FOO", "bar"),
        ("WITH_SPACES", "a b  c"),
        ("UNICODE", "héllo wörld ✓"),
        ("EQUALS", "a=b=c"),
        ("EMPTY", ""),
        ("HOME", "/tmp/home"),
        ("PATH", "/opt/bin:/bin"),
    ]);
}

#[test]
fn env_rust() {
    let prog = rust_hello();
    if !require_kvm() {
        return;
    }
    let vars = [("RUST_HELLO_VAR", "value 1"), ("HOME", "/root")];
    let native = run_native_env(&prog, NO_ARGS, &vars, None);
    let sandbox = run_sandbox(
        &prog,
        NO_ARGS,
        &["--env", "RUST_HELLO_VAR=value 1", "--env", "HOME=/root"],
        None,
    );
    assert_no_panic(&sandbox);
    assert_bytes_eq(
        "stdout (env lines sorted)",
        &sort_lines_with_prefix(&native.stdout, "env["),
        &sort_lines_with_prefix(&sandbox.stdout, "env["),
        &format!(
            "NATIVE:\n{}\nSANDBOX:\n{}",
            native.describe(),
            sandbox.describe()
        ),
    );
    assert_eq!(native.code(), sandbox.code());
}

// --- stdout / stderr separation --------------------------------------------------

#[test]
fn stderr_kept_apart() {
    let prog = c_program("stderr_split");
    if !require_kvm() {
        return;
    }
    let (native, sandbox) = same(&prog, NO_ARGS, None, Compare::All);
    assert_eq!(native.code(), 3, "stderr_split exits with 3 by definition");
    // Independently of the native run: each stream holds only its own lines,
    // in program order.
    let out = sandbox.stdout_str();
    let err = sandbox.stderr_str();
    assert!(
        out.lines().all(|l| l.starts_with("stdout ")),
        "stderr text on stdout:\n{out}"
    );
    assert!(
        err.lines().all(|l| l.starts_with("stderr ")),
        "stdout text on stderr:\n{err}"
    );
    let expect_out: String = (0..5)
        .map(|i| format!("stdout line {i}\nstdout raw {i}\n"))
        .collect::<String>()
        + "stdout last line (buffered until exit)\n";
    let expect_err: String = (0..5)
        .map(|i| format!("stderr line {i}\nstderr raw {i}\n"))
        .collect::<String>()
        + "stderr last line\n";
    assert_eq!(out, expect_out);
    assert_eq!(err, expect_err);
}

// --- stdin ------------------------------------------------------------------------

fn check_stdin(data: Option<&[u8]>) {
    let prog = c_program("stdin_echo");
    let (native, sandbox) = same(&prog, NO_ARGS, data, Compare::All);
    let data = data.unwrap_or(&[]);
    assert_eq!(native.stdout.len(), data.len());
    assert!(
        sandbox.stdout == data,
        "sandbox did not echo stdin byte for byte"
    );
    assert!(
        sandbox
            .stderr_str()
            .starts_with(&format!("stdin_echo: {} bytes", data.len())),
        "{sandbox:?}"
    );
}

#[test]
fn stdin_small() {
    c_program("stdin_echo");
    if !require_kvm() {
        return;
    }
    check_stdin(Some(b"hello, stdin\nsecond line without newline"));
}

#[test]
fn stdin_binary_over_64k() {
    c_program("stdin_echo");
    if !require_kvm() {
        return;
    }
    check_stdin(Some(&test_bytes(200 * 1024 + 17)));
}

#[test]
fn stdin_large() {
    c_program("stdin_echo");
    if !require_kvm() {
        return;
    }
    check_stdin(Some(&test_bytes(4 << 20)));
}

#[test]
fn stdin_empty_pipe() {
    c_program("stdin_echo");
    if !require_kvm() {
        return;
    }
    check_stdin(Some(b""));
}

#[test]
fn stdin_dev_null() {
    c_program("stdin_echo");
    if !require_kvm() {
        return;
    }
    check_stdin(None);
}

// --- memory and misc ----------------------------------------------------------------

#[test]
fn memory() {
    let prog = c_program("memory");
    if !require_kvm() {
        return;
    }
    let (native, _) = same(&prog, NO_ARGS, None, Compare::All);
    assert!(
        native.stdout_str().contains("failures=0\n"),
        "the memory program fails natively:\n{native:?}"
    );
}

#[test]
fn misc() {
    let prog = c_program("misc");
    if !require_kvm() {
        return;
    }
    let (native, sandbox) = same(&prog, NO_ARGS, Some(b"ping\n"), Compare::All);
    assert!(
        native.stdout_str().contains("failures=0\n"),
        "the misc program fails natively:\n{native:?}"
    );
    let out = sandbox.stdout_str();
    assert!(out.contains("uname.sysname=Linux\n"), "{out}");
    assert!(out.contains("uname.machine=x86_64\n"), "{out}");
}

// --- death by signal --------------------------------------------------------------------

#[test]
fn fault_signals() {
    let prog = c_program("fault");
    if !require_kvm() {
        return;
    }
    // Exit status 128+N for a program killed by signal N; forged
    // rt_sigreturn frames (none, zeros, a kernel-half pc) are SIGSEGV too.
    for (kind, signal) in [
        ("segv", 11),
        ("ill", 4),
        ("fpe", 8),
        ("sigreturn-unmapped", 11),
        ("sigreturn-zeros", 11),
        ("sigreturn-noncanonical", 11),
    ] {
        let native = run_native(&prog, &[kind], None);
        let sandbox = run_sandbox(&prog, &[kind], &[], None);
        let context = format!(
            "NATIVE:\n{}\nSANDBOX:\n{}",
            native.describe(),
            sandbox.describe()
        );
        assert_no_panic(&sandbox);
        assert_eq!(native.code(), 128 + signal, "native {kind}: {context}");
        assert_bytes_eq("stdout", &native.stdout, &sandbox.stdout, &context);
        assert_eq!(
            sandbox.code(),
            128 + signal,
            "sandbox {kind} should die from signal {signal}\n{context}"
        );
    }
}

// --- benchmark helper ---------------------------------------------------------------------

fn check_getppid_output(out: &RunOutput, n: u64) {
    assert_eq!(out.code(), 0, "{out:?}");
    let text = out.stdout_str();
    let kv = parse_kv(text.trim());
    assert!(text.starts_with("getppid_loop: "), "{out:?}");
    assert_eq!(
        kv.get("iterations").map(String::as_str),
        Some(n.to_string().as_str()),
        "{out:?}"
    );
    let ns: f64 = kv
        .get("ns_per_call")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no ns_per_call number: {out:?}"));
    assert!(ns.is_finite() && ns >= 0.0, "{out:?}");
}

#[test]
fn getppid_loop_runs() {
    let prog = c_program("getppid_loop");
    if !require_kvm() {
        return;
    }
    check_getppid_output(&run_native(&prog, &["20000"], None), 20000);
    let sandbox = run_sandbox(&prog, &["20000"], &[], None);
    assert_no_panic(&sandbox);
    check_getppid_output(&sandbox, 20000);
}
