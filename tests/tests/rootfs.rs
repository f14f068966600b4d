//! `--root DIR`: a host directory as the sandbox's `/`, and dynamically
//! linked programs (PT_INTERP) loaded from it.
//!
//! The host's own programs (Debian's dynamic `ls`, `bash`, `python3`,
//! `perl`, coreutils) run natively and with `--root /`; stdout and exit
//! status must match. Hand-made roots (a dynamic program plus exactly the
//! libraries `ldd` names) show that nothing else of the host leaks in.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rvisor_tests::*;

/// Runs `bash -c script` natively (cwd `/`, the sandbox's default
/// environment) and in the sandbox with `--root /`; stdout and status must
/// match.
#[track_caller]
fn same_script(script: &str, stdin: Option<&[u8]>) -> RunOutput {
    let mut native = Command::new("/bin/bash");
    native.arg("-c").arg(script).current_dir("/").env_clear();
    for (k, v) in DEFAULT_ENV {
        native.env(k, v);
    }
    let native = run_command(&mut native, stdin);
    let sandbox = run_vmm(&["--root", "/", "--", "bash", "-c", script], stdin);
    assert_same(&native, &sandbox, Compare::StdoutAndStatus);
    sandbox
}

fn have_all(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools.iter().filter(|t| !have_tool(t)).collect();
    if missing.is_empty() {
        return true;
    }
    loud(&format!(
        "\n*** SKIPPED: {missing:?} not installed on this host ***\n"
    ));
    false
}

// --- the host's programs with --root / ------------------------------------------

#[test]
fn dynamic_ls_as_command() {
    if !require_kvm() {
        return;
    }
    // `ls` found in PATH by the sentry (execvp), dynamically linked.
    let mut native = Command::new("ls");
    native
        .args(["-la", "/usr/bin"])
        .current_dir("/")
        .env_clear();
    for (k, v) in DEFAULT_ENV {
        native.env(k, v);
    }
    let native = run_command(&mut native, None);
    let sandbox = run_vmm(&["--root", "/", "--", "ls", "-la", "/usr/bin"], None);
    assert_same(&native, &sandbox, Compare::All);
    // --elf names a path inside the root.
    let sandbox = run_vmm(&["--root", "/", "--elf", "/bin/ls", "--", "/usr/bin"], None);
    let native = run_native(Path::new("/bin/ls"), &["/usr/bin"], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn bash_pipelines_and_subshells() {
    if !require_kvm() {
        return;
    }
    same_script(
        "set -e; echo hello | tr a-z A-Z; x=$(echo sub; (echo nested)); echo \"$x\"; \
         for i in 3 1 2; do echo $i; done | sort -n | tac; \
         (cd /etc && ls | head -3); f() { return 3; }; f || echo status $?; \
         echo $((6 * 7)); exit 5",
        None,
    );
}

#[test]
fn coreutils_pipelines() {
    if !require_kvm() || !have_all(&["sed", "grep", "find", "sort", "awk", "md5sum"]) {
        return;
    }
    same_script(
        "seq 1 2000 | sort -rn | head -3; printf 'b\\na\\nc\\n' | sort | sed s/a/X/ | grep -v c; \
         find /usr/share/doc -maxdepth 1 -name 'lib*' | sort | head -5; \
         echo 1 2 3 | awk '{print $2 * 10}'; md5sum /etc/passwd; wc -l < /etc/group; \
         stat -c '%n %s %F' /etc/hostname /bin; readlink -f /bin/sh; \
         gzip -c /etc/passwd | gzip -dc | cmp - /etc/passwd && echo gzip ok; \
         xargs -n 2 echo <<< 'a b c d e'",
        None,
    );
}

#[test]
fn stdin_reaches_the_program() {
    if !require_kvm() {
        return;
    }
    same_script("sort -r | head -2", Some(b"one\ntwo\nthree\n"));
}

#[test]
fn python3() {
    if !require_kvm() || !have_all(&["python3"]) || !Path::new("/usr/bin/python3").exists() {
        return;
    }
    same_script(
        "python3 -c '\nimport json, hashlib, subprocess, os, sys\n\
print(json.dumps({\"a\": [1, 2]}, sort_keys=True))\n\
print(hashlib.sha256(b\"rvisor\").hexdigest())\n\
print(subprocess.run([\"echo\", \"child\"], capture_output=True).stdout)\n\
print(subprocess.check_output(\"echo b a | tr \\\" \\\" \\\"\\\\n\\\" | sort\", shell=True))\n\
print(os.getcwd(), sys.argv)\n\
sys.exit(3)'",
        None,
    );
}

#[test]
fn python3_sockets_over_loopback() {
    if !require_kvm() || !have_all(&["python3"]) {
        return;
    }
    // A threaded TCP echo over 127.0.0.1, a socketpair and a UDP round
    // trip with Python's socket module, compared with the native run.
    let script = r#"python3 -c '
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]
def serve():
    conn, addr = srv.accept()
    conn.sendall(conn.recv(100).upper())
    conn.close()
t = threading.Thread(target=serve)
t.start()
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"hello over tcp")
print(c.recv(100), c.getpeername()[0])
t.join()
a, b = socket.socketpair()
a.sendall(b"pair")
print(b.recv(10), a.family == socket.AF_UNIX)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::1", 0))
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v.sendto(b"udp", u.getsockname())
data, frm = u.recvfrom(10)
print(data, frm[0])
'"#;
    same_script(script, None);
}

