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
use crate::metrics::bleu::{References, bleu_2_to_5, self_bleu_2_to_5};
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
            let which = if cfg.bleu_refs == 0 {
                References::All
            } else {
                References::First(cfg.bleu_refs)
            };
            if !data.test_words.is_empty() {
                let refs: Vec<Vec<&str>> = data
                    .test_words
                    .iter()
                    .map(|s| s.iter().map(String::as_str).collect())
                    .collect();
                ev.bleu = Some(bleu_2_to_5(&hyps, &refs, which)?.scores);
            }
            ev.self_bleu = Some(self_bleu_2_to_5(&hyps, References::All)?.scores);
        }
    }
    Ok(EvalOutput { eval: ev, samples })
}
