//! Debian's busybox-static (a static glibc binary, `/bin/busybox`) in the
//! sandbox, working on a `--mount`ed host directory, compared with busybox
//! run natively on an identical host directory.
//!
//! Busybox prints paths, so the native run gets the host path and the
//! sandbox run `/data`; in the native output (stdout and stderr) every
//! occurrence of the host path is replaced by `/data` before comparing.
//! Reading applets run natively and in the sandbox on the same directory,
//! so even readdir order (find, grep -r, du) must match the host's. Writing
//! applets need two identical trees; there find output is sorted line-wise
//! first. `ls` sorts by itself. `ls -l` is compared on
//! the deterministic columns only (mode, links, owner, group, size, name).

use std::path::{Path, PathBuf};

use rvisor_tests::abi::*;
use rvisor_tests::*;

#[derive(Clone, Copy, PartialEq)]
enum Post {
    None,
    SortLines,
    LsLong,
}

fn post(b: &[u8], p: Post) -> Vec<u8> {
    match p {
        Post::None => b.to_vec(),
        Post::SortLines => {
            let mut l = sorted_lines(b).join("\n");
            if !b.is_empty() {
                l.push('\n');
            }
            l.into_bytes()
        }
        Post::LsLong => {
            let text = String::from_utf8_lossy(b);
            let mut out = String::new();
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 9 {
                    // mode links uid gid size [month day time|year] name...
                    let size = if f[0].starts_with('d') { "-" } else { f[4] };
                    out.push_str(&format!(
                        "{} {} {} {} {} {}\n",
                        f[0],
                        f[1],
                        f[2],
                        f[3],
                        size,
                        f[8..].join(" ")
                    ));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
    }
}

/// A pair of identical populated trees, one for native runs and one shared
/// with the sandbox.
struct Trees {
    native: PathBuf,
    sandbox: PathBuf,
}

fn trees(tag: &str) -> Trees {
    let native = fresh_dir(&format!("bb_{tag}_native"));
    populate(&native);
    let sandbox = fresh_dir(&format!("bb_{tag}_sandbox"));
    populate(&sandbox);
    Trees { native, sandbox }
}

/// `args` may contain `@` where the shared directory goes (`@/hello.txt`).
fn run_both(t: &Trees, mode: Option<&str>, args: &[&str], p: Post) -> (RunOutput, RunOutput) {
    let bb = busybox();
    let nat_args: Vec<String> = args
        .iter()
        .map(|a| a.replace('@', t.native.to_str().unwrap()))
        .collect();
    let sb_args: Vec<String> = args.iter().map(|a| a.replace('@', "/data")).collect();
    let native = run_native(&bb, &nat_args, None);
    let sandbox = run_sandbox(
        &bb,
        &sb_args,
        &["--mount", &mount_arg(&t.sandbox, "/data", mode)],
        None,
    );
    let host = t.native.to_str().unwrap().as_bytes();
    let mut n = native.clone();
    n.stdout = post(&replace_bytes(&native.stdout, host, b"/data"), p);
    n.stderr = replace_bytes(&native.stderr, host, b"/data");
    let mut s = sandbox.clone();
    s.stdout = post(&sandbox.stdout, p);
    assert_same(&n, &s, Compare::All);
    (native, sandbox)
}

fn check_many(t: &Trees, mode: Option<&str>, cases: &[(&[&str], Post)]) {
    let mut failures = Vec::new();
    for (args, p) in cases {
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_both(t, mode, args, *p)));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("busybox {}:\n{}", args.join(" "), msg));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} busybox runs differ from native:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn busybox_hello() {
    // The simplest possible run: no mount, no files.
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let native = run_native(&bb, &["echo", "hello", "from", "busybox"], None);
    let sandbox = run_sandbox(&bb, &["echo", "hello", "from", "busybox"], &[], None);
    assert_same(&native, &sandbox, Compare::All);
    let native = run_native(&bb, &["true"], None);
    let sandbox = run_sandbox(&bb, &["true"], &[], None);
    assert_same(&native, &sandbox, Compare::All);
    let native = run_native(&bb, &["false"], None);
    let sandbox = run_sandbox(&bb, &["false"], &[], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn busybox_reading_applets() {
    busybox();
    if !require_kvm() {
        return;
    }
    // Reading applets change nothing, so both runs use one directory (read-
    // only in the sandbox): readdir order must then be the host's exactly.
    let dir = fresh_dir("bb_read");
    populate(&dir);
    let t = Trees {
        native: dir.clone(),
        sandbox: dir,
    };
    use Post::*;
    let cases: &[(&[&str], Post)] = &[
        (&["cat", "@/hello.txt", "@/sub/nested.txt"], None),
        (&["cat", "@/big.bin"], None),
        (&["cat", "@/inside_link", "@/with space.txt"], None),
        (&["cat", "@/missing.txt"], None),
        (&["ls", "-1", "@"], None),
        (&["ls", "-1", "@/many"], None),
        (&["ls", "-1R", "@"], None),
        (&["ls", "-1a", "@/sub"], None),
        (&["ls", "-ln", "@"], LsLong),
        (
            &["ls", "-lnd", "@/sub", "@/hello.txt", "@/inside_link"],
            LsLong,
        ),
        (&["ls", "-1", "@/missing"], None),
        (
            &[
                "wc",
                "@/hello.txt",
                "@/unsorted.txt",
                "@/big.bin",
                "@/empty.txt",
            ],
            None,
        ),
        (&["head", "-n", "3", "@/unsorted.txt"], None),
        (&["head", "-c", "100", "@/big.bin"], None),
        (&["tail", "-n", "1", "@/sub/deeper/leaf.txt"], None),
        (&["tail", "-c", "17", "@/big.bin"], None),
        (&["sort", "@/unsorted.txt"], None),
        (&["sort", "-n", "@/unsorted.txt"], None),
        (&["sort", "-u", "-r", "@/unsorted.txt"], None),
        (
            &["sha256sum", "@/hello.txt", "@/big.bin", "@/empty.txt"],
            None,
        ),
        (&["md5sum", "@/big.bin"], None),
        (&["grep", "-n", "an", "@/unsorted.txt"], None),
        (&["grep", "-c", "e", "@/unsorted.txt", "@/hello.txt"], None),
        (&["grep", "nomatch", "@/hello.txt"], None),
        (&["grep", "-rl", "e", "@"], None),
        (&["find", "@"], None),
        (&["find", "@", "-name", "*.txt"], None),
        (&["find", "@", "-type", "d"], None),
        (&["find", "@", "-type", "l"], None),
        (&["find", "@/sub", "-size", "-1k"], None),
        (
            &[
                "stat",
                "-c",
                "%n %s %a %F %h %u %g",
                "@/hello.txt",
                "@/sub",
                "@/sub/nested.txt",
                "@/private.txt",
                "@/run.sh",
            ],
            None,
        ),
        (&["stat", "-c", "%n %F %N", "@/inside_link"], None),
        (&["readlink", "@/inside_link"], None),
        (&["cmp", "@/hello.txt", "@/inside_link"], None),
        (&["cmp", "@/hello.txt", "@/sub/nested.txt"], None),
        (
            &["od", "-A", "x", "-t", "x1z", "-N", "64", "@/big.bin"],
            None,
        ),
        (&["du", "-a", "@/many"], None),
        (&["test", "-d", "@/sub"], None),
        (&["test", "-f", "@/sub"], None),
    ];
    check_many(&t, Option::None, cases);
    // Owner and group by name: the sandbox's /etc/passwd and /etc/group name
    // root as the host's do. Only as root (CI): another user's files show
    // a name natively and a number in the sandbox.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        check_many(
            &t,
            Option::None,
            &[(&["ls", "-l", "@"], LsLong), (&["whoami"], None)],
        );
    }
}

