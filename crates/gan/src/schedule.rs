//! Temperature schedules for the adversarial phase.
//!
//! Training through the Gumbel-Softmax relaxation starts at a high temperature, where the
//! relaxed sample `y = softmax((logits + g) / tau)` is smooth and its gradient has low
//! variance but a large bias, and anneals towards a low temperature, where `y` approaches
//! the one-hot sample the discriminator will eventually judge.
//!
//! Two families are implemented:
//!
//! - RelGAN's seven shapes (Nie et al. 2019, `get_fixed_temperature`): `constant`,
//!   `linear`, `exp`, `log`, `sigmoid`, `quad`, `sqrt`. RelGAN anneals the inverse
//!   temperature `beta` from 1 up to `beta_max` over N steps, with N hard-coded to 5000
//!   whatever the real length of training. Here N is the real number of adversarial steps,
//!   and the schedule runs from any `start` to any `end`, so the same shapes serve the beta
//!   form (1 -> beta_max, increasing) and the tau form (tau_0 -> tau_min, decreasing). With
//!   `start = 1` they reproduce RelGAN's formulas exactly.
//! - Jang et al. (2017): `tau = max(tau_min, tau_0 * exp(-r * t))`, with `t` advanced only
//!   every `K` steps.
//!
//! A schedule is a pure function of the step index, so a resumed run sees the same
//! temperatures as an uninterrupted one.

use std::fmt;
use std::str::FromStr;

/// The shape of an annealing curve from `start` (step 0) to `end` (step N - 1 or N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `v_i = end` (RelGAN's `no`: the final temperature from the first step).
    Constant,
    /// `v_i = start + (end - start) * i / (N - 1)`.
    Linear,
    /// Geometric: `v_i = start * (end / start)^(i / N)` (RelGAN: `beta_max^(i/N)`).
    Exp,
    /// `v_i = start + (end - start) * ln(i + 1) / ln(N)`.
    Log,
    /// `v_i = start + (end - start) / (1 + exp((N/2 - i) * 20 / N))`.
    Sigmoid,
    /// `v_i = start + (end - start) * i^2 / (N - 1)^2`.
    Quad,
    /// `v_i = start + (end - start) * sqrt(i) / sqrt(N - 1)`.
    Sqrt,
}

impl Shape {
    /// Every shape, in RelGAN's order.
    pub const ALL: [Shape; 7] = [
        Shape::Constant,
        Shape::Linear,
        Shape::Exp,
        Shape::Log,
        Shape::Sigmoid,
        Shape::Quad,
        Shape::Sqrt,
    ];

    /// The name used on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Constant => "constant",
            Shape::Linear => "linear",
            Shape::Exp => "exp",
            Shape::Log => "log",
            Shape::Sigmoid => "sigmoid",
            Shape::Quad => "quad",
            Shape::Sqrt => "sqrt",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Shape::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Shape::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown schedule '{s}': expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A temperature schedule: the value at each adversarial step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// One of RelGAN's shapes from `start` to `end` over `steps` adversarial steps.
    Anneal {
        shape: Shape,
        start: f64,
        end: f64,
        steps: usize,
    },
    /// Jang et al.: `max(min, start * exp(-rate * t))`, `t = every * floor(step / every)`.
    Jang {
        start: f64,
        min: f64,
        rate: f64,
        every: usize,
    },
}

