//! One evaluation of the generator: draw samples at temperature 1 and measure them.
//!
//! | data set | metrics |
//! |---|---|
//! | grammar | validity (the grammar's parser), uniqueness, NLL_gen on held-out expressions |
//! | oracle | NLL_oracle (SeqGAN's definition, on `eval_samples` = 9,984 samples), NLL_gen on held-out oracle samples, uniqueness |
//! | text | BLEU-2..5 against the test set and self-BLEU-2..5 (NLTK method1 smoothing, Texygen's protocol), NLL_gen on the test set, uniqueness |
//!
//! Every data set also reports the mean per-token entropy of the generator's next-token
//! distribution along its own samples and the mean sample length.

use std::collections::HashSet;

use super::config::TrainConfig;
use super::data::{DataKind, TrainData};
use super::report::Evaluation;
use crate::data::Token;
use crate::error::Result;
use crate::model::generator::Generator;

/// Samples drawn for BLEU and self-BLEU (their cost grows with samples x references).
pub const BLEU_SAMPLES: usize = 500;

/// An evaluation and the samples it measured (row-major `[n, seq_len]`).
pub struct EvalOutput {
    pub eval: Evaluation,
    pub samples: Vec<Token>,
}

/// Evaluates `generator` on `data` with `cfg.eval_samples` samples drawn from `key`. With
/// `n_override > 0`, that many samples instead.
pub fn evaluate(
    generator: &Generator,
    data: &TrainData,
    cfg: &TrainConfig,
    key: u64,
    n_override: usize,
) -> Result<EvalOutput> {
    let n = if n_override > 0 {
        n_override
    } else {
        cfg.eval_samples
    };
    let l = data.dataset.seq_len;
    let (samples, entropy) = generator.sample_with_entropy(n, key)?;
    let rows: Vec<&[Token]> = samples.chunks(l).collect();
    let content: Vec<&[Token]> = rows.iter().map(|r| data.dataset.strip(r)).collect();
    let distinct: HashSet<&[Token]> = content.iter().copied().collect();
    let mut ev = Evaluation {
        uniqueness: Some(distinct.len() as f64 / n.max(1) as f64),
        entropy: Some(entropy),
        mean_length: Some(content.iter().map(|c| c.len()).sum::<usize>() as f64 / n.max(1) as f64),
        ..Default::default()
    };
    if data.test_len() > 0 {
        ev.nll_gen = Some(generator.nll(&data.test)?);
    }
    match data.kind {
        DataKind::Oracle => {
            let o = data
                .oracle
                .as_ref()
                .expect("oracle data carries its oracle");
            let seqs: Vec<Vec<Token>> = rows.iter().map(|r| r.to_vec()).collect();
            ev.nll_oracle = Some(o.nll_oracle(&seqs)?);
        }
        DataKind::Grammar => {
            let valid = rows
                .iter()
                .filter(|r| crate::data::grammar::is_valid(data.dataset.strip(r)))
                .count();
            ev.validity = Some(valid as f64 / n.max(1) as f64);
        }
        DataKind::Text => {
            let k = BLEU_SAMPLES.min(n);
            let hyps: Vec<Vec<&str>> = rows[..k].iter().map(|r| data.words(r)).collect();
            let refs_n = if cfg.bleu_refs == 0 {
                data.test_len()
            } else {
                cfg.bleu_refs.min(data.test_len())
            };
            let refs: Vec<Vec<&str>> = data.dataset.test[..refs_n]
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|&t| data.dataset.vocab.token(t).unwrap_or("?"))
                        .collect()
                })
                .collect();
            if !refs.is_empty() {
                ev.bleu = Some(bleu_2_to_5(&refs, &hyps)?);
            }
            ev.self_bleu = Some(self_bleu_2_to_5(&hyps)?);
        }
    }
    Ok(EvalOutput { eval: ev, samples })
}

/// INTERIM until the metrics land from the gan-data branch.
fn bleu_2_to_5(_refs: &[Vec<&str>], _hyps: &[Vec<&str>]) -> Result<[f64; 4]> {
    Err(crate::Error::invalid_argument(
        "bleu",
        "BLEU is not available in this build yet",
    ))
}

/// INTERIM until the metrics land from the gan-data branch.
fn self_bleu_2_to_5(_hyps: &[Vec<&str>]) -> Result<[f64; 4]> {
    Err(crate::Error::invalid_argument(
        "self_bleu",
        "self-BLEU is not available in this build yet",
    ))
}
