//! One evaluation of the generator: draw samples (at temperature 1 unless asked otherwise)
//! and measure them.
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
use crate::random::{self, Purpose};

/// Generated sentences that self-BLEU scores, each against the others (Texygen's fast mode
/// keeps 500). Self-BLEU grows with the number of sentences (more references per
/// hypothesis), so it is measured on a fixed count. BLEU against the test set uses every
/// sample: its mean over more hypotheses only has less noise.
pub const SELF_BLEU_SAMPLES: usize = 500;

/// The sample key of an evaluation outside training (`gumbel-lab eval`, `frontier`,
/// `collect`) for `seed`: one key for every model and temperature, so that `eval
/// --temperature T` and the frontier's point at `T` draw the same samples (the index
/// `u64::MAX` is no training step's, whose evaluations use their step).
pub fn inspection_key(seed: u64) -> u64 {
    random::run_key(seed, Purpose::Eval, u64::MAX)
}

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
    evaluate_at(generator, data, cfg, key, n_override, 1.0)
}

/// [`evaluate`] of the tempered model `softmax(logits / temperature)`: samples are drawn
/// from it and NLL_gen is measured under it. Sampling an MLE model below temperature 1
/// lowers its entropy without any adversarial training: the baseline a GAN's gain in
/// NLL_oracle or BLEU must beat to be more than a sharper distribution.
pub fn evaluate_at(
    generator: &Generator,
    data: &TrainData,
    cfg: &TrainConfig,
    key: u64,
    n_override: usize,
    temperature: f32,
) -> Result<EvalOutput> {
    let n = if n_override > 0 {
        n_override
    } else {
        cfg.eval_samples
    };
    let l = data.dataset.seq_len;
    let (samples, entropy) = generator.sample_with_entropy_at(n, key, temperature)?;
    let rows: Vec<&[Token]> = samples.chunks(l).collect();
    let mut ev = measure(data, cfg, &rows)?;
    ev.entropy = Some(entropy);
    if data.test_len() > 0 {
        ev.nll_gen = Some(generator.nll_at(&data.test, temperature)?);
    }
    Ok(EvalOutput { eval: ev, samples })
}

/// Adds NLL_gen on the training sequences to `ev`, under the tempered model
/// `softmax(logits / temperature)`: per token ([`Evaluation::nll_gen_train`]), and for
/// text per position of the padded length RelGAN and Texygen use, the longest training
/// sentence, `seq_len - 1` ([`Evaluation::nll_gen_train_per_position`]; their padding
/// costs nothing here, since this generator is not trained to predict pads, and their
/// 37-word sentences have no end token, which ours have: both differences are small on
/// COCO's 11-word captions in 37 positions).
///
/// Texygen reports this number as "NLL_gen" for COCO; with `--valid-size` the training
/// sequences are the ones the model was trained on, without the validation slice.
pub fn add_nll_gen_train(
    generator: &Generator,
    data: &TrainData,
    temperature: f32,
    ev: &mut Evaluation,
) -> Result<()> {
    let sum = generator.nll_sum_at(&data.train, temperature)?;
    ev.nll_gen_train = Some(sum.per_token());
    if matches!(data.kind, DataKind::Text) {
        ev.nll_gen_train_per_position = Some(sum.per_position(data.dataset.seq_len - 1));
    }
    Ok(())
}

/// The same measurements on `n` held-out real sequences (fewer if the set is smaller), as
/// a reference for the generator's `n` samples (uniqueness depends on `n`); for BLEU,
/// sentences after the ones used as references, so that no sentence is scored against
/// itself. `None` without a held-out set.
pub fn evaluate_real(data: &TrainData, cfg: &TrainConfig, n: usize) -> Result<Option<Evaluation>> {
    let l = data.dataset.seq_len;
    let rows: Vec<&[Token]> = data.test.chunks(l).collect();
    let skip = match data.kind {
        DataKind::Text if cfg.bleu_refs == 0 => return Ok(None),
        DataKind::Text => cfg.bleu_refs.min(rows.len()),
        _ => 0,
    };
    let rows = &rows[skip..(skip + n).min(rows.len())];
    // Self-BLEU compares each sentence with the others: a text test set with a single
    // sentence past the BLEU references has no real-data row to show.
    if rows.is_empty() || (matches!(data.kind, DataKind::Text) && rows.len() < 2) {
        return Ok(None);
    }
    measure(data, cfg, rows).map(Some)
}

/// Uniqueness, mean length, and the data set's own metric (NLL_oracle, validity, or BLEU
/// and self-BLEU) of sequences `rows` (each `seq_len` tokens).
fn measure(data: &TrainData, cfg: &TrainConfig, rows: &[&[Token]]) -> Result<Evaluation> {
    let n = rows.len().max(1) as f64;
    let content: Vec<&[Token]> = rows.iter().map(|r| data.dataset.strip(r)).collect();
    let distinct: HashSet<&[Token]> = content.iter().copied().collect();
    let mut ev = Evaluation {
        uniqueness: Some(distinct.len() as f64 / n),
        mean_length: Some(content.iter().map(|c| c.len()).sum::<usize>() as f64 / n),
        ..Default::default()
    };
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
            let valid = content
                .iter()
                .filter(|c| crate::data::grammar::is_valid(c))
                .count();
            ev.validity = Some(valid as f64 / n);
        }
        DataKind::Text => {
            let hyps: Vec<Vec<&str>> = rows.iter().map(|r| data.words(r)).collect();
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
            let k = SELF_BLEU_SAMPLES.min(hyps.len());
            ev.self_bleu = Some(self_bleu_2_to_5(&hyps[..k], References::All)?.scores);
        }
    }
    Ok(ev)
}
