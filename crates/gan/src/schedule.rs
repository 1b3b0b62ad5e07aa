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
//! [`ScheduleKind`] names a schedule as `--schedule` and `config.json` spell it; [`Schedule`]
//! is the schedule itself, with its parameters. A schedule is a pure function of the step
//! index, so a resumed run sees the same temperatures as an uninterrupted one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A schedule by name, as `--schedule` and the `schedule` field of `config.json` spell it
/// (`"linear"`, `"jang"`, ...): one of RelGAN's shapes, from `--temp-start` to `--temp-end`
/// over the adversarial steps, or Jang et al.'s schedule.
/// [`TemperatureConfig::schedule`](crate::train::config::TemperatureConfig::schedule) turns
/// it into a [`Schedule`]. Its `Display` is that name.
///
/// (The variants' docs are also the help of `gumbel-lab train --schedule`'s values.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// The end value from the first step (RelGAN's `no`).
    Constant,
    /// A straight line from start to end.
    Linear,
    /// Geometric: `start * (end / start)^(i / N)`.
    Exp,
    /// `start + (end - start) * ln(i + 1) / ln(N)`.
    Log,
    /// A sigmoid from start to end, steepest at step N / 2.
    Sigmoid,
    /// `start + (end - start) * (i / (N - 1))^2`.
    Quad,
    /// `start + (end - start) * sqrt(i / (N - 1))`.
    Sqrt,
    /// Jang et al.: `max(tau_min, tau_0 * exp(-r * t))`, `t` advanced every K steps.
    Jang,
}

impl ScheduleKind {
    /// The annealing curve of one of RelGAN's shapes; `None` for [`ScheduleKind::Jang`].
    ///
    /// ```
    /// use gumbel_gan::schedule::{ScheduleKind, Shape};
    /// assert_eq!(ScheduleKind::Sqrt.shape(), Some(Shape::Sqrt));
    /// assert_eq!(ScheduleKind::Jang.shape(), None);
    /// assert_eq!(ScheduleKind::Sqrt.to_string(), "sqrt");
    /// ```
    pub fn shape(self) -> Option<Shape> {
        match self {
            ScheduleKind::Constant => Some(Shape::Constant),
            ScheduleKind::Linear => Some(Shape::Linear),
            ScheduleKind::Exp => Some(Shape::Exp),
            ScheduleKind::Log => Some(Shape::Log),
            ScheduleKind::Sigmoid => Some(Shape::Sigmoid),
            ScheduleKind::Quad => Some(Shape::Quad),
            ScheduleKind::Sqrt => Some(Shape::Sqrt),
            ScheduleKind::Jang => None,
        }
    }
}

impl fmt::Display for ScheduleKind {
    /// The serde name: the one `config.json` and `--schedule` use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.serialize(f)
    }
}

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
                        "{shape:?} n={n} i={i}: {got} vs {want}"
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
                assert!(
                    values.iter().all(|v| v.is_finite() && *v > 0.0),
                    "{shape:?}"
                );
                let rising = end > start;
                for w in values.windows(2) {
                    assert!(
                        if rising { w[1] >= w[0] } else { w[1] <= w[0] },
                        "{shape:?}"
                    );
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
                    "{shape:?}: {} vs {end}",
                    values[n - 1]
                );
                assert_eq!(
                    s.at(n + 10),
                    values[n - 1],
                    "{shape:?} holds its last value"
                );
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
    }

    #[test]
    fn schedule_kinds_are_named_as_in_config_json_and_cover_every_shape() {
        let kinds = [
            (ScheduleKind::Constant, "constant"),
            (ScheduleKind::Linear, "linear"),
            (ScheduleKind::Exp, "exp"),
            (ScheduleKind::Log, "log"),
            (ScheduleKind::Sigmoid, "sigmoid"),
            (ScheduleKind::Quad, "quad"),
            (ScheduleKind::Sqrt, "sqrt"),
            (ScheduleKind::Jang, "jang"),
        ];
        for (kind, name) in kinds {
            assert_eq!(kind.to_string(), name);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            let back: ScheduleKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(back, kind);
        }
        // RelGAN's seven shapes, each once, in order; Jang's schedule is not a shape.
        let shapes: Vec<Shape> = kinds.iter().filter_map(|(k, _)| k.shape()).collect();
        assert_eq!(shapes, Shape::ALL);
        let e = serde_json::from_str::<ScheduleKind>("\"cosine\"").unwrap_err();
        assert!(
            e.to_string().contains("cosine") && e.to_string().contains("jang"),
            "{e}"
        );
    }
}
