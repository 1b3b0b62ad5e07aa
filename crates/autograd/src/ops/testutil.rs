//! Test helpers shared by the ops' gradchecks: seeded random tensors and a `check` that
//! runs [`gradcheck`](crate::gradcheck) and panics with its report on failure, and its
//! second-order twin `check2`.

use gumbel_tensor::Tensor;

use crate::gradcheck::{GradcheckReport, gradcheck, gradcheck_second_order};
use crate::tape::{Tape, Var};

/// SplitMix64: a tiny seeded generator, enough for test inputs.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        let z = gumbel_tensor::random::splitmix64(self.0);
        self.0 = self.0.wrapping_add(gumbel_tensor::random::GOLDEN_GAMMA);
        z
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        gumbel_tensor::random::unit_f64(self.next_u64())
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// A tensor with entries uniform in [-1, 1).
pub fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut r = TestRng::new(seed);
    Tensor::from_fn(shape, |_| r.uniform(-1.0, 1.0))
}

/// A tensor with entries uniform in [lo, hi).
pub fn rand_in(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor<f64> {
    let mut r = TestRng::new(seed);
    Tensor::from_fn(shape, |_| r.uniform(lo, hi))
}

/// Entries of magnitude in [0.1, 1) with random signs: at least 0.1 away from the kinks of
/// relu, leaky_relu and |x| (far more than gradcheck's eps = 1e-6).
pub fn rand_away_from_zero(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut r = TestRng::new(seed);
    Tensor::from_fn(shape, |_| {
        let m = r.uniform(0.1, 1.0);
        if r.unit() < 0.5 { -m } else { m }
    })
}

/// Runs gradcheck with the default tolerances and panics with the full report on failure.
pub fn check<F>(f: F, inputs: &[Tensor<f64>]) -> GradcheckReport
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    match gradcheck(f, inputs) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// A fixed random weighting of a tensor's entries, `sum(x * w)`: turns a non-scalar op
/// output into a scalar whose gradient exercises every entry with a different weight
/// (a plain `sum` would hide errors that are constant across entries).
pub fn weighted_sum<'t>(x: Var<'t, f64>, seed: u64) -> gumbel_tensor::Result<Var<'t, f64>> {
    let w = rand(&x.shape()?, seed);
    let w = x.tape().constant(w);
    x.mul(&w)?.sum()
}

/// Runs the second-order gradcheck ([`gradcheck_second_order`]) with the default
/// tolerances and panics with the full report on failure.
pub fn check2<F>(f: F, inputs: &[Tensor<f64>]) -> GradcheckReport
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> gumbel_tensor::Result<Var<'t, f64>>,
{
    match gradcheck_second_order(f, inputs) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// `sum(w * x * x)` with a fixed random `w`: a scalar with a non-zero Hessian even where
/// the op under test is linear, so a second-order check exercises the op's Var-level
/// backward with an incoming gradient `2 w x` that depends on the inputs.
pub fn weighted_square_sum<'t>(x: Var<'t, f64>, seed: u64) -> gumbel_tensor::Result<Var<'t, f64>> {
    weighted_sum(x.mul(&x)?, seed)
}
