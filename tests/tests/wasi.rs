//! `rvisor-vmm --wasm`: WASI preview 1 command modules (tests/wasi-programs,
//! built for wasm32-wasip1) run in the sandbox and compared with the same
//! Rust sources built for x86_64-unknown-linux-musl and run natively; traps
//! and malformed modules (tiny modules encoded here) get one clear line
//! and the documented statuses (docs/wasi.md).

use std::fs;
use std::path::Path;

use rvisor_tests::*;

/// A trap: 128 + SIGABRT, as wasmtime's CLI.
const TRAP_STATUS: i32 = 134;
/// A module that cannot be run (malformed, invalid, unknown import).
const INVALID_STATUS: i32 = 126;

#[track_caller]
fn assert_same_run(native: &RunOutput, sandbox: &RunOutput) {
    assert_no_panic(sandbox);
    assert_eq!(
        native.code(),
        sandbox.code(),
        "exit status differs\n--- native ---\n{}\n--- sandbox ---\n{}",
        native.describe(),
        sandbox.describe()
    );
    assert_bytes_eq(
        "stdout",
        &native.stdout,
        &sandbox.stdout,
        &sandbox.describe(),
    );
}

/// Runs program `name` natively and in the sandbox with the same arguments.
fn compare(name: &str, args: &[&str]) -> (RunOutput, RunOutput) {
    let native = run_native(&wasi_program_native(name), args, None);
    let sandbox = run_wasm(&wasi_program(name), args, &[], None);
    assert_same_run(&native, &sandbox);
    (native, sandbox)
}

#[test]
fn hello() {
    if !require_kvm() {
        return;
    }
    let (native, sandbox) = compare("hello", NO_ARGS);
    assert_eq!(native.stdout_str(), "Hello from WebAssembly!\n");
    assert_bytes_eq(
        "stderr",
        &native.stderr,
        &sandbox.stderr,
        &sandbox.describe(),
    );
}

#[test]
fn args_and_environment() {
    if !require_kvm() {
        return;
    }
    let args = ["one", "two words", "", "ünïcödé", "--flag"];
    // A module's environment is exactly what --env gives (as wasmtime's).
    let mut native = std::process::Command::new(wasi_program_native("args_env"));
    native
        .env_clear()
        .env("FOO", "bar baz")
        .env("EMPTY", "")
        .args(args);
    let native = run_command(&mut native, None);
    let module = wasi_program("args_env");
    let mut vmm_args = vec![
        "--env".to_string(),
        "FOO=bar baz".into(),
        "--env".into(),
        "EMPTY=".into(),
        "--wasm".into(),
        module.display().to_string(),
        "--".into(),
    ];
    vmm_args.extend(args.iter().map(|a| a.to_string()));
    let sandbox = run_vmm(&vmm_args, None);
    assert_same_run(&native, &sandbox);
    let out = sandbox.stdout_str();
    assert!(
        out.contains("env FOO=\"bar baz\""),
        "{}",
        sandbox.describe()
    );
    assert!(!out.contains(HOST_CANARY.0), "{}", sandbox.describe());
}

#[test]
fn stdin_is_forwarded() {
    if !require_kvm() {
        return;
    }
    let input: String = (0..2000)
        .map(|i| format!("line {i} of the input\n"))
        .collect();
    let native = run_native(
        &wasi_program_native("stdin_count"),
        NO_ARGS,
        Some(input.as_bytes()),
    );
    let sandbox = run_wasm(
        &wasi_program("stdin_count"),
        NO_ARGS,
        &[],
        Some(input.as_bytes()),
    );
    assert_same_run(&native, &sandbox);
    assert!(native.stdout_str().starts_with("bytes="));
}

