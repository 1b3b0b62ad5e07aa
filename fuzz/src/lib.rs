//! The fuzz targets' bodies ([`targets`]), their scratch folder ([`scratch`]), and the
//! thread set-up of the libFuzzer binaries ([`run_rayon_on_this_thread`]).

pub mod scratch;
pub mod targets;

/// Makes the fuzzing thread the one thread of rayon's global pool
/// (`ThreadPoolBuilder::use_current_thread`), so that the loaders' parallel iterators run
/// inline on it. Without this, every parallel call hands its work to a pool thread and
/// sleeps until it is done: two context switches per call, which cost more than the work
/// on a busy machine. The libFuzzer binaries call it once, from `fuzz_target!`'s `init`.
///
/// # Panics
/// If the global pool was already built: a bug in the binary that calls this.
pub fn run_rayon_on_this_thread() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build_global()
        .expect("rayon's global pool is built once, before the first input");
}
