//! What a run writes and reads back: checkpoints, `pretrained/`, the report, and the
//! checkpoint written on an interruption.

use std::path::Path;

use gumbel_autograd::optim::Optimizer;
use gumbel_tensor::Tensor;

use super::{Observer, Outcome, Trainer};
use crate::error::{Error, Result};
use crate::io::safetensors;
use crate::io::write_atomic;
use crate::model::Estimator;
use crate::model::reinforce::RolloutPolicy;
use crate::train::checkpoint::{self, Checkpoint};
use crate::train::config::{DataSource, TrainConfig};
use crate::train::frontier::{Frontier, summary, svg};
use crate::train::report::{self, Evaluation, ReportInput};
use crate::train::state::TrainState;
use crate::train::step::LOG_TEMPERATURE;

/// REINFORCE's rollout policy in a checkpoint (the generator's names and layouts).
const ROLLOUT_FILE: &str = "rollout.safetensors";

impl Trainer {
    // ---------------------------------------------------------------- faults and checkpoints

    pub(super) fn interrupt(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        self.write_checkpoint()?;
        let ck = self.out.join("checkpoint");
        obs.message(&format!(
            "stopped at step {} (MLE {}, adversarial {}); checkpoint written to {}. Continue with: gumbel-lab train --resume {}",
            self.global_step(),
            self.state.mle_step,
            self.state.adv_step,
            ck.display(),
            self.out.display()
        ));
        self.write_report(
            &format!(
                "interrupted at MLE step {}, adversarial step {}",
                self.state.mle_step, self.state.adv_step
            ),
            None,
            &[],
            None,
            None,
        )?;
        Ok(Outcome::Interrupted {
            checkpoint: ck,
            global_step: self.global_step(),
        })
    }

    pub(super) fn write_checkpoint(&mut self) -> Result<()> {
        self.state.seconds = self.seconds();
        let mut opt = Vec::new();
        let adam = [
            ("mle", &self.mle_opt, &self.generator.params),
            ("gen", &self.gen_opt, &self.generator.params),
            ("disc", &self.disc_opt, &self.disc.params),
            ("temp", &self.temp_opt, &self.temp_params),
        ];
        for (name, o, store) in adam {
            for (key, t) in o.state_dict(store)? {
                opt.push((format!("{name}/{key}"), t));
            }
        }
        for (pname, t) in self.temp_params.named_values() {
            opt.push((format!("temp_param/{pname}"), t.clone()));
        }
        let opt_refs: Vec<(String, &Tensor<f32>)> =
            opt.iter().map(|(n, t)| (n.clone(), t)).collect();
        let mut files = vec![
            ("generator.safetensors", self.generator.safetensors_bytes()?),
            ("discriminator.safetensors", self.disc.safetensors_bytes()?),
            (
                "optimizer.safetensors",
                safetensors::to_bytes(&opt_refs, &[("format", "pt")])?,
            ),
            (
                "state.json",
                serde_json::to_string_pretty(&self.state)
                    .expect("state serialises")
                    .into_bytes(),
            ),
            ("config.json", self.cfg.to_json().into_bytes()),
        ];
        if let Some(policy) = &self.rollout {
            files.push((ROLLOUT_FILE, policy.model.safetensors_bytes()?));
        }
        let ck = self.out.join("checkpoint");
        checkpoint::write_checkpoint_dir(&ck, &files)?;
        self.last_checkpoint = Some((ck, self.state.mle_step, self.state.adv_step));
        Ok(())
    }

    /// A generator-only checkpoint folder (`pretrained/`: the model after MLE).
    pub(super) fn write_generator_copy(&self, name: &str) -> Result<()> {
        let files = vec![
            ("generator.safetensors", self.generator.safetensors_bytes()?),
            (
                "state.json",
                serde_json::to_string_pretty(&self.state)
                    .expect("state serialises")
                    .into_bytes(),
            ),
            ("config.json", self.cfg.to_json().into_bytes()),
        ];
        checkpoint::write_checkpoint_dir(&self.out.join(name), &files)
    }

