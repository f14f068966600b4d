//! userfaultfd: a program handles the page faults of registered ranges
//! of its own address space. A descriptor (the [`Userfaultfd`] context)
//! registers areas (`Vma::uffd`, Linux's vm_userfaultfd_ctx with its
//! VM_UFFD_* flags); a thread that touches a missing page of such an area
//! (or writes a page write-protected through it, or misses a page a shmem
//! file has) blocks, and a `struct uffd_msg` becomes readable (and
//! pollable) from the descriptor; UFFDIO_COPY, UFFDIO_ZEROPAGE,
//! UFFDIO_CONTINUE or UFFDIO_WRITEPROTECT provide the page and wake it,
//! and it takes its fault again.
//!
//! What the sentry offers is Linux 6.1's interface for private anonymous
//! memory (MISSING and, on x86_64, WP registrations) and for shmem
//! (tmpfs, memfd, SysV) files mapped shared (MINOR registrations), with
//! the features UFFD_FEATURE_SIGBUS, THREAD_ID, EXACT_ADDRESS,
//! MINOR_SHMEM and (x86_64) PAGEFAULT_FLAG_WP. Not offered, so
//! UFFDIO_API refuses them as a kernel without them would (EINVAL): the
//! non-cooperative events (EVENT_FORK, REMAP, REMOVE, UNMAP), hugetlbfs,
//! MISSING_SHMEM and WP_HUGETLBFS_SHMEM (registering shmem for missing
//! pages or write protection, or shared anonymous memory, is EINVAL).
//!
//! The sentry's own accesses to user memory (a read() into a registered
//! buffer, a futex word there) do not wait for the handler as Linux's
//! kernel accesses do: they fail with EFAULT, which is what Linux does
//! for a descriptor made with UFFD_USER_MODE_ONLY. Waiting there would
//! need the syscall to give up the address space and its task midway.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use super::{Access, AddressSpace, Vma, VmaKind, PAGE_SIZE};
use crate::mm as frames;
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLERR, POLLIN};
use crate::sentry::sched::TaskRef;
use crate::sentry::stat::Stat;
use crate::sentry::wait::WaitQueue;

/// UFFD_API: the only API version.
pub const UFFD_API: u64 = 0xaa;

pub const FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
pub const FEATURE_SIGBUS: u64 = 1 << 7;
pub const FEATURE_THREAD_ID: u64 = 1 << 8;
pub const FEATURE_MINOR_SHMEM: u64 = 1 << 10;
pub const FEATURE_EXACT_ADDRESS: u64 = 1 << 11;

pub const MODE_MISSING: u64 = 1;
pub const MODE_WP: u64 = 2;
pub const MODE_MINOR: u64 = 4;

/// uffd_msg.event of a page fault.
const EVENT_PAGEFAULT: u8 = 0x12;
pub const PAGEFAULT_FLAG_WRITE: u64 = 1;
pub const PAGEFAULT_FLAG_WP: u64 = 2;
pub const PAGEFAULT_FLAG_MINOR: u64 = 4;
/// sizeof(struct uffd_msg).
pub const MSG_SIZE: usize = 32;

/// The features UFFDIO_API reports (and accepts).
pub fn supported_features() -> u64 {
    let wp = if crate::arch::USERFAULTFD_WP {
        FEATURE_PAGEFAULT_FLAG_WP
    } else {
        0
    };
    FEATURE_SIGBUS | FEATURE_THREAD_ID | FEATURE_MINOR_SHMEM | FEATURE_EXACT_ADDRESS | wp
}

/// The registration modes UFFDIO_REGISTER accepts.
pub fn supported_modes() -> u64 {
    let wp = if crate::arch::USERFAULTFD_WP {
        MODE_WP
    } else {
        0
    };
    MODE_MISSING | MODE_MINOR | wp
}

/// An area's registration: its descriptor and modes (MODE_*).
#[derive(Clone)]
pub struct Registration {
    pub ctx: Arc<Userfaultfd>,
    pub mode: u64,
}

impl Registration {
    /// Registered with a descriptor that is still open.
    fn live(&self) -> bool {
        !self.ctx.released()
    }
}

