//! Output must reach the host while the program runs, and input written
//! later must reach the program: a prompt/answer dialogue.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rvisor_tests::*;

/// Drives `prompt` through its three rounds, waiting for each prompt before
/// answering. Returns the full stdout transcript and the exit status.
fn dialogue(mut cmd: Command, what: &str) -> (Vec<String>, i32) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot spawn: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut transcript = Vec::new();
    let expect = |want: String, transcript: &mut Vec<String>, child: &mut std::process::Child| {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => {
                transcript.push(line.clone());
                assert_eq!(
                    line, want,
                    "{what}: unexpected line; transcript so far: {transcript:?}"
                );
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what}: no `{want}` line within 10 s (output not forwarded while the program runs?); \
                     transcript so far: {transcript:?}"
                );
            }
        }
    };
    for round in 1..=3 {
        expect(format!("prompt {round}?"), &mut transcript, &mut child);
        writeln!(stdin, "answer number {round}").unwrap();
        stdin.flush().unwrap();
        expect(
            format!("round {round}: got [answer number {round}]"),
            &mut transcript,
            &mut child,
        );
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let err = err_reader.join().unwrap_or_default();
    assert_eq!(
        err, "stderr after round 1\nstderr after round 2\nstderr after round 3\n",
        "{what}: stderr"
    );
    (transcript, status.code().unwrap_or(-1))
}

#[test]
fn prompt_and_answer() {
    let prog = c_program("prompt");
    if !require_kvm() {
        return;
    }
    let mut native = Command::new(&prog);
    native.env_clear().envs(DEFAULT_ENV.iter().copied());
    let (native_t, native_code) = dialogue(native, "native");

    let mut sandbox = vmm_command();
    sandbox.arg("--elf").arg(&prog);
    let (sandbox_t, sandbox_code) = dialogue(sandbox, "sandbox");

    assert_eq!(native_t, sandbox_t);
    assert_eq!(native_code, 0);
    assert_eq!(sandbox_code, native_code);
}

#[test]
fn prompt_batch() {
    // Everything at once: same transcript and same stderr as natively.
    let prog = c_program("prompt");
    if !require_kvm() {
        return;
    }
    let input = b"first\nsecond\nthird\n";
    let native = run_native(&prog, NO_ARGS, Some(input));
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], Some(input));
    assert_same(&native, &sandbox, Compare::All);
}

/// Runs `cmd` with its stdin held open, empty, for 600 ms before "late\n"
/// arrives; returns stdout.
fn with_late_input(mut cmd: Command, what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot spawn: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    // Wait until the program has armed its timer (however long start-up
    // took), then well past its first expiries.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut armed = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut armed).unwrap();
    assert_eq!(armed, "armed\n", "{what}: the program did not start");
    // The rest of stderr (nothing, normally) is drained, not cut off.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    std::thread::sleep(Duration::from_millis(600));
    // The program may have finished (EINTR) and closed its end already.
    let _ = stdin.write_all(b"late\n");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_timer_signal_interrupts_or_restarts_a_console_read() {
    let prog = c_program("signal_read");
    if !require_kvm() {
        return;
    }
    for args in [&[][..], &["restart"][..]] {
        let mut native = Command::new(&prog);
        native.args(args);
        let mut sandbox = vmm_command();
        sandbox.arg("--elf").arg(&prog).arg("--").args(args);
        let want = with_late_input(native, "native");
        let got = with_late_input(sandbox, "sandbox");
        assert_eq!(got, want, "signal_read {args:?}");
        let expected = if args.is_empty() {
            "read: -1 EINTR, handler ran: yes\n"
        } else {
            "read: late\n, handler ran: yes\n"
        };
        assert_eq!(got, expected, "signal_read {args:?}");
    }
}
