//! `rvisor-runtime` under Debian's podman: `podman --runtime
//! target/release/rvisor-runtime run --rootfs DIR ...` runs the container in
//! an rvisor sandbox. Each case runs the same podman command with runc too
//! and compares stdout and exit status.
//!
//! podman keeps its state in a private directory of the target dir
//! (`--root`, `--runroot`, vfs storage, no network), so the host's podman
//! state is left alone. On this machine podman needs the cgroupfs manager
//! and ulimits below the host's hard limits (its defaults are higher).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rvisor_tests::*;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether podman (rootful, with conmon and runc) can run here; skips
/// loudly otherwise (fails under CI=true).
fn podman_ready() -> bool {
    if !require_kvm() {
        return false;
    }
    let problem = if !have_tool("podman") || !have_tool("conmon") || !have_tool("runc") {
        Some("podman, conmon or runc is not installed (scripts/setup.sh installs them)".to_string())
    } else if unsafe_geteuid() != 0 {
        Some("podman runs rootful here: the test must run as root".to_string())
    } else {
        None
    };
    match problem {
        None => true,
        Some(problem) if ci() => panic!("{problem}, and CI=true"),
        Some(problem) => {
            loud(&format!("\n*** SKIPPED: {problem} ***\n"));
            false
        }
    }
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The private podman state and the root file systems the cases use.
struct Setup {
    state: PathBuf,
    /// busybox (static) and bash with exactly the libraries ldd names.
    rootfs: PathBuf,
    ulimits: [String; 2],
}

fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit we own.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut limit) }, 0);
    limit.rlim_max
}

fn copy_with_libraries(program: &Path, rootfs: &Path) {
    let dest = rootfs.join(program.strip_prefix("/").unwrap());
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(program, &dest).unwrap();
    let ldd = Command::new("ldd").arg(program).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)".
        for word in line.split_whitespace().filter(|w| w.starts_with('/')) {
            let lib = Path::new(word);
            let dest = rootfs.join(lib.strip_prefix("/").unwrap());
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            // Follows symlinks: the root holds the files themselves.
            fs::copy(lib, &dest).unwrap();
        }
    }
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let base = target_dir().join("oci-test");
        let _ = fs::remove_dir_all(base.join("rootfs"));
        let rootfs = base.join("rootfs");
        for dir in ["bin", "tmp"] {
            fs::create_dir_all(rootfs.join(dir)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        copy_with_libraries(Path::new("/bin/bash"), &rootfs);
        let nofile = hard_limit(libc::RLIMIT_NOFILE).min(1024);
        let nproc = hard_limit(libc::RLIMIT_NPROC).min(4096);
        Setup {
            state: base.join("podman"),
            rootfs,
            ulimits: [
                format!("nofile={nofile}:{nofile}"),
                format!("nproc={nproc}:{nproc}"),
            ],
        }
    })
}

fn podman(runtime: &Path) -> Command {
    let setup = setup();
    let mut cmd = Command::new("podman");
    let state = |name: &str| setup.state.join(name).to_string_lossy().into_owned();
    cmd.args(["--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"])
        .args(["--events-backend", "file"])
        .args(["--root", &state("storage"), "--runroot", &state("run")])
        .args(["--tmpdir", &state("tmp")])
        .arg("--runtime")
        .arg(runtime);
    cmd
}

/// `podman run --rm` with `options` and `command` under `runtime`.
fn podman_run(runtime: &Path, options: &[&str], command: &[&str]) -> RunOutput {
    let setup = setup();
    let mut cmd = podman(runtime);
    cmd.args(["run", "--rm", "--network", "none"]);
    for ulimit in &setup.ulimits {
        cmd.args(["--ulimit", ulimit]);
    }
    cmd.args(options)
        .arg("--rootfs")
        .arg(&setup.rootfs)
        .args(command);
    run_command(&mut cmd, None)
}

