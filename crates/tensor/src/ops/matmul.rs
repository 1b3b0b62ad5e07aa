//! Matrix products of 2-D tensors, `op(a) @ op(b)` with optional transposes, through the
//! `gemm` crate (what candle uses on CPU).
//!
//! ## Why gemm
//! A fast matrix multiply is a blocked algorithm (pack panels of `a` and `b` to fit L1/L2,
//! run a register-tiled micro-kernel of FMAs) tuned per ISA; `gemm` does this well for f32
//! and f64 with run-time CPU detection, and reads any row/column strides, so a transposed
//! operand costs nothing: `a^T` is `a` with its strides swapped, never a copy. It is built
//! with its `x86-v4` feature: AVX-512 micro-kernels where the CPU has AVX-512 (chosen at
//! run time, so a portable build gets them too), which run the GAN's products faster than
//! the AVX2 ones on CPUs that execute 512-bit FMAs at full width (Zen 5 does). A naive
//! loop ([`scalar::matmul`], kept as the reference) is far slower. docs/kernels.md has the
//! measured numbers.
//!
//! ## Parallelism and determinism
//! Products of at least [`PAR_MIN_FLOPS`] multiply-adds run with gemm's rayon parallelism
//! over `rayon::current_num_threads()` threads (the caller's pool); smaller ones run on
//! the calling thread, where spawning would cost more than the work. gemm gives each
//! thread whole output tiles, and the inner dimension is walked in the same blocks in the
//! same order whatever the thread count (its block sizes depend on the shapes and the
//! cache sizes, not on the threads), so every output element is the same chain of
//! multiply-adds: the result is bitwise identical for any thread count (tested for 1, 2
//! and 7).
//!
//! A product with a small output and a long inner dimension (the GAN's
//! `[64, 5000] @ [5000, 64]`: 4096 outputs, 5000 terms each) is the exception
//! ([`splits_k`]): gemm has few output tiles to share, and it forks and joins its threads
//! once per cache block of the inner dimension (ten times here), which costs more than the
//! work when the threads have gone to sleep in between. Such products cut the inner
//! dimension into fixed chunks of [`K_CHUNK`], compute each chunk's product on one thread
//! into its own buffer, the chunks in parallel, and add the chunk products in chunk order:
//! one fork, and again the same operations for any thread count (also on one thread, where
//! the chunks run one after the other).
//!
//! A weight gradient `a^T b` with a long inner dimension and a large output (RelGAN's
//! highway `dW = dY^T x`, `[4096, 1200]^T [4096, 1200]`) is the other exception
//! ([`simd::splits_n`]): gemm's own threads gain little on it, so its output's columns are cut
//! into a fixed number of blocks, each one single-threaded gemm call, the blocks in parallel.
//! Each element again comes from a call whose shape does not depend on the thread count.
//!
//! Results are written without zero-filling first: [`matmul`] allocates its output
//! uninitialised and gemm, with `beta = 0`, writes every element without reading any.
//!
//! ## Naming
//! gemm's own convention is `dst = alpha dst + beta lhs rhs`; ours is BLAS's:
//! `out = alpha op(a) op(b) + beta out`. The swap happens in one place, [`simd::matmul`].

use gemm::Parallelism;

use crate::{Element, Error, Result, Tensor};

/// Products with fewer multiply-adds (`m * n * k`) than this run on the calling thread.
/// This is gemm's own default threading threshold (48 * 48 * 256, about 0.6 M): below it
/// gemm would not split the work anyway.
pub const PAR_MIN_FLOPS: usize = 48 * 48 * 256;

/// The inner-dimension chunk of the split-k path (see [`splits_k`]).
pub const K_CHUNK: usize = 512;

/// Outputs with at most this many elements split their inner dimension (see [`splits_k`]).
pub const SPLIT_K_MAX_OUT: usize = 1 << 14;

/// The smallest inner dimension of the split-n path (see [`simd::splits_n`]).
pub const SPLIT_N_MIN_K: usize = 1024;
/// The smallest output of the split-n path (`512 x 512`).
pub const SPLIT_N_MIN_OUT: usize = 1 << 18;
/// The column blocks of the split-n path: always this many, whatever the thread count.
pub const SPLIT_N_PARTS: usize = 2;

/// Whether the product `d` takes the split-k path: a small output (at most
/// [`SPLIT_K_MAX_OUT`] elements, e.g. `[64, 5000] @ [5000, 64]`), an inner dimension of at
/// least two [`K_CHUNK`]s, and at least [`PAR_MIN_FLOPS`] multiply-adds. Such a product has
/// too few output tiles for gemm to share among threads well, and gemm would fork and join
/// its threads once per cache block of the inner dimension; the split-k path forks once.
/// The decision depends on the shape alone, never on the thread count.
pub fn splits_k(d: Dims) -> bool {
    d.m.saturating_mul(d.n) <= SPLIT_K_MAX_OUT
        && d.k >= 2 * K_CHUNK
        && d.m.saturating_mul(d.n).saturating_mul(d.k) >= PAR_MIN_FLOPS
}