/// Without a network the sandbox reaches nothing off its loopback: a
/// connection attempt is an OSError (ENETUNREACH), not a crash. Not run
/// natively (no test sends traffic off this machine).
#[test]
fn python3_no_network_off_loopback() {
    if !require_kvm() || !Path::new("/usr/bin/python3").exists() {
        return;
    }
    let out = run_vmm(
        &[
            "--root",
            "/",
            "--",
            "python3",
            "-c",
            "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80))\nexcept OSError as e:\n    print('refused', e.errno)",
        ],
        None,
    );
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_str(), "refused 101\n", "{out:?}");
}

#[test]
fn perl() {
    if !require_kvm() || !have_all(&["perl"]) {
        return;
    }
    same_script(
        "perl -e 'my %h = (b => 2, a => 1); print join(\",\", map { \"$_=$h{$_}\" } sort keys %h), \"\\n\"; \
         printf(\"%.3f\\n\", atan2(1, 1) * 4); exit 4'",
        None,
    );
}

#[test]
fn mawk() {
    if !require_kvm() || !have_all(&["mawk"]) {
        return;
    }
    same_script(
        "printf '3 c\\n1 a\\n2 b\\n' | mawk '{ s += $1; print $2 } END { print s }'",
        None,
    );
}

// --- 126 / 127 for what is found inside the root -------------------------------

#[test]
fn command_not_found_is_127() {
    if !require_kvm() {
        return;
    }
    let out = run_vmm(&["--root", "/", "--", "no-such-command-rvisor"], None);
    let line = assert_vmm_error(&out, 127);
    assert!(line.contains("no-such-command-rvisor"), "{line}");
    let out = run_vmm(&["--root", "/", "--elf", "/no/such/file"], None);
    assert_vmm_error(&out, 127);
}

#[test]
fn not_executable_is_126() {
    if !require_kvm() {
        return;
    }
    // A directory, and a file without execute permission.
    let out = run_vmm(&["--root", "/", "--", "/etc"], None);
    assert_vmm_error(&out, 126);
    let out = run_vmm(&["--root", "/", "--", "/etc/passwd"], None);
    assert_vmm_error(&out, 126);
}

#[test]
fn root_needs_a_command() {
    if !require_kvm() {
        return;
    }
    let out = run_vmm(&["--root", "/"], None);
    assert_vmm_error(&out, 125);
}

// --- read-only, :rw, private /tmp ---------------------------------------------

