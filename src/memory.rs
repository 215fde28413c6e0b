//! Process memory: freed memory handed back after big loads, and the big tables of
//! names (hosts files, block lists) on huge pages, so that lookups spread over tens of
//! megabytes do not miss the TLB at every access.

/// `prctl(PR_SET_THP_DISABLE)`'s flag (Linux 6.18 on): off except where advised.
const PR_THP_DISABLE_EXCEPT_ADVISED: libc::c_ulong = 1 << 1;

/// A transparent huge page.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Keep transparent huge pages off except where `advise_huge_pages` asks for them.
/// mimalloc (built with no_thp) turns them off for the whole process, so that small heaps
/// are not rounded up to 2 MiB pages. False where the kernel cannot make the exception
/// (before 6.18): the tables then stay on small pages.
pub fn allow_advised_huge_pages() -> bool {
    // SAFETY: prctl with these arguments only changes the process's THP policy.
    unsafe {
        libc::prctl(
            libc::PR_SET_THP_DISABLE,
            1 as libc::c_ulong,
            PR_THP_DISABLE_EXCEPT_ADVISED,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        ) == 0
    }
}

/// Put the whole huge pages inside `items` (a table built and from now on read) on
/// huge pages, now. A hint: where the kernel says no, nothing changes.
pub fn advise_huge_pages<T>(items: &[T]) {
    let start = items.as_ptr() as usize;
    let end = start + std::mem::size_of_val(items);
    let first = start.next_multiple_of(HUGE_PAGE_BYTES);
    let last = end / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if last <= first {
        return;
    }
    let (at, len) = (first as *mut libc::c_void, last - first);
    // SAFETY: the range lies inside the live allocation behind `items`; these advices
    // change how it is mapped, never what it holds.
    unsafe {
        if libc::madvise(at, len, libc::MADV_HUGEPAGE) == 0 {
            libc::madvise(at, len, libc::MADV_COLLAPSE);
        }
    }
}

/// Hand memory freed on this thread back to the system (the allocator otherwise keeps it
/// for a while, which after a million-name load is most of the process's size).
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
