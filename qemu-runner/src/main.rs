//! `qemu-runner`: builds a bootable image (the sentry + the application +
//! its argv) for a QEMU board and boots it in QEMU, or writes it out.
//! See `docs/BOARDS.md`.

mod image;
mod qemu;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use boards::board::{self, Board};
use boards::bootinfo::{BOOT_FLAG_PRINT_SYSCALLS, BOOT_FLAG_VERBOSE};
use clap::builder::TypedValueParser;
use clap::Parser;
use rvisor_vmm::error::{internal, Failure};
use rvisor_vmm::{app, cli};

/// The sentry, built for x86_64-unknown-none by build.rs.
static SENTRY_ELF: &[u8] = include_bytes!(env!("RVISOR_SENTRY_ELF"));
/// The sentry, built for aarch64-unknown-none by build.rs.
static SENTRY_AARCH64_ELF: &[u8] = include_bytes!(env!("RVISOR_SENTRY_AARCH64_ELF"));

const AFTER_LONG_HELP: &str = "\
BOARDS
  qemu-x86_64        QEMU microvm, PVH boot (-kernel IMAGE), the sentry's native x86_64
                     backend in ring 0, the application in ring 3. Works under TCG.
  qemu-aarch64-virt  QEMU virt (GICv3, -cpu max), Linux arm64 Image boot (-kernel IMAGE), the
                     sentry at EL1, the application (a static aarch64 ELF) at EL0. Works under TCG.
  kvm-x86_64         what rvisor-vmm runs; use `rvisor-vmm --elf APP` instead
  kvm-aarch64        description only

THE IMAGE (--image-out FILE)
  qemu-aarch64-virt: a Linux arm64 Image (the sentry, its bss as zeros, then the application
  ELF, argv and environment). Boot it by hand with:

    qemu-system-aarch64 -machine virt,gic-version=3 -cpu max -smp 1 -nodefaults -no-user-config \\
        -display none -no-reboot -m 256M -kernel FILE -serial stdio \\
        -semihosting-config enable=on,target=native

  The PL011 (-serial) gets stdout; stderr goes to the semihosting console (QEMU's stderr, or
  chardev=ID). QEMU exits with the application's status (semihosting SYS_EXIT_EXTENDED):
  -semihosting is required.

  qemu-x86_64: one ELF file: the sentry's ELF (with its PVH entry note) plus one more PT_LOAD segment
  holding the application ELF, argv and environment, loaded right after the sentry.
  Boot it by hand with:

    qemu-system-x86_64 -machine microvm,rtc=on -cpu max -smp 1 -nodefaults -no-user-config \\
        -display none -no-reboot -m 256M -kernel FILE \\
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio

  COM1 (-serial) gets stdout, and stderr too unless a second UART is added at 0x2f8
  (-chardev file,id=e,path=err.txt -device isa-serial,chardev=e,iobase=0x2f8,irq=3).
  QEMU then exits with (status << 1) | 1, so (qemu_status - 1) / 2 is the application's
  status modulo 128. The full status is the line `RVISOR-EXIT exited|signaled|panic CODE`
  written to QEMU's isa-debugcon at port 0xe9 (-chardev ...,id=s -device
  isa-debugcon,chardev=s,iobase=0xe9), which is what qemu-runner reads. Without
  isa-debug-exit the machine halts at the end instead.
  The same payload also boots as `-kernel SENTRY -initrd PAYLOAD` (first PVH module).

EXIT STATUS
  The application's own; 128+N if it was killed by signal N; 124 on --timeout; 125 if
  qemu-runner, QEMU or the sentry failed (QEMU missing, guest crash, sentry panic);
  126 if the file is not a runnable static ELF for the board's architecture (x86_64 or
  aarch64); 127 if it does not exist.
  With --image-out: 0 once the image is written.

LIMITS (bare metal)
  stdin is always at end-of-file (no input is forwarded). One CPU, interrupts masked (no
  preemption). x86_64: the TSC frequency is measured against the PIT at boot (~1%, 10 ms); the
  wall clock comes from the CMOS RTC, else from the image's build time. The random seed comes
  from RDRAND mixed with the TSC; without RDRAND (CPUID) it is TSC-derived only, which is weak.
  RAM above 4 GiB is not used. aarch64: time is the generic timer (CNTVCT_EL0, CNTFRQ_EL0),
  sleeps wait in wfi for its interrupt (GICv3); the wall clock comes from the PL031 RTC; the
  seed from RNDR (-cpu max) mixed with the counter; at most 3 GiB of RAM is used.";

/// Build a bootable image of a static x86_64 Linux program and the rvisor
/// sentry for a QEMU board, and boot it in QEMU (TCG): the program's
/// stdout and stderr appear on qemu-runner's, and qemu-runner exits with the
/// program's exit status. With --image-out, write the image instead.
#[derive(Parser, Debug)]
#[command(
    name = "qemu-runner",
    version,
    about,
    long_about,
    after_long_help = AFTER_LONG_HELP,
    override_usage = "qemu-runner --board <BOARD> --elf <PATH> [--image-out <FILE>] [OPTIONS] [--] [ARGS]...\n       qemu-runner --board <BOARD> --print-syscall-table"
)]
struct Cli {
    /// The board: qemu-x86_64 or qemu-aarch64-virt (bootable), kvm-x86_64,
    /// kvm-aarch64 (see below).
    #[arg(long, value_name = "BOARD", value_parser = clap::builder::PossibleValuesParser::new(board::BOARDS.iter().map(|b| b.name)))]
    board: String,

