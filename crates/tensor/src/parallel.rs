//! Row-parallel execution with rayon.
//!
//! Rows are the unit of parallel work. A kernel hands each row (and its row index, so it
//! can find the matching rows of its inputs and derive its random stream) to a closure.
//! Tensors smaller than [`PAR_MIN_ELEMS`] stay on the calling thread: spawning tasks for a
//! 64 x 32 matrix costs more than the work. Above it, rayon splits the rows into tasks of at
//! least [`PAR_MIN_ELEMS`] / cols rows each.
//!
//! Determinism: the closure sees whole rows, reduces within a row sequentially, and
//! results come back in row order. Nothing depends on which thread ran which row, so the
//! output is bitwise identical for any number of threads. Kernels must not share mutable
//! state (an RNG, an accumulator) between rows.
//!
//! The thread count is rayon's: the global pool, or whichever pool the caller `install`s
//! ([`with_threads`] runs a closure in a pool of its own).

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Below this many elements a kernel runs on the calling thread.
pub const PAR_MIN_ELEMS: usize = 1 << 15;

/// Minimum rows per rayon task so that each task touches at least `PAR_MIN_ELEMS` elements.
#[inline]
fn min_rows_per_task(cols: usize) -> usize {
    PAR_MIN_ELEMS.div_ceil(cols.max(1)).max(1)
}

/// Calls `f(row_index, row)` for every `cols`-long row of `out`, in parallel when `out` is
/// large. `out.len()` must be a multiple of `cols` (checked in debug builds). A `cols` of 0
/// means there is nothing to do.
pub fn for_each_row_mut<T, F>(out: &mut [T], cols: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if cols == 0 || out.is_empty() {
        return;
    }
    debug_assert_eq!(out.len() % cols, 0);
    if out.len() < PAR_MIN_ELEMS {
        out.chunks_mut(cols).enumerate().for_each(|(i, r)| f(i, r));
    } else {
        out.par_chunks_mut(cols)
            .with_min_len(min_rows_per_task(cols))
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    }
}

/// Like [`for_each_row_mut`], but each call returns a value; the values come back in row
/// order (one per row).
pub fn map_rows_mut<T, R, F>(out: &mut [T], cols: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, &mut [T]) -> R + Sync + Send,
{
    if cols == 0 || out.is_empty() {
        return Vec::new();
    }
    debug_assert_eq!(out.len() % cols, 0);
    if out.len() < PAR_MIN_ELEMS {
        out.chunks_mut(cols)
            .enumerate()
            .map(|(i, r)| f(i, r))
            .collect()
    } else {
        out.par_chunks_mut(cols)
            .with_min_len(min_rows_per_task(cols))
            .enumerate()
            .map(|(i, r)| f(i, r))
            .collect()
    }
}

/// Like [`map_rows_mut`], with a scratch value per task for kernels that need a buffer
/// per row (rayon's `map_init`, the pattern STYLE.md names): `init()` makes one scratch
/// for each piece of work rayon hands a thread, and `f(scratch, row_index, row)` borrows
/// it for every row of that piece. `work_per_row` (the elements a row's work touches, at
/// least `cols`) sets the serial threshold and the task size as `cols` does for
/// [`map_rows_mut`].
///
/// Determinism: which rows share a scratch depends on the schedule, so `f` must overwrite
/// whatever part of the scratch it reads (never read a previous row's leftovers). Scratch
/// must hold no RNG state.
pub fn map_rows_mut_init<T, S, R, I, F>(
    out: &mut [T],
    cols: usize,
    work_per_row: usize,
    init: I,
    f: F,
) -> Vec<R>
where
    T: Send,
    R: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [T]) -> R + Sync + Send,
{
    if cols == 0 || out.is_empty() {
        return Vec::new();
    }
    debug_assert_eq!(out.len() % cols, 0);
    let rows = out.len() / cols;
    let work_per_row = work_per_row.max(cols);
    if rows.saturating_mul(work_per_row) < PAR_MIN_ELEMS {
        let mut scratch = init();
        out.chunks_mut(cols)
            .enumerate()
            .map(|(i, r)| f(&mut scratch, i, r))
            .collect()
    } else {
        out.par_chunks_mut(cols)
            .with_min_len(min_rows_per_task(work_per_row))
            .enumerate()
            .map_init(&init, |s, (i, r)| f(s, i, r))
            .collect()
    }
}

