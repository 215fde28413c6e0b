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

/// Ask for the whole huge pages inside `count` items from `start` (memory allocated for
/// a big table and not yet written) to be huge pages when first written. Asked before
/// the table is filled, so that pages come huge as they fault in: collapsing them later
/// would take the process's memory map lock while the DNS shards run. A hint: where the
/// kernel says no, nothing changes.
pub fn advise_huge_pages<T>(start: *const T, count: usize) {
    let start = start as usize;
    let end = start + count * std::mem::size_of::<T>();
    let first = start.next_multiple_of(HUGE_PAGE_BYTES);
    let last = end / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if last <= first {
        return;
    }
    // SAFETY: madvise(MADV_HUGEPAGE) changes how memory is mapped, never what it holds,
    // and fails harmlessly on a range that is not mapped.
    unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_HUGEPAGE,
        );
    }
}

/// Reservations smaller than this are left to fault in as they are written.
const POPULATE_FROM_BYTES: usize = 4 << 20;

/// Have the kernel make resident, on a thread of its own, the pages of `count` items from
/// `start`: memory allocated for a big table and about to be filled. The thread filling it
/// then writes to pages already there, rather than stopping at each to have it zeroed. A
/// hint: where the kernel says no, pages fault in as they are written.
pub fn populate_in_background<T>(start: *const T, count: usize) {
    let bytes = count * std::mem::size_of::<T>();
    if bytes < POPULATE_FROM_BYTES {
        return;
    }
    let first = (start as usize).next_multiple_of(4096);
    let end = start as usize + bytes;
    let _ = std::thread::Builder::new()
        .name("populate".into())
        .spawn(move || {
            // SAFETY: MADV_POPULATE_WRITE faults pages in as a write would, without
            // writing: what memory holds is unchanged, and on a range no longer mapped it
            // only fails.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    end - first,
                    libc::MADV_POPULATE_WRITE,
                )
            };
        });
}

/// Hand memory freed on this thread back to the system (the allocator otherwise keeps it
/// for a while, which after a million-name load is most of the process's size).
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
