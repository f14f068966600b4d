//! The benchmark programs (bench/run.sh) work in the sandbox: same byte
//! counts as natively, the files really created and deleted.

use rvisor_tests::*;

#[test]
fn bench_read_reads_a_mounted_file_whole() {
    let prog = c_program("bench_read");
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("bench_read");
    let data = test_bytes(3 << 20);
    std::fs::write(dir.join("f"), &data).unwrap();
    let native = run_native(&prog, &[dir.join("f")], None);
    let mount = format!("{}:/data", dir.display());
    let sandbox = run_sandbox(&prog, &["/data/f"], &["--mount", &mount], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
    let bytes = |o: &RunOutput| o.stdout_str().split_whitespace().next().map(str::to_string);
    assert_eq!(
        bytes(&sandbox),
        Some(format!("bytes={}", data.len())),
        "{}",
        sandbox.describe()
    );
    assert_eq!(bytes(&native), bytes(&sandbox));
}

#[test]
fn bench_files_creates_and_deletes() {
    let prog = c_program("bench_files");
    if !require_kvm() {
        return;
    }
    let out = run_sandbox(&prog, &["/tmp", "200"], &[], None);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout_str().starts_with("files=200 ms="),
        "{}",
        out.describe()
    );
}

#[test]
fn bench_write_writes_through_a_mount() {
    let prog = c_program("bench_write");
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("bench_write");
    let mount = format!("{}:/data:rw", dir.display());
    let out = run_sandbox(&prog, &["/data/out"], &["--mount", &mount], None);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let written = std::fs::read(dir.join("out")).unwrap();
    assert_eq!(written.len(), 2560 * 4096);
    assert!(written
        .chunks(4096)
        .all(|c| c[0] == b'a' && c[25] == b'z' && c[26] == b'a'));
}

#[test]
fn bench_sockets_runs_in_the_sandbox() {
    let prog = c_program("bench_sockets");
    if !require_kvm() {
        return;
    }
    let out = run_sandbox(&prog, &["8", "200"], &[], None);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let fields = parse_kv(out.stdout_str().trim());
    for key in ["tcp_mb_s", "tcp_rtt_s", "unix_mb_s", "unix_rtt_s"] {
        let value: f64 = fields
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key}\n{}", out.describe()));
        assert!(value > 0.0, "{key}={value}\n{}", out.describe());
    }
}

/// bench_sleep runs in the sandbox, idle and next to a computing process
/// (whose deadlines need the VMM's one-shot kick): every sleep ends and
/// none ends early. How late they end is a measurement, not checked here.
#[test]
fn bench_sleep_runs_in_the_sandbox() {
    let prog = c_program("bench_sleep");
    if !require_kvm() {
        return;
    }
    for args in [&["10", "nanosleep"][..], &["10", "select", "spin"][..]] {
        let out = run_sandbox(&prog, args, &[], None);
        assert_eq!(out.code(), 0, "{args:?}: {}", out.describe());
        let lines: Vec<_> = out.stdout_str().lines().map(parse_kv).collect();
        assert_eq!(lines.len(), 3, "{args:?}: {}", out.describe());
        for fields in lines {
            let min: f64 = fields["min"].parse().unwrap();
            assert!(min >= 0.0, "{args:?}: a sleep ended early: {fields:?}");
        }
    }
    let out = run_sandbox(&prog, &["cost", "1000", "100"], &[], None);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let fields = parse_kv(out.stdout_str().trim());
    let wakes: u64 = fields["wakes"].parse().unwrap();
    let work: f64 = fields["child_mturns"].parse().unwrap();
    assert!(wakes > 0 && work > 0.0, "{}", out.describe());
}

/// bench_memory does its work in the sandbox: the CPU loop's checksum is
/// the native one, and every figure is there.
#[test]
fn bench_memory_runs_and_computes_the_same() {
    let prog = c_program("bench_memory");
    if !require_kvm() {
        return;
    }
    // Small sizes: this checks function, not speed.
    let args = ["16", "1000000"];
    let native = run_native(&prog, &args, None);
    let sandbox = run_sandbox(&prog, &args, &["--memory", "256M"], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
    let field = |o: &RunOutput, key: &str| {
        o.stdout_str()
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).map(str::to_string))
    };
    for key in ["fresh_ms=", "fork16_us=", "cpu_ms="] {
        assert!(
            field(&sandbox, key).is_some(),
            "{key} missing: {}",
            sandbox.describe()
        );
    }
    assert_eq!(field(&native, "checksum="), field(&sandbox, "checksum="));
}