#[test]
fn preview2_components() {
    if !require_kvm() {
        return;
    }
    // The same sources built for wasm32-wasip2: components, run with
    // wasmtime-wasi's preview 2.
    for (name, args) in [
        ("hello", vec![]),
        ("args_env", vec!["x", "y z"]),
        ("clock", vec![]),
        ("random", vec![]),
        ("cpu", vec!["1"]),
    ] {
        let mut native = std::process::Command::new(wasi_program_native(name));
        native.env_clear().args(&args);
        let native = run_command(&mut native, None);
        let sandbox = run_wasm(&wasi_component(name), &args, &[], None);
        assert_same_run(&native, &sandbox);
    }
    let dir = abi::fresh_dir("wasi-p2-dirs");
    let (native_dir, sandbox_dir) = (dir.join("n"), dir.join("s"));
    fs::create_dir_all(&native_dir).unwrap();
    fs::create_dir_all(&sandbox_dir).unwrap();
    let native = run_native(&wasi_program_native("dirs"), &[&native_dir], None);
    let sandbox = run_wasm(
        &wasi_component("dirs"),
        &["/work"],
        &[
            "--mount",
            &abi::mount_arg(&sandbox_dir, "/work", Some("rw")),
        ],
        None,
    );
    assert_same_run(&native, &sandbox);
    let diff = abi::snapshot_diff(&abi::snapshot(&native_dir), &abi::snapshot(&sandbox_dir));
    assert!(diff.is_empty(), "{diff}");
    // wasi:cli/exit carries only success or failure: exit(9) is status 1
    // (as under wasmtime without -Scli-exit-with-code); a trap is a trap.
    let out = run_wasm(&wasi_component("exit_code"), &["9"], &[], None);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_eq!(out.stdout_str(), "exiting with 9\n");
    let out = run_wasm(&wasi_component("traps"), &["abort"], &[], None);
    assert_eq!(out.code(), TRAP_STATUS, "{}", out.describe());
    assert!(
        out.stderr_str().contains("wasm trap: unreachable"),
        "{}",
        out.describe()
    );
    // Compiled components are cached as modules are.
    let cache = abi::fresh_dir("wasi-p2-cache");
    let cache_arg = cache.display().to_string();
    for _ in 0..2 {
        let out = run_wasm(
            &wasi_component("hello"),
            NO_ARGS,
            &["--wasm-cache", &cache_arg],
            None,
        );
        assert_eq!(
            out.stdout_str(),
            "Hello from WebAssembly!\n",
            "{}",
            out.describe()
        );
    }
}

#[test]
fn exit_codes() {
    if !require_kvm() {
        return;
    }
    for code in ["0", "1", "3", "42", "125"] {
        let (_, sandbox) = compare("exit_code", &[code]);
        assert_eq!(sandbox.code(), code.parse::<i32>().unwrap());
    }
}

#[test]
fn files_in_read_only_and_read_write_mounts() {
    if !require_kvm() {
        return;
    }
    let base = abi::fresh_dir("wasi-files");
    // Natively (as root) the read-only directory is writable: each run
    // gets its own copy.
    let (ro_native, ro) = (base.join("ro-n"), base.join("ro-s"));
    let (rw_native, rw_sandbox) = (base.join("rw-n"), base.join("rw-s"));
    let input: String = (0..40).map(|i| format!("input line {i}\n")).collect();
    for dir in [&ro_native, &ro, &rw_native, &rw_sandbox] {
        fs::create_dir_all(dir).unwrap();
    }
    for dir in [&ro_native, &ro] {
        fs::write(dir.join("input.txt"), &input).unwrap();
    }
    let native = run_native(
        &wasi_program_native("files"),
        &[ro_native.as_os_str(), rw_native.as_os_str()],
        None,
    );
    let sandbox = run_wasm(
        &wasi_program("files"),
        &["/data/ro", "/data/rw"],
        &[
            "--mount",
            &abi::mount_arg(&ro, "/data/ro", Some("ro")),
            "--mount",
            &abi::mount_arg(&rw_sandbox, "/data/rw", Some("rw")),
        ],
        None,
    );
    assert_same_run(&native, &sandbox);
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
    assert!(
        sandbox
            .stderr_str()
            .contains("write into read-only dir fails: true"),
        "{}",
        sandbox.describe()
    );
    // What the module wrote through the :rw mount is on the host, as the
    // native run wrote it.
    for name in ["out.txt", "result.txt"] {
        assert_bytes_eq(
            name,
            &fs::read(rw_native.join(name)).unwrap(),
            &fs::read(rw_sandbox.join(name)).unwrap(),
            &sandbox.describe(),
        );
    }
    assert!(!ro.join("new.txt").exists());
}