/// The same podman run under runc and rvisor-runtime: stdout and exit
/// status must match.
#[track_caller]
fn same_as_runc(options: &[&str], command: &[&str]) -> RunOutput {
    let runc = podman_run(Path::new("runc"), options, command);
    let rvisor = podman_run(&rvisor_runtime(), options, command);
    assert_eq!(
        (runc.stdout_str(), runc.code()),
        (rvisor.stdout_str(), rvisor.code()),
        "runc:\n{}\nrvisor-runtime:\n{}",
        runc.describe(),
        rvisor.describe()
    );
    rvisor
}

#[test]
fn echo_hello() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(&[], &["/bin/busybox", "echo", "hello"]);
    assert_eq!(out.stdout_str(), "hello\n", "{out:?}");
    assert_eq!(out.code(), 0, "{out:?}");
    // And it ran in rvisor's sandbox, not on the host kernel.
    let uname = podman_run(&rvisor_runtime(), &[], &["/bin/busybox", "uname", "-r"]);
    assert!(uname.stdout_str().trim().ends_with("-rvisor"), "{uname:?}");
}

#[test]
fn exit_status_propagates() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(&[], &["/bin/busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out:?}");
}

#[test]
fn environment_and_workdir() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(
        &["-e", "X=1", "-w", "/tmp"],
        &["/bin/busybox", "sh", "-c", "echo X=$X; pwd"],
    );
    assert_eq!(out.stdout_str(), "X=1\n/tmp\n", "{out:?}");
}

#[test]
fn read_only_volume() {
    if !podman_ready() {
        return;
    }
    let data = target_dir().join("oci-test").join("volume");
    let _ = fs::remove_dir_all(&data);
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("f"), "from the host\n").unwrap();
    let volume = format!("{}:/data:ro", data.display());
    let script = "cat /data/f; echo x > /data/g; echo write=$?";
    let out = same_as_runc(&["-v", &volume], &["/bin/busybox", "sh", "-c", script]);
    assert_eq!(out.stdout_str(), "from the host\nwrite=1\n", "{out:?}");
    assert!(!data.join("g").exists(), "a read-only volume was written");
}

#[test]
fn dynamic_bash_from_the_rootfs() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(
        &[],
        &[
            "/bin/bash",
            "-c",
            "echo \"bash ${BASH_VERSINFO[0]}\"; exit 4",
        ],
    );
    assert!(out.stdout_str().starts_with("bash "), "{out:?}");
    assert_eq!(out.code(), 4, "{out:?}");
}

#[test]
fn terminal_via_the_console_socket() {
    if !podman_ready() {
        return;
    }
    // podman -t: conmon's console socket receives the pty's master; the
    // container's stdio is the slave (output lines end in \r\n).
    let out = same_as_runc(
        &["-t"],
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "test -t 0 && echo stdin-tty; test -t 1 && echo stdout-tty; exit 5",
        ],
    );
    assert_eq!(out.stdout_str(), "stdin-tty\r\nstdout-tty\r\n", "{out:?}");
    assert_eq!(out.code(), 5, "{out:?}");
}

#[test]
fn user_and_hostname() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(
        &["--user", "1000:1001", "--hostname", "box-1"],
        &["/bin/busybox", "sh", "-c", "id -u; id -g; hostname"],
    );
    assert_eq!(out.stdout_str(), "1000\n1001\nbox-1\n", "{out:?}");
}

#[test]
fn single_file_bind_mounts() {
    if !podman_ready() {
        return;
    }
    // podman binds /etc/hostname and /etc/hosts as files; -v binds a file
    // read-only and another read-write (written through to the host).
    let dir = target_dir().join("oci-test").join("files");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ro.txt"), "read only\n").unwrap();
    let ro = format!("{}:/ro.txt:ro", dir.join("ro.txt").display());
    let rw = format!("{}:/rw.txt", dir.join("rw.txt").display());
    let script = "cat /etc/hostname /ro.txt; grep -c h1 /etc/hosts; \
                  echo x >> /ro.txt; echo ro-write=$?; rm /etc/hostname; echo rm=$?; \
                  echo appended >> /rw.txt; cat /rw.txt";
    let mut outputs = Vec::new();
    for runtime in [PathBuf::from("runc"), rvisor_runtime()] {
        fs::write(dir.join("rw.txt"), "host\n").unwrap();
        let out = podman_run(
            &runtime,
            &["--hostname", "h1", "-v", &ro, "-v", &rw],
            &["/bin/busybox", "sh", "-c", script],
        );
        let host_view = fs::read_to_string(dir.join("rw.txt")).unwrap();
        outputs.push((out.stdout_str(), out.code(), host_view));
    }
    assert_eq!(outputs[0], outputs[1], "runc vs rvisor-runtime");
    assert_eq!(
        outputs[1].0,
        // (podman writes /etc/hostname without a newline.)
        "h1read only\n1\nro-write=1\nrm=1\nhost\nappended\n"
    );
    assert_eq!(outputs[1].2, "host\nappended\n");
    assert_eq!(
        fs::read_to_string(dir.join("ro.txt")).unwrap(),
        "read only\n"
    );
}