/// Whether two areas' registrations are the same (they may merge).
pub fn same_registration(a: &Option<Registration>, b: &Option<Registration>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(&a.ctx, &b.ctx) && a.mode == b.mode,
        _ => false,
    }
}

/// A fault a thread waits on.
struct Fault {
    id: u64,
    page: u64,
    msg: [u8; MSG_SIZE],
    /// Read from the descriptor already (poll no longer reports it).
    read: bool,
    /// A UFFDIO_* call provided its page (or UFFDIO_WAKE): look again.
    woken: bool,
}

#[derive(Default)]
struct State {
    /// The features UFFDIO_API enabled; None before it (every other call
    /// is EINVAL then).
    features: Option<u64>,
    faults: Vec<Fault>,
    next_id: u64,
}

/// A userfaultfd context (Linux's struct userfaultfd_ctx).
pub struct Userfaultfd {
    ino: u64,
    /// The address space it serves (its creator's), held weakly: its
    /// areas hold the context.
    memory: Weak<Mutex<AddressSpace>>,
    state: Mutex<State>,
    /// The descriptor was closed: registrations no longer count and
    /// waiting faults go on.
    released: AtomicBool,
    /// Readers and pollers of messages.
    readers: Arc<WaitQueue>,
    /// Threads blocked on a fault.
    faulting: WaitQueue,
}

impl Userfaultfd {
    pub fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// The address space it serves; ESRCH once that is gone (Linux's
    /// mmget_not_zero failing).
    pub fn memory(&self) -> Result<Arc<Mutex<AddressSpace>>, Errno> {
        self.memory.upgrade().ok_or(ESRCH)
    }

    pub fn features(&self) -> Option<u64> {
        self.state.lock().features
    }

    /// UFFDIO_API: enables `features` once. Err when done before.
    pub fn enable(&self, features: u64) -> Result<(), Errno> {
        let mut state = self.state.lock();
        if state.features.is_some() {
            return Err(EINVAL);
        }
        state.features = Some(features);
        Ok(())
    }

    /// Wakes the threads whose faults lie in [start, end).
    pub fn wake(&self, start: u64, end: u64) {
        let mut any = false;
        for fault in self.state.lock().faults.iter_mut() {
            if fault.page >= start && fault.page < end {
                fault.woken = true;
                any = true;
            }
        }
        if any {
            self.faulting.wake_all();
        }
    }

    /// Queues a fault message; returns its id.
    fn queue(&self, page: u64, msg: [u8; MSG_SIZE]) -> u64 {
        let id = {
            let mut state = self.state.lock();
            let id = state.next_id;
            state.next_id += 1;
            state.faults.push(Fault {
                id,
                page,
                msg,
                read: false,
                woken: false,
            });
            id
        };
        self.readers.wake_all();
        id
    }

    /// Whether the fault `id` may be retried.
    fn done(&self, id: u64) -> bool {
        self.released()
            || self
                .state
                .lock()
                .faults
                .iter()
                .any(|f| f.id == id && f.woken)
    }

    /// The thread of fault `id` stopped waiting: its message goes too, read
    /// or not (Linux removes the waiter from both of its queues).
    fn forget(&self, id: u64) {
        self.state.lock().faults.retain(|f| f.id != id);
    }

    /// The descriptor was closed (Linux's userfaultfd_release): waiting
    /// threads go on, and the areas are unregistered (here where the
    /// address space is free to take; elsewhere a closed descriptor's
    /// registration counts as none until the next change of the areas).
    fn release(&self) {
        self.released.store(true, Ordering::Release);
        self.faulting.wake_all();
        self.readers.wake_all();
        if let Some(memory) = self.memory.upgrade() {
            if let Some(mut mm) = memory.try_lock() {
                mm.drop_registrations(self);
            }
        }
    }
}

/// An open userfaultfd (anon_inode:[userfaultfd]).
pub struct UserfaultfdFile {
    pub ctx: Arc<Userfaultfd>,
}

