//! Every estimator on Bernoulli logits (`Estimator::draw_bernoulli` / `loss_bernoulli`, the
//! two-class categorical `(l, 0)`): the samples' law, REINFORCE with every baseline unbiased
//! on the 3-latent toy with a non-separable `f` (`control_variate.rs`'s `BernoulliToy`),
//! ReinMax unbiased there at `tau = 1` (`f` is quadratic in `b`) and straight-through not,
//! and the errors.

use gumbel_autograd::Tape;
use gumbel_autograd::estimators::Estimator;
use gumbel_autograd::tensor::Tensor;
use gumbel_autograd::tensor::ops::gumbel::{GumbelRng, Temperature};

use crate::control_variate::BernoulliToy;
use crate::estimators::{mean_se, worst_z};

/// `n` per-row estimates of `name` on the toy at `tau` (one sample of the three latents per
/// row, `K` for the score function, whose estimate is then the mean over the row's samples).
fn estimates(name: &str, n: usize, tau: f64, seed: u64) -> Vec<Vec<f64>> {
    let toy = BernoulliToy::TOY;
    let mut est: Estimator = name.parse().unwrap();
    let tape = Tape::<f64>::new();
    let logits = tape.leaf(Tensor::from_fn([n, 3], |i| toy.l[i % 3]));
    let draw = est
        .draw_bernoulli(&logits, Temperature::Tau(tau), &mut GumbelRng::new(seed))
        .unwrap();
    assert_eq!(draw.value.shape().unwrap(), vec![n * draw.samples, 3]);
    let f = toy.objective(&draw.value).unwrap();
    let loss = est.loss_bernoulli(&draw, &f).unwrap();
    let g = tape.backward(loss).unwrap();
    let g = g.get(logits).unwrap();
    (0..n).map(|r| g.row(r).to_vec()).collect()
}

#[test]
fn samples_are_bernoulli_of_the_sigmoid() {
    let toy = BernoulliToy::TOY;
    for name in ["reinforce_loo:3", "st_gumbel_softmax", "straight_through"] {
        let tape = Tape::<f64>::new();
        let n = 30_000;
        let logits = tape.leaf(Tensor::from_fn([n, 3], |i| toy.l[i % 3]));
        let est: Estimator = name.parse().unwrap();
        let draw = est
            .draw_bernoulli(&logits, Temperature::Tau(1.0), &mut GumbelRng::new(4))
            .unwrap();
        let b = draw.value.value().unwrap();
        let rows: Vec<Vec<f64>> = (0..b.rows()).map(|r| b.row(r).to_vec()).collect();
        assert!(
            rows.iter().flatten().all(|&x| x == 0.0 || x == 1.0),
            "{name}"
        );
        let p: Vec<f64> = toy.l.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect();
        let z = worst_z(&rows, &p);
        assert!(z < 4.0, "{name}: frequencies {z:.2} SE from sigmoid(l)");
    }
}

#[test]
fn reinforce_with_every_baseline_is_unbiased_on_bernoulli_latents() {
    let exact = BernoulliToy::TOY.exact();
    for name in [
        "reinforce",
        "reinforce_mean",
        "reinforce_loo:2",
        "reinforce_loo:4",
    ] {
        let rows = estimates(name, 30_000, 1.0, 12);
        let z = worst_z(&rows, &exact);
        assert!(z < 4.0, "{name}: {z:.2} SE");
    }
}

/// `f(b) = (a . b - t)^2` is quadratic in `b`, hence in the one-hot of `(l, 0)`: ReinMax's
/// mean at `tau = 1` is the exact gradient; straight-through's is not (its bias is many
/// standard errors on the same number of draws).
#[test]
fn reinmax_is_unbiased_on_bernoulli_latents_and_straight_through_is_not() {
    let exact = BernoulliToy::TOY.exact();
    let rm = worst_z(&estimates("reinmax", 40_000, 1.0, 3), &exact);
    let st = worst_z(&estimates("straight_through", 40_000, 1.0, 3), &exact);
    assert!(rm < 4.0, "ReinMax {rm:.2} SE");
    assert!(st > 10.0, "straight-through only {st:.2} SE off");
    // and the pathwise estimators give finite gradients of the right shape
    for name in [
        "gumbel_softmax",
        "st_gumbel_softmax",
        "gumbel_rao:4",
        "gapped_st",
    ] {
        let rows = estimates(name, 100, 0.7, 5);
        let (mean, _) = mean_se(&rows);
        assert!(mean.iter().all(|m| m.is_finite()), "{name}: {mean:?}");
    }
}

#[test]
fn bernoulli_errors_are_named() {
    let tape = Tape::<f64>::new();
    let mut rng = GumbelRng::new(1);
    let mut est: Estimator = "reinforce_loo:2".parse().unwrap();
    let v = tape.leaf(Tensor::new([3], vec![0.0, 1.0, 2.0]).unwrap());
    let err = est
        .draw_bernoulli(&v, Temperature::Tau(1.0), &mut rng)
        .unwrap_err();
    assert!(err.to_string().contains("[rows, latents]"), "{err}");
    let l = tape.leaf(Tensor::new([2, 3], vec![0.0, 1.0, f64::NAN, 0.0, 0.0, 0.0]).unwrap());
    let err = est
        .draw_bernoulli(&l, Temperature::Tau(1.0), &mut rng)
        .unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
    let l = tape.leaf(Tensor::zeros([2, 3]));
    let draw = est
        .draw_bernoulli(&l, Temperature::Tau(1.0), &mut rng)
        .unwrap();
    let f = tape.constant(Tensor::zeros([3]));
    let err = est.loss_bernoulli(&draw, &f).unwrap_err();
    assert!(err.to_string().contains("3 values for 4 samples"), "{err}");
}
