//! SVG plots for the study examples, with plotters' SVG backend and no font feature (text is
//! written as SVG `<text>`, so no system library is needed; /work/shared/RECIPES.md).
//!
//! - [`line_chart`]: curves against `x` (linear or log axes), optional error bars and dashes;
//! - [`bar_chart`]: grouped bars per class, optional error bars;
//! - [`simplex_scatter`] / [`simplex_heatmap`]: points and cell values on the 2-simplex
//!   drawn as an equilateral triangle (vertex `i` is the one-hot of class `i`).
//!
//! Every function draws into a [`DrawingArea`] so that panels can be tiled with
//! `split_evenly`; [`write_svg`] opens a file, hands its area to a closure and saves it.

use std::error::Error;
use std::ops::Range;
use std::path::Path;

use plotters::chart::SeriesLabelPosition;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// What the plotting functions return.
pub type PlotResult = Result<(), Box<dyn Error>>;

/// A drawing area on an SVG file.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws an SVG of `w x h` pixels with a white background: `draw` gets the whole area
/// (split it for panels), then the file is written.
pub fn write_svg(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area) -> PlotResult,
) -> PlotResult {
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    draw(&root)?;
    root.present()?;
    Ok(())
}

/// Ten distinguishable colours (Tableau 10), indexed modulo 10.
pub fn color(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = TAB10[i % 10];
    RGBColor(r, g, b)
}

/// A tick label: up to four significant digits, trailing zeros dropped, and scientific
/// notation outside `[1e-3, 1e5)` (`0.05`, `200`, `2.5e-6`, `1e-5`).
pub fn tick_label(v: &f64) -> String {
    let v = *v;
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.digits$}"))
    } else {
        let s = format!("{v:.3e}");
        let (mantissa, exponent) = s.split_once('e').expect("{:e} has an exponent");
        format!("{}e{exponent}", trim(mantissa.to_string()))
    }
}

/// One curve of a [`line_chart`].
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// `(x, y)` points, joined in order.
    pub points: Vec<(f64, f64)>,
    /// Half-lengths of vertical error bars (e.g. standard errors), one per point, or empty.
    pub err: Vec<f64>,
    /// Index into [`color`].
    pub color: usize,
    pub dashed: bool,
    /// Draw a small circle at each point.
    pub markers: bool,
}

impl Series {
    /// A solid curve with markers and no error bars.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: usize) -> Series {
        Series {
            name: name.into(),
            points,
            err: Vec::new(),
            color,
            dashed: false,
            markers: true,
        }
    }

    /// With error bars of half-length `err[i]` at point `i`.
    pub fn with_err(mut self, err: Vec<f64>) -> Series {
        assert_eq!(err.len(), self.points.len());
        self.err = err;
        self
    }

    /// Dashed, without markers (for reference lines).
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self.markers = false;
        self
    }

    /// Without markers (for long curves).
    pub fn plain(mut self) -> Series {
        self.markers = false;
        self
    }
}

/// Titles and axes of a [`line_chart`].
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic x axis (points with `x <= 0` are left out).
    pub log_x: bool,
    /// Logarithmic y axis, in whole decades (points with `y <= 0` are left out).
    pub log_y: bool,
    /// Where the legend goes, inside the plot.
    pub legend: SeriesLabelPosition,
    /// Extra room above the data, as a fraction of the y span (on a log axis: of its
    /// decades), to keep an upper legend clear of the curves.
    pub headroom: f64,
}

impl Chart {
    /// Linear axes, legend in the upper right.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            legend: SeriesLabelPosition::UpperRight,
            headroom: 0.0,
        }
    }

    /// With a logarithmic x axis.
    pub fn log_x(mut self) -> Chart {
        self.log_x = true;
        self
    }

    /// With a logarithmic y axis.
    pub fn log_y(mut self) -> Chart {
        self.log_y = true;
        self
    }

    /// With the legend at `at`.
    pub fn legend(mut self, at: SeriesLabelPosition) -> Chart {
        self.legend = at;
        self
    }

    /// With `fraction` of extra room above the data (see [`Chart::headroom`]).
    pub fn headroom(mut self, fraction: f64) -> Chart {
        self.headroom = fraction;
        self
    }
}

/// The span of `values` (finite ones; only positive ones on a log axis), padded: by 5% of
/// the span on a linear axis, by a factor on a log axis.
fn span(values: impl Iterator<Item = f64>, log: bool, pad: f64) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return if log { 0.1..10.0 } else { 0.0..1.0 };
    }
    if log {
        let f = if hi / lo < 1.0 + 1e-9 { 2.0 } else { 1.0 + pad };
        lo / f..hi * f
    } else {
        let d = if hi - lo < 1e-300 {
            lo.abs().max(1.0)
        } else {
            (hi - lo) * pad
        };
        lo - d..hi + d
    }
}