impl UserfaultfdFile {
    /// A new context serving `memory`.
    pub fn new(memory: &Arc<Mutex<AddressSpace>>) -> Arc<UserfaultfdFile> {
        Arc::new(UserfaultfdFile {
            ctx: Arc::new(Userfaultfd {
                ino: crate::sentry::vfs::events::next_anon_ino(),
                memory: Arc::downgrade(memory),
                state: Mutex::new(State::default()),
                released: AtomicBool::new(false),
                readers: Arc::new(WaitQueue::new()),
                faulting: WaitQueue::new(),
            }),
        })
    }
}

impl Drop for UserfaultfdFile {
    fn drop(&mut self) {
        self.ctx.release();
    }
}

impl File for UserfaultfdFile {
    /// Whole messages, oldest first; EAGAIN without one (the caller
    /// blocks unless O_NONBLOCK); EINVAL before UFFDIO_API or for a
    /// buffer smaller than one message.
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let mut state = self.ctx.state.lock();
        if state.features.is_none() || buf.len() < MSG_SIZE {
            return Err(EINVAL);
        }
        let mut done = 0;
        for fault in state.faults.iter_mut().filter(|f| !f.read) {
            if buf.len() - done < MSG_SIZE {
                break;
            }
            buf[done..done + MSG_SIZE].copy_from_slice(&fault.msg);
            fault.read = true;
            done += MSG_SIZE;
        }
        if done == 0 {
            return Err(EAGAIN);
        }
        Ok(done)
    }

    fn stat(&self) -> Stat {
        crate::sentry::vfs::events::anon_stat(self.ctx.ino)
    }

    /// POLLIN while a message is unread; POLLERR before UFFDIO_API.
    fn poll(&self, events: i16) -> i16 {
        let state = self.ctx.state.lock();
        if state.features.is_none() {
            return POLLERR;
        }
        if state.faults.iter().any(|f| !f.read) {
            events & POLLIN
        } else {
            0
        }
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        out.push(self.ctx.readers.clone());
    }

    fn as_userfaultfd(&self) -> Option<&Arc<Userfaultfd>> {
        Some(&self.ctx)
    }
}

/// How a fault reported to a userfaultfd ended.
pub enum Outcome {
    /// Take the fault again (the page may be there now; a signal may be
    /// delivered first).
    Retry,
    /// UFFD_FEATURE_SIGBUS: the fault raises SIGBUS instead of a message.
    Sigbus,
}

/// A user fault at `addr` that `ctx` must resolve (`flags`: the message's
/// UFFD_PAGEFAULT_FLAG_*): queues the message and blocks the thread until
/// a UFFDIO_* call wakes it, the descriptor is closed or a signal is to
/// be delivered (Linux's handle_userfault, interruptible for faults from
/// user mode). The caller holds no lock of the address space.
pub fn wait_for_page(task: &mut TaskRef, ctx: &Arc<Userfaultfd>, addr: u64, flags: u64) -> Outcome {
    if ctx.released() {
        return Outcome::Retry;
    }
    let features = ctx.features().unwrap_or(0);
    if features & FEATURE_SIGBUS != 0 {
        return Outcome::Sigbus;
    }
    let page = addr & !(PAGE_SIZE - 1);
    let mut msg = [0u8; MSG_SIZE];
    msg[0] = EVENT_PAGEFAULT;
    msg[8..16].copy_from_slice(&flags.to_le_bytes());
    let address = if features & FEATURE_EXACT_ADDRESS != 0 {
        addr
    } else {
        page
    };
    msg[16..24].copy_from_slice(&address.to_le_bytes());
    if features & FEATURE_THREAD_ID != 0 {
        msg[24..28].copy_from_slice(&task.tid.to_le_bytes());
    }
    let id = ctx.queue(page, msg);
    // One vCPU, and the sentry is not preempted: no UFFDIO_* call can run
    // between queueing the message and blocking below.
    while !ctx.done(id) {
        if crate::sentry::signal::wait(task, &[&ctx.faulting], u64::MAX, false).is_err() {
            break;
        }
    }
    ctx.forget(id);
    Outcome::Retry
}

/// Private anonymous memory: what MISSING and WP registrations take.
fn private_anonymous(vma: &Vma) -> bool {
    vma.file.is_none()
        && !vma.shared
        && matches!(
            vma.kind,
            VmaKind::Anonymous | VmaKind::Heap | VmaKind::Stack
        )
}

