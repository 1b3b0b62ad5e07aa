//! How a generated token reaches the discriminator, and which gradient comes back: the
//! estimator of the generator's adversarial update (`train --estimator NAME[:ARG]`).
//!
//! At every time step the generator has logits `o_t` and draws a token
//! `k_t = argmax(o_t + g_t)`, a sample of `softmax(o_t)` (Gumbel-max). The token itself
//! has no derivative; the estimator decides what the discriminator sees in its place and
//! what gradient `o_t` receives (the autograd crate's [`gumbel_autograd::estimators`]
//! has the math and the tests of each):
//!
//! | name | the discriminator sees | gradient to `o_t` |
//! |---|---|---|
//! | `gumbel` | `y_t = softmax(c (o_t + g_t))` | through `y_t` (the relaxation) |
//! | `st-gumbel` | `one_hot(k_t)` | through `y_t` (straight-through Gumbel-Softmax) |
//! | `st` | `one_hot(k_t)` | through `softmax(c o_t)` (Bengio et al. 2013) |
//! | `reinmax` | `one_hot(k_t)` | ReinMax's second-order one (Liu et al. 2023; `tau >= 1`) |
//! | `gapped-st[:GAP]` | `one_hot(k_t)` | through the softmax of the gapped logits (Fan et al. 2022) |
//! | `gumbel-rao:K` | `one_hot(k_t)` | ST-Gumbel-Softmax's, averaged over `K` noises given `k_t` (Paulus et al. 2021) |
//! | `reinforce[:N]` | the sampled tokens | none through the discriminator: the policy gradient with Monte-Carlo rollouts (SeqGAN, Yu et al. 2017; [`super::reinforce`]) |
//!
//! `c` is the temperature's scale (`1 / tau`, or `beta`). Every estimator but `reinforce`
//! draws the same tokens for the same noise key; they differ only in the gradient (and
//! `gumbel` in what the discriminator sees). `reinforce` never differentiates through the
//! discriminator: it scores whole sequences (each prefix completed `N` times by a rollout
//! policy, `N = 16` by default) and weights the log-likelihood of the sampled tokens by the
//! scores; the temperature schedule does not apply to it (it samples at temperature 1).
//! Soft feedback (`--feedback soft`) and a learned temperature need the relaxed sample `y_t`,
//! so they go with `gumbel` and `st-gumbel` only.
//!
//! Before this setting existed, a run chose between the first two with `disc_input`
//! (`soft` = `gumbel`, `straight_through` = `st-gumbel`); config files that say so still
//! load, and `--disc-input` is still accepted.

use std::fmt;
use std::str::FromStr;

use gumbel_autograd::estimators::{Estimator as Library, Gap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The estimator of the generator's adversarial update (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Estimator {
    /// The relaxed sample itself: the discriminator sees `y_t`.
    Gumbel,
    /// Straight-through Gumbel-Softmax: forward `one_hot(k_t)`, backward through `y_t`.
    StGumbel,
    /// Straight-through: forward `one_hot(k_t)`, backward through `softmax(c o_t)`.
    St,
    /// ReinMax; needs `tau >= 1` (`beta <= 1`) all along the schedule.
    ReinMax,
    /// Gapped straight-through with a fixed gap (`>= 0`) or the adaptive one.
    GappedSt(Gap),
    /// Gumbel-Rao with `K >= 1` conditional draws.
    GumbelRao(usize),
    /// SeqGAN's REINFORCE with `rollouts >= 1` Monte-Carlo completions of every prefix.
    Reinforce { rollouts: usize },
}

/// SeqGAN's rollouts per prefix (LantaoYu/SeqGAN, `rollout.get_reward(sess, samples, 16, ..)`),
/// the default of `reinforce`.
pub const SEQGAN_ROLLOUTS: usize = 16;