    /// Loads the generator of a `pretrained/` (or checkpoint) folder in place of MLE
    /// pretraining, after checking that it was trained on the same vocabulary.
    pub(super) fn load_pretrained(&mut self, dir: &Path) -> Result<()> {
        let ck = checkpoint::resolve_checkpoint(dir)?;
        self.data.check_vocab(&ck.state()?, ck.dir())?;
        // A text run's validation sentences are the end of its training file: an MLE model
        // that trained on them would make `--select-by` measure on training data.
        let theirs =
            TrainConfig::from_json(&ck.text("config.json")?, &ck.dir().join("config.json"))?;
        if matches!(self.cfg.data, DataSource::Text { .. })
            && theirs.valid_size < self.cfg.valid_size
        {
            return Err(Error::Config(format!(
                "--pretrained {}: that model was trained with --valid-size {}, so it saw sentences this run holds out for validation (--valid-size {}); pretrain with --valid-size {} too",
                dir.display(),
                theirs.valid_size,
                self.cfg.valid_size,
                self.cfg.valid_size
            )));
        }
        self.generator
            .load(&mut ck.tensors("generator.safetensors")?)
    }

    pub(super) fn load_checkpoint(&mut self, ck: &Checkpoint, state: TrainState) -> Result<()> {
        self.generator
            .load(&mut ck.tensors("generator.safetensors")?)?;
        self.disc
            .load(&mut ck.tensors("discriminator.safetensors")?)?;
        let mut o = ck.tensors("optimizer.safetensors")?;
        if self.cfg.temperature.learnable {
            let id = self.temp_params.id(LOG_TEMPERATURE)?;
            let t = o.take("temp_param/log_temperature", &[1])?;
            self.temp_params.set(id, t)?;
        }
        for (name, opt, store) in [
            ("mle", &mut self.mle_opt, &self.generator.params),
            ("gen", &mut self.gen_opt, &self.generator.params),
            ("disc", &mut self.disc_opt, &self.disc.params),
            ("temp", &mut self.temp_opt, &self.temp_params),
        ] {
            let saved = o.take_prefix(&format!("{name}/"))?;
            opt.load_state_dict(store, &saved)
                .map_err(|e| Error::checkpoint(o.path(), format!("optimizer '{name}': {e}")))?;
        }
        o.expect_empty()?;
        // REINFORCE's rollout policy exists from the first adversarial update on
        let has_policy = ck.has(ROLLOUT_FILE);
        if let Estimator::Reinforce { .. } = self.cfg.estimator {
            if has_policy {
                let mut policy = RolloutPolicy::new(&self.generator)?;
                policy.model.load(&mut ck.tensors(ROLLOUT_FILE)?)?;
                self.rollout = Some(policy);
            } else if state.adv_step > 0 {
                return Err(Error::checkpoint(
                    &ck.dir().join(ROLLOUT_FILE),
                    format!(
                        "missing: a reinforce run past adversarial step 0 (here {}) keeps its rollout policy there",
                        state.adv_step
                    ),
                ));
            }
        }
        self.seconds_before = state.seconds;
        self.state = state;
        self.last_checkpoint = Some((
            ck.dir().to_path_buf(),
            self.state.mle_step,
            self.state.adv_step,
        ));
        Ok(())
    }

    pub(super) fn write_report(
        &self,
        status: &str,
        after_gan: Option<&Evaluation>,
        samples_gan: &[String],
        real: Option<&Evaluation>,
        frontier: Option<&Frontier>,
    ) -> Result<()> {
        let cfg = self.cfg.to_json();
        let frontier = frontier
            .map(|f| Ok::<_, Error>((svg(f)?, summary(f))))
            .transpose()?;
        let html = report::render(&ReportInput {
            title: &format!("gumbel-lab run: {}", self.data.dataset.name),
            config_json: &cfg,
            rows: self.log.rows(),
            after_mle: self.state.after_mle.as_ref(),
            after_gan,
            real,
            samples_mle: &self.state.samples_mle,
            samples_gan,
            frontier: frontier
                .as_ref()
                .map(|(svg, text)| (svg.as_str(), text.as_str())),
            status: &format!("{status}; {:.1} s of training", self.seconds()),
        });
        write_atomic(&self.out.join("report.html"), html.as_bytes())
    }
}
