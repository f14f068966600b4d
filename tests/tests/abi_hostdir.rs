//! Host directories shared with `--mount HOST_DIR:GUEST_DIR[:ro|rw]`.
//!
//! The `hostdir` program runs natively on a fresh host tree (its path as the
//! argument) and in the sandbox on an identical fresh tree mounted at
//! `/data`; it prints names relative to the directory only, so the outputs
//! compare byte for byte. After rw runs the host trees must have changed in
//! the same, expected way; after ro runs they must not have changed at all.
//! Escape attempts (`..`, symlinks pointing outside, absolute host paths)
//! must never reveal the secret stored next to the shared directory.

use std::path::Path;

use rvisor_tests::abi::*;
use rvisor_tests::*;

fn hostdir_prog() -> std::path::PathBuf {
    c_program("hostdir")
}

fn native_clean(out: &RunOutput) {
    assert!(
        out.code() == 0 && out.stdout_str().contains("failures=0\n"),
        "hostdir fails natively (fix the program or the tree):\n{}",
        out.describe()
    );
}

/// The lines `hostdir ro` prints for its write attempts (each must be EROFS).
const RO_LINES: &str = "-- read-only
ro create: EROFS ok
ro open O_WRONLY: EROFS ok
ro open O_RDWR: EROFS ok
ro open O_TRUNC: EROFS ok
ro open O_APPEND: EROFS ok
ro mkdir: EROFS ok
ro unlink: EROFS ok
ro rmdir: EROFS ok
ro rename: EROFS ok
ro truncate: EROFS ok
ro utimensat: EROFS ok
ro symlink: EROFS ok
ro link: EROFS ok
ro chmod: EROFS ok
ro access W_OK: EROFS ok
ro ftruncate on O_RDONLY fd: EINVAL ok
ro write on O_RDONLY fd: EBADF ok
ro access R_OK still fine: ok
";

fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let a = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"))
        + start.len();
    let b = a + text[a..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} in:\n{text}"));
    &text[a..b]
}

#[test]
fn read_default_mount_is_read_only_and_matches_native() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let a = fresh_dir("hostdir_read_native");
    populate(&a);
    let b = fresh_dir("hostdir_read_sandbox");
    populate(&b);
    let before = snapshot(&b);
    let native = run_native(&prog, &["read", a.to_str().unwrap()], None);
    native_clean(&native);
    let sandbox = run_sandbox(
        &prog,
        &["read", "/data"],
        &["--mount", &mount_arg(&b, "/data", None)],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
    let after = snapshot(&b);
    assert!(
        before == after,
        "a read-only run changed the host tree:\n{}",
        snapshot_diff(&before, &after)
    );
}

