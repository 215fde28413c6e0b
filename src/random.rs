//! Unpredictable numbers from the kernel (getrandom): query IDs and source ports, and the
//! keys of hash tables whose contents clients choose.

/// `N` random bytes. getrandom does not fail for requests this small once the kernel's
/// pool is ready; should it, the bytes stay zero rather than the query being lost.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // SAFETY: b is a valid buffer of N bytes.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), N, 0) };
    b
}

pub fn u32() -> u32 {
    u32::from_ne_bytes(bytes())
}

pub fn u64() -> u64 {
    u64::from_ne_bytes(bytes())
}