#[test]
fn directories_rename_unlink_mkdir() {
    if !require_kvm() {
        return;
    }
    let base = abi::fresh_dir("wasi-dirs");
    let (native_dir, sandbox_dir) = (base.join("n"), base.join("s"));
    fs::create_dir_all(&native_dir).unwrap();
    fs::create_dir_all(&sandbox_dir).unwrap();
    let native = run_native(
        &wasi_program_native("dirs"),
        &[native_dir.as_os_str()],
        None,
    );
    let sandbox = run_wasm(
        &wasi_program("dirs"),
        &["/work"],
        &[
            "--mount",
            &abi::mount_arg(&sandbox_dir, "/work", Some("rw")),
        ],
        None,
    );
    assert_same_run(&native, &sandbox);
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
    let diff = abi::snapshot_diff(&abi::snapshot(&native_dir), &abi::snapshot(&sandbox_dir));
    assert!(
        diff.is_empty(),
        "the trees differ:\n{diff}\n{}",
        sandbox.describe()
    );
}

#[test]
fn clocks_and_sleep() {
    if !require_kvm() {
        return;
    }
    let (native, _) = compare("clock", NO_ARGS);
    assert!(
        !native.stdout_str().contains("false"),
        "{}",
        native.describe()
    );
}

#[test]
fn random_bytes() {
    if !require_kvm() {
        return;
    }
    let (native, _) = compare("random", NO_ARGS);
    assert!(
        !native.stdout_str().contains("false"),
        "{}",
        native.describe()
    );
}

#[test]
fn cpu_bound_loop() {
    if !require_kvm() {
        return;
    }
    let (native, _) = compare("cpu", &["3"]);
    assert!(native.stdout_str().starts_with("rounds=3 result="));
}

/// One line on stderr, naming what happened, and `status`.
#[track_caller]
fn assert_one_line(out: &RunOutput, status: i32, needle: &str) {
    assert_no_panic(out);
    assert_eq!(out.code(), status, "{}", out.describe());
    let err = out.stderr_str();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line\n{}", out.describe());
    assert!(
        lines[0].starts_with("rvisor-vmm: ") && lines[0].contains(needle),
        "expected a line naming {needle:?}\n{}",
        out.describe()
    );
}

#[test]
fn rust_traps_match_native_aborts() {
    if !require_kvm() {
        return;
    }
    // Native: SIGABRT (abort, and panic=abort); in the sandbox: a wasm
    // trap, 134 as well.
    for kind in ["abort", "panic"] {
        let native = run_native(&wasi_program_native("traps"), &[kind], None);
        let sandbox = run_wasm(&wasi_program("traps"), &[kind], &[], None);
        // (The module's own panic message says "panicked".)
        assert_eq!(native.code(), sandbox.code(), "{}", sandbox.describe());
        assert_bytes_eq(
            "stdout",
            &native.stdout,
            &sandbox.stdout,
            &sandbox.describe(),
        );
        assert_eq!(sandbox.code(), TRAP_STATUS, "{}", sandbox.describe());
        assert!(
            sandbox
                .stderr_str()
                .lines()
                .last()
                .unwrap_or("")
                .contains("wasm trap"),
            "{}",
            sandbox.describe()
        );
    }
    // Natively SIGSEGV; in the sandbox, a trap. (Rust's wasm32 stack lives
    // in linear memory: running off its end is an out-of-bounds access.)
    for kind in ["out-of-bounds", "stack-overflow"] {
        let sandbox = run_wasm(&wasi_program("traps"), &[kind], &[], None);
        assert_one_line(&sandbox, TRAP_STATUS, "out-of-bounds memory access");
        assert_eq!(sandbox.stdout_str(), format!("about to {kind}\n"));
    }
}