#[test]
fn busybox_writing_applets_on_rw_mount() {
    busybox();
    if !require_kvm() {
        return;
    }
    let t = trees("rw");
    use Post::*;
    let cases: &[(&[&str], Post)] = &[
        (&["cp", "@/hello.txt", "@/copy.txt"], None),
        (&["cp", "@/big.bin", "@/sub/big-copy.bin"], None),
        (&["cp", "-r", "@/sub", "@/sub-copy"], None),
        (&["mv", "@/rename-me.txt", "@/renamed-by-mv.txt"], None),
        (&["mv", "@/moved.txt", "@/sub/"], None),
        (&["rm", "@/delete-me.txt"], None),
        (&["rm", "-r", "@/many"], None),
        (&["rm", "@/missing.txt"], None),
        (&["mkdir", "@/newdir"], None),
        (&["mkdir", "-p", "@/a/b/c"], None),
        (&["mkdir", "@/newdir"], None),
        (&["rmdir", "@/emptydir"], None),
        (&["rmdir", "@/sub"], None),
        (&["touch", "@/touched.txt"], None),
        (&["truncate", "-s", "5", "@/truncate-me.txt"], None),
        (&["chmod", "600", "@/run.sh"], None),
        (&["ls", "-1R", "@"], None),
        (
            &[
                "sha256sum",
                "@/copy.txt",
                "@/sub/big-copy.bin",
                "@/sub-copy/nested.txt",
            ],
            None,
        ),
        (&["find", "@", "-type", "f"], SortLines),
    ];
    check_many(&t, Some("rw"), cases);
    let (a, b) = (snapshot(&t.native), snapshot(&t.sandbox));
    assert!(
        a == b,
        "host trees differ after the same busybox commands:\n{}",
        snapshot_diff(&a, &b)
    );
    // A few facts, independently of the native run.
    assert_eq!(
        std::fs::read_to_string(t.sandbox.join("copy.txt")).unwrap(),
        HELLO
    );
    assert!(
        t.sandbox.join("renamed-by-mv.txt").is_file() && !t.sandbox.join("rename-me.txt").exists()
    );
    assert!(!t.sandbox.join("delete-me.txt").exists() && !t.sandbox.join("many").exists());
    assert!(t.sandbox.join("a/b/c").is_dir() && t.sandbox.join("newdir").is_dir());
    assert!(!t.sandbox.join("emptydir").exists());
}

