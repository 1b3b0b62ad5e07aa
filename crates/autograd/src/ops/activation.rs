//! Elementwise functions: `exp`, `ln`, `tanh`, `sigmoid`, `relu`, `leaky_relu`.
//!
//! Each backward is `dx = dy * f'(x)`, with `f'` written through the output `y` where that
//! is cheaper (`exp`, `tanh`, `sigmoid`) so that `x` need not be kept.
//!
//! The Var-level backwards (for higher-order gradients) are the same formulas on `Var`s:
//! `dy * y`, `dy / x`, `dy * (1 - y^2)`, `dy * (y - y^2)`, with `y` the op's own output, so
//! differentiating them again goes through the op itself (`d(1 - y^2)/dx = -2 y y'`).
//! For `relu` and `leaky_relu` the slope mask (`1`/`0` or `1`/`slope`) is a constant: their
//! second derivative is zero away from the kink.

use gumbel_tensor::{Element, Result, Tensor};

use crate::tape::Var;
use gumbel_tensor::ops as k;

impl<'t, T: Element> Var<'t, T> {
    /// `y = e^x`. Derivative: `dx = dy * y`.
    pub fn exp(&self) -> Result<Var<'t, T>> {
        let ix = self.id();
        let x = self.value()?;
        self.push("exp", k::exp(&x), &[*self], move |y, dy, g| {
            g.add(ix, k::mul(&dy, y)?)
        })?
        .with_var_backward(|y, dy, g| g.add(0, dy.mul(&y)?))
    }

    /// `y = ln x` (NaN for `x < 0`, `-inf` at 0). Derivative: `dx = dy / x`.
    pub fn ln(&self) -> Result<Var<'t, T>> {
        let (ix, x) = (self.id(), self.value()?);
        self.push("ln", k::ln(&x), &[*self], move |_, dy, g| {
            g.add(ix, k::div(&dy, &x)?)
        })?
        .with_var_backward(|_, dy, g| g.add(0, dy.div(&g.input(0)?)?))
    }

    /// `y = tanh x`. Derivative: `dx = dy * (1 - y^2)`.
    pub fn tanh(&self) -> Result<Var<'t, T>> {
        let ix = self.id();
        let x = self.value()?;
        self.push("tanh", k::tanh(&x), &[*self], move |y, dy, g| {
            g.add(ix, k::tanh_backward(y, &dy)?)
        })?
        .with_var_backward(|y, dy, g| {
            // 1 - y^2
            let d = y.mul(&y)?.neg()?.add_scalar(T::ONE)?;
            g.add(0, dy.mul(&d)?)
        })
    }

    /// `y = 1 / (1 + e^-x)`. Derivative: `dx = dy * y * (1 - y)`.
    pub fn sigmoid(&self) -> Result<Var<'t, T>> {
        let ix = self.id();
        let x = self.value()?;
        self.push("sigmoid", k::sigmoid(&x), &[*self], move |y, dy, g| {
            g.add(ix, k::sigmoid_backward(y, &dy)?)
        })?
        .with_var_backward(|y, dy, g| {
            // y (1 - y) = y - y^2
            let d = y.sub(&y.mul(&y)?)?;
            g.add(0, dy.mul(&d)?)
        })
    }

    /// `y = max(x, 0)`. Derivative: `dx = dy` where `x > 0`, else 0 (PyTorch's choice at 0).
    pub fn relu(&self) -> Result<Var<'t, T>> {
        let (ix, x) = (self.id(), self.value()?);
        self.push("relu", k::relu(&x), &[*self], move |_, dy, g| {
            g.add(ix, k::relu_backward(&x, &dy)?)
        })?
        .with_var_backward(|_, dy, g| {
            let x = g.input(0)?.value()?;
            let mask = k::relu_backward(&x, &Tensor::ones(x.shape()))?;
            g.add(0, dy.mul(&dy.tape().constant(mask))?)
        })
    }

    /// `y = x` where `x >= 0`, `slope * x` elsewhere. Derivative: `dx = dy` where `x > 0`,
    /// else `slope * dy`.
    pub fn leaky_relu(&self, slope: T) -> Result<Var<'t, T>> {
        let (ix, x) = (self.id(), self.value()?);
        self.push(
            "leaky_relu",
            k::leaky_relu(&x, slope),
            &[*self],
            move |_, dy, g| g.add(ix, k::leaky_relu_backward(&x, &dy, slope)?),
        )?
        .with_var_backward(move |_, dy, g| {
            let x = g.input(0)?.value()?;
            let mask = k::leaky_relu_backward(&x, &Tensor::ones(x.shape()), slope)?;
            g.add(0, dy.mul(&dy.tape().constant(mask))?)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use crate::ops::testutil::{
        check, check2, rand_away_from_zero, rand_in, weighted_square_sum, weighted_sum,
    };
    use gumbel_tensor::Tensor;

    #[test]
    fn smooth_activations_gradcheck() {
        let x = rand_in(&[3, 7], 11, -2.0, 2.0);
        let xs = std::slice::from_ref(&x);
        check(|_, v| weighted_sum(v[0].exp()?, 1), xs);
        check(|_, v| weighted_sum(v[0].tanh()?, 1), xs);
        check(|_, v| weighted_sum(v[0].sigmoid()?, 1), xs);
        // ln on (0.2, 3): away from 0, where 1/x explodes
        let p = rand_in(&[3, 7], 12, 0.2, 3.0);
        check(|_, v| weighted_sum(v[0].ln()?, 1), &[p]);
    }

    #[test]
    fn kinked_activations_gradcheck_away_from_the_kink() {
        let x = rand_away_from_zero(&[4, 6], 13);
        let xs = std::slice::from_ref(&x);
        check(|_, v| weighted_sum(v[0].relu()?, 2), xs);
        check(|_, v| weighted_sum(v[0].leaky_relu(0.2)?, 2), xs);
    }

    #[test]
    fn composed_chain_gradcheck() {
        // sigmoid(tanh(x) * exp(x)) + relu(x): fan-out of x into three branches
        let x = rand_away_from_zero(&[2, 3], 14);
        check(
            |_, v| {
                let x = v[0];
                weighted_sum(x.tanh()?.mul(&x.exp()?)?.sigmoid()?.add(&x.relu()?)?, 5)
            },
            &[x],
        );
    }

    #[test]
    fn activations_second_order() {
        let x = rand_in(&[3, 7], 11, -2.0, 2.0);
        let xs = std::slice::from_ref(&x);
        check2(|_, v| weighted_sum(v[0].exp()?, 1), xs);
        check2(|_, v| weighted_sum(v[0].tanh()?, 1), xs);
        check2(|_, v| weighted_sum(v[0].sigmoid()?, 1), xs);
        check2(|_, v| weighted_square_sum(v[0].tanh()?, 1), xs);
        let p = rand_in(&[3, 7], 12, 0.2, 3.0);
        check2(|_, v| weighted_sum(v[0].ln()?, 1), &[p]);
        // relu'' = 0 away from the kink: the square makes the check non-trivial
        let k = rand_away_from_zero(&[4, 6], 13);
        let ks = std::slice::from_ref(&k);
        check2(|_, v| weighted_square_sum(v[0].relu()?, 2), ks);
        check2(|_, v| weighted_square_sum(v[0].leaky_relu(0.2)?, 2), ks);
        // the composed chain of the first-order test, with fan-out into three branches
        check2(
            |_, v| {
                let x = v[0];
                weighted_sum(x.tanh()?.mul(&x.exp()?)?.sigmoid()?.add(&x.relu()?)?, 5)
            },
            ks,
        );
    }

    #[test]
    fn relu_gradient_at_zero_is_zero() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::new([3], vec![-1.0, 0.0, 2.0]).unwrap());
        let g = tape.backward(x.relu().unwrap().sum().unwrap()).unwrap();
        assert_eq!(g.get(x).unwrap().as_slice(), &[0.0, 0.0, 1.0]);
    }
}
