//! `report.html`: one self-contained page (inline SVG plots, no scripts, no external
//! files) with the run's losses, temperature and metrics over steps, the metrics after MLE
//! and after the GAN phase side by side, and sample tables.
//!
//! Plots are drawn with plotters' SVG backend without font features (text becomes SVG
//! `<text>` elements, so no system font library is needed).

use std::fmt::Write as _;

use plotters::prelude::*;

use super::log::{Metrics, Phase, Row};

/// Metrics of one evaluation, each present when the data set supports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Mean per-token NLL of generated samples under the oracle (SeqGAN's definition).
    pub nll_oracle: Option<f64>,
    /// Mean per-token NLL of held-out real sequences under the generator.
    pub nll_gen: Option<f64>,
    /// BLEU-2..5 of samples against the test set.
    pub bleu: Option<[f64; 4]>,
    /// Self-BLEU-2..5 of samples against each other.
    pub self_bleu: Option<[f64; 4]>,
    /// Fraction of samples the grammar's parser accepts.
    pub validity: Option<f64>,
    /// Fraction of distinct samples.
    pub uniqueness: Option<f64>,
    /// Mean per-token entropy of the generator's next-token distribution along its samples.
    pub entropy: Option<f64>,
    /// Mean sample length in tokens (up to end of sequence).
    pub mean_length: Option<f64>,
    /// Mean per-token NLL of the training sequences under the generator (`gumbel-lab
    /// eval` only: the distance from `nll_gen` is how far the model overfits).
    #[serde(default)]
    pub nll_gen_train: Option<f64>,
    /// The same NLL per position of the training sequences padded to the longest one
    /// (text data; `gumbel-lab eval` only): NLL_gen as RelGAN and Texygen report it
    /// ([`NllSum::per_position`](crate::model::generator::NllSum::per_position)).
    #[serde(default)]
    pub nll_gen_train_per_position: Option<f64>,
}

impl Evaluation {
    /// Writes the metrics into a metrics.csv row.
    pub fn fill(&self, row: &mut Row) {
        let m = &mut row.metrics;
        m.nll_oracle = self.nll_oracle;
        m.nll_gen = self.nll_gen;
        m.validity = self.validity;
        m.uniqueness = self.uniqueness;
        m.entropy = self.entropy;
        m.mean_length = self.mean_length;
        if let Some([b2, b3, b4, b5]) = self.bleu {
            (m.bleu2, m.bleu3, m.bleu4, m.bleu5) = (Some(b2), Some(b3), Some(b4), Some(b5));
        }
        if let Some([b2, b3, b4, b5]) = self.self_bleu {
            (m.self_bleu2, m.self_bleu3) = (Some(b2), Some(b3));
            (m.self_bleu4, m.self_bleu5) = (Some(b4), Some(b5));
        }
    }

    /// The metrics of a metrics.csv row: the inverse of [`Evaluation::fill`] (BLEU and
    /// self-BLEU only where all four orders are present).
    pub fn from_metrics(m: &Metrics) -> Evaluation {
        let four = |a, b, c, d| Some([a?, b?, c?, d?]);
        Evaluation {
            nll_oracle: m.nll_oracle,
            nll_gen: m.nll_gen,
            bleu: four(m.bleu2, m.bleu3, m.bleu4, m.bleu5),
            self_bleu: four(m.self_bleu2, m.self_bleu3, m.self_bleu4, m.self_bleu5),
            validity: m.validity,
            uniqueness: m.uniqueness,
            entropy: m.entropy,
            mean_length: m.mean_length,
            nll_gen_train: None,
            nll_gen_train_per_position: None,
        }
    }

