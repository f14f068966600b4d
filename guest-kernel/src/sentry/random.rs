//! The sentry's CSPRNG (ChaCha20), seeded by the VMM from the host's
//! getrandom at boot: getrandom(2), /dev/urandom and AT_RANDOM draw from it
//! without leaving the VM.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use spin::Mutex;

static RNG: Mutex<Option<ChaCha20Rng>> = Mutex::new(None);

pub fn init(seed: [u8; 32]) {
    *RNG.lock() = Some(ChaCha20Rng::from_seed(seed));
}

pub fn fill(buf: &mut [u8]) {
    RNG.lock()
        .as_mut()
        .expect("random::init runs at boot")
        .fill_bytes(buf);
}
