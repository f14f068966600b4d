//! The arch-neutral Linux ABI: the task, its memory and files, the syscall
//! table and handlers, exec.

pub mod errno;
pub mod exec;
pub mod fd;
pub mod mm;
pub mod random;
pub mod sched;
pub mod signal;
pub mod stat;
pub mod syscalls;
pub mod task;
pub mod time;
pub mod traps;
pub mod vfs;
pub mod wait;

use alloc::sync::Arc;
use alloc::vec::Vec;

use boards::bootinfo::BootInfo;

use crate::arch::paging::phys_to_virt;
use crate::arch::{cpu, UserContext};
use fd::{FdTable, OpenFile, O_RDONLY, O_WRONLY};
use spin::Mutex;
use task::Task;
use vfs::console::{Console, TtyInfo};

/// What uname reports as the kernel release.
pub const KERNEL_RELEASE: &str = "6.1.0-rvisor";
/// The application's pid (it is init in its own world).
pub const APP_PID: i32 = 1;

/// Splits the boot strings: exe path, argv, envp.
fn boot_strings(boot_info: &BootInfo) -> (&'static [u8], Vec<&'static [u8]>, Vec<&'static [u8]>) {
    // SAFETY: the loader placed the strings region inside guest RAM (the
    // direct map covers all of it) and nothing writes it afterwards.
    let region = unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(boot_info.strings.start),
            boot_info.strings.size as usize,
        )
    };
    let mut strings = region.split(|&b| b == 0);
    let exe = strings.next().unwrap_or(b"");
    let argv: Vec<&[u8]> = strings.by_ref().take(boot_info.argc as usize).collect();
    let envp: Vec<&[u8]> = strings.take(boot_info.envc as usize).collect();
    (exe, argv, envp)
}

/// The initial filesystem tree: a tmpfs root with /tmp, /dev (devfs) and
/// /proc (mounted once the process exists), and the executable, read-only,
/// at its absolute host path.
fn build_namespace(
    exe_path: &[u8],
    image: &'static [u8],
    tty: TtyInfo,
) -> Result<Arc<vfs::Namespace>, errno::Errno> {
    let root = vfs::tmpfs::new_root_with_dirs(vfs::DEV_TMPFS, &[b"tmp", b"dev", b"proc"]);
    let namespace = Arc::new(vfs::Namespace::new(root));
    vfs::procfs::record_mount(b"tmpfs", b"/", b"tmpfs", b"rw");
    mount_at(&namespace, b"/dev", vfs::devfs::DevDir::new(tty))?;
    vfs::procfs::record_mount(b"devtmpfs", b"/dev", b"devtmpfs", b"rw");
    let exe = Arc::new(vfs::memfile::MemFile::new(image, 2, 0o555));
    if let Some(slash) = exe_path.iter().rposition(|&b| b == b'/') {
        let (dir, name) = (&exe_path[..slash], &exe_path[slash + 1..]);
        let under_special = dir.starts_with(b"/dev") || dir.starts_with(b"/proc");
        if !name.is_empty() && !under_special {
            let stack = vfs::make_dirs(&namespace, dir)?;
            if let Some(tmpfs_dir) = stack
                .node()
                .as_any()
                .downcast_ref::<vfs::tmpfs::TmpfsNode>()
            {
                tmpfs_dir.insert(name, exe)?;
            }
        }
    }
    write_user_database(&namespace)?;
    Ok(namespace)
}

/// /etc/passwd and /etc/group naming the ids the program runs with (root)
/// and `nobody`, as in a minimal container image: `ls -l`, `id` and
/// `whoami` print names as they do natively. Ordinary tmpfs files: the
/// program may rewrite them.
fn write_user_database(namespace: &vfs::Namespace) -> Result<(), errno::Errno> {
    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &[u8] = b"root:x:0:\nnogroup:x:65534:\n";
    let etc = vfs::make_dirs(namespace, b"/etc")?.node().clone();
    for (name, contents) in [(&b"passwd"[..], PASSWD), (b"group", GROUP)] {
        let node = etc.create(name, vfs::NewNode::File { mode: 0o644 })?;
        node.open(fd::O_WRONLY)?.write(contents, 0)?;
    }
    Ok(())
}

/// Mounts the `--mount` directories listed in the boot info.
fn mount_host_dirs(namespace: &vfs::Namespace, boot_info: &BootInfo) -> Result<(), errno::Errno> {
    use boards::bootinfo::{MountRecord, MOUNT_READ_ONLY};
    // SAFETY: the loader placed the mount table inside guest RAM and never
    // writes it afterwards.
    let table = unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(boot_info.mounts.start),
            boot_info.mounts.size as usize,
        )
    };
    let header = core::mem::size_of::<MountRecord>();
    let mut offset = 0;
    for index in 0..boot_info.mount_count {
        let record = table.get(offset..offset + header).ok_or(errno::EINVAL)?;
        let flags = u32::from_le_bytes(record[..4].try_into().unwrap());
        let len = u32::from_le_bytes(record[4..8].try_into().unwrap()) as usize;
        let path = table
            .get(offset + header..offset + header + len)
            .ok_or(errno::EINVAL)?;
        let read_only = flags & MOUNT_READ_ONLY != 0;
        let root = vfs::hostfs::mount_root(index, read_only)?;
        mount_at(namespace, path, root)?;
        let options: &[u8] = if read_only { b"ro" } else { b"rw" };
        vfs::procfs::record_mount(b"rvisor-host", path, b"hostfs", options);
        offset += (header + len + 7) & !7;
    }
    Ok(())
}