#[test]
fn process_user_no_new_privileges_rlimits() {
    if !podman_ready() {
        return;
    }
    // A static program that reports its ids, no_new_privs, capabilities,
    // host name and nofile limit, placed in the root.
    let program = c_program("oci_identity");
    fs::copy(&program, setup().rootfs.join("bin/oci_identity")).unwrap();
    let out = same_as_runc(
        &[
            "--user",
            "1000:1001",
            "--security-opt",
            "no-new-privileges",
            "--hostname",
            "ident",
            "--ulimit",
            "nofile=512:1000",
        ],
        &["/bin/oci_identity"],
    );
    assert_eq!(
        out.stdout_str(),
        "uid 1000 1000 1000\ngid 1001 1001 1001\nno_new_privs 1\ncap_eff_zero 1\n\
         nodename ident\nnofile 512 1000\n",
        "{out:?}"
    );
    // The same through /proc/self/status.
    let status = same_as_runc(
        &["--user", "1000:1001", "--security-opt", "no-new-privileges"],
        &[
            "/bin/busybox",
            "grep",
            "-E",
            "^(Uid|Gid|CapEff|NoNewPrivs):",
            "/proc/self/status",
        ],
    );
    assert_eq!(
        status.stdout_str(),
        "Uid:\t1000\t1000\t1000\t1000\nGid:\t1001\t1001\t1001\t1001\n\
         CapEff:\t0000000000000000\nNoNewPrivs:\t1\n"
    );
}

/// `podman run -d` of `command` under `runtime`: the container's ID.
fn podman_detached(runtime: &Path, options: &[&str], command: &[&str]) -> String {
    let setup = setup();
    let mut run = podman(runtime);
    run.args(["run", "-d", "--network", "none"]).args(options);
    for ulimit in &setup.ulimits {
        run.args(["--ulimit", ulimit]);
    }
    run.arg("--rootfs").arg(&setup.rootfs).args(command);
    let started = run_command(&mut run, None);
    assert_eq!(started.code(), 0, "{started:?}");
    started.stdout_str().trim().to_string()
}

fn inspect(runtime: &Path, id: &str, format: &str) -> String {
    let out = run_command(
        podman(runtime).args(["inspect", "--format", format, id]),
        None,
    );
    assert_eq!(out.code(), 0, "{out:?}");
    out.stdout_str().trim().to_string()
}

