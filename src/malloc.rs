//! Keeping glibc's allocator from returning large blocks to the kernel after every step.
//!
//! A training step allocates and frees the same large tensors every time (the `[64, 5000]`
//! logits of each time step, the `[1280, 5000]` logits of an MLE batch, their gradients).
//! glibc serves blocks above `M_MMAP_THRESHOLD` (128 KiB at first, raised dynamically up
//! to at most 32 MiB) with a fresh `mmap` and gives them back with `munmap`, and trims the
//! heap top above `M_TRIM_THRESHOLD`; either way the next step touches new pages and pays a
//! page fault per 4 KiB. For steps whose buffers are tens of MB (the benchmark's MLE
//! logits, 25.6 MB; the COCO-sized MLE step's `[2432, 4685]`, 45.6 MB: above the largest
//! mmap threshold glibc accepts) those page faults were a large share of the step's cycles,
//! and keeping the memory removed them (docs/performance.md, "Figures behind the code",
//! has the measurements).
//!
//! [`keep_freed_memory`] turns `mmap` allocation off (`M_MMAP_MAX = 0`: every block comes
//! from the heap) and raises the trim threshold, so that freed blocks stay in the process and
//! are reused; the process keeps its peak memory. It also limits glibc to one arena
//! (`M_ARENA_MAX = 1`): a thread other than the main one (a rayon worker running the step, as
//! in the benchmarks, which `install` a pool) otherwise allocates from an arena of its own,
//! made of 64 MiB heaps that glibc unmaps as soon as one is entirely free, whatever the trim
//! threshold. The MLE step's 25.6 MB buffers come and go in such heaps every step, and
//! page-fault throughout the profile of a step run inside a pool unless there is one arena
//! (docs/performance.md). Small blocks still come from each thread's own cache (tcache)
//! without locking. The same effect without code: `GLIBC_TUNABLES=`
//! `glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967295:glibc.malloc.arena_max=1`.
//!
//! An allocator policy is a property of the whole process, so it belongs to programs, not to
//! the libraries: the CLI (`src/main.rs`), the GAN benchmarks (`benches/benchmarks/gan.rs`) and
//! `examples/profile_gan_steps.rs` call [`keep_freed_memory`] once at start-up, before their
//! thread pools exist; the last two include this file with `#[path = ...] mod malloc;`.

/// Turns glibc's mmap allocation off, raises its trim threshold and limits it to one arena
/// (see the module docs). Returns `true` if the settings were accepted; a no-op returning
/// `false` on other C libraries and systems.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use libc::{M_ARENA_MAX, M_MMAP_MAX, M_TRIM_THRESHOLD, c_int, mallopt};
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any
        // time from any thread (glibc takes its arena locks).
        unsafe {
            let a = mallopt(M_MMAP_MAX, 0);
            let b = mallopt(M_TRIM_THRESHOLD, c_int::MAX);
            let c = mallopt(M_ARENA_MAX, 1);
            a == 1 && b == 1 && c == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_accepts_the_settings() {
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(super::keep_freed_memory());
        } else {
            assert!(!super::keep_freed_memory());
        }
    }
}
