//! Charts of the report (plotters): the same [`Chart`] renders to an SVG string (inlined in
//! `index.html`) and to a PNG file. Charts only draw numbers the records and the site report
//! already hold; nothing is computed here beyond binning for histograms.
//!
//! Text is drawn with the bundled DejaVu Sans (`assets/fonts`, Bitstream Vera licence) through
//! plotters' `ab_glyph` backend, so PNGs look the same on machines without system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::quality::WindowRecord;
use super::records::{Call, Stream};
use crate::correlate::StreamDirection;

/// DejaVu Sans 2.37 (Debian fonts-dejavu-core), see `assets/fonts/README.md`.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Pixel size of every chart.
pub const CHART_SIZE: (u32, u32) = (720, 360);

/// Most histogram bins.
const MAX_BINS: usize = 40;

/// A chart failed to render (font or backend error).
#[derive(Debug, thiserror::Error)]
#[error("chart {chart:?}: {message}")]
pub struct PlotError {
    /// Chart title.
    pub chart: String,
    /// Backend message.
    pub message: String,
}

/// One named series of points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
#[derive(Clone, Debug, PartialEq)]
pub enum ChartKind {
    /// Lines over time; x is seconds since the Unix epoch (labelled HH:MM UTC).
    TimeLines(Vec<Series>),
    /// Points, e.g. loss against concurrent calls.
    Scatter(Vec<Series>),
    /// Distribution of values (bars).
    Histogram(Vec<f64>),
    /// Panels stacked vertically sharing the x axis (seconds, drawn as numbers), each with its
    /// own y axis and line series: the per-call jitter / loss timeline.
    Panels(Vec<Panel>),
    /// Site-pair matrix: rows = caller sites, cols = callee sites; cell (calls, failure %).
    Matrix {
        /// Site names (both axes).
        sites: Vec<String>,
        /// (caller index, callee index, calls, failed share %).
        cells: Vec<(usize, usize, u64, f64)>,
    },
}

/// One panel of [`ChartKind::Panels`].
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Y axis label of the panel.
    pub y_label: String,
    /// Lines of the panel.
    pub series: Vec<Series>,
}

/// A chart: title, axis labels, data.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// File stem (`plots/<name>.svg|png`).
    pub name: String,
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Data.
    pub kind: ChartKind,
}

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The font is compiled in and known good; a failure would only lose text in charts.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, DEJAVU_SANS);
    });
}

/// How [`Chart::draw_xy`] draws one plot area.
#[derive(Clone, Copy)]
struct XyStyle<'a> {
    /// Title above the area (None for the lower panels of a timeline).
    caption: Option<&'a str>,
    y_label: &'a str,
    /// Lines (else points).
    lines: bool,
    /// X is epoch seconds, labelled HH:MM UTC (else plain numbers).
    time_axis: bool,
}

impl<'a> XyStyle<'a> {
    fn time_lines(title: &'a str, y_label: &'a str) -> Self {
        XyStyle { caption: Some(title), y_label, lines: true, time_axis: true }
    }

    fn scatter(title: &'a str, y_label: &'a str) -> Self {
        XyStyle { caption: Some(title), y_label, lines: false, time_axis: false }
    }
}

/// The per-call jitter and loss timeline (evidence bundles' `timeline.svg|png`, see
/// [`call_timeline`]): x = seconds since the call's first INVITE (else its first packet),
/// one line per stream from its quality windows (quality-metrics.md §3): RFC 3550 jitter at
/// each window's end, and network loss in the window, % (`100 · lost / expected`, negative
/// values from duplicates shown as 0).
pub fn call_timeline(call: &Call, streams: &[&Stream]) -> Chart {
    let origin = call.start.or_else(|| streams.iter().map(|s| s.first_time).min()).unwrap_or_default();
    let x_of = |w: &WindowRecord| w.start.ms_since(origin) / 1000.0;
    let name = |s: &Stream| {
        let dir = match s.direction {
            Some(StreamDirection::CallerToCallee) => "caller to callee",
            Some(StreamDirection::CalleeToCaller) => "callee to caller",
            None => "unpaired",
        };
        format!("{dir} (SSRC {})", s.ssrc)
    };
    let series = |f: &dyn Fn(&WindowRecord) -> f64| -> Vec<Series> {
        streams
            .iter()
            .map(|s| Series { name: name(s), points: s.windows.iter().map(|w| (x_of(w), f(w))).collect() })
            .collect()
    };
    let loss_pct =
        |w: &WindowRecord| if w.expected == 0 { 0.0 } else { (100.0 * w.lost as f64 / w.expected as f64).max(0.0) };
    Chart {
        name: "timeline".into(),
        title: "Jitter and loss over the call".into(),
        x_label: "seconds since call start".into(),
        y_label: String::new(),
        kind: ChartKind::Panels(vec![
            Panel { y_label: "jitter ms".into(), series: series(&|w| w.jitter_ms) },
            Panel { y_label: "loss %".into(), series: series(&loss_pct) },
        ]),
    }
}