/// Every name [`Estimator::from_str`] reads, for errors and `--help`.
pub const NAMES: &str = "gumbel, st-gumbel, st, reinmax, gapped-st[:GAP] (GAP >= 0, default 1, \
                         or p for the adaptive gap), gumbel-rao:K (K >= 1), reinforce[:N] (N >= 1 \
                         rollouts per prefix, default 16)";

impl Estimator {
    /// `true` for the two estimators built on the relaxed sample `y_t` (which soft feedback
    /// and a learned temperature need).
    pub fn is_relaxed(self) -> bool {
        matches!(self, Estimator::Gumbel | Estimator::StGumbel)
    }

    /// The autograd crate's estimator for the ones that are not built on `y_t` (`None` for
    /// `gumbel` and `st-gumbel`, which the generator draws with the Gumbel-Softmax op
    /// directly, with a learnable temperature if asked).
    ///
    /// `reinforce` draws its training samples itself ([`super::reinforce`]); where it needs a
    /// one-hot batch without gradient (the discriminator's update) any one-hot estimator's
    /// forward serves, and this is straight-through's.
    pub fn library(self) -> Option<Library> {
        match self {
            Estimator::Gumbel | Estimator::StGumbel => None,
            Estimator::Reinforce { .. } => Some(Library::StraightThrough),
            Estimator::St => Some(Library::StraightThrough),
            Estimator::ReinMax => Some(Library::ReinMax),
            Estimator::GappedSt(gap) => Some(Library::GappedStraightThrough { gap }),
            Estimator::GumbelRao(draws) => Some(Library::GumbelRao { draws }),
        }
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Estimator::Gumbel => write!(out, "gumbel"),
            Estimator::StGumbel => write!(out, "st-gumbel"),
            Estimator::St => write!(out, "st"),
            Estimator::ReinMax => write!(out, "reinmax"),
            Estimator::GappedSt(Gap::Fixed(kappa)) => write!(out, "gapped-st:{kappa}"),
            Estimator::GappedSt(Gap::Adaptive) => write!(out, "gapped-st:p"),
            Estimator::GumbelRao(k) => write!(out, "gumbel-rao:{k}"),
            Estimator::Reinforce { rollouts } => write!(out, "reinforce:{rollouts}"),
        }
    }
}

impl FromStr for Estimator {
    type Err = Error;

    /// `NAME` or `NAME:ARG` from [`NAMES`]. (The older `disc_input` values are read by
    /// [`Estimator::parse_disc_input`]: there `st` meant `st-gumbel`.)
    fn from_str(s: &str) -> Result<Estimator> {
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        let bad = |why: String| Error::Config(format!("--estimator '{s}': {why}"));
        let no_arg = |e: Estimator| match arg {
            None => Ok(e),
            Some(_) => Err(bad(format!("{name} takes no ':ARG'"))),
        };
        match name {
            "gumbel" => no_arg(Estimator::Gumbel),
            "st-gumbel" => no_arg(Estimator::StGumbel),
            "st" => no_arg(Estimator::St),
            "reinmax" => no_arg(Estimator::ReinMax),
            "gapped-st" => match arg {
                None => Ok(Estimator::GappedSt(Gap::Fixed(1.0))),
                Some("p") => Ok(Estimator::GappedSt(Gap::Adaptive)),
                Some(g) => match g.parse::<f64>() {
                    Ok(kappa) if kappa.is_finite() && kappa >= 0.0 => {
                        Ok(Estimator::GappedSt(Gap::Fixed(kappa)))
                    }
                    _ => Err(bad(format!(
                        "the gap '{g}' must be a finite number >= 0, or p (adaptive)"
                    ))),
                },
            },
            "gumbel-rao" => match arg.map(str::parse::<usize>) {
                None => Err(bad(
                    "gumbel-rao needs a count of draws, e.g. gumbel-rao:10".into()
                )),
                Some(Ok(k)) if k >= 1 => Ok(Estimator::GumbelRao(k)),
                Some(_) => Err(bad(format!(
                    "K = '{}' must be an integer >= 1",
                    arg.unwrap_or_default()
                ))),
            },
            "reinforce" => match arg.map(str::parse::<usize>) {
                None => Ok(Estimator::Reinforce {
                    rollouts: SEQGAN_ROLLOUTS,
                }),
                Some(Ok(n)) if n >= 1 => Ok(Estimator::Reinforce { rollouts: n }),
                Some(_) => Err(bad(format!(
                    "N = '{}' rollouts per prefix must be an integer >= 1",
                    arg.unwrap_or_default()
                ))),
            },
            _ => Err(bad(format!("unknown estimator; one of: {NAMES}"))),
        }
    }
}