/// Calls `f(row_index)` for `rows` rows that each touch `cols` elements, returning the
/// results in row order. For kernels that only read (reductions, samplers).
pub fn map_rows<R, F>(rows: usize, cols: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    if rows.saturating_mul(cols) < PAR_MIN_ELEMS {
        (0..rows).map(f).collect()
    } else {
        (0..rows)
            .into_par_iter()
            .with_min_len(min_rows_per_task(cols))
            .map(f)
            .collect()
    }
}

/// Calls `f(start, piece)` for consecutive `chunk`-long pieces of `out` (the last one may be
/// shorter; `start` is the piece's offset in `out`), in parallel when the op touches at least
/// [`PAR_MIN_ELEMS`] elements, counting `work_per_elem` reads per element of `out`.
///
/// For kernels in which no element's result depends on where `out` is cut: elementwise maps
/// over a flat buffer (work 1-2 per element), or column sums over a block of columns (work =
/// the number of rows). `out` is cut at the same places whether or not the pieces run in
/// parallel, so even a kernel that did depend on the cuts would give the same bits for any
/// thread count.
pub fn for_each_chunk_mut<T, F>(out: &mut [T], chunk: usize, work_per_elem: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    assert!(chunk > 0, "for_each_chunk_mut: chunk must be > 0");
    let work_per_elem = work_per_elem.max(1);
    if out.len().saturating_mul(work_per_elem) < PAR_MIN_ELEMS {
        out.chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i * chunk, c));
    } else {
        let min_pieces = PAR_MIN_ELEMS
            .div_ceil(chunk.saturating_mul(work_per_elem))
            .max(1);
        out.par_chunks_mut(chunk)
            .with_min_len(min_pieces)
            .enumerate()
            .for_each(|(i, c)| f(i * chunk, c));
    }
}

/// The first error in row order, if any. Kernels detect bad rows independently in
/// parallel; reporting the lowest row keeps the message the same for any thread count.
pub fn first_error<E>(results: impl IntoIterator<Item = Result<(), E>>) -> Result<(), E> {
    results.into_iter().collect()
}

/// Runs `f` in a new rayon pool of `threads` threads and returns its result. `f` itself runs
/// on a pool thread, so the kernels' parallel loops start there (and see `threads` as
/// rayon's thread count) instead of handing every call over from the caller's thread.
///
/// Errors: [`Error::InvalidArgument`] for `threads == 0` (rayon would read that as "the
/// default", which makes a result depend on the machine), or if rayon cannot start the
/// threads.
///
/// ```
/// use gumbel_tensor::parallel::with_threads;
/// assert_eq!(with_threads(3, rayon::current_num_threads).unwrap(), 3);
/// assert!(with_threads(0, || ()).is_err());
/// ```
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    with_threads_started(threads, || (), f)
}