#[test]
fn root_is_read_only_by_default() {
    if !require_kvm() {
        return;
    }
    let dir = work_dir("root-ro");
    let file = dir.join("file.txt");
    fs::write(&file, "host\n").unwrap();
    let script = format!(
        "echo changed > {0}; echo status $?; cat {0}; rm {0}; echo rm $?; touch {1}/new; echo touch $?",
        file.display(),
        dir.display()
    );
    let out = run_vmm(&["--root", "/", "--", "bash", "-c", &script], None);
    assert_no_panic(&out);
    assert!(
        out.stdout_str().contains("status 1\nhost\nrm 1\ntouch 1\n"),
        "{out:?}"
    );
    assert!(
        out.stderr_str().contains("Read-only file system"),
        "{out:?}"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), "host\n");
    assert!(!dir.join("new").exists());
    let out = run_vmm(&["--root", "/:ro", "--", "bash", "-c", &script], None);
    assert!(out.stdout_str().contains("status 1\n"), "{out:?}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "host\n");
}

#[test]
fn tmp_is_private() {
    if !require_kvm() {
        return;
    }
    let marker = std::env::temp_dir().join(format!("rvisor-root-{}", std::process::id()));
    fs::write(&marker, "host").unwrap();
    let script = format!(
        "ls -A /tmp; echo sandbox > /tmp/inside; cat /tmp/inside; test -e {} && echo leaked",
        marker.display()
    );
    let out = run_vmm(&["--root", "/", "--", "bash", "-c", &script], None);
    fs::remove_file(&marker).unwrap();
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout_str(), "sandbox\n", "{out:?}");
    assert!(!Path::new("/tmp/inside").exists() || fs::read("/tmp/inside").unwrap() != b"sandbox\n");
}

// --- hand-made roots -------------------------------------------------------------

/// A fresh directory for a test that the sandbox must see through
/// `--root /`. The sandbox's /tmp is its own tmpfs, so a repository (and
/// its target dir) under the host's /tmp is out of its sight: such tests
/// work under /var/tmp instead.
fn work_dir(tag: &str) -> PathBuf {
    let dir = abi::fresh_dir(tag);
    if !dir.starts_with("/tmp") {
        return dir;
    }
    let _ = fs::remove_dir_all(&dir);
    let name = dir.file_name().expect("fresh_dir names a directory");
    let moved = Path::new("/var/tmp/rvisor-tests").join(name);
    let _ = fs::remove_dir_all(&moved);
    fs::create_dir_all(&moved).expect("creating a work directory under /var/tmp");
    moved
}

/// Where a root made by [`minimal_root`] holds program `prog`: its own path,
/// unless that is under /tmp (the sandbox's own tmpfs covers it).
fn inside_path(prog: &Path) -> String {
    if prog.starts_with("/tmp") {
        format!(
            "/opt/rvisor-test/{}",
            prog.file_name().unwrap().to_string_lossy()
        )
    } else {
        prog.display().to_string()
    }
}

/// The files `ldd prog` names (libraries and the dynamic linker).
fn ldd_files(prog: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(prog).output().expect("ldd");
    assert!(out.status.success(), "ldd {} failed", prog.display());
    let mut files = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    files
}