/// What happens to a detached `command` under `runtime`: SIGTERM first
/// (`podman kill`), its state after `wait` (or once it has exited, if
/// sooner), then `podman stop -t stop_timeout`: (state after SIGTERM, exit
/// code, seconds stop took).
fn term_then_stop(
    runtime: &Path,
    command: &[&str],
    wait: Duration,
    stop_timeout: u32,
) -> (String, String, f64) {
    // The command touches /state/ready once its signal set-up is done: a
    // SIGTERM before that would meet the default action (and be dropped).
    let state = target_dir().join("oci-test").join("term-state");
    let _ = fs::remove_dir_all(&state);
    fs::create_dir_all(&state).unwrap();
    let volume = format!("{}:/state", state.display());
    let id = podman_detached(runtime, &["-v", &volume], command);
    let ready = Instant::now() + Duration::from_secs(60);
    while !state.join("ready").exists() && Instant::now() < ready {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(state.join("ready").exists(), "{id} never got ready");
    assert_eq!(inspect(runtime, &id, "{{.State.Status}}"), "running");
    let kill = run_command(podman(runtime).args(["kill", "-s", "TERM", &id]), None);
    assert_eq!(kill.code(), 0, "{kill:?}");
    let deadline = Instant::now() + wait;
    let mut after_term = inspect(runtime, &id, "{{.State.Status}}");
    while after_term == "running" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after_term = inspect(runtime, &id, "{{.State.Status}}");
    }
    // ("stopped" is podman's word for a moment before "exited".)
    if after_term != "running" {
        after_term = "ended".into();
    }
    let began = Instant::now();
    let stop = run_command(
        podman(runtime).args(["stop", "-t", &stop_timeout.to_string(), &id]),
        None,
    );
    let took = began.elapsed().as_secs_f64();
    assert_eq!(stop.code(), 0, "{stop:?}");
    assert_eq!(inspect(runtime, &id, "{{.State.Status}}"), "exited");
    let code = inspect(runtime, &id, "{{.State.ExitCode}}");
    let rm = run_command(podman(runtime).args(["rm", &id]), None);
    assert_eq!(rm.code(), 0, "{rm:?}");
    (after_term, code, took)
}

#[test]
fn init_ignores_sigterm_and_stop_kills_it() {
    if !podman_ready() {
        return;
    }
    // pid 1 without a SIGTERM handler ignores SIGTERM (Linux's rule for a
    // namespace's init); `podman stop -t 2` falls back to SIGKILL.
    // (Two seconds for SIGTERM to do what it would: nothing, here.)
    let command = [
        "/bin/busybox",
        "sh",
        "-c",
        "/bin/busybox touch /state/ready; exec /bin/busybox sleep 1000",
    ];
    let wait = Duration::from_secs(2);
    let runc = term_then_stop(Path::new("runc"), &command, wait, 2);
    let rvisor = term_then_stop(&rvisor_runtime(), &command, wait, 2);
    assert_eq!(
        (&runc.0, &runc.1),
        (&rvisor.0, &rvisor.1),
        "runc {runc:?}, rvisor {rvisor:?}"
    );
    assert_eq!(rvisor.0, "running");
    assert_eq!(rvisor.1, "137");
    // Seconds, not the 10 s default or worse (a generous bound).
    assert!(rvisor.2 < 60.0, "podman stop -t 2 took {:.1} s", rvisor.2);
}

#[test]
fn init_with_a_trap_handles_sigterm() {
    if !podman_ready() {
        return;
    }
    let command = [
        "/bin/busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; /bin/busybox touch /state/ready; \
         while :; do /bin/busybox sleep 1; done",
    ];
    // The trap runs once the current `sleep 1` is over: wait for the exit
    // as long as a loaded machine needs.
    let wait = Duration::from_secs(60);
    let runc = term_then_stop(Path::new("runc"), &command, wait, 30);
    let rvisor = term_then_stop(&rvisor_runtime(), &command, wait, 30);
    assert_eq!(
        (&runc.0, &runc.1),
        (&rvisor.0, &rvisor.1),
        "runc {runc:?}, rvisor {rvisor:?}"
    );
    assert_eq!(rvisor.0, "ended");
    assert_eq!(rvisor.1, "7");
}

#[test]
fn detached_container_stops() {
    if !podman_ready() {
        return;
    }
    let runtime = rvisor_runtime();
    let id = podman_detached(&runtime, &[], &["/bin/busybox", "sleep", "1000"]);
    assert_eq!(inspect(&runtime, &id, "{{.State.Status}}"), "running");
    let began = Instant::now();
    let stop = run_command(podman(&runtime).args(["stop", "-t", "2", &id]), None);
    assert_eq!(stop.code(), 0, "{stop:?}");
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(inspect(&runtime, &id, "{{.State.Status}}"), "exited");
    let rm = run_command(podman(&runtime).args(["rm", &id]), None);
    assert_eq!(rm.code(), 0, "{rm:?}");
}

/// One `podman exec` case: its options, its command and its stdin.
type ExecCase<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a [u8]>);