/// [`with_threads`], with `start` run first on every thread of the pool: a setting that
/// belongs to each thread, such as [`flush_subnormals`], which the CLI applies to all the
/// threads that compute so that results stay the same for any thread count.
///
/// ```
/// use gumbel_tensor::parallel::{flush_subnormals, with_threads_started};
/// let tiny = with_threads_started(2, || { flush_subnormals(); }, || {
///     std::hint::black_box(1e-40f32) * std::hint::black_box(1.0f32)
/// })
/// .unwrap();
/// # #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// assert_eq!(tiny, 0.0);
/// ```
pub fn with_threads_started<R: Send>(
    threads: usize,
    start: impl Fn() + Send + Sync + 'static,
    f: impl FnOnce() -> R + Send,
) -> Result<R> {
    if threads == 0 {
        return Err(Error::InvalidArgument {
            op: "with_threads",
            what: "the number of threads must be at least 1, got 0".into(),
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |_| start())
        .build()
        .map_err(|e| Error::InvalidArgument {
            op: "with_threads",
            what: format!("cannot start a pool of {threads} threads: {e}"),
        })?;
    Ok(pool.install(f))
}

/// Makes the calling thread treat subnormal floats as zero: subnormal operands are read as
/// 0 and subnormal results are written as 0 (x86-64: the DAZ and FTZ bits of MXCSR;
/// aarch64: FZ of FPCR). Returns `false` (and changes nothing) on other architectures.
///
/// Why: a subnormal (`|x| < 1.18e-38` in f32, `2.2e-308` in f64) costs a microcode assist
/// of a hundred cycles or more in every vector instruction that reads or makes one. Training
/// makes them: the softmax gradient `(p - onehot) / N` of a probability near the smallest
/// normal number, a sigmoid of a very negative gate. Once a model is confident, the products
/// that carry them run many times slower (RelGAN's MLE phase went from 0.5 to 6 s a step
/// after 1,300 steps; docs/performance.md). What is lost is below `1.2e-38` in absolute
/// value, 31 orders of magnitude under the gradients' scale.
///
/// The setting belongs to the thread: a program that wants it sets it on every thread that
/// computes ([`with_threads_started`]), so that all threads round alike. The libraries never
/// set it; the CLI does.
pub fn flush_subnormals() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // MXCSR bit 15 (FTZ: flush subnormal results to zero) and bit 6 (DAZ: read
        // subnormal operands as zero).
        const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
        let mut csr = 0u32;
        // SAFETY: stmxcsr and ldmxcsr read and write the 32-bit control register through a
        // valid pointer to a local; only the two flush bits change. Code compiled for IEEE
        // subnormals sees zeros instead of subnormals from here on, the point of the call.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
        true
    }
    #[cfg(target_arch = "aarch64")]
    {
        // FPCR bit 24 (FZ): subnormal operands and results become zero.
        let mut fpcr: u64;
        // SAFETY: reads and writes the floating-point control register; only FZ changes.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            fpcr |= 1 << 24;
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_pool_flushes_subnormals_on_every_thread_and_a_plain_one_does_not() {
        use std::hint::black_box;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let started = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        // a subnormal operand (DAZ) and a subnormal result of normal operands (FTZ), on
        // each of the pool's threads
        let per_thread = || {
            rayon::broadcast(|_| {
                (
                    black_box(1e-40f32) * black_box(1.0f32),
                    black_box(f32::MIN_POSITIVE) * black_box(0.5f32),
                    black_box(1e-310f64) + black_box(0.0f64),
                )
            })
        };
        let flushed = with_threads_started(
            3,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                flush_subnormals();
            },
            per_thread,
        )
        .unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 3);
        let plain = with_threads(3, per_thread).unwrap();
        assert_eq!((flushed.len(), plain.len()), (3, 3));
        for (f, p) in flushed.iter().zip(&plain) {
            assert_eq!(
                *p,
                (1e-40, f32::MIN_POSITIVE * 0.5, 1e-310),
                "IEEE subnormals"
            );
            if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert_eq!(*f, (0.0, 0.0, 0.0), "flushed");
            }
        }
    }

    #[test]
    fn with_threads_runs_in_a_pool_of_that_size_and_refuses_zero() {
        for n in [1, 2, 7] {
            assert_eq!(with_threads(n, rayon::current_num_threads).unwrap(), n);
        }
        let e = with_threads(0, || ()).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn every_row_is_visited_once_with_its_index() {
        for &(rows, cols) in &[(0, 3), (1, 1), (5, 7), (3000, 17), (40, 5000)] {
            let mut out = vec![0usize; rows * cols];
            for_each_row_mut(&mut out, cols, |i, r| {
                r.iter_mut().for_each(|x| *x += i + 1)
            });
            for (i, r) in out.chunks(cols.max(1)).enumerate() {
                assert!(r.iter().all(|&x| x == i + 1));
            }
            let sums = map_rows_mut(&mut out, cols, |i, r| (i, r.len()));
            assert_eq!(sums.len(), rows);
            assert!(
                sums.iter()
                    .enumerate()
                    .all(|(k, &(i, n))| k == i && n == cols)
            );
            let idx = map_rows(rows, cols, |i| i);
            assert_eq!(idx, (0..rows).collect::<Vec<_>>());
        }
    }

    #[test]
    fn chunks_cover_the_buffer_once_with_their_offsets() {
        for &(len, chunk, work) in &[
            (0, 4, 1),
            (1, 4, 1),
            (10, 4, 1),
            (100_000, 4096, 2),
            (300, 7, 1000),
        ] {
            let mut out = vec![0usize; len];
            for_each_chunk_mut(&mut out, chunk, work, |start, c| {
                assert!(c.len() == chunk || start + c.len() == len);
                c.iter_mut()
                    .enumerate()
                    .for_each(|(j, x)| *x += start + j + 1);
            });
            assert!(out.iter().enumerate().all(|(i, &x)| x == i + 1));
        }
    }

    #[test]
    fn first_error_is_the_lowest_row() {
        let r: Result<(), usize> = first_error(vec![Ok(()), Err(3), Err(5)]);
        assert_eq!(r, Err(3));
    }
}