/// A shared mapping of a shmem file (tmpfs, memfd, SysV segment): what
/// MINOR registrations take.
fn shmem(vma: &Vma) -> bool {
    vma.shared
        && vma.file.as_ref().is_some_and(|f| {
            f.inode
                .as_any()
                .is::<crate::sentry::vfs::tmpfs::TmpfsNode>()
        })
}

/// Whether `vma` may be registered in `mode` (Linux's vma_can_userfault,
/// less what the sentry does not offer).
fn can_register(vma: &Vma, mode: u64) -> bool {
    if mode & MODE_MINOR != 0 {
        return mode & (MODE_MISSING | MODE_WP) == 0 && shmem(vma);
    }
    private_anonymous(vma)
}

/// Bits of the ioctls a registered range takes (_UFFDIO_WAKE, COPY,
/// ZEROPAGE, WRITEPROTECT, CONTINUE).
const RANGE_IOCTLS: u64 = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6) | (1 << 7);

impl AddressSpace {
    /// The live registration of the area at `addr`, with the area.
    fn registration(&self, addr: u64) -> Option<(&Vma, &Registration)> {
        let vma = self.find(addr)?;
        let reg = vma.uffd.as_ref().filter(|r| r.live())?;
        Some((vma, reg))
    }

    /// Whether a fault at `addr` (an access the area allows) must go to
    /// a userfaultfd: its context and the message's flags. A missing page
    /// of a MISSING area; a missing page of a MINOR area that its shmem
    /// file has; a write to a page write-protected in a WP area.
    pub fn userfault(&mut self, addr: u64, access: Access) -> Option<(Arc<Userfaultfd>, u64)> {
        let page = addr & !(PAGE_SIZE - 1);
        let (vma, reg) = self.registration(addr)?;
        let allowed = match access {
            Access::Read => vma.prot.read || vma.prot.write || vma.prot.exec,
            Access::Write => vma.prot.write,
            Access::Exec => vma.prot.exec,
        };
        if !allowed {
            return None;
        }
        let (ctx, mode) = (reg.ctx.clone(), reg.mode);
        let cached = vma
            .file
            .as_ref()
            .map(|f| (f.offset + (page - vma.start)) / PAGE_SIZE)
            .zip(vma.file.as_ref())
            .is_some_and(|(index, f)| f.inode.page_cached(index));
        let write = if access == Access::Write {
            PAGEFAULT_FLAG_WRITE
        } else {
            0
        };
        match self.page_table.translate(page) {
            None if mode & MODE_MISSING != 0 => Some((ctx, write)),
            None if mode & MODE_MINOR != 0 && cached => Some((ctx, write | PAGEFAULT_FLAG_MINOR)),
            Some(t)
                if mode & MODE_WP != 0
                    && access == Access::Write
                    && !t.access.writable
                    && self.uffd_wp.contains(&page) =>
            {
                Some((ctx, write | PAGEFAULT_FLAG_WP))
            }
            _ => None,
        }
    }

    /// [start, end) loses its userfaultfd write protection (unmapped,
    /// moved, discarded).
    pub(super) fn forget_write_protection(&mut self, start: u64, end: u64) {
        if self.uffd_wp.is_empty() {
            return;
        }
        let pages: Vec<u64> = self.uffd_wp.range(start..end).copied().collect();
        for page in pages {
            self.uffd_wp.remove(&page);
        }
    }

    /// Sets the registration of the areas in [start, end) to
    /// `change(area)`, splitting areas at the ends only where it changes
    /// and merging after (as `update_flags`).
    fn update_registration(
        &mut self,
        start: u64,
        end: u64,
        change: impl Fn(&Vma) -> Option<Registration>,
    ) -> Result<(), Errno> {
        if self
            .areas_in(start, end)
            .all(|v| same_registration(&change(v), &v.uffd))
        {
            return Ok(());
        }
        self.room_for_vmas(2)?;
        for at in [start, end] {
            if self
                .find(at)
                .is_some_and(|v| v.start < at && !same_registration(&change(v), &v.uffd))
            {
                self.split_at(at)?;
            }
        }
        let starts: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in starts {
            let vma = self.vmas.get_mut(&s).expect("listed above");
            vma.uffd = change(vma);
        }
        self.merge_around(start, end);
        Ok(())
    }