/// What `podman exec` gives in a running container under `runtime`, for
/// each case: (stdout, exit code).
fn exec_outcomes(runtime: &Path, cases: &[ExecCase]) -> Vec<(String, i32)> {
    let id = podman_detached(runtime, &[], &["/bin/busybox", "sleep", "1000"]);
    let outcomes = cases
        .iter()
        .map(|(options, command, stdin)| {
            let mut exec = podman(runtime);
            exec.arg("exec").args(*options).arg(&id).args(*command);
            let out = run_command(&mut exec, *stdin);
            (out.stdout_str().to_string(), out.code())
        })
        .collect();
    let rm = run_command(podman(runtime).args(["rm", "-f", "-t", "0", &id]), None);
    assert_eq!(rm.code(), 0, "{rm:?}");
    outcomes
}

#[test]
fn exec_in_a_running_container() {
    if !podman_ready() {
        return;
    }
    let sh =
        |script: &'static str| -> Vec<&'static str> { vec!["/bin/busybox", "sh", "-c", script] };
    let (out_err, env_cwd, status, killed) = (
        sh("echo out; echo err >&2; exit 3"),
        sh("echo A=$A; pwd; echo ppid=$PPID"),
        sh("exit 42"),
        sh("kill -9 $$"),
    );
    let on_a_tty = sh("test -t 0 && test -t 1 && echo both-ttys");
    let cases: Vec<ExecCase> = vec![
        (&[], &["/bin/busybox", "echo", "hello from exec"], None),
        (&[], &out_err, None),
        (&["-e", "A=1", "-w", "/tmp"], &env_cwd, None),
        (&[], &status, None),
        (&[], &killed, None),
        (
            &["-i"],
            &["/bin/busybox", "wc", "-c"],
            Some(&[b'x'; 100_000][..]),
        ),
        (&["-u", "1000:1001"], &["/bin/busybox", "id"], None),
        (&[], &["/no/such/program"], None),
        (&["-t"], &["/bin/busybox", "echo", "on a terminal"], None),
        (&["-t"], &on_a_tty, None),
    ];
    let runc = exec_outcomes(Path::new("runc"), &cases);
    let rvisor = exec_outcomes(&rvisor_runtime(), &cases);
    assert_eq!(
        runc, rvisor,
        "podman exec: runc (left) and rvisor-runtime (right) differ"
    );
    assert_eq!(rvisor[0], ("hello from exec\n".to_string(), 0));
    assert_eq!(rvisor[1], ("out\n".to_string(), 3));
    assert_eq!(rvisor[2].0, "A=1\n/tmp\nppid=0\n");
    assert_eq!(rvisor[4].1, 137);
    assert_eq!(rvisor[5].0.trim(), "100000");
    assert_eq!(rvisor[9].0, "both-ttys\r\n");
}

/// A bundle for the runtime's command line: `runc spec`'s config.json with
/// `args`, no terminal, and a shared directory `data` (rw) at /data.
fn bundle(name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let dir = target_dir().join("oci-test").join("bundles").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("data")).unwrap();
    let spec = run_command(
        Command::new("runc").args(["spec", "--bundle"]).arg(&dir),
        None,
    );
    assert_eq!(spec.code(), 0, "{spec:?}");
    let config = fs::read_to_string(dir.join("config.json")).unwrap();
    // Plain text edits of runc's template (no JSON library here).
    let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let config = config
        .replacen("\"terminal\": true", "\"terminal\": false", 1)
        .replacen("\"sh\"\n\t\t]", &format!("{}\n\t\t]", quoted.join(",")), 1)
        .replacen("\"path\": \"rootfs\"", &format!("\"path\": {:?}", setup().rootfs.display().to_string()), 1)
        .replacen("\"readonly\": true", "\"readonly\": false", 1)
        .replacen(
            "\"mounts\": [",
            &format!(
                "\"mounts\": [{{\"destination\": \"/data\", \"type\": \"bind\", \"source\": {:?}, \"options\": [\"rbind\", \"rw\"]}},",
                dir.join("data").display().to_string()
            ),
            1,
        );
    assert!(
        config.contains(&quoted.join(",")),
        "runc spec's template changed:\n{config}"
    );
    fs::write(dir.join("config.json"), config).unwrap();
    let data = dir.join("data");
    (dir, data)
}