    /// The program (a static Linux ELF for the board's architecture). It
    /// becomes argv[0] as given.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "print_syscall_table"
    )]
    elf: Option<OsString>,

    /// Boot the board's sentry only to print its syscall support table
    /// (Markdown; docs/syscalls-aarch64.md comes from this) and exit.
    #[arg(long)]
    print_syscall_table: bool,

    /// Write the bootable image to FILE instead of booting it (see THE
    /// IMAGE below for how to boot it).
    #[arg(long, value_name = "FILE")]
    image_out: Option<PathBuf>,

    /// Arguments for the program (argv[1..]).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<OsString>,

    /// Set an environment variable for the program (repeatable). The default
    /// environment is PATH=/usr/local/bin:/usr/bin:/bin and HOME=/.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = clap::builder::OsStringValueParser::new().try_map(cli::parse_env))]
    env: Vec<OsString>,

    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(32..=3072))]
    memory_mib: u64,

    /// Stop QEMU after this many seconds (exit status 124).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    timeout: f64,

    /// The QEMU binary (default: the board's, e.g. qemu-system-x86_64, from PATH).
    #[arg(long, value_name = "PATH")]
    qemu: Option<OsString>,

    /// Print the QEMU command line and timings; the sentry logs to stderr.
    #[arg(short, long)]
    verbose: bool,
}

fn bootable_board(name: &str) -> Result<&'static Board, Failure> {
    let board = board::by_name(name).ok_or_else(|| internal(format!("unknown board {name}")))?;
    if board.qemu.is_none() {
        return Err(internal(format!(
            "board {name} is run by rvisor-vmm under KVM, not by QEMU: use `rvisor-vmm --elf APP`"
        )));
    }
    if !board.implemented {
        return Err(internal(format!(
            "board {name} is a description only so far; bootable today: qemu-x86_64, qemu-aarch64-virt"
        )));
    }
    Ok(board)
}

fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Removes a file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run(cli: &Cli) -> Result<i32, Failure> {
    let board = bootable_board(&cli.board)?;
    let qemu_machine = board.qemu.expect("checked by bootable_board");
    if !(cli.timeout > 0.0 && cli.timeout.is_finite()) {
        return Err(internal("--timeout must be a positive number of seconds"));
    }
    let arch = match board.arch {
        board::Arch::X86_64 => &app::X86_64,
        board::Arch::Aarch64 => &app::AARCH64,
    };
    let envp = cli::environment(&cli.env);
    let mut flags = if cli.verbose { BOOT_FLAG_VERBOSE } else { 0 };
    let payload = match &cli.elf {
        Some(elf) if !cli.print_syscall_table => {
            let app = app::load_for(elf, arch)?;
            let mut argv = vec![app.path_as_given.clone()];
            argv.extend(cli.args.iter().cloned());
            image::build_payload(&image::PayloadSpec {
                app: &app.bytes,
                exe_path: app.canonical_path.as_os_str().as_bytes(),
                argv: &argv,
                envp: &envp,
                flags,
                build_realtime_ns: realtime_ns(),
            })
        }
        _ => {
            // The sentry prints its table before it looks at the application.
            flags |= BOOT_FLAG_PRINT_SYSCALLS;
            image::build_payload(&image::PayloadSpec {
                app: &[],
                exe_path: b"",
                argv: &[],
                envp: &[],
                flags,
                build_realtime_ns: realtime_ns(),
            })
        }
    };
    let image = match board.arch {
        board::Arch::X86_64 => image::build_image(SENTRY_ELF, &payload),
        board::Arch::Aarch64 => image::build_arm64_image(SENTRY_AARCH64_ELF, &payload),
    }
    .map_err(internal)?;

    if let Some(out) = &cli.image_out {
        std::fs::write(out, &image)
            .map_err(|e| internal(format!("cannot write {}: {e}", out.display())))?;
        eprintln!(
            "qemu-runner: wrote {} ({} bytes) for board {}; boot it with:\n  {}",
            out.display(),
            image.len(),
            board.name,
            qemu::manual_command(board, cli.memory_mib, out)
        );
        return Ok(0);
    }

    let binary = cli
        .qemu
        .clone()
        .unwrap_or_else(|| OsString::from(qemu_machine.binary));
    let binary = qemu::find_binary(&binary).ok_or_else(|| {
        internal(format!(
            "{} not found{}: install QEMU (Debian: apt-get install --no-install-recommends \
             {}) or pass --qemu PATH",
            binary.to_string_lossy(),
            if cli.qemu.is_some() { "" } else { " in PATH" },
            match board.arch {
                board::Arch::X86_64 => "qemu-system-x86",
                board::Arch::Aarch64 => "qemu-system-arm",
            }
        ))
    })?;
    let path = std::env::temp_dir().join(format!(
        "qemu-runner-{}-{}.elf",
        std::process::id(),
        realtime_ns()
    ));
    std::fs::write(&path, &image)
        .map_err(|e| internal(format!("cannot write {}: {e}", path.display())))?;
    let _cleanup = TempFile(path.clone());
    let launch = qemu::Launch {
        board,
        binary: binary.into_os_string(),
        memory_mib: cli.memory_mib,
        timeout: Duration::from_secs_f64(cli.timeout),
        verbose: cli.verbose,
    };
    qemu::run(&launch, Path::new(&path))
}

const PROGRAM: &str = "qemu-runner";

fn main() -> ExitCode {
    let cli: Cli = match cli::parse_or_exit(PROGRAM) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match run(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(failure) => {
            eprintln!("qemu-runner: {failure}");
            ExitCode::from(failure.exit_code() as u8)
        }
    }
}
