//! glibc's allocator, tuned for a long-running agent in a few MiB.
//!
//! Measured on the bench's staircase (BENCHMARKS.md): glibc raises its mmap
//! threshold each time a mapped chunk is freed, after which sled's 512 KiB
//! log buffers come from the heap and their pages stay resident once freed
//! (VmHWM 19.7 -> 17.9 MB with the threshold fixed); one arena instead of
//! one per thread that allocates (sled's seven I/O threads) saves another
//! ~0.6 MB. The agent's threads hardly contend for the allocator.

/// Applies the settings; call before any thread is started.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before
    // other threads exist, as glibc asks for M_ARENA_MAX.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
