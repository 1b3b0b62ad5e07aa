//! The one kernel of the shape ops: copy (or add) a block along one axis.
//!
//! A tensor cut along an axis is viewed as `[outer, n, inner]`; a block of `len` indices
//! along the axis is, for each `o < outer`, one contiguous run of `len * inner` elements.
//! Concatenation, slicing and stacking are all this copy with different offsets.

use gumbel_tensor::Element;

/// Where a block sits in a tensor viewed as `[outer, n, inner]`: the axis length `n` and
/// the block's first index `off` along it.
#[derive(Clone, Copy, Debug)]
pub struct AxisBlock {
    pub n: usize,
    pub off: usize,
}

/// For every `o < outer`: `dst[o, dst.off .. dst.off + len, :] (+)= src[o, src.off .. +len, :]`
/// (`+=` when `accumulate`, else `=`).
#[allow(clippy::too_many_arguments)]
pub fn copy_block<T: Element>(
    src: &[T],
    s: AxisBlock,
    dst: &mut [T],
    d: AxisBlock,
    outer: usize,
    len: usize,
    inner: usize,
    accumulate: bool,
) {
    debug_assert!(s.off + len <= s.n && d.off + len <= d.n);
    debug_assert_eq!(src.len(), outer * s.n * inner);
    debug_assert_eq!(dst.len(), outer * d.n * inner);
    let run = len * inner;
    for o in 0..outer {
        let from = &src[(o * s.n + s.off) * inner..][..run];
        let to = &mut dst[(o * d.n + d.off) * inner..][..run];
        if accumulate {
            for (t, &f) in to.iter_mut().zip(from) {
                *t += f;
            }
        } else {
            to.copy_from_slice(from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_block_by_hand() {
        // src [2, 3, 1] = 0..6; take indices 1..3 of the middle axis into dst [2, 4, 1] at 0
        let src: Vec<f64> = (0..6).map(f64::from).collect();
        let mut dst = vec![0.0; 8];
        copy_block(
            &src,
            AxisBlock { n: 3, off: 1 },
            &mut dst,
            AxisBlock { n: 4, off: 0 },
            2,
            2,
            1,
            false,
        );
        assert_eq!(dst, [1.0, 2.0, 0.0, 0.0, 4.0, 5.0, 0.0, 0.0]);
        copy_block(
            &src,
            AxisBlock { n: 3, off: 1 },
            &mut dst,
            AxisBlock { n: 4, off: 1 },
            2,
            2,
            1,
            true,
        );
        assert_eq!(dst, [1.0, 3.0, 2.0, 0.0, 4.0, 9.0, 5.0, 0.0]);
    }
}
