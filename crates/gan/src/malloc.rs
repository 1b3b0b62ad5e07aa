//! Keeping glibc's allocator from returning large blocks to the kernel after every step.
//!
//! A training step allocates and frees the same large tensors every time (the `[64, 5000]`
//! logits of each time step, the `[1280, 5000]` logits of an MLE batch, their gradients).
//! glibc serves blocks above `M_MMAP_THRESHOLD` (128 KiB at first, raised dynamically up
//! to 32 MiB) with a fresh `mmap` and gives them back with `munmap`, and trims the heap
//! top above `M_TRIM_THRESHOLD`; either way the next step touches new pages and pays a page
//! fault per 4 KiB. Measured on the benchmark configuration (1 thread): an MLE step's
//! backward took 40 ms with the defaults and 15 ms with the settings below, with about
//! 20% of all cycles in the kernel's page-fault handler before.
//!
//! [`keep_freed_memory`] raises both thresholds so that freed blocks stay in the process
//! and are reused. The CLI and the benchmarks call it once at start-up. The same effect
//! without code: `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295`.

/// Raises glibc's mmap and trim thresholds (see the module docs). Returns `true` if both
/// settings were accepted; a no-op returning `false` on other C libraries and systems.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::c_int;
        unsafe extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        // From glibc's <malloc.h>.
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems
        // (DEFAULT_MMAP_THRESHOLD_MAX); the largest tensor of a step here is 25.6 MB.
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any
        // time from any thread (glibc takes its arena locks).
        unsafe {
            let a = mallopt(M_MMAP_THRESHOLD, 32 << 20);
            let b = mallopt(M_TRIM_THRESHOLD, c_int::MAX);
            a == 1 && b == 1
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