/// A root holding `progs` (at their own paths) and exactly the files ldd
/// names for them, copied as regular files.
fn minimal_root(tag: &str, progs: &[&Path]) -> PathBuf {
    let root = work_dir(tag);
    for prog in progs {
        let mut files: Vec<(PathBuf, String)> = ldd_files(prog)
            .into_iter()
            .map(|f| {
                let inside = f.display().to_string();
                (f, inside)
            })
            .collect();
        files.push((prog.to_path_buf(), inside_path(prog)));
        for (f, inside) in files {
            let dest = root.join(inside.trim_start_matches('/'));
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(&f, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    root
}

#[test]
fn dynamic_hello_in_a_minimal_root() {
    let hello = bad::dynamic();
    if !require_kvm() || !have_all(&["ldd"]) {
        return;
    }
    let root = minimal_root("root-hello", &[&hello]);
    let inside = inside_path(&hello);
    let native = run_native(&hello, NO_ARGS, None);
    let sandbox = run_vmm(&["--root", root.to_str().unwrap(), "--", &inside], None);
    assert_same(&native, &sandbox, Compare::All);
    // Without --root the VMM still refuses it (there is nowhere to find its
    // dynamic linker).
    let out = run_vmm(&["--elf", hello.to_str().unwrap()], None);
    assert_vmm_error(&out, 126);
}

#[test]
fn nothing_of_the_host_leaks_into_a_minimal_root() {
    if !require_kvm() || !have_all(&["ldd"]) {
        return;
    }
    let bash = Path::new("/bin/bash").canonicalize().unwrap();
    let root = minimal_root("root-bash", &[&bash]);
    let bash_inside = format!("/{}", bash.strip_prefix("/").unwrap().display());
    // Only what was copied, plus the sandbox's own /dev, /proc, /sys, /tmp.
    let mut expected: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| format!("/{}", e.unwrap().file_name().to_string_lossy()))
        .chain(["/dev", "/proc", "/sys", "/tmp"].map(String::from))
        .collect();
    expected.sort();
    let out = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--",
            &bash_inside,
            "-c",
            "shopt -s dotglob; for f in /*; do echo $f; done; echo /etc/*; \
             ls; echo $?; type ls; echo $?",
        ],
        None,
    );
    assert_no_panic(&out);
    let mut want = expected.join("\n");
    want.push_str("\n/etc/*\n");
    assert!(
        out.stdout_str().starts_with(&want),
        "want:\n{want}\n{out:?}"
    );
    // Neither `ls` nor anything else of the host's /usr/bin is there.
    assert!(out.stdout_str().ends_with("/etc/*\n127\n1\n"), "{out:?}");
    assert_eq!(out.code(), 0, "{out:?}");
}

#[test]
fn rw_root_writes_through() {
    if !require_kvm() || !have_all(&["ldd"]) {
        return;
    }
    let bash = Path::new("/bin/bash").canonicalize().unwrap();
    let root = minimal_root("root-rw", &[&bash]);
    let bash_inside = format!("/{}", bash.strip_prefix("/").unwrap().display());
    // Builtins only: the root holds nothing but bash and its libraries.
    let script = "echo from-sandbox > /out.txt && echo ok";
    let ro = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--",
            &bash_inside,
            "-c",
            script,
        ],
        None,
    );
    assert_eq!(ro.code(), 1, "{ro:?}");
    assert!(!root.join("out.txt").exists());
    let arg = format!("{}:rw", root.display());
    let rw = run_vmm(&["--root", &arg, "--", &bash_inside, "-c", script], None);
    assert_eq!(rw.code(), 0, "{rw:?}");
    assert_eq!(rw.stdout_str(), "ok\n");
    assert_eq!(
        fs::read_to_string(root.join("out.txt")).unwrap(),
        "from-sandbox\n"
    );
    // Renames between the root and a directory beneath it stay on the host
    // (no copy fallback needed).
    let mv = Path::new("/bin/mv").canonicalize().unwrap();
    let mkdir = Path::new("/bin/mkdir").canonicalize().unwrap();
    let root = minimal_root("root-rw-mv", &[&bash, &mv, &mkdir]);
    let arg = format!("{}:rw", root.display());
    let script = format!(
        "{mkdir} /d && echo x > /d/f && {mv} /d/f /top && {mv} /top /d/back && echo ok",
        mkdir = mkdir.display(),
        mv = mv.display()
    );
    let out = run_vmm(&["--root", &arg, "--", &bash_inside, "-c", &script], None);
    assert_eq!(out.stdout_str(), "ok\n", "{out:?}");
    assert_eq!(fs::read_to_string(root.join("d/back")).unwrap(), "x\n");
    assert!(!root.join("top").exists());
}