fn runtime_cli(runtime: &Path, root: &Path, args: &[&str]) -> RunOutput {
    run_command(
        Command::new(runtime).arg("--root").arg(root).args(args),
        None,
    )
}

fn status_of(runtime: &Path, root: &Path, id: &str) -> (String, i64) {
    let out = runtime_cli(runtime, root, &["state", id]);
    assert_eq!(out.code(), 0, "{out:?}");
    let text = out.stdout_str();
    let field = |key: &str| {
        let at = text
            .find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{text}"));
        let rest = text[at..].split_once(':').unwrap().1.trim_start();
        rest.split([',', '\n'])
            .next()
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    };
    (field("status"), field("pid").parse().unwrap())
}

/// One container's life on the runtime's own command line: what the
/// runtime says at each step (compared between runc and rvisor-runtime).
fn lifecycle(runtime: &Path, name: &str) -> Vec<String> {
    let (dir, data) = bundle(
        name,
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "touch /data/ran; exec /bin/busybox sleep 1000",
        ],
    );
    let root = dir.join("state");
    let id = format!("rvisor-test-{name}");
    let pid_file = dir.join("pid");
    let mut seen = Vec::new();
    // The container keeps create's stdio: /dev/null, not the test's pipes.
    let create = Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle"])
        .arg(&dir)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(create.success(), "{runtime:?} create: {create}");
    let (status, pid) = status_of(runtime, &root, &id);
    let pid_in_file: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, pid_in_file);
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    seen.push(format!("after create: {status}"));
    // Created: the program has not run its first instruction.
    std::thread::sleep(Duration::from_millis(500));
    seen.push(format!("ran before start: {}", data.join("ran").exists()));
    let start = runtime_cli(runtime, &root, &["start", &id]);
    assert_eq!(start.code(), 0, "{start:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.join("ran").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    seen.push(format!("ran after start: {}", data.join("ran").exists()));
    seen.push(format!("after start: {}", status_of(runtime, &root, &id).0));
    let ps = runtime_cli(runtime, &root, &["ps", "--format", "json", &id]);
    assert_eq!(ps.code(), 0, "{ps:?}");
    let pids: Vec<i64> = ps
        .stdout_str()
        .trim()
        .trim_matches(['[', ']'])
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    // runc lists the container's host processes (here: sleep, which
    // replaced the shell); rvisor-runtime the VMM holding them all.
    seen.push(format!("ps lists the state's pid: {}", pids == [pid]));
    let kill = runtime_cli(runtime, &root, &["kill", &id, "KILL"]);
    assert_eq!(kill.code(), 0, "{kill:?}");
    // The runtime is not the process's parent: it is reaped by init (this
    // test is no subreaper), so wait for it to go.
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_of(runtime, &root, &id).0 != "stopped" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    seen.push(format!("after kill: {}", status_of(runtime, &root, &id).0));
    let delete = runtime_cli(runtime, &root, &["delete", &id]);
    assert_eq!(delete.code(), 0, "{delete:?}");
    let gone = runtime_cli(runtime, &root, &["state", &id]);
    seen.push(format!("state after delete fails: {}", gone.code() != 0));
    seen
}

#[test]
fn runtime_lifecycle_like_runc() {
    if !podman_ready() {
        return;
    }
    let runc = lifecycle(Path::new("runc"), "runc");
    let rvisor = lifecycle(&rvisor_runtime(), "rvisor");
    assert_eq!(runc, rvisor);
    assert_eq!(
        rvisor,
        [
            "after create: created",
            "ran before start: false",
            "ran after start: true",
            "after start: running",
            "ps lists the state's pid: true",
            "after kill: stopped",
            "state after delete fails: true",
        ]
    );
}

/// A containerd daemon of the test's own (root, state, socket under the
/// target dir), stopped when dropped.
struct Containerd {
    child: std::process::Child,
    socket: PathBuf,
}