/// Curves against `x`, with the axes, legend and error bars of `chart` and `series`. On a
/// log axis, points with a non-positive coordinate are left out (plot `|bias|`, not a
/// signed bias, on a log axis).
pub fn line_chart(area: &Area, chart: &Chart, series: &[Series]) -> PlotResult {
    let xs = span(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        chart.log_x,
        0.02,
    );
    let mut ys = span(
        series.iter().flat_map(|s| {
            s.points.iter().enumerate().flat_map(move |(i, p)| {
                let e = s.err.get(i).copied().unwrap_or(0.0);
                [p.1, p.1 + e, if chart.log_y { p.1 } else { p.1 - e }]
            })
        }),
        chart.log_y,
        0.05,
    );
    if chart.log_y {
        let decades = (ys.end / ys.start).log10();
        ys.end *= 10f64.powf(chart.headroom * decades);
        // whole decades: plotters labels a log axis from its first power of ten up, so a
        // partial decade at the bottom would carry no label
        ys = 10f64.powf(ys.start.log10().floor())..10f64.powf(ys.end.log10().ceil());
    } else {
        ys.end += chart.headroom * (ys.end - ys.start);
    }
    match (chart.log_x, chart.log_y) {
        (false, false) => draw_lines(area, chart, series, xs, ys),
        (true, false) => draw_lines(area, chart, series, xs.log_scale(), ys),
        (false, true) => draw_lines(area, chart, series, xs, ys.log_scale()),
        (true, true) => draw_lines(area, chart, series, xs.log_scale(), ys.log_scale()),
    }
}

fn draw_lines<X, Y>(area: &Area, chart: &Chart, series: &[Series], x: X, y: Y) -> PlotResult
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let yr = ctx.y_range();
    let inside = |p: &(f64, f64)| {
        p.0.is_finite()
            && p.1.is_finite()
            && (!chart.log_x || p.0 > 0.0)
            && (!chart.log_y || p.1 > 0.0)
    };
    for s in series {
        let c = color(s.color);
        let style = c.stroke_width(2);
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(inside).collect();
        let anno = if s.dashed {
            ctx.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))?
        } else {
            ctx.draw_series(LineSeries::new(pts.clone(), style))?
        };
        let legend_style = style;
        anno.label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], legend_style));
        if s.markers {
            ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        if !s.err.is_empty() {
            let bars =
                s.points
                    .iter()
                    .zip(&s.err)
                    .filter(|(p, _)| inside(p))
                    .map(|(&(px, py), &e)| {
                        // clip the bar to the plot (a log axis cannot show py - e <= 0)
                        let lo = (py - e).max(yr.start);
                        let hi = (py + e).min(yr.end);
                        ErrorBar::new_vertical(px, lo, py, hi, c.stroke_width(1), 6)
                    });
            ctx.draw_series(bars)?;
        }
    }
    ctx.configure_series_labels()
        .position(chart.legend.clone())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// One group of a [`bar_chart`]: a value (and optional error bar) per class.
#[derive(Debug, Clone)]
pub struct Bars {
    /// The legend entry.
    pub name: String,
    /// One value per class.
    pub values: Vec<f64>,
    /// Half-lengths of error bars, one per class, or empty.
    pub err: Vec<f64>,
    /// Index into [`color`].
    pub color: usize,
}

