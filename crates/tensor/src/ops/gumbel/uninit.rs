//! Output tensors that the kernels write in full, allocated without zeroing.
//!
//! `Tensor::zeros` costs a full extra write pass: for a buffer the allocator hands back
//! from its heap, `calloc` runs `memset` over it (single-threaded, in the calling
//! thread) before the kernel overwrites every element anyway. For the memory-bound
//! backward that is a third more memory traffic, and in the forward `perf` showed it as a
//! visible share of the time (docs/performance.md, "Figures behind the code"). The kernels here write each output element
//! in their first pass over it, before reading it, so they can take uninitialised rows.
//!
//! Large outputs also ask Linux for 2 MiB pages (`madvise(MADV_HUGEPAGE)`, honoured when
//! transparent huge pages are in `madvise` or `always` mode). glibc `mmap`s allocations
//! above 32 MB afresh on every call, and the first write to each 4 KiB page then
//! page-faults: for a 131 MB output (1024 x 32000 `f32`) filling it with 4 KiB pages took
//! longer than the whole fused forward computation, and 2 MiB pages cut that cost by an
//! order of magnitude (docs/performance.md has the measurement).

use std::mem::MaybeUninit;

use crate::element::Element;
use crate::parallel;
use crate::tensor::Tensor;

/// Allocates a tensor of `shape` without initialising it, lets `row_fn(r, row)` write row
/// `r` (rows are the last dimension, as everywhere), in parallel, and returns the tensor
/// with the per-row results. If some rows fail, returns the failure of the lowest such row
/// (the same for any thread count) and frees the buffer.
///
/// # Safety
/// Whenever `row_fn` returns `Ok`, it must have initialised every element of its row.
pub(crate) unsafe fn write_rows<T: Element, R: Send, E: Send>(
    shape: &[usize],
    row_fn: impl Fn(usize, &mut [MaybeUninit<T>]) -> Result<R, E> + Sync + Send,
) -> Result<(Tensor<T>, Vec<R>), (usize, E)> {
    let numel: usize = shape.iter().product();
    let cols = shape.last().copied().unwrap_or(1);
    let mut data: Vec<T> = Vec::with_capacity(numel);
    advise_huge_pages(&mut data);
    let results = parallel::map_rows_mut(&mut data.spare_capacity_mut()[..numel], cols, row_fn);
    let mut out = Vec::with_capacity(results.len());
    for (r, res) in results.into_iter().enumerate() {
        out.push(res.map_err(|e| (r, e))?);
    }
    // SAFETY: every row returned Ok, so (by the caller's contract) every one of the
    // `numel` elements is initialised. (With `cols == 0` there are no elements.)
    unsafe { data.set_len(numel) };
    let t = Tensor::new(shape.to_vec(), data).expect("numel is the product of the shape");
    Ok((t, out))
}

/// [`write_rows`] for kernels that need a scratch buffer per row: `init()` makes one per
/// rayon task and `row_fn(scratch, r, row)` borrows it ([`parallel::map_rows_mut_init`];
/// `work_per_row` sets the parallel threshold). `row_fn` must overwrite whatever part of the
/// scratch it reads.
///
/// # Safety
/// Whenever `row_fn` returns `Ok`, it must have initialised every element of its row.
pub(crate) unsafe fn write_rows_init<T: Element, S, R: Send, E: Send>(
    shape: &[usize],
    work_per_row: usize,
    init: impl Fn() -> S + Sync + Send,
    row_fn: impl Fn(&mut S, usize, &mut [MaybeUninit<T>]) -> Result<R, E> + Sync + Send,
) -> Result<(Tensor<T>, Vec<R>), (usize, E)> {
    let numel: usize = shape.iter().product();
    let cols = shape.last().copied().unwrap_or(1);
    let mut data: Vec<T> = Vec::with_capacity(numel);
    advise_huge_pages(&mut data);
    let results = parallel::map_rows_mut_init(
        &mut data.spare_capacity_mut()[..numel],
        cols,
        work_per_row,
        init,
        row_fn,
    );
    let mut out = Vec::with_capacity(results.len());
    for (r, res) in results.into_iter().enumerate() {
        out.push(res.map_err(|e| (r, e))?);
    }
    // SAFETY: every row returned Ok, so (by the caller's contract) every one of the
    // `numel` elements is initialised.
    unsafe { data.set_len(numel) };
    let t = Tensor::new(shape.to_vec(), data).expect("numel is the product of the shape");
    Ok((t, out))
}

/// Asks the kernel to back a large, freshly allocated buffer with 2 MiB pages (a hint:
/// no effect on the contents, and failure is harmless). Below 8 MiB, or off Linux, nothing
/// happens.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn advise_huge_pages<T>(v: &mut Vec<T>) {
    const HUGE: usize = 1 << 21;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 4 * HUGE {
        return;
    }
    let p = v.as_mut_ptr() as usize;
    let (start, end) = (p.next_multiple_of(HUGE), (p + bytes) & !(HUGE - 1));
    if end > start {
        // SAFETY: [start, end) lies inside the allocation `v` owns, and MADV_HUGEPAGE only
        // changes how the kernel backs those pages, never what they hold.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn advise_huge_pages<T>(_: &mut Vec<T>) {}

/// Views an initialised slice of `MaybeUninit<T>` as `&mut [T]`.
///
/// # Safety
/// Every element of `s` must be initialised.
#[inline(always)]
pub(crate) unsafe fn assume_init_mut<T>(s: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: MaybeUninit<T> has the layout of T, and the caller guarantees that every
    // element is initialised.
    unsafe { &mut *(s as *mut [MaybeUninit<T>] as *mut [T]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_rows_returns_the_written_tensor_or_the_first_failure() {
        // SAFETY: the closure writes every element of its row before returning Ok.
        let ok = unsafe {
            write_rows::<f32, usize, ()>(&[3, 4], |r, row| {
                for (j, x) in row.iter_mut().enumerate() {
                    x.write((r * 10 + j) as f32);
                }
                Ok(r)
            })
        };
        let (t, rs) = ok.unwrap();
        assert_eq!(t.shape(), &[3, 4]);
        assert_eq!(t.row(2), &[20.0, 21.0, 22.0, 23.0]);
        assert_eq!(rs, vec![0, 1, 2]);
        // SAFETY: rows that return Ok are written in full; the others return Err.
        let bad = unsafe {
            write_rows::<f64, (), usize>(&[5, 2], |r, row| {
                if r % 2 == 1 {
                    return Err(r);
                }
                row.iter_mut().for_each(|x| {
                    x.write(1.0);
                });
                Ok(())
            })
        };
        assert_eq!(bad.unwrap_err(), (1, 1));
        // A buffer large enough (16 MB) to take the huge-page path: same contents.
        // SAFETY: the closure writes every element of its row before returning Ok.
        let big = unsafe {
            write_rows::<f32, (), ()>(&[4, 1_000_000], |r, row| {
                for (j, x) in row.iter_mut().enumerate() {
                    x.write((r + j % 7) as f32);
                }
                Ok(())
            })
        };
        let big = big.unwrap().0;
        assert!(
            big.row(3)
                .iter()
                .enumerate()
                .all(|(j, &x)| x == (3 + j % 7) as f32)
        );
        // SAFETY: there are no elements.
        let empty = unsafe { write_rows::<f32, (), ()>(&[4, 0], |_, _| Ok(())) };
        assert_eq!(empty.unwrap().0.numel(), 0);
    }
}