impl Containerd {
    fn start() -> Containerd {
        let base = target_dir().join("oci-test").join("containerd");
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let socket = base.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = {:?}\nstate = {:?}\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = {:?}\n[ttrpc]\n  address = \"{}.ttrpc\"\n",
            base.join("root").display().to_string(),
            base.join("state").display().to_string(),
            socket.display().to_string(),
            socket.display()
        );
        fs::write(base.join("config.toml"), config).unwrap();
        let log = fs::File::create(base.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(base.join("config.toml"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd");
        let daemon = Containerd { child, socket };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let version = daemon.ctr(&["version"]);
            if version.code() == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd does not answer: {version:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    fn ctr(&self, args: &[&str]) -> RunOutput {
        run_command(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .args(["--namespace", "rvisor-test"])
                .args(args),
            None,
        )
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to the daemon this test started (not reaped yet).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn sha256_file(path: &Path) -> String {
    let out = run_command(Command::new("sha256sum").arg(path), None);
    assert_eq!(out.code(), 0, "{out:?}");
    out.stdout_str()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// An OCI image archive (image layout in a tar) of one layer: busybox
/// (static) with /bin/sh. Returns the archive's path and the image name.
fn busybox_image_archive() -> (PathBuf, &'static str) {
    const NAME: &str = "docker.io/rvisor/busybox:test";
    let base = target_dir().join("oci-test").join("image");
    let _ = fs::remove_dir_all(&base);
    let (tree, layout) = (base.join("tree"), base.join("layout"));
    let blobs = layout.join("blobs").join("sha256");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::create_dir_all(&blobs).unwrap();
    fs::copy("/bin/busybox", tree.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", tree.join("bin/sh")).unwrap();
    let layer = base.join("layer.tar");
    let tar = run_command(
        Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(&tree)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
        None,
    );
    assert_eq!(tar.code(), 0, "{tar:?}");
    // Stores a blob; returns (digest, size).
    let store = |path: &Path| {
        let digest = sha256_file(path);
        fs::copy(path, blobs.join(&digest)).unwrap();
        (
            format!("sha256:{digest}"),
            fs::metadata(path).unwrap().len(),
        )
    };
    let (layer_digest, layer_size) = store(&layer);
    let config = base.join("config.json");
    fs::write(
        &config,
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        ),
    )
    .unwrap();
    let (config_digest, config_size) = store(&config);
    let manifest = base.join("manifest.json");
    fs::write(
        &manifest,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_size}}}]}}"#
        ),
    )
    .unwrap();
    let (manifest_digest, manifest_size) = store(&manifest);
    fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{manifest_size},"annotations":{{"io.containerd.image.name":"{NAME}","org.opencontainers.image.ref.name":"test"}}}}]}}"#
        ),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = base.join("image.tar");
    let tar = run_command(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&archive)
            .arg("."),
        None,
    );
    assert_eq!(tar.code(), 0, "{tar:?}");
    (archive, NAME)
}