#[test]
fn mounts_go_on_top_of_the_root() {
    if !require_kvm() || !have_all(&["ldd"]) {
        return;
    }
    let bash = Path::new("/bin/bash").canonicalize().unwrap();
    let root = minimal_root("root-mount", &[&bash]);
    let bash_inside = format!("/{}", bash.strip_prefix("/").unwrap().display());
    let shared = work_dir("root-mount-data");
    fs::write(shared.join("hello.txt"), "shared\n").unwrap();
    let mount = abi::mount_arg(&shared, "/data", None);
    let out = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--mount",
            &mount,
            "--",
            &bash_inside,
            "-c",
            "read line < /data/hello.txt; echo $line",
        ],
        None,
    );
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_str(), "shared\n");
    // A mount point inside the host's tree must exist: none is created
    // there, even with :rw.
    let rw = format!("{}:rw", root.display());
    let mount = abi::mount_arg(&shared, "/usr/data", None);
    let out = run_vmm(
        &[
            "--root",
            &rw,
            "--mount",
            &mount,
            "--",
            &bash_inside,
            "-c",
            "true",
        ],
        None,
    );
    assert_eq!(out.code(), 125, "{out:?}");
    assert!(out.stderr_str().contains("/usr/data"), "{out:?}");
    assert!(!root.join("usr/data").exists());
    // In the sandbox's own /tmp it may be new.
    let mount = abi::mount_arg(&shared, "/tmp/a/b", None);
    let out = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--mount",
            &mount,
            "--",
            &bash_inside,
            "-c",
            "read line < /tmp/a/b/hello.txt; echo $line",
        ],
        None,
    );
    assert_eq!(out.stdout_str(), "shared\n", "{out:?}");
}