/// The shape of one product `op(a) @ op(b)`: `op(a)` is `m x k`, `op(b)` is `k x n`, and
/// `a` / `b` are stored row-major as `m x k` / `k x n`, or as `k x m` / `n x k` when
/// transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Dims {
    /// The dims of `op(a) @ op(b)`, or an error naming `op` and both shapes if an operand
    /// is not 2-D or the inner dimensions differ.
    pub fn of<T: Element>(
        op: &'static str,
        a: &Tensor<T>,
        trans_a: bool,
        b: &Tensor<T>,
        trans_b: bool,
    ) -> Result<Dims> {
        if a.rank() != 2 || b.rank() != 2 {
            return Err(Error::invalid_shape(
                op,
                if a.rank() != 2 { a.shape() } else { b.shape() },
                format!(
                    "both operands must be 2-D, got lhs {:?} and rhs {:?}",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        let (sa, sb) = (a.shape(), b.shape());
        let (m, ka) = if trans_a {
            (sa[1], sa[0])
        } else {
            (sa[0], sa[1])
        };
        let (kb, n) = if trans_b {
            (sb[1], sb[0])
        } else {
            (sb[0], sb[1])
        };
        if ka != kb {
            return Err(Error::shape_mismatch(op, sa, sb));
        }
        Ok(Dims {
            m,
            k: ka,
            n,
            trans_a,
            trans_b,
        })
    }
}

/// The op name for error messages, saying which operands are transposed.
fn op_name(acc: bool, trans_a: bool, trans_b: bool) -> &'static str {
    match (acc, trans_a, trans_b) {
        (false, false, false) => "matmul(a @ b)",
        (false, true, false) => "matmul(a^T @ b)",
        (false, false, true) => "matmul(a @ b^T)",
        (false, true, true) => "matmul(a^T @ b^T)",
        (true, false, false) => "matmul_acc(a @ b)",
        (true, true, false) => "matmul_acc(a^T @ b)",
        (true, false, true) => "matmul_acc(a @ b^T)",
        (true, true, true) => "matmul_acc(a^T @ b^T)",
    }
}

/// `op(a) @ op(b)`, where `op(x)` is `x^T` if its flag is set and `x` otherwise: for
/// `op(a)` of shape `m x k` and `op(b)` of shape `k x n`, `out[i, j] = sum_p op(a)[i, p]
/// op(b)[p, j]`, shape `[m, n]`. Transposes cost nothing (gemm reads the strides).
///
/// The gradients of `c = a @ b` are `da = dc @ b^T` and `db = a^T @ dc`, which is why the
/// flags exist: `matmul(dc, false, b, true)` and `matmul(a, true, dc, false)`.
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let b = Tensor::new([3, 1], vec![1.0f32, 0.0, -1.0]).unwrap();
/// assert_eq!(ops::matmul(&a, false, &b, false).unwrap().as_slice(), &[-2.0, -2.0]);
/// // a^T @ a: [3, 2] @ [2, 3] = [3, 3], first row (1*1 + 4*4, 1*2 + 4*5, 1*3 + 4*6).
/// let g = ops::matmul(&a, true, &a, false).unwrap();
/// assert_eq!(g.shape(), &[3, 3]);
/// assert_eq!(g.row(0), &[17.0, 22.0, 27.0]);
/// assert!(ops::matmul(&a, false, &a, false).is_err());
/// ```
pub fn matmul<T: Element>(
    a: &Tensor<T>,
    trans_a: bool,
    b: &Tensor<T>,
    trans_b: bool,
) -> Result<Tensor<T>> {
    let d = Dims::of(op_name(false, trans_a, trans_b), a, trans_a, b, trans_b)?;
    // The product overwrites every element: no zero-fill first (gemm with beta = 0 never
    // reads its destination).
    let mut data = Vec::with_capacity(d.m * d.n);
    simd::matmul_uninit(
        d,
        a.as_slice(),
        b.as_slice(),
        T::ONE,
        &mut data.spare_capacity_mut()[..d.m * d.n],
    );
    // SAFETY: `matmul_uninit` wrote all m * n elements.
    unsafe { data.set_len(d.m * d.n) };
    Tensor::new([d.m, d.n], data)
}

/// `out = alpha * op(a) @ op(b) + beta * out` in place (BLAS `gemm`), with `op` as in
/// [`matmul`]; `out` must have shape `[m, n]`.
///
/// `beta = 1` accumulates (gradients); `beta = 0` overwrites: `out`'s old contents are
/// then never read, so even NaNs there are ignored. `alpha = 0` likewise skips the
/// product, leaving `beta * out` (as BLAS does: `a` and `b` are not read).
///
/// ```
/// use gumbel_tensor::{Tensor, ops};
/// let a = Tensor::new([1, 2], vec![1.0f64, 2.0]).unwrap();
/// let b = Tensor::new([2, 1], vec![3.0f64, 4.0]).unwrap();
/// let mut out = Tensor::new([1, 1], vec![100.0f64]).unwrap();
/// ops::matmul_acc(&mut out, &a, false, &b, false, 2.0, 1.0).unwrap(); // 2 * 11 + 100
/// assert_eq!(out.as_slice(), &[122.0]);
/// let mut out = Tensor::new([1, 1], vec![f64::NAN]).unwrap();
/// ops::matmul_acc(&mut out, &a, false, &b, false, 1.0, 0.0).unwrap();
/// assert_eq!(out.as_slice(), &[11.0]);
/// ```
pub fn matmul_acc<T: Element>(
    out: &mut Tensor<T>,
    a: &Tensor<T>,
    trans_a: bool,
    b: &Tensor<T>,
    trans_b: bool,
    alpha: T,
    beta: T,
) -> Result<()> {
    let op = op_name(true, trans_a, trans_b);
    let d = Dims::of(op, a, trans_a, b, trans_b)?;
    if out.shape() != [d.m, d.n] {
        return Err(Error::invalid_shape(
            op,
            out.shape(),
            format!(
                "out must be [{}, {}] for op(a) @ op(b) with a {:?} and b {:?}",
                d.m,
                d.n,
                a.shape(),
                b.shape()
            ),
        ));
    }
    simd::matmul(
        d,
        a.as_slice(),
        b.as_slice(),
        alpha,
        beta,
        out.as_mut_slice(),
    );
    Ok(())
}

/// Scales `out` by `beta` in place, with `beta = 0` meaning "overwrite with zeros" (so NaNs
/// in `out` are dropped, as in the product path).
fn scale_out<T: Element>(out: &mut [T], beta: T) {
    if beta == T::ZERO {
        out.fill(T::ZERO);
    } else if beta != T::ONE {
        out.iter_mut().for_each(|o| *o *= beta);
    }
}

/// The fast kernel: gemm with strides (the name `simd` keeps the op families' layout; the
/// SIMD lives inside gemm's micro-kernels), and the split-k path for small outputs with a
/// long inner dimension.
pub mod simd {
    use std::mem::MaybeUninit;

    use rayon::prelude::*;

    use super::{
        Dims, Element, K_CHUNK, PAR_MIN_FLOPS, Parallelism, SPLIT_N_MIN_K, SPLIT_N_MIN_OUT,
        SPLIT_N_PARTS, scale_out, splits_k,
    };

    /// Panics unless the operand and output lengths are the ones `d` implies (`m k`, `k n`,
    /// `m n`): the raw-pointer calls of both entry points rely on them.
    fn assert_lengths(d: Dims, a: usize, b: usize, out: usize) {
        assert!(
            a == d.m * d.k && b == d.k * d.n && out == d.m * d.n,
            "matmul kernel: slice lengths do not match {d:?}"
        );
    }

    /// `out = alpha op(a) op(b) + beta out` for row-major slices with the lengths `d`
    /// implies (asserted: the raw-pointer calls below rely on them).
    pub fn matmul<T: Element>(d: Dims, a: &[T], b: &[T], alpha: T, beta: T, out: &mut [T]) {
        assert_lengths(d, a.len(), b.len(), out.len());
        if d.m == 0 || d.n == 0 {
            return;
        }
        if d.k == 0 || alpha == T::ZERO {
            // No product term: an empty sum, or alpha = 0 (a and b are not read).
            scale_out(out, beta);
            return;
        }
        // SAFETY: the lengths are asserted above; `out` is a unique borrow (so it aliases
        // neither `a` nor `b`) and initialised.
        unsafe { product(d, a, b, alpha, beta, out.as_mut_ptr()) }
    }

    /// `out = alpha op(a) op(b)` into an uninitialised buffer, which is written in full and
    /// never read: [`super::matmul`] allocates its result this way instead of zero-filling
    /// memory that the product overwrites.
    pub fn matmul_uninit<T: Element>(
        d: Dims,
        a: &[T],
        b: &[T],
        alpha: T,
        out: &mut [MaybeUninit<T>],
    ) {
        assert_lengths(d, a.len(), b.len(), out.len());
        if d.m == 0 || d.n == 0 {
            return;
        }
        if d.k == 0 || alpha == T::ZERO {
            out.fill(MaybeUninit::new(T::ZERO));
            return;
        }
        // SAFETY: the lengths are asserted above; `out` is a unique borrow, and with
        // beta = 0 the product writes every element of it without reading any.
        unsafe { product(d, a, b, alpha, T::ZERO, out.as_mut_ptr().cast::<T>()) }
    }

    /// `out = alpha op(a) op(b) + beta out` with `m, n, k >= 1` and `alpha != 0`: one gemm
    /// call, or the split-k path ([`splits_k`]).
    ///
    /// # Safety
    /// `a` and `b` have the lengths `d` implies; `out` points to `m * n` writable elements
    /// that alias neither `a` nor `b`, initialised unless `beta == 0` (then they are only
    /// written).
    unsafe fn product<T: Element>(d: Dims, a: &[T], b: &[T], alpha: T, beta: T, out: *mut T) {
        if splits_k(d) {
            // SAFETY: forwarded from the caller.
            return unsafe { split_k(d, a, b, alpha, beta, out) };
        }
        let work = d.m.saturating_mul(d.n).saturating_mul(d.k);
        let par = if work >= PAR_MIN_FLOPS {
            Parallelism::Rayon(rayon::current_num_threads())
        } else {
            Parallelism::None
        };
        if warms_a(d) {
            warm(a);
        }
        if splits_n(d) {
            // SAFETY: forwarded from the caller.
            return unsafe { split_n(d, a, b, (alpha, beta), out) };
        }
        // SAFETY: forwarded from the caller, with the whole inner dimension.
        unsafe { gemm_rows(d, a, b, 0..d.k, 0..d.n, (alpha, beta), out, par) }
    }

    /// Whether the product takes the split-n path (`split_n`): a weight gradient
    /// `a^T b` with a long inner dimension (at least [`SPLIT_N_MIN_K`]) and an output of at
    /// least [`SPLIT_N_MIN_OUT`] elements, RelGAN's highway `dW = dY^T x` (`[4096, 1200]^T
    /// [4096, 1200]`), on which gemm's own threads gain little (1.3x on two threads,
    /// docs/performance.md). Decided by the shape alone.
    pub fn splits_n(d: Dims) -> bool {
        d.trans_a && d.k >= SPLIT_N_MIN_K && d.m.saturating_mul(d.n) >= SPLIT_N_MIN_OUT
    }

    /// The split-n path: the output's columns in [`SPLIT_N_PARTS`] fixed blocks, each one
    /// single-threaded gemm call, the blocks run in parallel (rayon, the caller's pool). Each
    /// output element is computed by one call whose shape does not depend on the thread
    /// count: the same bits for 1, 2 or 7 threads.
    ///
    /// # Safety
    /// As [`product`].
    unsafe fn split_n<T: Element>(d: Dims, a: &[T], b: &[T], ab: (T, T), out: *mut T) {
        let width = d.n.div_ceil(SPLIT_N_PARTS);
        let out = SendPtr(out);
        (0..d.n.div_ceil(width)).into_par_iter().for_each(|p| {
            let cols = p * width..((p + 1) * width).min(d.n);
            let out = &out;
            // SAFETY: the blocks' columns are disjoint, so the calls write disjoint elements
            // of `out`; everything else is forwarded from the caller.
            unsafe { gemm_rows(d, a, b, 0..d.k, cols, ab, out.0, Parallelism::None) };
        });
    }

    /// A raw output pointer shared by the split-n blocks, which write disjoint columns.
    struct SendPtr<T>(*mut T);
    // SAFETY: only used by `split_n`, whose tasks write disjoint elements.
    unsafe impl<T> Sync for SendPtr<T> {}
    unsafe impl<T> Send for SendPtr<T> {}

    /// Whether `a` is read once before the product ([`warm`]): `a^T b` with a short, wide
    /// stored `a` (`[k, m]`, at most 128 rows of at least 4096 elements), the weight
    /// gradients `dW = dY^T X` of the GAN (`[64, 5000]^T [64, 32]`). gemm reads such an `a`
    /// in place, a few elements from each of the `k` rows per micro-tile; when `a` is not in
    /// cache (it was written long before, as a sample kept for the backward pass is), those
    /// `k` interleaved streams defeat the hardware prefetcher and the product waits on
    /// memory. One sequential read of `a` first is a prefetch the hardware can follow; it
    /// pays for itself both on the product alone and in the adversarial step
    /// (docs/performance.md, "Figures behind the code", has the measurements).
    pub(super) fn warms_a(d: Dims) -> bool {
        d.trans_a && d.k <= 128 && d.m >= 4096
    }

    /// Reads one element of every cache line of `x` (in parallel for long slices, in fixed
    /// pieces): no result, only the lines in cache.
    fn warm<T: Element>(x: &[T]) {
        const PIECE: usize = 1 << 16;
        let line = (64 / std::mem::size_of::<T>()).max(1);
        let read = |x: &[T]| {
            // OR of the bits: one cheap, independent operation per line, which the
            // processor overlaps with the loads (a sum would chain them).
            let mut bits = 0u64;
            for c in x.chunks(line) {
                bits |= c[0].to_f64().to_bits();
            }
            bits
        };
        if x.len() < 2 * PIECE {
            std::hint::black_box(read(x));
        } else {
            x.par_chunks(PIECE).for_each(|p| {
                std::hint::black_box(read(p));
            });
        }
    }

    /// The split-k path. The inner dimension is cut into chunks of [`K_CHUNK`] (the last
    /// one shorter), at the same places whatever the thread count; each chunk's product
    /// `P_c = op(a)[:, chunk] op(b)[chunk, :]` is one single-threaded gemm into its own
    /// buffer, the chunks run in parallel (rayon, the caller's pool), and
    ///
    /// ```text
    /// out = alpha ((P_0 + P_1) + P_2 + ... ) + beta out
    /// ```
    ///
    /// is summed in chunk order on the calling thread. Every output element is therefore the
    /// same chain of operations for 1, 2 or 7 threads. The buffers (`chunks * m * n`
    /// elements; small, since only small outputs split) are written by gemm without being
    /// zero-filled first.
    ///
    /// # Safety
    /// As [`product`].
    unsafe fn split_k<T: Element>(d: Dims, a: &[T], b: &[T], alpha: T, beta: T, out: *mut T) {
        let mn = d.m * d.n;
        let chunks = d.k.div_ceil(K_CHUNK);
        let mut partial: Vec<MaybeUninit<T>> = Vec::with_capacity(chunks * mn);
        // SAFETY: MaybeUninit needs no initialisation.
        unsafe { partial.set_len(chunks * mn) };
        // LOOP 1 (parallel): chunks of the inner dimension, one partial product each.
        partial.par_chunks_mut(mn).enumerate().for_each(|(c, p)| {
            let k0 = c * K_CHUNK;
            let kc = K_CHUNK.min(d.k - k0);
            // SAFETY: rows k0..k0 + kc of the inner dimension are in bounds (the caller
            // guarantees the lengths); `p` is this chunk's own m * n buffer, written in full
            // by gemm with beta = 0 and never read by it.
            unsafe {
                gemm_rows(
                    d,
                    a,
                    b,
                    k0..k0 + kc,
                    0..d.n,
                    (T::ONE, T::ZERO),
                    p.as_mut_ptr().cast::<T>(),
                    Parallelism::None,
                )
            };
        });
        // SAFETY: every chunk's buffer was written in full above.
        let partial: &mut [T] =
            unsafe { &mut *(partial.as_mut_slice() as *mut [MaybeUninit<T>] as *mut [T]) };
        let (sum, rest) = partial.split_at_mut(mn);
        // LOOP 2: add the chunks' products in chunk order.
        for p in rest.chunks_exact(mn) {
            for (s, &x) in sum.iter_mut().zip(p) {
                *s += x;
            }
        }
        // SAFETY: `out` points to mn elements (caller), initialised if beta != 0.
        let out = unsafe { std::slice::from_raw_parts_mut(out.cast::<MaybeUninit<T>>(), mn) };
        // LOOP 3: scale and add to the old contents (never read when beta = 0).
        for (o, &s) in out.iter_mut().zip(sum.iter()) {
            let v = if beta == T::ZERO {
                alpha * s
            } else {
                // SAFETY: beta != 0, so `out` is initialised.
                alpha * s + beta * unsafe { o.assume_init() }
            };
            o.write(v);
        }
    }

    /// `out[:, cols] = alpha op(a)[:, inner] op(b)[inner, cols] + beta out[:, cols]`: one
    /// gemm call on a slab of the inner dimension and a block of the output's columns,
    /// reading the operands in place through their strides.
    ///
    /// # Safety
    /// `a` and `b` have the lengths `d` implies, `inner.end <= d.k` and `cols.end <= d.n`;
    /// `out` points to `m * n` writable elements aliasing neither operand, initialised (in
    /// `cols`) unless `beta == 0`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_rows<T: Element>(
        d: Dims,
        a: &[T],
        b: &[T],
        inner: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
        (alpha, beta): (T, T),
        out: *mut T,
        par: Parallelism,
    ) {
        let (k0, kc) = (inner.start, inner.len());
        debug_assert!(inner.end <= d.k && cols.end <= d.n);
        debug_assert!(a.len() == d.m * d.k && b.len() == d.k * d.n);
        // Element (i, p) of op(a) sits at i * rs + p * cs: row-major [m, k] has (rs, cs) =
        // (k, 1); a stored as [k, m] and transposed has (1, m). Likewise for b and out.
        let (a_rs, a_cs) = if d.trans_a { (1, d.m) } else { (d.k, 1) };
        let (b_rs, b_cs) = if d.trans_b { (1, d.k) } else { (d.n, 1) };
        // SAFETY: for i < m, p < kc, j in cols the offsets (k0 + p) * a_cs + i * a_rs and
        // (k0 + p) * b_rs + j * b_cs are in bounds of `a` and `b` (caller), and i * n + j of
        // `out`. `T` is f32 or f64 (the `Element` trait is sealed), both of which gemm
        // supports. gemm computes dst = alpha' dst + beta' lhs rhs and never reads dst when
        // read_dst is false: we pass alpha' = beta, beta' = alpha, read_dst = (beta != 0).
        unsafe {
            gemm::gemm(
                d.m,
                cols.len(),
                kc,
                out.add(cols.start),
                1,
                d.n as isize,
                beta != T::ZERO,
                a.as_ptr().add(k0 * a_cs),
                a_cs as isize,
                a_rs as isize,
                b.as_ptr().add(k0 * b_rs + cols.start * b_cs),
                b_cs as isize,
                b_rs as isize,
                beta,
                alpha,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// The naive reference: a triple loop, the inner dimension summed in order. For tests.
pub mod scalar {
    use super::{Dims, Element, K_CHUNK, scale_out};

    /// The split-k summation order of [`super::simd`] in plain loops (the reference for the
    /// order, not for speed): for each output element, the sum over each [`K_CHUNK`] of the
    /// inner dimension in order, then those chunk sums added in chunk order, then
    /// `alpha * sum + beta * out`. Same contract as [`matmul`].
    pub fn matmul_split_k<T: Element>(d: Dims, a: &[T], b: &[T], alpha: T, beta: T, out: &mut [T]) {
        chunked(d, a, b, alpha, beta, out, K_CHUNK);
    }

    /// `out = alpha op(a) op(b) + beta out`, same contract as [`super::simd::matmul`]: the
    /// inner dimension summed in order (one chunk of all `k`).
    pub fn matmul<T: Element>(d: Dims, a: &[T], b: &[T], alpha: T, beta: T, out: &mut [T]) {
        chunked(d, a, b, alpha, beta, out, d.k.max(1));
    }

    /// The triple loop behind both: each output element is the sum over each `chunk` of the
    /// inner dimension in order, the chunk sums added in chunk order.
    fn chunked<T: Element>(
        d: Dims,
        a: &[T],
        b: &[T],
        alpha: T,
        beta: T,
        out: &mut [T],
        chunk: usize,
    ) {
        assert!(a.len() == d.m * d.k && b.len() == d.k * d.n && out.len() == d.m * d.n);
        if d.k == 0 || alpha == T::ZERO {
            scale_out(out, beta);
            return;
        }
        let a_at = |i: usize, p: usize| {
            if d.trans_a {
                a[p * d.m + i]
            } else {
                a[i * d.k + p]
            }
        };
        let b_at = |p: usize, j: usize| {
            if d.trans_b {
                b[j * d.k + p]
            } else {
                b[p * d.n + j]
            }
        };
        // LOOP 1: rows of out; LOOP 2: columns of out
        for i in 0..d.m {
            for j in 0..d.n {
                let mut total = T::ZERO;
                // LOOP 3: chunks in order; LOOP 4: the chunk's inner indices in order.
                for (c, k0) in (0..d.k).step_by(chunk).enumerate() {
                    let mut part = T::ZERO;
                    for p in k0..(k0 + chunk).min(d.k) {
                        part += a_at(i, p) * b_at(p, j);
                    }
                    total = if c == 0 { part } else { total + part };
                }
                let o = &mut out[i * d.n + j];
                *o = if beta == T::ZERO {
                    alpha * total
                } else {
                    alpha * total + beta * *o
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_bitwise, uniform, with_threads};

    /// (m, k, n) triples with awkward sizes: 1 (gemv / outer-product paths), primes around
    /// gemm's register tiles, small m * n (its "horizontal" kernel), k <= 2 (its gevv path).
    /// The last three take the split-k path (tested below) and the path that reads `a`
    /// first (for `a^T`).
    const SHAPES: [(usize, usize, usize); 18] = [
        (1, 1, 1),
        (1, 7, 1),
        (7, 1, 33),
        (1, 33, 65),
        (65, 33, 1),
        (7, 7, 7),
        (33, 2, 65),
        (16, 300, 16),
        (33, 65, 7),
        (65, 130, 33),
        (130, 65, 67),
        (1, 1000, 3),
        (3, 1000, 1),
        (129, 257, 65),
        (24, 1100, 24),
        (7, 5000, 33),
        (4100, 20, 3),
        // transposed `a`: the split-n path, two column blocks of 257 and 256
        (520, 1030, 513),
    ];

    /// Operands of the stored shapes for `op(a)` `m x k` and `op(b)` `k x n`.
    fn operands<T: Element>(
        (m, k, n): (usize, usize, usize),
        trans_a: bool,
        trans_b: bool,
        seed: u64,
    ) -> (Tensor<T>, Tensor<T>) {
        let sa = if trans_a { [k, m] } else { [m, k] };
        let sb = if trans_b { [n, k] } else { [k, n] };
        let a = Tensor::new(sa, uniform::<T>(m * k, seed, -1.0, 1.0)).unwrap();
        let b = Tensor::new(sb, uniform::<T>(k * n, seed + 1, -1.0, 1.0)).unwrap();
        (a, b)
    }

    /// The naive loop in f64 on the same values, and sum_p |a_ip| |b_pj| for the bound.
    fn reference<T: Element>(d: Dims, a: &Tensor<T>, b: &Tensor<T>) -> (Vec<f64>, Vec<f64>) {
        let (af, bf) = (a.cast::<f64>(), b.cast::<f64>());
        let mut want = vec![0.0; d.m * d.n];
        scalar::matmul(d, af.as_slice(), bf.as_slice(), 1.0, 0.0, &mut want);
        let abs = |t: &Tensor<f64>| t.as_slice().iter().map(|v| v.abs()).collect::<Vec<_>>();
        let mut mag = vec![0.0; d.m * d.n];
        scalar::matmul(d, &abs(&af), &abs(&bf), 1.0, 0.0, &mut mag);
        (want, mag)
    }

    fn matches_the_naive_loop_in_f64_for_all_transposes<T: Element>() {
        // A dot product of length k in any order (FMA or not) is within k u sum |a_ip b_pj|
        // of the exact value (to first order); the f64 reference is within k u_f64 of it,
        // negligible for f32 and accounted for by using eps (= 2u) for f64.
        for (s, &mkn) in SHAPES.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = operands::<T>(mkn, trans_a, trans_b, 10 * s as u64);
                let c = matmul(&a, trans_a, &b, trans_b).unwrap();
                let d = Dims::of("test", &a, trans_a, &b, trans_b).unwrap();
                assert_eq!(c.shape(), &[d.m, d.n]);
                let (want, mag) = reference(d, &a, &b);
                let k = d.k as f64;
                for (idx, (&got, (&w, &g))) in
                    c.as_slice().iter().zip(want.iter().zip(&mag)).enumerate()
                {
                    let tol = k * T::EPSILON.to_f64() * g;
                    assert!(
                        (got.to_f64() - w).abs() <= tol,
                        "{mkn:?} trans ({trans_a}, {trans_b}) element {idx}: {got:e} vs {w:e}"
                    );
                }
            }
        }
    }

    fn accumulates_with_alpha_and_beta<T: Element>() {
        // out = alpha P + beta out0: the product's error is |alpha| k u sum |a b| (as above);
        // scaling P, scaling out0 and the sum add eps (|alpha P| + |beta out0|) at most.
        for (s, &mkn) in SHAPES.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = operands::<T>(mkn, trans_a, trans_b, 7 + s as u64);
                let d = Dims::of("test", &a, trans_a, &b, trans_b).unwrap();
                let out0 = Tensor::new([d.m, d.n], uniform::<T>(d.m * d.n, 3, -2.0, 2.0)).unwrap();
                let (want, mag) = reference(d, &a, &b);
                for (alpha, beta) in [(1.0, 1.0), (0.5, -2.0), (-3.0, 0.25)] {
                    let mut out = out0.clone();
                    let (al, be) = (T::from_f64(alpha), T::from_f64(beta));
                    matmul_acc(&mut out, &a, trans_a, &b, trans_b, al, be).unwrap();
                    let eps = T::EPSILON.to_f64();
                    for i in 0..d.m * d.n {
                        let (p, o0) = (want[i], out0.as_slice()[i].to_f64());
                        let w = alpha * p + beta * o0;
                        let tol = alpha.abs() * d.k as f64 * eps * mag[i]
                            + 2.0 * eps * ((alpha * p).abs() + (beta * o0).abs());
                        let got = out.as_slice()[i].to_f64();
                        assert!(
                            (got - w).abs() <= tol,
                            "{mkn:?} ({alpha}, {beta}) [{i}]: {got:e} vs {w:e}"
                        );
                    }
                }
            }
        }
    }

    fn beta_zero_ignores_nan_in_out_and_alpha_zero_ignores_a_and_b<T: Element>() {
        for (s, &mkn) in SHAPES.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = operands::<T>(mkn, trans_a, trans_b, 100 + s as u64);
                let fresh = matmul(&a, trans_a, &b, trans_b).unwrap();
                let mut out = Tensor::full(fresh.shape().to_vec(), T::NAN);
                matmul_acc(&mut out, &a, trans_a, &b, trans_b, T::ONE, T::ZERO).unwrap();
                assert_bitwise(
                    &format!("beta = 0, {mkn:?}"),
                    out.as_slice(),
                    fresh.as_slice(),
                );
                // alpha = 0: the NaNs in a and b are not read; out becomes beta * out.
                let nan_a = Tensor::full(a.shape().to_vec(), T::NAN);
                let mut out = Tensor::full(fresh.shape().to_vec(), T::from_f64(3.0));
                let half = T::from_f64(0.5);
                matmul_acc(&mut out, &nan_a, trans_a, &b, trans_b, T::ZERO, half).unwrap();
                assert!(out.as_slice().iter().all(|&v| v == T::from_f64(1.5)));
            }
        }
        // k = 0: the product is a zero matrix.
        let a = Tensor::<T>::zeros([3, 0]);
        let b = Tensor::<T>::zeros([0, 4]);
        assert_eq!(
            matmul(&a, false, &b, false).unwrap().as_slice(),
            &[T::ZERO; 12]
        );
        let mut out = Tensor::full([3, 4], T::NAN);
        matmul_acc(&mut out, &a, false, &b, false, T::ONE, T::ZERO).unwrap();
        assert_eq!(out.as_slice(), &[T::ZERO; 12]);
        let mut out = Tensor::full([3, 4], T::ONE);
        matmul_acc(&mut out, &a, false, &b, false, T::ONE, T::from_f64(2.0)).unwrap();
        assert_eq!(out.as_slice(), &[T::from_f64(2.0); 12]);
        // m = 0 or n = 0: an empty result.
        assert_eq!(
            matmul(
                &Tensor::<T>::zeros([0, 5]),
                false,
                &Tensor::zeros([5, 2]),
                false
            )
            .unwrap()
            .shape(),
            &[0, 2]
        );
    }

    fn bitwise_identical_for_1_2_and_7_threads<T: Element>() {
        // All above PAR_MIN_FLOPS, so gemm splits them over the pool's threads; the GAN's
        // three shapes in miniature, plus a square one; then two that split the inner
        // dimension (the GAN's `[64, 5000] @ [5000, 32]` and a short last chunk), one
        // whose `a` is read first when transposed (in parallel pieces), and one that splits
        // its output's columns when `a` is transposed.
        let shapes = [
            (256, 32, 1000),
            (256, 1000, 32),
            (1000, 256, 32),
            (200, 300, 150),
            (64, 5000, 32),
            (40, 1100, 64),
            (4096, 64, 8),
            (600, 1100, 501),
        ];
        for (s, &mkn) in shapes.iter().enumerate() {
            assert!(mkn.0 * mkn.1 * mkn.2 >= PAR_MIN_FLOPS);
            let d = Dims {
                m: mkn.0,
                k: mkn.1,
                n: mkn.2,
                trans_a: false,
                trans_b: false,
            };
            assert_eq!(splits_k(d), s == 4 || s == 5, "{mkn:?}");
            assert_eq!(
                simd::warms_a(Dims { trans_a: true, ..d }),
                s == 6,
                "{mkn:?}"
            );
            assert_eq!(
                simd::splits_n(Dims { trans_a: true, ..d }),
                s == 7,
                "{mkn:?}"
            );
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = operands::<T>(mkn, trans_a, trans_b, 50 + s as u64);
                let d = Dims::of("test", &a, trans_a, &b, trans_b).unwrap();
                let out0 = Tensor::new([d.m, d.n], uniform::<T>(d.m * d.n, 4, -1.0, 1.0)).unwrap();
                let run = || {
                    let c = matmul(&a, trans_a, &b, trans_b).unwrap();
                    let mut acc = out0.clone();
                    matmul_acc(&mut acc, &a, trans_a, &b, trans_b, T::from_f64(0.5), T::ONE)
                        .unwrap();
                    (c, acc)
                };
                let (c1, acc1) = with_threads(1, run);
                for threads in [2, 7] {
                    let (c, acc) = with_threads(threads, run);
                    let what = format!("{mkn:?} trans ({trans_a}, {trans_b}), {threads} threads");
                    assert_bitwise(&what, c.as_slice(), c1.as_slice());
                    assert_bitwise(&what, acc.as_slice(), acc1.as_slice());
                }
            }
        }
    }

    fn shape_errors_name_the_op_and_both_shapes<T: Element>() {
        let a = Tensor::<T>::zeros([2, 3]);
        let b = Tensor::<T>::zeros([2, 4]);
        assert_eq!(
            matmul(&a, false, &b, false).unwrap_err(),
            Error::ShapeMismatch {
                op: "matmul(a @ b)",
                lhs: vec![2, 3],
                rhs: vec![2, 4]
            }
        );
        // a^T @ b is [3, 2] @ [2, 4]: fine. a @ b^T is [2, 3] @ [4, 2]: not.
        assert_eq!(matmul(&a, true, &b, false).unwrap().shape(), &[3, 4]);
        let e = matmul(&a, false, &b, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "matmul(a @ b^T): shape mismatch: lhs [2, 3] vs rhs [2, 4]"
        );
        let v = Tensor::<T>::zeros([3]);
        let e = matmul(&a, false, &v, false).unwrap_err();
        assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
        assert!(
            e.to_string().contains("[2, 3]") && e.to_string().contains("[3]"),
            "{e}"
        );
        let mut out = Tensor::<T>::zeros([4, 3]);
        let e = matmul_acc(&mut out, &a, true, &b, false, T::ONE, T::ONE).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("matmul_acc(a^T @ b): invalid shape [4, 3]"),
            "{e}"
        );
        assert!(e.to_string().contains("[3, 4]"), "{e}");
    }

    fn kernel_twins_agree<T: Element>() {
        // Same contract on slices; compared with the product-error bound in units of eps.
        for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let d = Dims {
                    m,
                    k,
                    n,
                    trans_a,
                    trans_b,
                };
                let a = uniform::<T>(m * k, s as u64, -1.0, 1.0);
                let b = uniform::<T>(k * n, s as u64 + 9, -1.0, 1.0);
                let (mut x, mut y) = (vec![T::ONE; m * n], vec![T::ONE; m * n]);
                let beta = T::from_f64(0.5);
                simd::matmul(d, &a, &b, T::ONE, beta, &mut x);
                scalar::matmul(d, &a, &b, T::ONE, beta, &mut y);
                // |a|, |b| <= 1: each twin is within k u k + u (|P| + 0.5) of exact.
                let tol =
                    T::EPSILON.to_f64() * (k * k) as f64 + T::EPSILON.to_f64() * (k as f64 + 1.0);
                for i in 0..m * n {
                    assert!((x[i].to_f64() - y[i].to_f64()).abs() <= tol, "{d:?} [{i}]");
                }
            }
        }
    }

    fn split_k_twins_agree_and_only_small_outputs_split<T: Element>() {
        let d = |m, k, n| Dims {
            m,
            k,
            n,
            trans_a: false,
            trans_b: false,
        };
        // The GAN's small-output products split; its large outputs, short inner
        // dimensions and tiny products do not.
        assert!(splits_k(d(64, 5000, 32)) && splits_k(d(64, 5000, 64)));
        assert!(!splits_k(d(1280, 5000, 32)) && !splits_k(d(5000, 64, 32)));
        assert!(!splits_k(d(64, 32, 5000)) && !splits_k(d(2, 5000, 2)));
        for (s, &(m, k, n)) in [(24, 1100, 24), (7, 5000, 33), (3, 1024, 200)]
            .iter()
            .enumerate()
        {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let d = Dims {
                    m,
                    k,
                    n,
                    trans_a,
                    trans_b,
                };
                assert!(splits_k(d));
                let a = uniform::<T>(m * k, 40 + s as u64, -1.0, 1.0);
                let b = uniform::<T>(k * n, 50 + s as u64, -1.0, 1.0);
                let out0 = uniform::<T>(m * n, 60, -1.0, 1.0);
                let (alpha, beta) = (T::from_f64(-0.5), T::from_f64(2.0));
                let (mut x, mut y, mut z) = (out0.clone(), out0.clone(), out0.clone());
                simd::matmul(d, &a, &b, alpha, beta, &mut x);
                scalar::matmul_split_k(d, &a, &b, alpha, beta, &mut y);
                scalar::matmul(d, &a, &b, alpha, beta, &mut z);
                // Each of the three is within |alpha| k u M of the exact product term, with
                // M = sum_p |a_ip| |b_pj| (any summation order: no term goes through more
                // than k additions), plus u (|alpha| M + |alpha P| + |beta out0|) <=
                // u (2 |alpha| M + |beta|) for the scaling and the final addition (|out0| <= 1).
                // Two of them differ by at most twice that.
                let abs = |v: &[T]| v.iter().map(|x| x.to_f64().abs()).collect::<Vec<_>>();
                let mut mag = vec![0.0; m * n];
                scalar::matmul(d, &abs(&a), &abs(&b), 1.0, 0.0, &mut mag);
                let eps = T::EPSILON.to_f64();
                for i in 0..m * n {
                    let tol = 2.0 * eps * (0.5 * (k as f64 + 2.0) * mag[i] + 2.0);
                    let (x, y, z) = (x[i].to_f64(), y[i].to_f64(), z[i].to_f64());
                    assert!((x - y).abs() <= tol, "{d:?} [{i}]: {x:e} vs {y:e}");
                    assert!((y - z).abs() <= tol, "{d:?} [{i}]: {y:e} vs {z:e}");
                }
            }
        }
    }

    float_tests!(
        split_k_twins_agree_and_only_small_outputs_split,
        matches_the_naive_loop_in_f64_for_all_transposes,
        accumulates_with_alpha_and_beta,
        beta_zero_ignores_nan_in_out_and_alpha_zero_ignores_a_and_b,
        bitwise_identical_for_1_2_and_7_threads,
        shape_errors_name_the_op_and_both_shapes,
        kernel_twins_agree,
    );
}