#[test]
fn containerd_ctr_run() {
    if !podman_ready() {
        return;
    }
    if !have_tool("containerd") || !have_tool("ctr") {
        let problem = "containerd is not installed (scripts/setup.sh installs it)";
        if ci() {
            panic!("{problem}, and CI=true");
        }
        loud(&format!("\n*** SKIPPED: {problem} ***\n"));
        return;
    }
    let (archive, image) = busybox_image_archive();
    let daemon = Containerd::start();
    let import = daemon.ctr(&[
        "images",
        "import",
        "--snapshotter",
        "native",
        archive.to_str().unwrap(),
    ]);
    assert_eq!(import.code(), 0, "{import:?}");
    let runtime = rvisor_runtime();
    let run = |binary: Option<&Path>, id: &str, script: &str| {
        let mut args = vec!["run", "--rm", "--snapshotter", "native"];
        if let Some(binary) = binary {
            args.extend(["--runc-binary", binary.to_str().unwrap()]);
        }
        args.extend([image, id, "/bin/sh", "-c", script]);
        daemon.ctr(&args)
    };
    let script = "echo hello from $(uname -s); echo X=$PATH; exit 3";
    let runc = run(None, "runc-1", script);
    let rvisor = run(Some(&runtime), "rvisor-1", script);
    assert_eq!(
        (runc.stdout_str(), runc.code()),
        (rvisor.stdout_str(), rvisor.code()),
        "runc:\n{}\nrvisor-runtime:\n{}",
        runc.describe(),
        rvisor.describe()
    );
    assert_eq!(rvisor.stdout_str(), "hello from Linux\nX=/bin\n");
    assert_eq!(rvisor.code(), 3);
    // In rvisor's sandbox, not on the host kernel.
    let uname = run(Some(&runtime), "rvisor-2", "uname -r");
    assert!(uname.stdout_str().trim().ends_with("-rvisor"), "{uname:?}");

    // ctr task exec: a second process in the running container.
    let exec_in = |binary: Option<&Path>, id: &str| {
        let mut args = vec!["run", "-d", "--snapshotter", "native"];
        if let Some(binary) = binary {
            args.extend(["--runc-binary", binary.to_str().unwrap()]);
        }
        args.extend([image, id, "/bin/sh", "-c", "sleep 1000"]);
        let started = daemon.ctr(&args);
        assert_eq!(started.code(), 0, "{started:?}");
        let script = "echo exec in $(uname -s) as $(id -u); exit 4";
        let exec = daemon.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            id,
            "/bin/sh",
            "-c",
            script,
        ]);
        for cleanup in [
            &["task", "kill", "-s", "SIGKILL", id][..],
            &["task", "delete", id][..],
            &["container", "delete", id][..],
        ] {
            // (The task may still be going away: delete retries.)
            let deadline = Instant::now() + Duration::from_secs(30);
            while daemon.ctr(cleanup).code() != 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        (exec.stdout_str().to_string(), exec.code())
    };
    let runc = exec_in(None, "runc-exec");
    let rvisor = exec_in(Some(&runtime), "rvisor-exec");
    assert_eq!(
        runc, rvisor,
        "ctr task exec: runc (left), rvisor-runtime (right)"
    );
    assert_eq!(rvisor, ("exec in Linux as 0\n".to_string(), 4));

    // ctr run -t: the shim's console socket gets the pty (ctr needs a
    // terminal of its own: script(1) gives it one).
    if !have_tool("script") {
        loud("\n*** SKIPPED: ctr run -t (no script(1)) ***\n");
        return;
    }
    let tty_run = |binary: Option<&Path>, id: &str| {
        let mut ctr = format!(
            "ctr --address {} --namespace rvisor-test run --rm -t --snapshotter native",
            daemon.socket.display()
        );
        if let Some(binary) = binary {
            ctr.push_str(&format!(" --runc-binary {}", binary.display()));
        }
        ctr.push_str(&format!(
            " {image} {id} /bin/sh -c 'test -t 0 && test -t 1 && echo both-ttys; exit 6'"
        ));
        run_command(
            Command::new("script").args(["-qec", &ctr, "/dev/null"]),
            None,
        )
    };
    let runc = tty_run(None, "runc-tty");
    let rvisor = tty_run(Some(&runtime), "rvisor-tty");
    assert_eq!(
        (runc.stdout_str().contains("both-ttys"), runc.code()),
        (rvisor.stdout_str().contains("both-ttys"), rvisor.code()),
        "runc:\n{}\nrvisor-runtime:\n{}",
        runc.describe(),
        rvisor.describe()
    );
    assert!(rvisor.stdout_str().contains("both-ttys"), "{rvisor:?}");
    assert_eq!(rvisor.code(), 6, "{rvisor:?}");
}

#[test]
fn tmpfs_mount() {
    if !podman_ready() {
        return;
    }
    // --tmpfs: a fresh tmpfs at /scratch; nothing reaches the root.
    let script = "echo a > /scratch/x && cat /scratch/x; \
                  awk '$2 == \"/scratch\" { print $1, $3 }' /proc/mounts";
    let out = same_as_runc(
        &["--tmpfs", "/scratch"],
        &["/bin/busybox", "sh", "-c", script],
    );
    assert_eq!(out.stdout_str(), "a\ntmpfs tmpfs\n", "{out:?}");
    assert!(!setup().rootfs.join("scratch/x").exists());
}