impl Chart {
    /// Renders to an SVG document (for inlining).
    pub fn to_svg(&self) -> Result<String, PlotError> {
        register_font();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| self.err(e))?;
        }
        Ok(svg)
    }

    /// Renders to a PNG file.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        register_font();
        let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
        self.draw(&root)?;
        root.present().map_err(|e| self.err(e))
    }

    fn err(&self, e: impl std::fmt::Display) -> PlotError {
        PlotError { chart: self.title.clone(), message: e.to_string() }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(|e| self.err(e))?;
        let result = match &self.kind {
            ChartKind::TimeLines(series) => self.draw_xy(root, series, XyStyle::time_lines(&self.title, &self.y_label)),
            ChartKind::Scatter(series) => self.draw_xy(root, series, XyStyle::scatter(&self.title, &self.y_label)),
            ChartKind::Panels(panels) => self.draw_panels(root, panels),
            ChartKind::Histogram(values) => self.draw_histogram(root, values),
            ChartKind::Matrix { sites, cells } => self.draw_matrix(root, sites, cells),
        };
        result.map_err(|e| self.err(e))
    }

    fn empty<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.draw(&Text::new(format!("{}: no data", self.title), (20, 20), ("sans-serif", 16).into_font()))
    }

    /// The per-call timeline: one panel per metric, the title over the first one.
    fn draw_panels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        panels: &[Panel],
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        if panels.iter().all(|p| p.series.iter().all(|s| s.points.is_empty())) {
            return self.empty(root);
        }
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (i, (area, panel)) in areas.iter().zip(panels).enumerate() {
            let caption = (i == 0).then_some(self.title.as_str());
            self.draw_xy(
                area,
                &panel.series,
                XyStyle { caption, y_label: &panel.y_label, lines: true, time_axis: false },
            )?;
        }
        Ok(())
    }

    fn draw_xy<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        series: &[Series],
        style: XyStyle<'_>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let time_axis = style.time_axis;
        let all = series.iter().flat_map(|s| s.points.iter());
        let (Some(x0), Some(x1)) =
            (all.clone().map(|p| p.0).reduce(f64::min), all.clone().map(|p| p.0).reduce(f64::max))
        else {
            return self.empty(root);
        };
        let y1 = all.map(|p| p.1).fold(0.0f64, f64::max);
        let pad = ((x1 - x0) * 0.03).max(1.0);
        let mut builder = ChartBuilder::on(root);
        if let Some(caption) = style.caption {
            builder.caption(caption, ("sans-serif", 18));
        }
        let mut chart = builder
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..(y1 * 1.1).max(1.0))?;
        let time_label = |x: &f64| {
            let secs = x.round() as i64;
            format!("{:02}:{:02}", secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60)
        };
        let number_label = |x: &f64| format!("{x:.0}");
        let formatter: &dyn Fn(&f64) -> String = if time_axis { &time_label } else { &number_label };
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(style.y_label)
            .x_labels(8)
            .x_label_formatter(formatter)
            .label_style(("sans-serif", 12))
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let drawn = if style.lines {
                chart.draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
            } else {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))?
            };
            drawn.label(&s.name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
    }

    fn draw_histogram<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        values: &[f64],
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (Some(lo), Some(hi)) = (values.iter().copied().reduce(f64::min), values.iter().copied().reduce(f64::max))
        else {
            return self.empty(root);
        };
        let bins = MAX_BINS.min(values.len().max(1));
        let width = ((hi - lo) / bins as f64).max(1e-3);
        let mut counts = vec![0u32; bins];
        for v in values {
            let i = (((v - lo) / width) as usize).min(bins - 1);
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
        let top = counts.iter().copied().max().unwrap_or(1);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..(lo + width * bins as f64), 0u32..(top + 1))?;
        chart.configure_mesh().x_desc(&self.x_label).y_desc(&self.y_label).label_style(("sans-serif", 12)).draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
            let x = lo + width * i as f64;
            Rectangle::new([(x, 0), (x + width, c)], BLUE.mix(0.6).filled())
        }))?;
        Ok(())
    }

    fn draw_matrix<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        sites: &[String],
        cells: &[(usize, usize, u64, f64)],
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        if sites.is_empty() {
            return self.empty(root);
        }
        let n = sites.len() as i32;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0..n, 0..n)?;
        let name = |i: &i32| usize::try_from(*i).ok().and_then(|i| sites.get(i)).cloned().unwrap_or_default();
        let row_name = |i: &i32| name(&(n - 1 - *i));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(sites.len())
            .y_labels(sites.len())
            .x_label_formatter(&name)
            .y_label_formatter(&row_name)
            .label_style(("sans-serif", 12))
            .draw()?;
        for &(r, c, calls, failed_pct) in cells {
            let (x, y) = (c as i32, n - 1 - r as i32);
            // Green (0 % failed) to red (≥ 50 % failed).
            let t = (failed_pct / 50.0).clamp(0.0, 1.0);
            let color = RGBColor((60.0 + 195.0 * t) as u8, (180.0 - 140.0 * t) as u8, 70);
            chart.draw_series(std::iter::once(Rectangle::new([(x, y), (x + 1, y + 1)], color.filled())))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{calls} calls, {failed_pct:.0}% failed"),
                (x, y + 1),
                ("sans-serif", 13).into_font().color(&WHITE),
            )))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_kind_to_svg_with_its_title() {
        let lines =
            Series { name: "hq->warehouse".into(), points: vec![(1_709_280_000.0, 1.0), (1_709_280_900.0, 16.0)] };
        let kinds = [
            ChartKind::TimeLines(vec![lines.clone()]),
            ChartKind::Scatter(vec![lines]),
            ChartKind::Histogram(vec![0.0, 0.0, 5.0]),
            ChartKind::Matrix { sites: vec!["hq".into(), "warehouse".into()], cells: vec![(0, 1, 19, 0.0)] },
            ChartKind::Histogram(Vec::new()),
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let chart = Chart {
                name: format!("c{i}"),
                title: format!("Chart {i}"),
                x_label: "x".into(),
                y_label: "y".into(),
                kind,
            };
            let svg = chart.to_svg().unwrap();
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.contains(&format!("Chart {i}")), "title missing in chart {i}");
        }
    }
}