// ---------------------------------------------------------------------------
// Hand-encoded modules

fn leb(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(contents.len() as u32, out);
    out.extend_from_slice(contents);
}

/// A module exporting `_start: () -> ()` with `body` (instructions, without
/// the final `end`), one page of memory, and optionally one imported
/// function `module.name: () -> ()` (function index 0).
fn module(body: &[u8], import: Option<(&str, &str)>) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut m);
    if let Some((module, name)) = import {
        let mut s = vec![1];
        for part in [module, name] {
            leb(part.len() as u32, &mut s);
            s.extend_from_slice(part.as_bytes());
        }
        s.extend_from_slice(&[0x00, 0x00]);
        section(2, &s, &mut m);
    }
    section(3, &[1, 0], &mut m);
    section(5, &[1, 0x00, 1], &mut m);
    let start_index = import.is_some() as u8;
    let mut exports = vec![2];
    exports.extend_from_slice(&[6]);
    exports.extend_from_slice(b"_start");
    exports.extend_from_slice(&[0x00, start_index]);
    exports.extend_from_slice(&[6]);
    exports.extend_from_slice(b"memory");
    exports.extend_from_slice(&[0x02, 0]);
    section(7, &exports, &mut m);
    let mut func = vec![0];
    func.extend_from_slice(body);
    func.push(0x0b);
    let mut code = vec![1];
    leb(func.len() as u32, &mut code);
    code.extend_from_slice(&func);
    section(10, &code, &mut m);
    m
}