/// Grouped bars: for each class (labelled `labels[i]` under the axis) one bar per group,
/// side by side, from 0 to the value (negative values hang down). `reference` draws a
/// dashed horizontal line at each given height (e.g. an expected count, or +-2).
pub fn bar_chart(
    area: &Area,
    title: &str,
    (x_label, y_label): (&str, &str),
    labels: &[String],
    groups: &[Bars],
    reference: &[f64],
) -> PlotResult {
    let k = labels.len();
    let ends = groups.iter().flat_map(|g| {
        g.values.iter().enumerate().flat_map(|(i, v)| {
            let e = g.err.get(i).copied().unwrap_or(0.0);
            [v + e, v - e]
        })
    });
    let (lo, hi) = ends
        .chain(reference.iter().copied())
        .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = 0.1 * (hi - lo).max(1e-300);
    let y0 = if lo < 0.0 { lo - pad } else { 0.0 };
    let mut ctx = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..k as f64 - 0.5, y0..hi + pad)?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .x_labels(k)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < k {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc(x_label)
        .y_desc(y_label)
        .y_label_formatter(&tick_label)
        .draw()?;
    let width = 0.8 / groups.len() as f64;
    for (gi, g) in groups.iter().enumerate() {
        let c = color(g.color);
        let x0 = |i: usize| i as f64 - 0.4 + gi as f64 * width;
        ctx.draw_series(
            g.values.iter().enumerate().map(|(i, &v)| {
                Rectangle::new([(x0(i), 0.0), (x0(i) + width * 0.92, v)], c.filled())
            }),
        )?
        .label(g.name.clone())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        if !g.err.is_empty() {
            ctx.draw_series(
                g.values
                    .iter()
                    .zip(&g.err)
                    .enumerate()
                    .map(|(i, (&v, &e))| {
                        let xm = x0(i) + width * 0.46;
                        ErrorBar::new_vertical(xm, v - e, v, v + e, BLACK.stroke_width(1), 4)
                    }),
            )?;
        }
    }
    for &r in reference {
        let line = vec![(-0.5, r), (k as f64 - 0.5, r)];
        ctx.draw_series(DashedLineSeries::new(
            line,
            6,
            4,
            BLACK.mix(0.6).stroke_width(1),
        ))?;
    }
    if groups.len() > 1 {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

/// The point of the equilateral triangle with barycentric coordinates `y` (vertex 1 at
/// the lower left, 2 at the lower right, 3 at the top).
pub fn simplex_xy(y: [f64; 3]) -> (f64, f64) {
    (y[1] + 0.5 * y[2], y[2] * 3f64.sqrt() / 2.0)
}

type SimplexCtx<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart on the triangle: caption, outline and vertex labels, no axes.
fn simplex_frame<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    vertex_labels: [&str; 3],
) -> Result<SimplexCtx<'a, 'b>, Box<dyn Error>> {
    let h = 3f64.sqrt() / 2.0;
    let mut ctx = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(14)
        .build_cartesian_2d(-0.06..1.06, -0.08..h + 0.04)?;
    let corners = [(0.0, 0.0), (1.0, 0.0), (0.5, h), (0.0, 0.0)];
    ctx.draw_series(std::iter::once(PathElement::new(
        corners.to_vec(),
        BLACK.stroke_width(1),
    )))?;
    let offsets = [(-0.05, -0.05), (0.02, -0.05), (0.03, 0.0)];
    for (i, label) in vertex_labels.iter().enumerate() {
        let (x, y) = (corners[i].0 + offsets[i].0, corners[i].1 + offsets[i].1);
        ctx.draw_series(std::iter::once(Text::new(
            label.to_string(),
            (x, y),
            ("sans-serif", 13),
        )))?;
    }
    Ok(ctx)
}

/// Points on the simplex as small translucent dots.
pub fn simplex_scatter(
    area: &Area,
    title: &str,
    vertex_labels: [&str; 3],
    points: &[[f64; 3]],
    color_index: usize,
) -> PlotResult {
    let mut ctx = simplex_frame(area, title, vertex_labels)?;
    let c = color(color_index).mix(0.35);
    ctx.draw_series(
        points
            .iter()
            .map(|&y| Circle::new(simplex_xy(y), 2, c.filled())),
    )?;
    Ok(())
}

/// One cell of the triangle cut into `n` strips per side (see [`simplex_cells`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Strip indices along `y_2` and `y_3`.
    pub a: usize,
    pub b: usize,
    /// "Up" cell `P(a,b) P(a+1,b) P(a,b+1)` or "down" cell `P(a+1,b) P(a,b+1) P(a+1,b+1)`.
    pub up: bool,
    /// The corners, as barycentric points `(y_1, y_2, y_3)`.
    pub corners: [[f64; 3]; 3],
}

impl Cell {
    /// The centroid.
    pub fn centroid(&self) -> [f64; 3] {
        let c = &self.corners;
        std::array::from_fn(|i| (c[0][i] + c[1][i] + c[2][i]) / 3.0)
    }

    /// The point with barycentric coordinates `w` with respect to the cell's corners.
    pub fn at(&self, w: [f64; 3]) -> [f64; 3] {
        let c = &self.corners;
        std::array::from_fn(|i| w[0] * c[0][i] + w[1] * c[1][i] + w[2] * c[2][i])
    }
}