#[test]
fn read_explicit_ro_mount_other_guest_path() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let a = fresh_dir("hostdir_ro2_native");
    populate(&a);
    let b = fresh_dir("hostdir_ro2_sandbox");
    populate(&b);
    let native = run_native(&prog, &["read", a.to_str().unwrap()], None);
    native_clean(&native);
    let sandbox = run_sandbox(
        &prog,
        &["read", "/mnt/shared/deep"],
        &["--mount", &mount_arg(&b, "/mnt/shared/deep", Some("ro"))],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn two_mounts() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let a = fresh_dir("hostdir_two_native");
    populate(&a);
    let b1 = fresh_dir("hostdir_two_first");
    std::fs::write(b1.join("only-in-first.txt"), "first\n").unwrap();
    let b2 = fresh_dir("hostdir_two_second");
    populate(&b2);
    let native = run_native(&prog, &["read", a.to_str().unwrap()], None);
    native_clean(&native);
    let sandbox = run_sandbox(
        &prog,
        &["read", "/data2"],
        &[
            "--mount",
            &mount_arg(&b1, "/data1", None),
            "--mount",
            &mount_arg(&b2, "/data2", Some("rw")),
        ],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn rw_mount_changes_host_like_native() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let a = fresh_dir("hostdir_rw_native");
    populate(&a);
    let b = fresh_dir("hostdir_rw_sandbox");
    populate(&b);
    let native = run_native(&prog, &["rw", a.to_str().unwrap()], None);
    native_clean(&native);
    let sandbox = run_sandbox(
        &prog,
        &["rw", "/data"],
        &["--mount", &mount_arg(&b, "/data", Some("rw"))],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);

    // The host tree changed, exactly as it did natively.
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert!(
        sa == sb,
        "host trees differ after the native and the sandbox rw runs:\n{}",
        snapshot_diff(&sa, &sb)
    );
    let read = |rel: &str| std::fs::read(b.join(rel)).ok();
    assert_eq!(
        read("new.txt").as_deref(),
        Some(&b"created in rw mode\nappended\n"[..]),
        "new.txt on the host"
    );
    assert_eq!(
        read("renamed.txt").as_deref(),
        Some(&b"rename me\n"[..]),
        "renamed.txt on the host"
    );
    assert!(
        !b.join("rename-me.txt").exists(),
        "rename-me.txt still on the host"
    );
    assert!(
        !b.join("delete-me.txt").exists(),
        "delete-me.txt still on the host"
    );
    assert!(!b.join("emptydir").exists(), "emptydir still on the host");
    assert!(!b.join("moved.txt").exists(), "moved.txt still at the top");
    assert_eq!(
        read("sub/moved.txt").as_deref(),
        Some(&b"move me into sub\n"[..])
    );
    assert_eq!(read("newdir/inner.txt").as_deref(), Some(&b"inner\n"[..]));
    assert_eq!(read("truncate-me.txt").as_deref(), Some(&b"trunc"[..]));
    assert!(
        !b.join("scratch.txt").exists() && !b.join("tmp2").exists() && !b.join("tmp3").exists()
    );
    let mtime = std::fs::metadata(b.join("new.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1234567890,
        "utimensat did not reach the host"
    );
}

#[test]
fn ro_mount_refuses_writes_with_erofs() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let a = fresh_dir("hostdir_erofs_native");
    populate(&a);
    let b = fresh_dir("hostdir_erofs_sandbox");
    populate(&b);
    let before = snapshot(&b);
    // Natively the same tree is readable; the write attempts are what a
    // read-only mount gives on Linux (checked when this test was written
    // with a read-only bind mount): RO_LINES.
    let native = run_native(&prog, &["read", a.to_str().unwrap()], None);
    native_clean(&native);
    let nat = native.stdout_str();
    let listing = section(&nat, "-- listing\n", "-- reading\n");
    let expected = format!(
        "{}{RO_LINES}-- listing after\n{listing}failures=0\n",
        nat.strip_suffix("failures=0\n").unwrap()
    );
    for opts in [
        vec!["--mount".to_string(), mount_arg(&b, "/data", Some("ro"))],
        vec!["--mount".to_string(), mount_arg(&b, "/data", None)],
    ] {
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let sandbox = run_sandbox(&prog, &["ro", "/data"], &opts, None);
        assert_no_panic(&sandbox);
        assert_bytes_eq(
            "stdout",
            expected.as_bytes(),
            &sandbox.stdout,
            &sandbox.describe(),
        );
        assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
        let after = snapshot(&b);
        assert!(
            before == after,
            "writes reached a read-only host tree:\n{}",
            snapshot_diff(&before, &after)
        );
    }
}

fn assert_no_secret(out: &RunOutput, secret: &str) {
    assert!(
        !contains_bytes(&out.stdout, secret.as_bytes())
            && !contains_bytes(&out.stderr, secret.as_bytes()),
        "THE SANDBOX REVEALED A FILE OUTSIDE THE SHARED DIRECTORY:\n{}",
        out.describe()
    );
}

fn escape_lines(out: &RunOutput) -> Vec<String> {
    out.stdout_str()
        .lines()
        .filter(|l| l.starts_with("escape "))
        .map(str::to_string)
        .collect()
}

#[test]
fn escapes_through_dotdot_and_symlinks_are_refused() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let (_base, shared, secret_path, secret) = escape_layout("escape_ro");
    let secret_arg = secret_path.to_str().unwrap();
    // Natively the layout does reach the secret (so the attempts are real).
    let native = run_native(
        &prog,
        &["escape", shared.to_str().unwrap(), secret_arg],
        None,
    );
    assert!(
        contains_bytes(&native.stdout, secret.as_bytes()),
        "the escape layout is wrong: natively the secret should be reachable:\n{}",
        native.describe()
    );
    for mode in [None, Some("ro"), Some("rw")] {
        let sandbox = run_sandbox(
            &prog,
            &["escape", "/data", secret_arg],
            &["--mount", &mount_arg(&shared, "/data", mode)],
            None,
        );
        assert_no_panic(&sandbox);
        assert_no_secret(&sandbox, &secret);
        assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
        // Every attempt must have been made (the program got to its end).
        assert_eq!(
            escape_lines(&sandbox).len(),
            escape_lines(&native).len(),
            "not every escape attempt ran:\n{}",
            sandbox.describe()
        );
    }
}