    /// The areas of [start, end): ENOMEM when none is at or after
    /// `start`, EINVAL when the first starts at or after `end` (Linux's
    /// order in userfaultfd_register and _unregister).
    fn registrable_areas(&self, start: u64, end: u64) -> Result<Vec<Vma>, Errno> {
        let first = self.find_from(start).ok_or(ENOMEM)?;
        if first.start >= end {
            return Err(EINVAL);
        }
        Ok(self.areas_in(start, end).cloned().collect())
    }

    /// UFFDIO_REGISTER of [start, end) (checked: page-aligned, in user
    /// space) with `ctx` in `mode`: every area in it must take the mode
    /// (EINVAL), be writable in principle (EPERM: Linux's VM_MAYWRITE)
    /// and not be registered with another open descriptor (EBUSY); holes
    /// are passed over. Returns the ioctls the range takes.
    pub fn uffd_register(
        &mut self,
        ctx: &Arc<Userfaultfd>,
        start: u64,
        end: u64,
        mode: u64,
    ) -> Result<u64, Errno> {
        for vma in self.registrable_areas(start, end)? {
            if !can_register(&vma, mode) {
                return Err(EINVAL);
            }
            if vma.file.as_ref().is_some_and(|f| !f.may_write) {
                return Err(EPERM);
            }
            if vma
                .uffd
                .as_ref()
                .is_some_and(|r| r.live() && !Arc::ptr_eq(&r.ctx, ctx))
            {
                return Err(EBUSY);
            }
        }
        let registration = Registration {
            ctx: ctx.clone(),
            mode,
        };
        self.update_registration(start, end, |_| Some(registration.clone()))?;
        let mut ioctls = RANGE_IOCTLS;
        if mode & MODE_WP == 0 {
            ioctls &= !(1 << 6);
        }
        if mode & MODE_MINOR == 0 {
            ioctls &= !(1 << 7);
        }
        Ok(ioctls)
    }

    /// UFFDIO_UNREGISTER of [start, end): the areas in it must be ones
    /// that could be registered (EINVAL); their waiting faults are woken.
    pub fn uffd_unregister(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let mut woken = Vec::new();
        for vma in self.registrable_areas(start, end)? {
            if !private_anonymous(&vma) && !shmem(&vma) {
                return Err(EINVAL);
            }
            if let Some(reg) = &vma.uffd {
                woken.push((reg.ctx.clone(), vma.start.max(start), vma.end.min(end)));
            }
        }
        self.update_registration(start, end, |_| None)?;
        self.forget_write_protection(start, end);
        for (ctx, s, e) in woken {
            ctx.wake(s, e);
        }
        Ok(())
    }

    /// A closed descriptor's areas lose their registration.
    fn drop_registrations(&mut self, ctx: &Userfaultfd) {
        let ranges: Vec<(u64, u64)> = self
            .vmas
            .values()
            .filter(|v| {
                v.uffd
                    .as_ref()
                    .is_some_and(|r| core::ptr::eq(Arc::as_ptr(&r.ctx), ctx))
            })
            .map(|v| (v.start, v.end))
            .collect();
        for (start, end) in ranges {
            // Whole areas: nothing splits. Should merging want memory it
            // does not have, the registration stays and counts as none.
            let _ = self.update_registration(start, end, |_| None);
            self.forget_write_protection(start, end);
        }
    }

    /// The area UFFDIO_COPY, ZEROPAGE, CONTINUE and WRITEPROTECT work in:
    /// it holds all of [start, start+len) and is registered (ENOENT
    /// otherwise, Linux's find_dst_vma).
    fn destination(&self, start: u64, len: u64) -> Result<(Vma, Registration), Errno> {
        let (vma, reg) = self.registration(start).ok_or(ENOENT)?;
        if start + len > vma.end {
            return Err(ENOENT);
        }
        Ok((vma.clone(), reg.clone()))
    }