/// The `n^2` cells of the triangle cut into `n` strips per side: with
/// `P(a, b) = (1 - (a+b)/n, a/n, b/n)`, the "up" cells `P(a,b) P(a+1,b) P(a,b+1)`
/// (`a + b <= n-1`) and the "down" cells `P(a+1,b) P(a,b+1) P(a+1,b+1)` (`a + b <= n-2`).
/// Each has area `1/(2 n^2)` in the coordinates `(y_2, y_3)` (or any two of the three).
pub fn simplex_cells(n: usize) -> Vec<Cell> {
    let nf = n as f64;
    let p = |a: usize, b: usize| [1.0 - (a + b) as f64 / nf, a as f64 / nf, b as f64 / nf];
    let mut cells = Vec::with_capacity(n * n);
    for a in 0..n {
        for b in 0..n - a {
            cells.push(Cell {
                a,
                b,
                up: true,
                corners: [p(a, b), p(a + 1, b), p(a, b + 1)],
            });
            if a + b + 2 <= n {
                cells.push(Cell {
                    a,
                    b,
                    up: false,
                    corners: [p(a + 1, b), p(a, b + 1), p(a + 1, b + 1)],
                });
            }
        }
    }
    cells
}

/// The cell `(a, b, up)` of [`simplex_cells`]`(n)` holding the point `y` (points on a
/// shared edge go to one of the two cells).
pub fn locate(n: usize, y: [f64; 3]) -> (usize, usize, bool) {
    let (u, w) = (y[1] * n as f64, y[2] * n as f64);
    let a = (u.floor().max(0.0) as usize).min(n - 1);
    let b = (w.floor().max(0.0) as usize).min(n - 1 - a);
    let up = (u - a as f64) + (w - b as f64) < 1.0 || a + b + 2 > n;
    (a, b, up)
}

/// The viridis colour map at `t` in `[0, 1]` (clipped): linear interpolation between nine
/// samples of matplotlib's table.
pub fn viridis(t: f64) -> RGBColor {
    const V: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * (V.len() - 1) as f64;
    let i = (x as usize).min(V.len() - 2);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(
        mix(V[i].0, V[i + 1].0),
        mix(V[i].1, V[i + 1].1),
        mix(V[i].2, V[i + 1].2),
    )
}

/// Cells of the simplex coloured by `values` (viridis, from `range.start` = dark purple to
/// `range.end` = yellow; values outside are clipped), with a colour bar labelled
/// `bar_label` below the triangle.
pub fn simplex_heatmap(
    area: &Area,
    title: &str,
    vertex_labels: [&str; 3],
    cells: &[Cell],
    values: &[f64],
    range: Range<f64>,
    bar_label: &str,
) -> PlotResult {
    assert_eq!(cells.len(), values.len());
    let (tri, bar) = area.split_vertically(area.dim_in_pixel().1 as i32 - 50);
    let mut ctx = simplex_frame(&tri, title, vertex_labels)?;
    let shade = |v: f64| viridis((v - range.start) / (range.end - range.start));
    ctx.draw_series(cells.iter().zip(values).map(|(cell, &v)| {
        // grown by 25% about the centroid so that neighbours overlap by about a pixel (the
        // SVG coordinates are whole pixels): no anti-aliasing seams
        let c = cell.centroid();
        let grow =
            |y: [f64; 3]| -> [f64; 3] { std::array::from_fn(|i| c[i] + 1.25 * (y[i] - c[i])) };
        let corners: Vec<(f64, f64)> = cell.corners.iter().map(|&y| simplex_xy(grow(y))).collect();
        Polygon::new(corners, shade(v).filled())
    }))?;
    // the outline again, over the grown cells' edges
    let h = 3f64.sqrt() / 2.0;
    let outline = vec![(0.0, 0.0), (1.0, 0.0), (0.5, h), (0.0, 0.0)];
    ctx.draw_series(std::iter::once(PathElement::new(
        outline,
        BLACK.stroke_width(2),
    )))?;
    // colour bar
    let mut bctx = ChartBuilder::on(&bar)
        .margin_left(30)
        .margin_right(30)
        .x_label_area_size(22)
        .build_cartesian_2d(range.clone(), 0.0..1.0)?;
    bctx.configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(5)
        .x_label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 12))
        .x_desc(bar_label)
        .draw()?;
    let steps = 40;
    let w = (range.end - range.start) / steps as f64;
    bctx.draw_series((0..steps).map(|i| {
        let x = range.start + i as f64 * w;
        Rectangle::new([(x, 0.0), (x + w, 1.0)], shade(x + w / 2.0).filled())
    }))?;
    Ok(())
}