#[test]
fn escapes_by_writing_stay_inside() {
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let (base, shared, secret_path, secret) = escape_layout("escape_rw");
    let before_base: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let sandbox = run_sandbox(
        &prog,
        &["escape-rw", "/data", secret_path.to_str().unwrap()],
        &["--mount", &mount_arg(&shared, "/data", Some("rw"))],
        None,
    );
    assert_no_panic(&sandbox);
    assert_no_secret(&sandbox, &secret);
    assert!(
        sandbox.stdout_str().contains("failures="),
        "the program did not finish:\n{}",
        sandbox.describe()
    );
    let mut after_base: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    after_base.sort();
    assert_eq!(
        before_base,
        after_base,
        "the sandbox created or removed files OUTSIDE the shared directory\n{}",
        sandbox.describe()
    );
    assert_eq!(
        std::fs::read_to_string(&secret_path).unwrap(),
        format!("{secret}\n"),
        "the secret outside the shared directory was modified"
    );
    assert!(
        !base.join("escaped-link.txt").exists(),
        "a write through a symlink escaped"
    );
    assert!(
        !Path::new("/escaped-create.txt").exists() && !Path::new("/escaped-rename.txt").exists()
    );
    // victim.txt: either still inside (rename refused) or moved within the
    // guest; never on the host outside.
    assert!(!base.join("escaped-rename.txt").exists());
}

#[test]
fn unmounted_host_paths_are_invisible() {
    // Without --mount, a host directory is not visible in the guest, even at
    // its absolute path.
    let prog = hostdir_prog();
    if !require_kvm() {
        return;
    }
    let (_base, shared, secret_path, secret) = escape_layout("escape_none");
    let sandbox = run_sandbox(
        &prog,
        &[
            "escape",
            shared.to_str().unwrap(),
            secret_path.to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert_no_panic(&sandbox);
    assert_no_secret(&sandbox, &secret);
    assert!(
        !sandbox.stdout_str().contains("Hello from the host dir"),
        "an unmounted host directory is visible in the guest:\n{}",
        sandbox.describe()
    );
}

// --- bad --mount specifications ------------------------------------------------

fn bad_mount(spec: &str) {
    let hello = c_program("hello");
    if !require_kvm() {
        return;
    }
    let out = run_sandbox(&hello, NO_ARGS, &["--mount", spec], None);
    let line = assert_vmm_error(&out, 125);
    assert!(
        line.len() > "rvisor-vmm:".len() + 3,
        "uninformative error line: {line:?}"
    );
}

#[test]
fn bad_mount_missing_host_dir() {
    let d = fresh_dir("badmount_missing");
    bad_mount(&format!("{}:/data", d.join("does-not-exist").display()));
}

#[test]
fn bad_mount_host_path_is_a_file() {
    let d = fresh_dir("badmount_file");
    let f = d.join("file");
    std::fs::write(&f, "x").unwrap();
    bad_mount(&format!("{}:/data", f.display()));
}

#[test]
fn bad_mount_bad_mode() {
    let d = fresh_dir("badmount_mode");
    bad_mount(&format!("{}:/data:rx", d.display()));
    bad_mount(&format!("{}:/data:", d.display()));
}

#[test]
fn bad_mount_no_guest_path() {
    let d = fresh_dir("badmount_noguest");
    bad_mount(&format!("{}", d.display()));
    bad_mount(&format!("{}:", d.display()));
}

#[test]
fn bad_mount_relative_guest_path() {
    let d = fresh_dir("badmount_relguest");
    bad_mount(&format!("{}:data", d.display()));
}