/// In config files the estimator is its name. A file written before the setting existed
/// has `"disc_input": "soft"` or `"straight_through"` instead (the field's alias), read as
/// `gumbel` and `st-gumbel`.
impl Serialize for Estimator {
    fn serialize<S: Serializer>(&self, out: S) -> std::result::Result<S::Ok, S::Error> {
        out.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Estimator {
    fn deserialize<D: Deserializer<'de>>(input: D) -> std::result::Result<Estimator, D::Error> {
        let s = String::deserialize(input)?;
        match s.as_str() {
            "soft" | "straight_through" => Estimator::parse_disc_input(&s),
            _ => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Estimator {
    /// The older `disc_input` setting's values: `soft` is `gumbel`, `straight_through`
    /// (and the CLI's `straight-through` and `st`) is `st-gumbel`.
    pub fn parse_disc_input(s: &str) -> Result<Estimator> {
        match s {
            "soft" => Ok(Estimator::Gumbel),
            "straight_through" | "straight-through" | "st" => Ok(Estimator::StGumbel),
            _ => Err(Error::Config(format!(
                "disc_input '{s}': one of soft, straight_through (st); newer runs say \
                 estimator ({NAMES})"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_errors_listing_the_names() {
        for name in [
            "gumbel",
            "st-gumbel",
            "st",
            "reinmax",
            "gapped-st:1",
            "gapped-st:0.5",
            "gapped-st:p",
            "gumbel-rao:10",
            "reinforce:16",
            "reinforce:1",
        ] {
            let e: Estimator = name.parse().unwrap();
            assert_eq!(e.to_string(), name);
        }
        assert_eq!(
            "gapped-st".parse::<Estimator>().unwrap(),
            Estimator::GappedSt(Gap::Fixed(1.0))
        );
        assert_eq!(
            "reinforce".parse::<Estimator>().unwrap(),
            Estimator::Reinforce { rollouts: 16 }
        );
        for (bad, says) in [
            ("bogus", "unknown estimator; one of: gumbel,"),
            ("gumbel-rao", "needs a count"),
            ("gumbel-rao:0", "K = '0' must be an integer >= 1"),
            ("gumbel-rao:x", "K = 'x'"),
            ("gapped-st:-1", "the gap '-1'"),
            ("gapped-st:inf", "the gap 'inf'"),
            ("reinmax:2", "reinmax takes no ':ARG'"),
            ("reinforce:0", "N = '0' rollouts"),
            ("reinforce:-3", "N = '-3' rollouts"),
        ] {
            let e = bad.parse::<Estimator>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_older_disc_input_values_map_to_the_two_gumbel_estimators() {
        assert_eq!(
            Estimator::parse_disc_input("soft").unwrap(),
            Estimator::Gumbel
        );
        for st in ["straight_through", "straight-through", "st"] {
            assert_eq!(
                Estimator::parse_disc_input(st).unwrap(),
                Estimator::StGumbel
            );
        }
        assert!(Estimator::parse_disc_input("hard").is_err());
        assert!(Estimator::Gumbel.is_relaxed() && Estimator::StGumbel.is_relaxed());
        assert!(!Estimator::St.is_relaxed() && Estimator::St.library().is_some());
    }
}