fn write_module(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn each_trap_kind() {
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("wasi-traps");
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("unreachable", module(&[0x00], None), "unreachable"),
        (
            "div-zero",
            // i32.const 1; i32.const 0; i32.div_s; drop
            module(&[0x41, 1, 0x41, 0, 0x6d, 0x1a], None),
            "divide by zero",
        ),
        (
            "oob",
            // i32.const -16; i32.load; drop
            module(&[0x41, 0x70, 0x28, 2, 0, 0x1a], None),
            "out-of-bounds",
        ),
        (
            "stack-overflow",
            // call 0 (itself, forever)
            module(&[0x10, 0], None),
            "stack overflow",
        ),
        (
            "missing-import",
            module(&[0x10, 0], Some(("env", "not_provided"))),
            "not_provided",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = write_module(&dir, &format!("{name}.wasm"), &bytes);
        let out = run_wasm(&path, NO_ARGS, &[], None);
        let status = if name == "missing-import" {
            INVALID_STATUS
        } else {
            TRAP_STATUS
        };
        assert_one_line(&out, status, needle);
    }
    // A module that returns from _start exits 0.
    let path = write_module(&dir, "nop.wasm", &module(&[], None));
    let out = run_wasm(&path, NO_ARGS, &[], None);
    assert_eq!(out.code(), 0, "{}", out.describe());
}

#[test]
fn malformed_modules() {
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("wasi-malformed");
    // Not WebAssembly at all: the VMM refuses it before booting.
    let text = write_module(&dir, "text.wasm", b"hello, I am not a module\n");
    let line = assert_vmm_error(&run_wasm(&text, NO_ARGS, &[], None), 126);
    assert!(line.contains("not a WebAssembly module"), "{line}");
    let empty = write_module(&dir, "empty.wasm", b"");
    assert_vmm_error(&run_wasm(&empty, NO_ARGS, &[], None), 126);
    let missing = dir.join("missing.wasm");
    assert_vmm_error(&run_wasm(&missing, NO_ARGS, &[], None), 127);
    assert_vmm_error(&run_wasm(&dir, NO_ARGS, &[], None), 126);
    // `/` is a preopen name for modules only; the cache options need --wasm.
    let dir_arg = format!("{}:/", dir.display());
    let line = assert_vmm_error(
        &run_sandbox(
            &wasi_program_native("hello"),
            NO_ARGS,
            &["--mount", &dir_arg],
            None,
        ),
        125,
    );
    assert!(line.contains("sandbox root"), "{line}");
    assert_vmm_error(
        &run_sandbox(
            &wasi_program_native("hello"),
            NO_ARGS,
            &["--no-wasm-cache"],
            None,
        ),
        125,
    );
    // An ELF given to --wasm, and a module given to --elf: hints.
    let line = assert_vmm_error(
        &run_wasm(&wasi_program_native("hello"), NO_ARGS, &[], None),
        126,
    );
    assert!(line.contains("--elf"), "{line}");
    let line = assert_vmm_error(
        &run_sandbox(&wasi_program("hello"), NO_ARGS, &[], None),
        126,
    );
    assert!(line.contains("--wasm"), "{line}");

    // Past the magic number the engine decides, inside the sandbox.
    let good = fs::read(wasi_program("hello")).unwrap();
    let truncated = write_module(&dir, "truncated.wasm", &good[..good.len() / 2]);
    let only_magic = write_module(&dir, "magic.wasm", b"\0asm");
    let bad_version = write_module(&dir, "version.wasm", b"\0asm\x02\0\0\0");
    // _start: () -> () leaving an i32 on the stack: fails validation.
    let invalid = write_module(&dir, "invalid.wasm", &module(&[0x41, 1], None));
    let garbage = {
        let mut bytes = good.clone();
        for b in bytes.iter_mut().skip(100).step_by(7) {
            *b ^= 0xa5;
        }
        write_module(&dir, "garbage.wasm", &bytes)
    };
    for path in [truncated, only_magic, bad_version, invalid, garbage] {
        let out = run_wasm(&path, NO_ARGS, &[], None);
        assert_one_line(&out, INVALID_STATUS, "invalid WebAssembly module");
        assert!(out.stdout.is_empty(), "{}", out.describe());
    }
}

#[test]
fn options_work_for_modules() {
    if !require_kvm() {
        return;
    }
    // --stats adds its line; --memory and --timeout are accepted.
    let out = run_wasm(
        &wasi_program("hello"),
        NO_ARGS,
        &["--stats", "--memory", "512M", "--timeout", "60"],
        None,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(out.stdout_str(), "Hello from WebAssembly!\n");
    assert!(
        out.stderr_str().contains("rvisor: stats:"),
        "{}",
        out.describe()
    );
    // --timeout stops a module that runs too long.
    let out = run_wasm(&wasi_program("cpu"), &["100000"], &["--timeout", "2"], None);
    assert_eq!(out.code(), 124, "{}", out.describe());
}

#[test]
fn compiled_code_cache() {
    if !require_kvm() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let cache = abi::fresh_dir("wasi-cache");
    let cache_arg = cache.display().to_string();
    let hello = wasi_program("hello");
    let run = |opts: &[&str]| {
        let out = run_wasm(&hello, NO_ARGS, opts, None);
        assert_eq!(out.code(), 0, "{}", out.describe());
        assert_eq!(out.stdout_str(), "Hello from WebAssembly!\n");
        out
    };
    run(&["--wasm-cache", &cache_arg]);
    let key = cache.join("key");
    assert_eq!(fs::metadata(&key).unwrap().len(), 32);
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let entries: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let good = fs::read(entry).unwrap();
    // A hit leaves the entry alone.
    run(&["--wasm-cache", &cache_arg]);
    assert_eq!(fs::read(entry).unwrap(), good);
    // A tampered entry (one byte of code flipped) does not authenticate:
    // it is not loaded, and the compile step replaces it.
    let mut bad = good.clone();
    let last = bad.len() - 100;
    bad[last] ^= 0x40;
    fs::write(entry, &bad).unwrap();
    run(&["--wasm-cache", &cache_arg]);
    assert_eq!(fs::read(entry).unwrap(), good);
    // An entry signed with another key is refused the same way.
    fs::write(&key, [7u8; 32]).unwrap();
    run(&["--wasm-cache", &cache_arg]);
    assert_ne!(fs::read(entry).unwrap(), good);
    // A key that others may read is refused (an explicit cache must work).
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_wasm(&hello, NO_ARGS, &["--wasm-cache", &cache_arg], None);
    let line = assert_vmm_error(&out, 125);
    assert!(line.contains("mode 0600"), "{line}");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    // No cache at all.
    run(&["--no-wasm-cache"]);
    // Malformed modules fail the compile step with the same line.
    let bad_module = abi::fresh_dir("wasi-cache-bad").join("bad.wasm");
    fs::write(&bad_module, b"\0asm\x01\0\0\0\x01\x05garbage").unwrap();
    for opts in [vec!["--wasm-cache", &cache_arg], vec!["--no-wasm-cache"]] {
        let out = run_wasm(&bad_module, NO_ARGS, &opts, None);
        assert_one_line(&out, INVALID_STATUS, "invalid WebAssembly module");
    }
}

// ---------------------------------------------------------------------------
// The official WASI test suite (preview 1), as scripts/wasi-testsuite.sh runs
// it with the suite's own Python runner; here without Python: each test's
// JSON (args, env, root, exit_code, stdout) read by a small parser.

#[derive(Debug)]
enum Json {
    Str(String),
    Num(i64),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
    Other,
}

fn parse_json(text: &str) -> Json {
    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn string(b: &[u8], i: &mut usize) -> String {
        *i += 1;
        let mut out = Vec::new();
        while b[*i] != b'"' {
            if b[*i] == b'\\' {
                *i += 1;
                match b[*i] {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'u' => {
                        let hex = std::str::from_utf8(&b[*i + 1..*i + 5]).unwrap();
                        let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
                        out.extend_from_slice(c.to_string().as_bytes());
                        *i += 4;
                    }
                    c => out.push(c),
                }
            } else {
                out.push(b[*i]);
            }
            *i += 1;
        }
        *i += 1;
        String::from_utf8(out).unwrap()
    }
    fn value(b: &[u8], i: &mut usize) -> Json {
        ws(b, i);
        match b[*i] {
            b'"' => Json::Str(string(b, i)),
            b'[' => {
                *i += 1;
                let mut items = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b']' {
                        *i += 1;
                        return Json::Arr(items);
                    }
                    items.push(value(b, i));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'{' => {
                *i += 1;
                let mut items = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b'}' {
                        *i += 1;
                        return Json::Obj(items);
                    }
                    let key = string(b, i);
                    ws(b, i);
                    *i += 1; // ':'
                    items.push((key, value(b, i)));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = *i;
                *i += 1;
                while *i < b.len() && b[*i].is_ascii_digit() {
                    *i += 1;
                }
                Json::Num(std::str::from_utf8(&b[start..*i]).unwrap().parse().unwrap())
            }
            _ => {
                while *i < b.len() && b[*i].is_ascii_alphabetic() {
                    *i += 1;
                }
                Json::Other
            }
        }
    }
    value(text.as_bytes(), &mut 0)
}

fn get<'a>(json: &'a Json, key: &str) -> Option<&'a Json> {
    match json {
        Json::Obj(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn remove_cleanup_entries(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if path.to_string_lossy().ends_with(".cleanup") && !kind.is_symlink() {
            if kind.is_dir() {
                fs::remove_dir_all(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        } else if kind.is_dir() {
            remove_cleanup_entries(&path);
        }
    }
}

#[test]
fn official_wasi_testsuite_preview1() {
    let tarball = root().join("../shared/third_party/wasi-testsuite-p1.tar.gz");
    if !tarball.is_file() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{} is missing", tarball.display());
        }
        loud(&format!("skipping: {} is missing", tarball.display()));
        return;
    }
    if !require_kvm() {
        return;
    }
    let work = abi::fresh_dir("wasi-testsuite");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&work)
        .status()
        .unwrap();
    assert!(status.success(), "cannot unpack {}", tarball.display());
    let mut failures = Vec::new();
    let mut count = 0;
    for suite in ["rust", "c", "assemblyscript"] {
        let dir = work.join(format!("tests/{suite}/testsuite/wasm32-wasip1"));
        let mut modules: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        modules.sort();
        for module in modules {
            count += 1;
            let spec = fs::read_to_string(module.with_extension("json"))
                .map(|text| parse_json(&text))
                .unwrap_or(Json::Obj(Vec::new()));
            let mut vmm_args: Vec<String> = Vec::new();
            if let Some(Json::Obj(env)) = get(&spec, "env") {
                for (key, value) in env {
                    if let Json::Str(value) = value {
                        vmm_args.extend(["--env".into(), format!("{key}={value}")]);
                    }
                }
            }
            if let Some(Json::Str(root)) = get(&spec, "root") {
                let root = dir.join(root);
                remove_cleanup_entries(&root);
                vmm_args.extend(["--mount".into(), format!("{}:/:rw", root.display())]);
            }
            vmm_args.extend(["--wasm".into(), module.display().to_string(), "--".into()]);
            if let Some(Json::Arr(args)) = get(&spec, "args") {
                vmm_args.extend(args.iter().filter_map(|a| match a {
                    Json::Str(s) => Some(s.clone()),
                    _ => None,
                }));
            }
            let out = run_vmm(&vmm_args, None);
            let want_code = match get(&spec, "exit_code") {
                Some(Json::Num(code)) => *code as i32,
                _ => 0,
            };
            let stdout_ok = match get(&spec, "stdout") {
                Some(Json::Str(want)) => out.stdout_str() == *want,
                _ => true,
            };
            if out.code() != want_code || !stdout_ok {
                failures.push(format!(
                    "{} (want status {want_code}):\n{}",
                    module.display(),
                    out.describe()
                ));
            }
        }
    }
    assert!(count >= 72, "only {count} tests found");
    assert!(
        failures.is_empty(),
        "{} of {count} WASI tests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The runtime built for aarch64 (by the aarch64 clippy step of
/// scripts/test.sh, or here), with `module` appended (see the runtime's
/// `--module-from-exe`): one static file the bare-metal board can run.
fn aarch64_runtime_with(module: &Path, out: &Path) {
    let crate_dir = root().join("wasm-runtime");
    let target_dir = target_dir().join("wasm-runtime");
    let runtime = target_dir.join("aarch64-unknown-linux-musl/release/rvisor-wasm-runtime");
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .current_dir(&crate_dir)
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--target",
            "aarch64-unknown-linux-musl",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .unwrap();
    assert!(status.success(), "building wasm-runtime for aarch64 failed");
    let mut bytes = fs::read(&runtime).unwrap();
    let wasm = fs::read(module).unwrap();
    bytes.extend_from_slice(&wasm);
    bytes.extend_from_slice(&(wasm.len() as u64).to_le_bytes());
    bytes.extend_from_slice(b"RVWASM01");
    fs::write(out, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(out, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn wasm_on_the_aarch64_bare_metal_board() {
    if !require_tools(&["qemu-system-aarch64", "aarch64-linux-gnu-gcc"]) {
        return;
    }
    let dir = abi::fresh_dir("wasi-aarch64");
    // The same module's output natively (x86_64 build) and under wasmtime
    // (Cranelift for aarch64) in the sentry on qemu-aarch64-virt.
    for (name, args, status) in [
        ("hello", vec![], 0),
        ("exit_code", vec!["7"], 7),
        ("cpu", vec!["1"], 0),
        ("traps", vec!["out-of-bounds"], TRAP_STATUS),
    ] {
        let image = dir.join(name);
        aarch64_runtime_with(&wasi_program(name), &image);
        let mut cmd = std::process::Command::new(qemu_runner());
        cmd.args(["--board", "qemu-aarch64-virt", "--timeout", "300", "--elf"])
            .arg(&image)
            .args(["--", "--module-from-exe", "--", name])
            .args(&args);
        let board = run_command(&mut cmd, None);
        assert_eq!(board.code(), status, "{}", board.describe());
        if status != TRAP_STATUS {
            let native = run_native(&wasi_program_native(name), &args, None);
            assert_same_run(&native, &board);
        } else {
            assert!(
                board.stderr_str().contains("out-of-bounds memory access"),
                "{}",
                board.describe()
            );
        }
    }
}