fn mount_at(
    namespace: &vfs::Namespace,
    path: &[u8],
    root: Arc<dyn vfs::Inode>,
) -> Result<(), errno::Errno> {
    let at = vfs::make_dirs(namespace, path)?;
    namespace.mount(at.node(), root)
}

/// Loads the application and enters it. Never returns.
pub fn start(boot_info: &BootInfo) -> ! {
    let (exe_path, argv, envp) = boot_strings(boot_info);
    // SAFETY: as for the strings: the ELF image sits in guest RAM, placed by
    // the loader, and is never written.
    let image: &'static [u8] = unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(boot_info.app_image.start),
            boot_info.app_image.size as usize,
        )
    };

    let mut mm = mm::AddressSpace::new(boot_info.page_table_root);
    let loaded = match exec::load_elf(&mut mm, &image) {
        Ok(loaded) => loaded,
        Err(e) => {
            crate::hv::console::fatal(format_args!("cannot load the application: errno {}", e.0))
        }
    };
    let hwcap = crate::arch::hwcap();
    let sp = match exec::build_stack(&mut mm, &loaded, &argv, &envp, exe_path, hwcap) {
        Ok(sp) => sp,
        Err(e) => crate::hv::console::fatal(format_args!(
            "cannot build the initial stack: errno {}",
            e.0
        )),
    };

    let tty_of = |stream: u8| TtyInfo {
        is_tty: boot_info.console_tty_mask & (1 << stream) != 0,
        termios: boot_info.termios,
        winsize: boot_info.winsize,
    };
    let mut fds = FdTable::default();
    for stream in 0..3u8 {
        let console = Arc::new(Console::new(stream, tty_of(stream)));
        let flags = if stream == 0 { O_RDONLY } else { O_WRONLY };
        fds.install(stream as usize, OpenFile::new(console, flags), false)
            .expect("the first descriptors fit");
    }
    let controlling_tty = TtyInfo {
        is_tty: boot_info.console_tty_mask & 0b11 != 0,
        ..tty_of(0)
    };

    let host_rlimits = (boot_info.flags & boards::bootinfo::BOOT_FLAG_HOST_RLIMITS != 0)
        .then_some(&boot_info.rlimits);
    let rlimits = task::initial_rlimits(host_rlimits);
    fds.limit = rlimits[task::RLIMIT_NOFILE].cur.min(usize::MAX as u64) as usize;
    let memory = Arc::new(Mutex::new(mm));
    let files = Arc::new(Mutex::new(fds));
    let argv_owned: Arc<Vec<Vec<u8>>> = Arc::new(argv.iter().map(|a| a.to_vec()).collect());
    let namespace = match build_namespace(exe_path, image, controlling_tty) {
        Ok(ns) => ns,
        Err(e) => crate::hv::console::fatal(format_args!(
            "cannot build the filesystem namespace: errno {}",
            e.0
        )),
    };
    let cwd = Arc::new(Mutex::new(namespace.root_stack()));
    let comm = Arc::new(Mutex::new(vfs::procfs::comm_of(exe_path)));
    let view = Arc::new(vfs::procfs::ProcessView {
        pid: APP_PID,
        fds: files.clone(),
        memory: Mutex::new(memory.clone()),
        cwd: cwd.clone(),
        argv: Mutex::new(argv_owned.clone()),
        exe_path: Mutex::new(exe_path.to_vec()),
        comm: comm.clone(),
    });
    vfs::procfs::add_view(view.clone());
    if let Err(e) = mount_at(&namespace, b"/proc", vfs::procfs::new_root(view)) {
        crate::hv::console::fatal(format_args!("cannot mount /proc: errno {}", e.0));
    }
    vfs::procfs::record_mount(b"proc", b"/proc", b"proc", b"rw");
    if let Err(e) = mount_host_dirs(&namespace, boot_info) {
        crate::hv::console::fatal(format_args!(
            "cannot mount a shared directory: errno {}",
            e.0
        ));
    }

    let start_tsc = cpu::counter();
    let task = Task {
        pid: APP_PID,
        tid: APP_PID,
        process: task::Process::new(APP_PID, 0, APP_PID, APP_PID),
        exit_signal: signal::SIGCHLD,
        vfork_parent: None,
        exiting: None,
        thread_exit: false,
        vfork_child: None,
        switch_request: None,
        memory,
        files,
        cwd,
        umask: 0o022,
        signals: signal::SignalState::new(),
        creds: syscalls::system::Credentials::default(),
        personality: 0,
        comm,
        nice: 0,
        dumpable: 1,
        no_new_privs: false,
        parent_death_signal: 0,
        child_subreaper: false,
        namespace,
        rlimits,
        clear_child_tid: 0,
        robust_list: 0,
        fs_base: 0,
        gs_base: 0,
        syscalls: 0,
        start_tsc,
        cpu_ticks: 0,
        running_since: start_tsc,
        children_cpu_ticks: 0,
    };
    log::debug!(
        "entering the application at {:#x}, sp {sp:#x}",
        loaded.entry
    );
    crate::arch::start_ticks();
    sched::start_first(
        task,
        UserContext::new_user(loaded.entry, sp),
        crate::arch::ThreadState::save(),
    )
}