fn ro_refuses(t: &Trees, mode: Option<&str>, args: &[&str]) -> Result<(), String> {
    let bb = busybox();
    let sb_args: Vec<String> = args.iter().map(|a| a.replace('@', "/data")).collect();
    let out = run_sandbox(
        &bb,
        &sb_args,
        &["--mount", &mount_arg(&t.sandbox, "/data", mode)],
        None,
    );
    if out.code() != 1 || !out.stderr_str().contains("Read-only file system") {
        return Err(format!(
            "busybox {}: expected exit 1 and \"Read-only file system\" on stderr:\n{}",
            args.join(" "),
            out.describe()
        ));
    }
    Ok(())
}

#[test]
fn busybox_writes_fail_on_ro_mount() {
    busybox();
    if !require_kvm() {
        return;
    }
    let t = trees("ro");
    let before = snapshot(&t.sandbox);
    let cases: &[&[&str]] = &[
        &["cp", "@/hello.txt", "@/copy.txt"],
        &["mv", "@/rename-me.txt", "@/renamed.txt"],
        &["rm", "@/delete-me.txt"],
        &["mkdir", "@/newdir"],
        &["rmdir", "@/emptydir"],
        &["touch", "@/touched.txt"],
    ];
    let mut errors = Vec::new();
    for mode in [None, Some("ro")] {
        for args in cases {
            if let Err(e) = ro_refuses(&t, mode, args) {
                errors.push(e);
            }
        }
    }
    let after = snapshot(&t.sandbox);
    assert!(
        before == after,
        "writes reached the read-only host tree:\n{}",
        snapshot_diff(&before, &after)
    );
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

#[test]
fn busybox_cannot_escape_the_mount() {
    busybox();
    if !require_kvm() {
        return;
    }
    let (_base, shared, secret_path, secret) = escape_layout("bb_escape");
    let bb = busybox();
    let attempts: &[&[&str]] = &[
        &["cat", "/data/../secret.txt"],
        &["cat", "/data/link_out"],
        &["cat", "/data/abs_link"],
        &["cat", "/data/sub/deep_link"],
        &["cat", "/data/dirlink_out/secret.txt"],
        &["ls", "-1R", "/data/dirlink_out/"],
        &["find", "/data", "-follow"],
        &["grep", "-r", "SECRET", "/data/", "/data/dirlink_out/"],
    ];
    let secret_host = secret_path.to_str().unwrap().to_string();
    let mut all: Vec<Vec<&str>> = attempts.iter().map(|a| a.to_vec()).collect();
    all.push(vec!["cat", &secret_host]);
    for args in &all {
        for mode in [None, Some("rw")] {
            // `find -follow` through dirlink_out (-> "..", the sandbox root)
            // loops through / and /proc/self/fd until ELOOP, as it would
            // natively with such a root: bound it, the point is the secret.
            let out = run_sandbox(
                &bb,
                args,
                &[
                    "--timeout",
                    "10",
                    "--mount",
                    &mount_arg(&shared, "/data", mode),
                ],
                None,
            );
            assert_no_panic(&out);
            assert!(
                !contains_bytes(&out.stdout, secret.as_bytes())
                    && !contains_bytes(&out.stderr, secret.as_bytes()),
                "THE SANDBOX REVEALED A FILE OUTSIDE THE SHARED DIRECTORY (busybox {}):\n{}",
                args.join(" "),
                out.describe()
            );
        }
    }
    let _ = Path::new(&secret_host);
}

/// `ip` reads the loopback interface through NETLINK_ROUTE the same as on
/// the host (the host has more interfaces: only `lo` is asked for).
#[test]
fn busybox_ip_shows_the_loopback() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    for args in [
        ["ip", "addr", "show", "dev", "lo"],
        ["ip", "link", "show", "dev", "lo"],
    ] {
        let native = run_native(&bb, &args, None);
        let sandbox = run_sandbox(&bb, &args, &[], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}