    /// `(name, value, higher_is_better)` for every metric present, in display order.
    pub fn entries(&self) -> Vec<(String, f64, bool)> {
        let mut v = Vec::new();
        let mut push = |n: &str, x: Option<f64>, up: bool| {
            if let Some(x) = x {
                v.push((n.to_string(), x, up));
            }
        };
        push("NLL_oracle", self.nll_oracle, false);
        push("NLL_gen", self.nll_gen, false);
        push("NLL_gen train", self.nll_gen_train, false);
        push(
            "NLL_gen train/position",
            self.nll_gen_train_per_position,
            false,
        );
        push("validity", self.validity, true);
        push("uniqueness", self.uniqueness, true);
        if let Some(b) = self.bleu {
            for (n, x) in (2..=5).zip(b) {
                v.push((format!("BLEU-{n}"), x, true));
            }
        }
        if let Some(b) = self.self_bleu {
            for (n, x) in (2..=5).zip(b) {
                v.push((format!("self-BLEU-{n}"), x, false));
            }
        }
        let mut push = |n: &str, x: Option<f64>| {
            if let Some(x) = x {
                v.push((n.to_string(), x, true));
            }
        };
        push("entropy (nats/token)", self.entropy);
        push("mean length", self.mean_length);
        v
    }
}