    /// Checks a UFFDIO_COPY or ZEROPAGE to [dst, dst+len): ENOENT as
    /// [`destination`]; EINVAL for a write-protected copy into an area
    /// not registered for WP, or an area other than private anonymous
    /// memory (shmem takes only UFFDIO_CONTINUE here).
    pub fn uffd_check_fill(&self, dst: u64, len: u64, wp: bool) -> Result<(), Errno> {
        let (vma, reg) = self.destination(dst, len)?;
        if (wp && reg.mode & MODE_WP == 0) || !private_anonymous(&vma) {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Maps a new page at `page` holding `data` (zeros past it), for
    /// UFFDIO_COPY and ZEROPAGE: EEXIST when a page is there already;
    /// `wp` leaves it write-protected (UFFDIO_COPY_MODE_WP).
    pub fn uffd_fill_page(&mut self, page: u64, data: &[u8], wp: bool) -> Result<(), Errno> {
        self.uffd_check_fill(page, PAGE_SIZE, wp)?;
        let vma = self.find(page).cloned().ok_or(ENOENT)?;
        if self.page_table.translate(page).is_some() {
            return Err(EEXIST);
        }
        let frame = crate::mm::Frame::alloc_zeroed().ok_or(ENOMEM)?;
        crate::mm::frame::write(frame.phys(), 0, &data[..data.len().min(PAGE_SIZE as usize)]);
        let mut access = vma.prot.page_access();
        if wp {
            access.writable = false;
        }
        self.map_frame(page, frame, access)?;
        if wp {
            self.uffd_wp.insert(page);
        }
        Ok(())
    }

    /// UFFDIO_CONTINUE of [start, start+len) (a MINOR area of a shmem
    /// file): maps the file's pages. EINVAL for other areas, EEXIST at a
    /// page already mapped, EFAULT where the file has no page. Returns the
    /// bytes mapped, or the error when none were.
    pub fn uffd_continue(&mut self, start: u64, len: u64) -> Result<u64, Errno> {
        let (vma, _) = self.destination(start, len)?;
        if !shmem(&vma) {
            return Err(EINVAL);
        }
        let backing = vma.file.clone().expect("shmem areas have a file");
        let mut done = 0;
        while done < len {
            let page = start + done;
            let index = (backing.offset + (page - vma.start)) / PAGE_SIZE;
            let result = if self.page_table.translate(page).is_some() {
                Err(EEXIST)
            } else if !backing.inode.page_cached(index) {
                Err(EFAULT)
            } else {
                self.frame_for_kernel(page).map(|_| ())
            };
            if let Err(e) = result {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            done += PAGE_SIZE;
        }
        Ok(done)
    }

    /// UFFDIO_WRITEPROTECT of [start, start+len): `protect` makes the
    /// present pages read-only and reports writes to them; otherwise they
    /// become writable again (a page still shared copy-on-write stays
    /// read-only for that). ENOENT unless one area registered for WP
    /// holds the range (Linux 6.1's mwriteprotect_range; as there, pages
    /// not present are not protected).
    pub fn uffd_writeprotect(&mut self, start: u64, len: u64, protect: bool) -> Result<(), Errno> {
        let (vma, reg) = self.destination(start, len)?;
        if reg.mode & MODE_WP == 0 || !private_anonymous(&vma) {
            return Err(ENOENT);
        }
        let end = start + len;
        // 2 MiB blocks become pages: protection is per page.
        let mut blocks = Vec::new();
        self.page_table.for_each_leaf(start, end, |addr, _, size| {
            if size != PAGE_SIZE {
                blocks.push(addr);
            }
        });
        for block in blocks {
            self.split_block_at(block + PAGE_SIZE)?;
        }
        let mut pages = Vec::new();
        self.page_table
            .for_each_frame(start, end, |addr, frame| pages.push((addr, frame)));
        let mut alloc = frames::alloc_table_frame;
        for (page, frame) in pages {
            let mut access = vma.prot.page_access();
            if protect {
                access.writable = false;
                self.uffd_wp.insert(page);
            } else {
                self.uffd_wp.remove(&page);
                if frames::is_shared_frame(frame) {
                    access.writable = false;
                }
            }
            self.page_table
                .protect(page, access, &mut alloc)
                .map_err(|_| ENOMEM)?;
            crate::arch::cpu::flush_page(page);
        }
        Ok(())
    }
}