impl Schedule {
    /// Checks that every parameter is finite and positive where it must be, so that
    /// [`Schedule::at`] always returns a finite positive value.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("schedule: {name} must be finite and > 0, got {v}"))
            }
        };
        match *self {
            Schedule::Anneal {
                start, end, steps, ..
            } => {
                positive("start", start)?;
                positive("end", end)?;
                if steps == 0 {
                    return Err("schedule: the number of steps must be at least 1".into());
                }
                Ok(())
            }
            Schedule::Jang {
                start,
                min,
                rate,
                every,
            } => {
                positive("start", start)?;
                positive("min", min)?;
                if !(rate.is_finite() && rate >= 0.0) {
                    return Err(format!(
                        "schedule: rate must be finite and >= 0, got {rate}"
                    ));
                }
                if every == 0 {
                    return Err("schedule: 'every' must be at least 1".into());
                }
                Ok(())
            }
        }
    }

    /// The value at adversarial step `i` (0-based). Steps past the end hold the last value.
    ///
    /// ```
    /// use gumbel_gan::schedule::{Schedule, Shape};
    /// // RelGAN's exp schedule with beta_max = 100 over N = 4 steps: 100^(i/4).
    /// let s = Schedule::Anneal { shape: Shape::Exp, start: 1.0, end: 100.0, steps: 4 };
    /// assert!((s.at(2) - 10.0).abs() < 1e-12);
    /// // Jang et al.: tau = max(0.1, 1 * exp(-0.1 t)), t advanced every 10 steps.
    /// let j = Schedule::Jang { start: 1.0, min: 0.1, rate: 0.1, every: 10 };
    /// assert_eq!(j.at(9), 1.0);
    /// assert!((j.at(10) - (-1.0f64).exp()).abs() < 1e-12);
    /// assert_eq!(j.at(1000), 0.1);
    /// ```
    pub fn at(&self, i: usize) -> f64 {
        match *self {
            Schedule::Anneal {
                shape,
                start,
                end,
                steps,
            } => {
                let n = steps as f64;
                let i = i.min(steps.saturating_sub(1)) as f64;
                // (N - 1) appears in denominators; with one step every shape is `end`.
                let last = (n - 1.0).max(1.0);
                let span = end - start;
                match shape {
                    Shape::Constant => end,
                    Shape::Linear => start + span * i / last,
                    Shape::Exp => start * (end / start).powf(i / n),
                    Shape::Log => {
                        if steps == 1 {
                            end
                        } else {
                            start + span * (i + 1.0).ln() / n.ln()
                        }
                    }
                    Shape::Sigmoid => start + span / (1.0 + ((n / 2.0 - i) * 20.0 / n).exp()),
                    Shape::Quad => start + span * i * i / (last * last),
                    Shape::Sqrt => start + span * i.sqrt() / last.sqrt(),
                }
            }
            Schedule::Jang {
                start,
                min,
                rate,
                every,
            } => {
                let t = (i / every * every) as f64;
                (start * (-rate * t).exp()).max(min)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RelGAN's `get_fixed_temperature(temper, i, N, adapt)` written out literally (with N
    /// passed in rather than fixed at 5000), to check that `start = 1` reproduces it.
    fn relgan(temper: f64, i: f64, n: f64, adapt: &str) -> f64 {
        match adapt {
            "no" => temper,
            "lin" => 1.0 + i / (n - 1.0) * (temper - 1.0),
            "exp" => temper.powf(i / n),
            "log" => 1.0 + (temper - 1.0) / n.ln() * (i + 1.0).ln(),
            "sigmoid" => (temper - 1.0) / (1.0 + ((n / 2.0 - i) * 20.0 / n).exp()) + 1.0,
            "quad" => (temper - 1.0) / (n - 1.0).powi(2) * i * i + 1.0,
            "sqrt" => (temper - 1.0) / (n - 1.0).sqrt() * i.sqrt() + 1.0,
            _ => unreachable!(),
        }
    }

    #[test]
    fn start_one_reproduces_relgan_formulas() {
        let names = ["no", "lin", "exp", "log", "sigmoid", "quad", "sqrt"];
        for (shape, name) in Shape::ALL.iter().zip(names) {
            for &n in &[2usize, 7, 5000] {
                let s = Schedule::Anneal {
                    shape: *shape,
                    start: 1.0,
                    end: 1000.0,
                    steps: n,
                };
                for i in [0, 1, n / 3, n / 2, n - 1] {
                    let want = relgan(1000.0, i as f64, n as f64, name);
                    let got = s.at(i);
                    assert!(
                        (got - want).abs() <= 1e-9 * want.abs(),
                        "{shape} n={n} i={i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn schedules_run_from_start_to_end_monotonically() {
        for shape in Shape::ALL {
            for (start, end) in [(1.0, 100.0), (2.0, 0.1)] {
                let n = 500;
                let s = Schedule::Anneal {
                    shape,
                    start,
                    end,
                    steps: n,
                };
                let values: Vec<f64> = (0..n).map(|i| s.at(i)).collect();
                assert!(values.iter().all(|v| v.is_finite() && *v > 0.0), "{shape}");
                let rising = end > start;
                for w in values.windows(2) {
                    assert!(if rising { w[1] >= w[0] } else { w[1] <= w[0] }, "{shape}");
                }
                // Linear, log, quad and sqrt reach `end` exactly at i = N - 1; exp reaches
                // it at i = N (RelGAN's formula), sigmoid approaches it.
                let tol = match shape {
                    Shape::Exp => (end / start).abs().ln().abs() / n as f64 * end.abs() * 1.01,
                    Shape::Sigmoid => 1e-3 * (end - start).abs(),
                    _ => 1e-9,
                };
                assert!(
                    (values[n - 1] - end).abs() <= tol,
                    "{shape}: {} vs {end}",
                    values[n - 1]
                );
                assert_eq!(s.at(n + 10), values[n - 1], "{shape} holds its last value");
            }
        }
    }

    #[test]
    fn validation_names_the_bad_parameter() {
        let bad = Schedule::Anneal {
            shape: Shape::Exp,
            start: 0.0,
            end: 1.0,
            steps: 10,
        };
        assert!(bad.validate().unwrap_err().contains("start"));
        let bad = Schedule::Jang {
            start: 1.0,
            min: f64::NAN,
            rate: 0.1,
            every: 1,
        };
        assert!(bad.validate().unwrap_err().contains("min"));
        assert!("cosine".parse::<Shape>().unwrap_err().contains("sigmoid"));
        assert_eq!("quad".parse::<Shape>().unwrap(), Shape::Quad);
    }
}