/// The series colours of every plot the run writes (matplotlib's first six).
pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// A plain-text table of the evaluations after MLE and after the GAN phase side by side,
/// with held-out real data as a reference column (the end-of-run summary).
pub fn side_by_side(
    mle: &Evaluation,
    gan: Option<&Evaluation>,
    real: Option<&Evaluation>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22} {:>12} {:>12} {:>12}",
        "metric", "after MLE", "after GAN", "real data"
    );
    let cell = |e: Option<&Evaluation>, name: &str| {
        e.and_then(|e| e.entries().into_iter().find(|(n, _, _)| n == name))
            .map(|(_, y, _)| format!("{y:>12.4}"))
            .unwrap_or_else(|| format!("{:>12}", "-"))
    };
    for (name, x, _) in mle.entries() {
        let _ = writeln!(
            s,
            "{name:<22} {x:>12.4} {} {}",
            cell(gan, &name),
            cell(real, &name)
        );
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line chart as SVG text; series with no points are skipped, and `None` is returned
/// when no series has a point.
pub fn line_chart(
    title: &str,
    x_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Option<String> {
    let pts: Vec<&(f64, f64)> = series.iter().flat_map(|(_, p)| p).collect();
    if pts.is_empty() {
        return None;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &&(x, y) in &pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        return None;
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    // A constant series (a fixed temperature) gets a band of +-10% around its value:
    // padding its zero span by a relative 1e-9 gave an axis whose ticks all read "1.0".
    let scale = y1.abs().max(1.0);
    let pad = if y1 - y0 > 1e-9 * scale {
        (y1 - y0) * 0.05
    } else {
        0.1 * scale
    };
    let (y0, y1) = (y0 - pad, y1 + pad);
    let colors = PALETTE;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .ok()?;
        for (i, (name, p)) in series.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            let c = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                .ok()?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

fn series(rows: &[Row], phase: Option<Phase>, col: fn(&Metrics) -> Option<f64>) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| phase.is_none_or(|p| r.phase == p))
        .filter_map(|r| col(&r.metrics).map(|v| (r.global_step as f64, v)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// Everything the report shows.
pub struct ReportInput<'a> {
    pub title: &'a str,
    pub config_json: &'a str,
    pub rows: &'a [Row],
    pub after_mle: Option<&'a Evaluation>,
    pub after_gan: Option<&'a Evaluation>,
    /// The same measurements on held-out real data, for reference.
    pub real: Option<&'a Evaluation>,
    pub samples_mle: &'a [String],
    pub samples_gan: &'a [String],
    /// The quality-diversity frontier at the end (its SVG and its verdict table), if any.
    pub frontier: Option<(&'a str, &'a str)>,
    /// A line about how the run ended (finished, interrupted at step ..., stopped by ...).
    pub status: &'a str,
}

/// Renders the report page.
pub fn render(input: &ReportInput) -> String {
    let rows = input.rows;
    let mut charts = Vec::new();
    let mut push = |c: Option<String>| {
        if let Some(c) = c {
            charts.push(c);
        }
    };
    push(line_chart(
        "MLE loss (cross-entropy, nats/token)",
        "step",
        &[("MLE loss", series(rows, Some(Phase::Mle), |m| m.mle_loss))],
    ));
    push(line_chart(
        "Adversarial losses",
        "step",
        &[
            ("generator", series(rows, Some(Phase::Adv), |m| m.g_loss)),
            (
                "discriminator",
                series(rows, Some(Phase::Adv), |m| m.d_loss),
            ),
        ],
    ));
    push(line_chart(
        "Temperature (tau, or beta in the beta form)",
        "step",
        &[(
            "temperature",
            series(rows, Some(Phase::Adv), |m| m.temperature),
        )],
    ));
    push(line_chart(
        "NLL (nats/token)",
        "step",
        &[
            ("NLL_oracle", series(rows, None, |m| m.nll_oracle)),
            ("NLL_gen", series(rows, None, |m| m.nll_gen)),
        ],
    ));
    push(line_chart(
        "Validity and uniqueness of samples",
        "step",
        &[
            ("validity", series(rows, None, |m| m.validity)),
            ("uniqueness", series(rows, None, |m| m.uniqueness)),
        ],
    ));
    push(line_chart(
        "BLEU against the test set",
        "step",
        &[
            ("BLEU-2", series(rows, None, |m| m.bleu2)),
            ("BLEU-3", series(rows, None, |m| m.bleu3)),
            ("BLEU-4", series(rows, None, |m| m.bleu4)),
            ("BLEU-5", series(rows, None, |m| m.bleu5)),
        ],
    ));
    push(line_chart(
        "Self-BLEU (lower = more diverse)",
        "step",
        &[
            ("self-BLEU-2", series(rows, None, |m| m.self_bleu2)),
            ("self-BLEU-3", series(rows, None, |m| m.self_bleu3)),
            ("self-BLEU-4", series(rows, None, |m| m.self_bleu4)),
            ("self-BLEU-5", series(rows, None, |m| m.self_bleu5)),
        ],
    ));
    push(line_chart(
        "Entropy of the next-token distribution along samples (nats)",
        "step",
        &[("entropy", series(rows, None, |m| m.entropy))],
    ));
    push(line_chart(
        "Gradient norms before clipping",
        "step",
        &[
            ("generator", series(rows, None, |m| m.g_grad_norm)),
            (
                "discriminator",
                series(rows, Some(Phase::Adv), |m| m.d_grad_norm),
            ),
        ],
    ));

    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:1340px;margin:1em auto;padding:0 1em;color:#222}}\
         table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:3px 8px}}\
         th{{background:#f3f3f3}}td.num{{text-align:right;font-variant-numeric:tabular-nums}}\
         td.better{{background:#e5f5e0}}.charts{{display:flex;flex-wrap:wrap;gap:8px}}\
         pre{{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:90%}}\
         td.s{{font-family:monospace;white-space:pre}}</style></head><body>\n\
         <h1>{t}</h1>\n<p>{status}</p>\n",
        t = escape(input.title),
        status = escape(input.status)
    );
    if let Some(mle) = input.after_mle {
        h.push_str("<h2>Metrics after MLE and after the GAN phase</h2>\n<table><tr><th>metric</th><th>after MLE</th><th>after GAN</th><th>real data</th></tr>\n");
        let gan = input.after_gan.map(|g| g.entries()).unwrap_or_default();
        let real = input.real.map(|g| g.entries()).unwrap_or_default();
        for (name, x, up) in mle.entries() {
            let g = gan.iter().find(|(n, _, _)| *n == name).map(|e| e.1);
            let better = g.is_some_and(|g| if up { g > x } else { g < x });
            let r = real.iter().find(|(n, _, _)| *n == name).map(|e| e.1);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{x:.4}</td><td class=\"num{}\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&name),
                if better { " better" } else { "" },
                g.map(|g| format!("{g:.4}")).unwrap_or_else(|| "-".into()),
                r.map(|r| format!("{r:.4}")).unwrap_or_else(|| "-".into())
            );
        }
        h.push_str("</table>\n<p>Green: the GAN phase moved the metric in its better direction (for NLL and self-BLEU, lower). Real data: the same measurements on held-out real sequences.</p>\n");
    }
    if let Some((svg, text)) = input.frontier {
        h.push_str("<h2>Against the MLE model's temperature curve</h2>\n");
        h.push_str(svg);
        let _ = writeln!(
            h,
            "\n<pre>{}</pre>\n<p>The MLE model and the final model sampled at several temperatures (the dot of each at 1). The GAN gains something the MLE model cannot get by its temperature only where its point lies beyond the black curve (docs/gan.md, \"The quality-diversity frontier\").</p>",
            escape(text)
        );
    }
    h.push_str("<h2>Over training</h2>\n<div class=\"charts\">\n");
    for c in &charts {
        h.push_str(c);
        h.push('\n');
    }
    h.push_str("</div>\n");
    for (title, samples) in [
        ("Samples after MLE pretraining", input.samples_mle),
        ("Samples at the end", input.samples_gan),
    ] {
        if samples.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<h2>{title}</h2>\n<table>");
        for (i, s) in samples.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">{}</td><td class=\"s\">{}</td></tr>",
                i + 1,
                escape(s)
            );
        }
        h.push_str("</table>\n");
    }
    let _ = write!(
        h,
        "<h2>Configuration</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(input.config_json)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_series_gets_distinct_tick_labels() {
        let svg = line_chart(
            "temperature",
            "step",
            &[("beta", vec![(0.0, 1.0), (10.0, 1.0)])],
        )
        .unwrap();
        // The y-axis tick labels are the right-aligned texts.
        let labels: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter(|t| t.contains("text-anchor=\"end\""))
            .filter_map(|t| t.split('>').nth(1))
            .map(|t| t.split('<').next().unwrap_or("").trim())
            .filter(|t| t.parse::<f64>().is_ok())
            .collect();
        let distinct: std::collections::BTreeSet<&str> = labels.iter().copied().collect();
        assert!(distinct.len() >= 3, "tick labels {labels:?}");
    }

    #[test]
    fn report_is_self_contained_and_escapes_samples() {
        let mut rows = Vec::new();
        for s in 0..20 {
            let mut r = Row::new(if s < 10 { Phase::Mle } else { Phase::Adv }, s % 10, s);
            let m = &mut r.metrics;
            if s < 10 {
                m.mle_loss = Some(3.0 - 0.1 * s as f64);
            } else {
                m.g_loss = Some(0.7);
                m.d_loss = Some(0.6 + 0.01 * s as f64);
                m.temperature = Some(1.0 + s as f64);
            }
            if s % 5 == 0 {
                (m.validity, m.uniqueness) = (Some(0.5), Some(0.9));
            }
            rows.push(r);
        }
        let mle = Evaluation {
            validity: Some(0.5),
            nll_gen: Some(1.2),
            ..Default::default()
        };
        let gan = Evaluation {
            validity: Some(0.7),
            nll_gen: Some(1.3),
            ..Default::default()
        };
        let html = render(&ReportInput {
            title: "test run",
            config_json: "{\"a\": 1}",
            rows: &rows,
            after_mle: Some(&mle),
            after_gan: Some(&gan),
            real: None,
            samples_mle: &["x<y".to_string()],
            samples_gan: &["(x+y)&".to_string()],
            frontier: None,
            status: "finished",
        });
        assert!(html.contains("<svg"), "has inline SVG plots");
        assert_eq!(
            html.matches("<svg").count(),
            4,
            "MLE loss, adv losses, temperature, validity"
        );
        assert!(html.contains("x&lt;y") && html.contains("(x+y)&amp;"));
        assert!(
            !html.contains("src=\"http") && !html.contains("<script"),
            "offline page"
        );
        assert!(
            html.contains("class=\"num better\">0.7000"),
            "validity rose"
        );
        assert!(
            html.contains("class=\"num\">1.3000"),
            "NLL_gen rose: not marked better"
        );
        let table = side_by_side(&mle, Some(&gan), Some(&mle));
        assert!(
            table.contains("validity") && table.contains("0.7000"),
            "{table}"
        );
    }
}
