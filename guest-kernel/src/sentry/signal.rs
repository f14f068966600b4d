//! Signal state of a task: dispositions, the blocked mask and the alternate
//! stack. Delivery to user handlers arrives with processes and threads; until
//! then a fatal signal ends the application with 128+N.

// An ABI table: complete on purpose, used or not.
#![allow(dead_code)]

use super::mm::usermem::Pod;

pub const NSIG: usize = 64;
pub const SIGKILL: u8 = 9;
pub const SIGSTOP: u8 = 19;
pub const SIGTRAP: u8 = 5;
pub const SIGILL: u8 = 4;
pub const SIGBUS: u8 = 7;
pub const SIGFPE: u8 = 8;
pub const SIGSEGV: u8 = 11;

pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
pub const MINSIGSTKSZ: u64 = 2048;

/// The kernel's `struct sigaction` on x86_64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

// SAFETY: repr(C), four u64s.
unsafe impl Pod for SigAction {}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SignalStack {
    pub sp: u64,
    pub flags: i32,
    pub _pad: i32,
    pub size: u64,
}

// SAFETY: repr(C); the explicit pad field leaves no implicit padding.
unsafe impl Pod for SignalStack {}

impl Default for SignalStack {
    fn default() -> Self {
        SignalStack {
            sp: 0,
            flags: SS_DISABLE,
            _pad: 0,
            size: 0,
        }
    }
}

pub struct SignalState {
    pub actions: [SigAction; NSIG],
    /// Blocked signals (bit n-1 for signal n).
    pub mask: u64,
    pub altstack: SignalStack,
}

impl SignalState {
    pub fn new() -> SignalState {
        SignalState {
            actions: [SigAction::default(); NSIG],
            mask: 0,
            altstack: SignalStack::default(),
        }
    }
}

/// Bits that can never be blocked.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));
