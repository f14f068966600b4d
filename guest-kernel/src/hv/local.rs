//! Hypercalls without a VMM (bare metal, board `qemu-x86_64`): the requests
//! a VMM would serve, answered inside the sentry with the board's devices.
//!
//! * console output is drained from the ring to the UARTs as it is written
//!   (`hv::console`), so `ConsoleDrain` has nothing left to do;
//! * there is no stdin: `ConsoleRead` is end-of-file, and `ConsolePoll`
//!   reports stdin readable (at EOF) or waits out its timeout;
//! * `Exit` and `Panic` report the status and power off
//!   (`arch::qemu::exit`).

use boards::hypercall::{Op, Request, EXIT_KIND_EXITED, EXIT_KIND_SIGNALED};

use crate::arch::paging::phys_to_virt;
use crate::arch::qemu::{self, Ending};

/// True when there is no VMM and the board's drivers serve requests.
pub fn active() -> bool {
    qemu::active()
}

/// Serves one request in place.
pub fn serve(request: &mut Request) {
    request.result = match Op::from_raw(request.op) {
        Some(Op::ConsoleDrain) => 0,
        Some(Op::ConsoleRead) => 0,
        Some(Op::ConsolePoll) => {
            let [timeout_ns, watch_stdin, ..] = request.args;
            if watch_stdin != 0 {
                1 // stdin is at EOF: readable
            } else {
                qemu::delay_ns(timeout_ns);
                0
            }
        }
        Some(Op::Exit) => {
            let [kind, code, ..] = request.args;
            qemu::exit(match kind {
                EXIT_KIND_EXITED => Ending::Exited(code as u8),
                EXIT_KIND_SIGNALED => Ending::Signaled(code as u8),
                _ => Ending::Panic,
            })
        }
        Some(Op::Panic) => {
            let [gpa, len, ..] = request.args;
            // SAFETY: `fatal` passes the physical address and length of its
            // message buffer in the sentry's image (below 4 GiB, direct-mapped).
            let message =
                unsafe { core::slice::from_raw_parts(phys_to_virt(gpa), (len as usize).min(1024)) };
            qemu::console_write(false, b"rvisor: ");
            qemu::console_write(false, message);
            qemu::console_write(false, b"\n");
            qemu::exit(Ending::Panic)
        }
        // No host directories to share on bare metal (no --mount).
        Some(_) | None => -(crate::sentry::errno::ENOSYS.0 as i64),
    };
}