/// The first program is started from the sandbox's file systems after
/// every mount is in place: a program (and the libraries it needs) that
/// only a `--mount` provides runs as the command, as it would once started
/// from a shell inside.
#[test]
fn program_from_a_mount_over_the_root() {
    let hello = bad::dynamic();
    if !require_kvm() || !have_all(&["ldd"]) {
        return;
    }
    // The root has the libraries; the program itself is only in the mount.
    let root = minimal_root("root-mounted-prog", &[&hello]);
    let _ = fs::remove_file(root.join(inside_path(&hello).trim_start_matches('/')));
    let tools = work_dir("root-mounted-prog-tools");
    fs::copy(&hello, tools.join("hello")).unwrap();
    fs::set_permissions(tools.join("hello"), fs::Permissions::from_mode(0o755)).unwrap();
    let mount = abi::mount_arg(&tools, "/tmp/tools", None);
    let native = run_native(&hello, NO_ARGS, None);
    let sandbox = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--mount",
            &mount,
            "--",
            "/tmp/tools/hello",
        ],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
    // Found through PATH too.
    let sandbox = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--mount",
            &mount,
            "--env",
            "PATH=/tmp/tools",
            "--",
            "hello",
        ],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn musl_dynamic_in_a_minimal_root() {
    let musl_ld = Path::new("/lib/ld-musl-x86_64.so.1");
    if !require_kvm() || !have_all(&["musl-gcc"]) || !musl_ld.exists() {
        return;
    }
    // musl's dynamic linker is its libc too: the root holds the program and
    // that one file (PT_INTERP names a symlink on the host; here it is the
    // file itself).
    let root = work_dir("root-musl");
    let prog = root.join("hello-musl-dynamic");
    compile_c(
        &[&sources_dir().join("args.c")],
        &prog,
        "musl-gcc",
        &["-O2"],
    );
    let elf = fs::read(&prog).unwrap();
    assert!(
        elf_program_headers(&elf).iter().any(|&(t, _, _)| t == 3),
        "musl-gcc without -static should link dynamically"
    );
    fs::create_dir_all(root.join("lib")).unwrap();
    fs::copy(
        musl_ld.canonicalize().unwrap(),
        root.join("lib/ld-musl-x86_64.so.1"),
    )
    .unwrap();
    let native = run_native_argv0(&prog, "/hello-musl-dynamic", &["one", "two words"], None);
    let sandbox = run_vmm(
        &[
            "--root",
            root.to_str().unwrap(),
            "--",
            "/hello-musl-dynamic",
            "one",
            "two words",
        ],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
}

/// `LD_SHOW_AUXV=1` makes glibc's dynamic linker print the auxiliary vector.
fn auxv_of(out: &RunOutput) -> std::collections::HashMap<String, String> {
    out.stdout_str()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn hex(v: &str) -> u64 {
    u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn auxv_of_a_dynamic_program() {
    if !require_kvm() {
        return;
    }
    let mut native = Command::new("/bin/true");
    native.env_clear().env("LD_SHOW_AUXV", "1");
    let native = auxv_of(&run_command(&mut native, None));
    let run = || {
        let out = run_vmm(
            &["--root", "/", "--env", "LD_SHOW_AUXV=1", "--", "/bin/true"],
            None,
        );
        assert_eq!(out.code(), 0, "{out:?}");
        auxv_of(&out)
    };
    let (first, second) = (run(), run());
    for key in [
        "AT_PHENT",
        "AT_PHNUM",
        "AT_EXECFN",
        "AT_PAGESZ",
        "AT_PLATFORM",
    ] {
        assert_eq!(first.get(key), native.get(key), "{key}: {first:?}");
    }
    // The entry point lies where it does natively relative to the program
    // headers (the same executable, loaded whole at one bias).
    let offset =
        |a: &std::collections::HashMap<String, String>| hex(&a["AT_ENTRY"]) - hex(&a["AT_PHDR"]);
    assert_eq!(offset(&first), offset(&native));
    // The interpreter was loaded (AT_BASE) at a page boundary, the vDSO is
    // there, and both bases are randomized.
    let base = hex(&first["AT_BASE"]);
    assert!(base != 0 && base.is_multiple_of(4096), "{first:?}");
    assert!(first.contains_key("AT_SYSINFO_EHDR"), "{first:?}");
    assert!(
        first["AT_BASE"] != second["AT_BASE"] || first["AT_PHDR"] != second["AT_PHDR"],
        "no randomization: {first:?} {second:?}"
    );
}

/// The dynamic hello with its PT_INTERP path replaced by `interp` (the
/// same length as glibc's).
fn with_interpreter(dir: &Path, name: &str, interp: &str) -> PathBuf {
    const GLIBC_LD: &[u8] = b"/lib64/ld-linux-x86-64.so.2\0";
    assert_eq!(interp.len() + 1, GLIBC_LD.len(), "{interp}");
    let elf = fs::read(bad::dynamic()).unwrap();
    let mut want = interp.as_bytes().to_vec();
    want.push(0);
    let patched = abi::replace_bytes(&elf, GLIBC_LD, &want);
    assert_ne!(patched, elf, "no glibc PT_INTERP in the dynamic hello");
    let out = dir.join(name);
    fs::write(&out, patched).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
    out
}

#[test]
fn bad_interpreters() {
    if !require_kvm() {
        return;
    }
    let dir = work_dir("root-interp");
    let cases = [
        // (PT_INTERP, status of the first program)
        ("/no/such/ld-linux-x86-64.so", 127),
        ("/usr/lib/x86_64-linux-gnu//", 126),
        ("/etc/////////////////passwd", 126),
    ];
    for (i, (interp, status)) in cases.iter().enumerate() {
        let prog = with_interpreter(&dir, &format!("bad-interp-{i}"), interp);
        let path = prog.to_str().unwrap();
        // As the first program: the sentry's own 126/127.
        let out = run_vmm(&["--root", "/", "--", path], None);
        let line = assert_vmm_error(&out, *status);
        assert!(line.contains(path), "{line}");
        // Through execve inside the sandbox: the shell sees the errno Linux
        // gives (ENOENT, EACCES, ELIBBAD) and reports 127 or 126.
        same_script(&format!("{path}; echo status $?"), None);
    }
    // A malformed PT_INTERP segment (too short; not NUL-terminated) is
    // ENOEXEC, as on Linux.
    let elf = fs::read(bad::dynamic()).unwrap();
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes([elf[0x36], elf[0x37]]) as usize;
    let phnum = u16::from_le_bytes([elf[0x38], elf[0x39]]) as usize;
    let interp = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&at| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3)
        .expect("a PT_INTERP program header");
    let filesz = u64::from_le_bytes(elf[interp + 0x20..interp + 0x28].try_into().unwrap());
    for (i, bad_size) in [1, filesz - 1].into_iter().enumerate() {
        let mut patched = elf.clone();
        patched[interp + 0x20..interp + 0x28].copy_from_slice(&bad_size.to_le_bytes());
        let prog = dir.join(format!("bad-interp-size-{i}"));
        fs::write(&prog, patched).unwrap();
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
        let path = prog.to_str().unwrap();
        let out = run_vmm(&["--root", "/", "--", path], None);
        assert_vmm_error(&out, 126);
        same_script(&format!("{path}; echo status $?"), None);
    }
}

/// Runs `mount args...` (needs privileges); false when that fails.
fn try_mount(args: &[&str]) -> bool {
    match Command::new("mount").args(args).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            loud(&format!(
                "\n*** SKIPPED: mount {args:?} failed: {} ***\n",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
            false
        }
        Err(e) => {
            loud(&format!("\n*** SKIPPED: cannot run mount: {e} ***\n"));
            false
        }
    }
}

#[test]
fn root_enters_mounts_of_ordinary_filesystems_only() {
    if !require_kvm() {
        return;
    }
    let dir = work_dir("root-xdev");
    let (src, disk, mem) = (dir.join("src"), dir.join("disk"), dir.join("mem"));
    for d in [&src, &disk, &mem] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(src.join("f"), "on disk\n").unwrap();
    // A bind mount of this (disk) filesystem, and a tmpfs.
    if !try_mount(&["--bind", src.to_str().unwrap(), disk.to_str().unwrap()]) {
        return;
    }
    let tmpfs = try_mount(&["-t", "tmpfs", "rvisor-test", mem.to_str().unwrap()]);
    if tmpfs {
        fs::write(mem.join("g"), "in memory\n").unwrap();
    }
    let script = format!(
        "cat {0}/disk/f; cat {0}/mem/g; echo status $?",
        dir.display()
    );
    let out = run_vmm(&["--root", "/", "--", "bash", "-c", &script], None);
    let _ = Command::new("umount").arg(&disk).status();
    if tmpfs {
        let _ = Command::new("umount").arg(&mem).status();
    }
    assert_no_panic(&out);
    // The disk filesystem is entered; the tmpfs (runtime state, like the
    // host's /run or /dev/shm) is not.
    let want = "on disk\nstatus 1\n";
    assert_eq!(out.stdout_str(), want, "{out:?}");
}

// --- --cwd ------------------------------------------------------------------------

#[test]
fn cwd_sets_the_working_directory() {
    if !require_kvm() {
        return;
    }
    // Relative paths resolve from it, as in a native run started there.
    let script = "pwd; ls -d bin lib; cd ..; pwd";
    let mut native = Command::new("/bin/bash");
    native.args(["-c", script]).current_dir("/usr").env_clear();
    for (k, v) in DEFAULT_ENV {
        native.env(k, v);
    }
    let native = run_command(&mut native, None);
    let sandbox = run_vmm(
        &["--root", "/", "--cwd", "/usr", "--", "bash", "-c", script],
        None,
    );
    assert_same(&native, &sandbox, Compare::StdoutAndStatus);
    assert!(sandbox.stdout_str().starts_with("/usr\n"), "{sandbox:?}");
}

#[test]
fn cwd_must_exist_and_be_absolute() {
    if !require_kvm() {
        return;
    }
    let missing = run_vmm(
        &["--root", "/", "--cwd", "/no/such/dir", "--", "true"],
        None,
    );
    assert_eq!(missing.code(), 125, "{missing:?}");
    assert!(
        missing.stderr_str().contains("working directory"),
        "{missing:?}"
    );
    let file = run_vmm(&["--root", "/", "--cwd", "/bin/sh", "--", "true"], None);
    assert_eq!(file.code(), 125, "{file:?}");
    let relative = run_vmm(&["--root", "/", "--cwd", "usr", "--", "true"], None);
    assert_eq!(relative.code(), 125, "{relative:?}");
}
