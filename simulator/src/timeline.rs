//! `simulate --timeline`: a picture of a run, as SVG (or HTML with hover details), written by hand.
//!
//! A [`Timeline`] is a [`RunObserver`]: fed each step of a run, it keeps what the picture needs and
//! [`Timeline::render`] returns the document as text. Arrival order runs along x, event time up y; the
//! watermark is a line; the windows that fired are shaded bands; each record is a mark coloured by its
//! fate (counted on time, counted late — in a late pane, its window's end already behind the watermark
//! when it arrived —, dropped as late, dead-lettered, filtered out); each pane firing is a diamond at its
//! window's end, coloured by its timing (EARLY, ON_TIME, LATE) and, for a few panes, labelled with its
//! value. Up to [`TimelineOptions::exact_limit`] records and panes each is drawn one by one; past that the
//! picture becomes a density map: a fixed budget of cells (arrival columns × event-time rows, both
//! widths doubled as needed), so memory and file size stay bounded whatever the input's size. Everything
//! is a pure function of the run: no I/O, no clock, the same run draws the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use pipeline::pane::PaneTiming;
use pipeline::time::{Timestamp, Watermark};
use pipeline::transcript::ElementFate;
use serde::Serialize;
use serde_json::Value;

use crate::observe::{ObservedKey, ObservedStep, RunObserver};

/// What the picture shows of a record: its fate, split by pane for the counted ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// Counted, in an on-time (or early) pane.
    OnTime,
    /// Counted in a late pane: its window's end was behind the watermark when it arrived.
    Late,
    /// Dropped: late beyond the allowed lateness, or for a window its trigger had closed.
    Dropped,
    /// It did not decode: drawn in the strip under the plot (it has no event time).
    DeadLettered,
    /// Rejected by the pipeline's filter.
    Filtered,
}

impl Mark {
    /// Every mark, in legend order.
    pub const ALL: [Mark; 5] = [
        Mark::OnTime,
        Mark::Late,
        Mark::Dropped,
        Mark::DeadLettered,
        Mark::Filtered,
    ];

    /// The SVG class of its marks (`rec ontime`, `cell dropped`, ...).
    pub fn class(self) -> &'static str {
        match self {
            Mark::OnTime => "ontime",
            Mark::Late => "late",
            Mark::Dropped => "dropped",
            Mark::DeadLettered => "dead",
            Mark::Filtered => "filtered",
        }
    }

    /// Its fill colour.
    pub fn colour(self) -> &'static str {
        match self {
            Mark::OnTime => "#2b8cbe",
            Mark::Late => "#f0a500",
            Mark::Dropped => "#d7191c",
            Mark::DeadLettered => "#7b3294",
            Mark::Filtered => "#999999",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mark::OnTime => "counted on time",
            Mark::Late => "counted late",
            Mark::Dropped => "dropped as late",
            Mark::DeadLettered => "dead-lettered",
            Mark::Filtered => "filtered out",
        }
    }

    fn of(fate: ElementFate, behind_window_end: bool) -> Mark {
        match fate {
            ElementFate::Counted if behind_window_end => Mark::Late,
            ElementFate::Counted => Mark::OnTime,
            ElementFate::Filtered => Mark::Filtered,
            ElementFate::DeadLettered => Mark::DeadLettered,
            _ => Mark::Dropped,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The SVG class and colour of a pane's diamond.
fn pane_style(timing: PaneTiming) -> (&'static str, &'static str) {
    match timing {
        PaneTiming::Early => ("early", "#74c476"),
        PaneTiming::OnTime => ("on-time", "#08306b"),
        PaneTiming::Late => ("late", "#e6550d"),
    }
}

fn timing_index(timing: PaneTiming) -> usize {
    match timing {
        PaneTiming::Early => 0,
        PaneTiming::OnTime => 1,
        PaneTiming::Late => 2,
    }
}

/// How a timeline is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineOptions {
    /// The line at the top of the picture (the input and flags, say).
    pub title: String,
    /// Records (and panes) drawn one by one up to this many; past it, a density map.
    pub exact_limit: usize,
    /// Hover details for each mark (`<title>` elements): for HTML.
    pub details: bool,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions {
            title: String::new(),
            exact_limit: 5_000,
            details: false,
        }
    }
}

/// The output format of [`Timeline::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineFormat {
    /// A standalone SVG document.
    Svg,
    /// An HTML page holding the SVG, each mark with hover details.
    Html,
}

/// A record drawn one by one.
#[derive(Debug, Clone)]
struct Point {
    arrival: u64,
    event_time: Option<i64>,
    mark: Mark,
    detail: String,
}

/// A pane drawn one by one.
#[derive(Debug, Clone)]
struct PanePoint {
    arrival: u64,
    max_timestamp: i64,
    timing: PaneTiming,
    label: String,
    detail: String,
}

/// Density cells: `(column, row, kind)` to a count. Kinds 0–4 are [`Mark`]s, 5–7 pane timings; the row of
/// a record without event time is [`NO_TIME`].
#[derive(Debug, Clone)]
struct Density {
    /// Arrivals per column, a power of two.
    column_width: u64,
    /// Milliseconds per row, a power of two.
    row_height: i64,
    cells: BTreeMap<(u64, i64, u8), u64>,
}

const NO_TIME: i64 = i64::MIN;
/// At most this many columns of arrivals.
const MAX_COLUMNS: u64 = 480;
/// At most this many density cells: the file stays under a few MB.
const MAX_CELLS: usize = 24_000;
/// At most this many window bands.
const MAX_BANDS: usize = 600;
/// At most this many watermark points (thinned by halves past it).
const MAX_WATERMARK_POINTS: usize = 4_096;
/// Panes get a text label only when there are at most this many.
const MAX_PANE_LABELS: usize = 60;

impl Density {
    fn new() -> Self {
        Density {
            column_width: 1,
            row_height: 1,
            cells: BTreeMap::new(),
        }
    }

    fn add(&mut self, arrival: u64, t: Option<i64>, kind: u8, n: u64) {
        while arrival / self.column_width >= MAX_COLUMNS {
            self.column_width *= 2;
            self.rekey(|(c, r, k)| (c / 2, r, k));
        }
        let row = t.map_or(NO_TIME, |t| t.div_euclid(self.row_height));
        *self.cells.entry((arrival / self.column_width, row, kind)).or_insert(0) += n;
        while self.cells.len() > MAX_CELLS {
            self.row_height = self.row_height.saturating_mul(2);
            self.rekey(|(c, r, k)| (c, if r == NO_TIME { r } else { r.div_euclid(2) }, k));
        }
    }

    fn rekey(&mut self, f: impl Fn((u64, i64, u8)) -> (u64, i64, u8)) {
        let old = std::mem::take(&mut self.cells);
        for (key, n) in old {
            *self.cells.entry(f(key)).or_insert(0) += n;
        }
    }
}

/// A run being drawn; see the module docs.
#[derive(Debug, Clone)]
pub struct Timeline {
    options: TimelineOptions,
    arrivals: u64,
    /// `Some` while every record and pane is drawn one by one.
    points: Option<(Vec<Point>, Vec<PanePoint>)>,
    density: Density,
    watermark: Vec<(u64, Watermark)>,
    windows: BTreeSet<(i64, i64)>,
    too_many_windows: bool,
    event_range: Option<(i64, i64)>,
    marks: [u64; 5],
    panes: [u64; 3],
}

impl Timeline {
    /// An empty picture.
    pub fn new(options: TimelineOptions) -> Self {
        Timeline {
            options,
            arrivals: 0,
            points: Some((Vec::new(), Vec::new())),
            density: Density::new(),
            watermark: Vec::new(),
            windows: BTreeSet::new(),
            too_many_windows: false,
            event_range: None,
            marks: [0; 5],
            panes: [0; 3],
        }
    }

    /// How many records ended with each mark, in [`Mark::ALL`] order.
    pub fn mark_counts(&self) -> [u64; 5] {
        self.marks
    }

    /// How many panes fired with each timing: EARLY, ON_TIME, LATE.
    pub fn pane_counts(&self) -> [u64; 3] {
        self.panes
    }

    /// True once the picture is a density map rather than one mark per record.
    pub fn is_density(&self) -> bool {
        self.points.is_none()
    }

    fn widen(&mut self, t: i64) {
        self.event_range = Some(match self.event_range {
            None => (t, t),
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
        });
    }

    /// Switches to the density map, moving what was drawn one by one into cells.
    fn switch_to_density(&mut self) {
        if let Some((points, panes)) = self.points.take() {
            for p in points {
                self.density.add(p.arrival, p.event_time, p.mark as u8, 1);
            }
            for p in panes {
                let kind = 5 + timing_index(p.timing) as u8;
                self.density.add(p.arrival, Some(p.max_timestamp), kind, 1);
            }
        }
    }

    fn add_watermark(&mut self, at: u64, w: Watermark) {
        if self.watermark.last().is_some_and(|&(_, last)| last == w) {
            return;
        }
        self.watermark.push((at, w));
        if self.watermark.len() > MAX_WATERMARK_POINTS {
            // The watermark only rises: every other point of a rising step line still draws it, coarser.
            let last = *self.watermark.last().expect("not empty");
            let mut i = 0;
            self.watermark.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            if self.watermark.last() != Some(&last) {
                self.watermark.push(last);
            }
        }
    }
}

impl<K: ObservedKey, O: Serialize> RunObserver<K, O> for Timeline {
    fn on_step(&mut self, step: &ObservedStep<'_, K, O>) {
        self.add_watermark(self.arrivals, step.watermark_before);
        for e in step.elements {
            let mark = Mark::of(e.fate, e.behind_window_end);
            self.marks[mark.index()] += 1;
            let t = e.event_time.map(Timestamp::millis);
            if let Some(t) = t {
                self.widen(t);
            }
            let details = self.options.details;
            let limit = self.options.exact_limit;
            match &mut self.points {
                Some((points, _)) if points.len() < limit => points.push(Point {
                    arrival: e.index,
                    event_time: t,
                    mark,
                    detail: if details {
                        let key = e
                            .key
                            .as_ref()
                            .map_or_else(String::new, |k| format!(" · key {}", k.to_text()));
                        let time = e.event_time.map_or_else(String::new, |t| format!(" · event time {t}"));
                        format!("arrival {} · {}{key}{time} · {}", e.index, e.position, mark.label())
                    } else {
                        String::new()
                    },
                }),
                Some(_) => {
                    self.switch_to_density();
                    self.density.add(e.index, t, mark as u8, 1);
                }
                None => self.density.add(e.index, t, mark as u8, 1),
            }
            self.arrivals = self.arrivals.max(e.index + 1);
        }
        for out in step.outputs {
            self.panes[timing_index(out.pane.timing)] += 1;
            let (start, end) = (out.window.start(), out.window.end());
            let max_timestamp = out.window.max_timestamp().millis();
            if !out.window.is_global() {
                if self.windows.len() < MAX_BANDS {
                    self.windows.insert((start.millis(), end.millis()));
                } else if !self.windows.contains(&(start.millis(), end.millis())) {
                    self.too_many_windows = true;
                }
            }
            let limit = self.options.exact_limit;
            let details = self.options.details;
            match &mut self.points {
                Some((_, panes)) if panes.len() < limit => {
                    let value = serde_json::to_value(&out.value).unwrap_or(Value::Null);
                    panes.push(PanePoint {
                        arrival: self.arrivals,
                        max_timestamp,
                        timing: out.pane.timing,
                        label: format!("{} {}", timing_name(out.pane.timing), value_label(&value)),
                        detail: if details {
                            format!(
                                "pane {} #{}{} · key {} · window {} · value {} · after arrival {} · watermark {}",
                                timing_name(out.pane.timing),
                                out.pane.index,
                                if out.pane.is_last { " (final)" } else { "" },
                                out.key.to_text(),
                                out.window,
                                value,
                                self.arrivals,
                                step.watermark
                            )
                        } else {
                            String::new()
                        },
                    });
                }
                Some(_) => {
                    self.switch_to_density();
                    let kind = 5 + timing_index(out.pane.timing) as u8;
                    self.density.add(self.arrivals, Some(max_timestamp), kind, 1);
                }
                None => {
                    let kind = 5 + timing_index(out.pane.timing) as u8;
                    self.density.add(self.arrivals, Some(max_timestamp), kind, 1);
                }
            }
        }
        self.add_watermark(self.arrivals, step.watermark);
    }
}

fn timing_name(timing: PaneTiming) -> &'static str {
    match timing {
        PaneTiming::Early => "EARLY",
        PaneTiming::OnTime => "ON_TIME",
        PaneTiming::Late => "LATE",
    }
}

/// A pane value in a few characters: a number as it is, an object by its numeric fields.
fn value_label(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let numbers: Vec<String> = map.values().filter(|v| v.is_number()).map(Value::to_string).collect();
            if numbers.is_empty() {
                "·".to_owned()
            } else {
                numbers.join("/")
            }
        }
        Value::String(s) => s.chars().take(12).collect(),
        other => other.to_string().chars().take(12).collect(),
    }
}

/// Escapes text for XML content and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 720.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 1090.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 590.0;
/// The strip under the plot where records without an event time go.
const STRIP: f64 = 604.0;

/// Maps arrivals and event times to the picture.
struct Scale {
    arrivals: f64,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn x(&self, arrival: f64) -> f64 {
        LEFT + (RIGHT - LEFT) * arrival / self.arrivals
    }

    fn y(&self, t: f64) -> f64 {
        let y = BOTTOM - (BOTTOM - TOP) * (t - self.lo) / (self.hi - self.lo);
        y.clamp(TOP, BOTTOM)
    }
}

impl Timeline {
    /// The picture as text: an SVG document, or an HTML page holding it.
    pub fn render(&self, format: TimelineFormat) -> String {
        let (lo, hi) = self.event_range.unwrap_or((0, 1000));
        let pad = ((hi - lo) as f64 * 0.03).max(500.0);
        let scale = Scale {
            arrivals: self.arrivals.max(1) as f64,
            lo: lo as f64 - pad,
            hi: hi as f64 + pad,
        };
        let mut svg = String::with_capacity(1 << 20);
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        svg.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="22" font-size="15">{}</text>"#,
            xml(&self.options.title)
        );
        let _ = write!(
            svg,
            r##"<text x="{LEFT}" y="40" fill="#555555">{}</text>"##,
            xml(&self.subtitle())
        );
        self.draw_bands(&mut svg, &scale);
        self.draw_axes(&mut svg, &scale);
        match &self.points {
            Some((points, panes)) => {
                self.draw_points(&mut svg, &scale, points);
                self.draw_watermark(&mut svg, &scale);
                self.draw_panes(&mut svg, &scale, panes);
            }
            None => {
                // The many on-time records and the panes first, the watermark over them, and the
                // rarer fates on top, so that a few drops among a million records still show.
                self.draw_cells(&mut svg, &scale, &[0, 5, 6, 7]);
                self.draw_watermark(&mut svg, &scale);
                self.draw_cells(&mut svg, &scale, &[1, 2, 4, 3]);
            }
        }
        self.draw_legend(&mut svg);
        svg.push_str("</svg>\n");
        match format {
            TimelineFormat::Svg => svg,
            TimelineFormat::Html => format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font-family:sans-serif}} svg{{max-width:100%;height:auto}}</style></head>\n<body>\n<p>Hover over a mark for its details.</p>\n{svg}</body></html>\n",
                xml(&self.options.title)
            ),
        }
    }

    fn subtitle(&self) -> String {
        let how = if self.is_density() {
            let span = pipeline::time::Duration::millis(self.density.row_height);
            format!(
                "density: {} arrival(s) per column, {span} of event time per row; darker = more records",
                self.density.column_width
            )
        } else {
            "one dot per record".to_owned()
        };
        format!("{} records; x: arrival order, y: event time; {how}", self.arrivals)
    }

    fn draw_bands(&self, svg: &mut String, scale: &Scale) {
        // Past MAX_BANDS windows the bands would be a few of many: none is drawn (the legend says so).
        if self.too_many_windows {
            return;
        }
        svg.push_str(r#"<g class="windows">"#);
        for (i, &(start, end)) in self.windows.iter().enumerate() {
            let (y0, y1) = (scale.y(end as f64), scale.y(start as f64));
            if y1 - y0 <= 0.0 {
                continue;
            }
            let fill = if i % 2 == 0 { "#eef3f9" } else { "#f7f7f7" };
            let _ = write!(
                svg,
                r#"<rect class="band" x="{LEFT}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
                RIGHT - LEFT,
                y1 - y0
            );
        }
        svg.push_str("</g>");
    }

    fn draw_axes(&self, svg: &mut String, scale: &Scale) {
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#888888"/>"##,
            RIGHT - LEFT,
            BOTTOM - TOP
        );
        for i in 0..=5 {
            let t = scale.lo + (scale.hi - scale.lo) * f64::from(i) / 5.0;
            let y = scale.y(t);
            let label = Timestamp::from_millis(t.round() as i64).to_string();
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333333">{}</text>"##,
                LEFT - 6.0,
                y + 4.0,
                xml(&label)
            );
        }
        for i in 0..=4u32 {
            let a = (self.arrivals as f64 * f64::from(i) / 4.0).round();
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333333">{a}</text>"##,
                scale.x(a),
                BOTTOM + 32.0
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333333">arrival order →</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#777777" font-size="10">no event time</text>"##,
            (LEFT + RIGHT) / 2.0,
            BOTTOM + 48.0,
            LEFT - 6.0,
            STRIP + 3.0
        );
    }

    fn draw_points(&self, svg: &mut String, scale: &Scale, points: &[Point]) {
        svg.push_str(r#"<g class="records">"#);
        for p in points {
            let x = scale.x(p.arrival as f64 + 0.5);
            let y = p.event_time.map_or(STRIP, |t| scale.y(t as f64));
            let _ = write!(
                svg,
                r#"<circle class="rec {}" cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}""#,
                p.mark.class(),
                p.mark.colour()
            );
            if self.options.details {
                let _ = write!(svg, "><title>{}</title></circle>", xml(&p.detail));
            } else {
                svg.push_str("/>");
            }
        }
        svg.push_str("</g>");
    }

    fn draw_panes(&self, svg: &mut String, scale: &Scale, panes: &[PanePoint]) {
        // Panes that fire together for the same window end (one per key) share a diamond.
        let mut groups: BTreeMap<(u64, i64, usize), Vec<&PanePoint>> = BTreeMap::new();
        for p in panes {
            groups
                .entry((p.arrival, p.max_timestamp, timing_index(p.timing)))
                .or_default()
                .push(p);
        }
        svg.push_str(r#"<g class="panes">"#);
        let labelled = groups.len() <= MAX_PANE_LABELS;
        for group in groups.values() {
            let p = group[0];
            let (x, y) = (scale.x(p.arrival as f64), scale.y(p.max_timestamp as f64));
            let (class, colour) = pane_style(p.timing);
            let _ = write!(svg, r#"<path class="pane {class}" d=""#);
            let _ = write!(
                svg,
                r#"M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z" fill="{colour}" stroke="white" stroke-width="0.8""#,
                y - 6.0,
                x + 6.0,
                y + 6.0,
                x - 6.0
            );
            if self.options.details {
                let details: Vec<String> = group.iter().map(|p| xml(&p.detail)).collect();
                let _ = write!(svg, "><title>{}</title></path>", details.join("\n"));
            } else {
                svg.push_str("/>");
            }
            // One element per pane, so that the file counts its panes: the others of the group are empty.
            for _ in 1..group.len() {
                let _ = write!(svg, r#"<path class="pane {class}" d=""/>"#);
            }
            if labelled {
                let label = match group.len() {
                    1 => p.label.clone(),
                    n => format!("{n} × {}", timing_name(p.timing)),
                };
                let _ = write!(
                    svg,
                    r#"<text class="pane-label" x="{:.1}" y="{:.1}" fill="{colour}" font-size="10">{}</text>"#,
                    x + 7.0,
                    y - 4.0,
                    xml(&label)
                );
            }
        }
        svg.push_str("</g>");
    }

    /// Draws the cells of the given kinds, in that order.
    fn draw_cells(&self, svg: &mut String, scale: &Scale, kinds: &[u8]) {
        let d = &self.density;
        let most = d.cells.values().copied().max().unwrap_or(1).max(2) as f64;
        let cell_w = (scale.x(d.column_width as f64) - scale.x(0.0)).max(0.5);
        svg.push_str(r#"<g class="density">"#);
        let cells = kinds
            .iter()
            .flat_map(|&k| d.cells.iter().filter(move |(&(_, _, kind), _)| kind == k));
        for (&(column, row, kind), &n) in cells {
            let x = scale.x((column * d.column_width) as f64);
            let opacity = 0.25 + 0.75 * (n as f64).ln() / most.ln();
            if kind >= 5 {
                let timing = [PaneTiming::Early, PaneTiming::OnTime, PaneTiming::Late][usize::from(kind - 5)];
                let (class, colour) = pane_style(timing);
                let y = scale.y((row as f64 + 0.5) * d.row_height as f64);
                let _ = write!(
                    svg,
                    r#"<rect class="pane-cell {class}" x="{x:.1}" y="{:.1}" width="{cell_w:.1}" height="2" fill="{colour}" fill-opacity="{opacity:.2}"><title>{n} {} pane(s)</title></rect>"#,
                    y - 1.0,
                    timing_name(timing)
                );
                continue;
            }
            let mark = Mark::ALL[usize::from(kind)];
            let (y, h) = if row == NO_TIME {
                (STRIP - 3.0, 6.0)
            } else {
                let top = scale.y(((row + 1) as f64) * d.row_height as f64);
                let bottom = scale.y((row as f64) * d.row_height as f64);
                (top, (bottom - top).max(2.0))
            };
            let _ = write!(
                svg,
                r#"<rect class="cell {}" x="{x:.1}" y="{y:.1}" width="{cell_w:.1}" height="{h:.1}" fill="{}" fill-opacity="{opacity:.2}""#,
                mark.class(),
                mark.colour()
            );
            if self.options.details {
                let _ = write!(svg, "><title>{n} record(s) {}</title></rect>", mark.label());
            } else {
                svg.push_str("/>");
            }
        }
        svg.push_str("</g>");
    }

    fn draw_watermark(&self, svg: &mut String, scale: &Scale) {
        let mut points = String::new();
        for &(at, w) in &self.watermark {
            if w == Watermark::MIN {
                continue;
            }
            let y = if w == Watermark::MAX {
                TOP
            } else {
                scale.y(w.timestamp().millis() as f64)
            };
            let _ = write!(points, "{:.1},{y:.1} ", scale.x(at as f64));
        }
        let _ = write!(
            svg,
            r##"<polyline class="watermark" points="{}" fill="none" stroke="#1a9850" stroke-width="2"/>"##,
            points.trim_end()
        );
    }

    fn draw_legend(&self, svg: &mut String) {
        let mut x = LEFT;
        let y = HEIGHT - 52.0;
        for mark in Mark::ALL {
            let n = self.marks[mark.index()];
            if n == 0 && mark == Mark::Filtered {
                continue;
            }
            let text = format!("{} ({n})", mark.label());
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" fill="#333333">{}</text>"##,
                y - 9.0,
                mark.colour(),
                x + 14.0,
                xml(&text)
            );
            x += 30.0 + 7.0 * text.len() as f64;
        }
        let y = HEIGHT - 28.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1a9850" stroke-width="2"/><text x="{:.1}" y="{y:.1}" fill="#333333">watermark</text>"##,
            y - 4.0,
            LEFT + 18.0,
            y - 4.0,
            LEFT + 24.0
        );
        let mut x = LEFT + 110.0;
        for (i, timing) in [PaneTiming::Early, PaneTiming::OnTime, PaneTiming::Late]
            .into_iter()
            .enumerate()
        {
            let (_, colour) = pane_style(timing);
            let text = format!("{} pane ({})", timing_name(timing), self.panes[i]);
            let _ = write!(
                svg,
                r##"<path d="M{:.1} {:.1}l5 5l-5 5l-5 -5Z" fill="{colour}"/><text x="{:.1}" y="{y:.1}" fill="#333333">{}</text>"##,
                x + 5.0,
                y - 13.0,
                x + 14.0,
                xml(&text)
            );
            x += 30.0 + 7.0 * text.len() as f64;
        }
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{y:.1}" fill="#777777">shaded bands: windows that fired{}</text>"##,
            if self.too_many_windows {
                " (not shaded: too many)"
            } else {
                ""
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::ArrivedElement;
    use pipeline::io::Position;
    use pipeline::transcript::StepAction;

    #[test]
    fn scattered_records_past_the_limit_stay_within_the_cell_and_watermark_budgets() {
        let mut timeline = Timeline::new(TimelineOptions::default());
        let n = 200_000u64;
        for i in 0..n {
            let element = ArrivedElement {
                index: i,
                position: Position::Line { line: i + 1 },
                key: Some("k".to_owned()),
                // Scattered over ~3 hours of event time: many rows, so the rows must coarsen too.
                event_time: Some(Timestamp::from_millis((i as i64 * 7_919) % 10_000_000)),
                fate: if i % 97 == 0 {
                    ElementFate::DroppedLate
                } else {
                    ElementFate::Counted
                },
                behind_window_end: false,
                reason: None,
            };
            let step: ObservedStep<'_, String, u64> = ObservedStep {
                number: i as usize + 1,
                action: StepAction::Bundle(1),
                watermark_before: Watermark::at(Timestamp::from_millis(i as i64 * 30)),
                watermark: Watermark::at(Timestamp::from_millis(i as i64 * 30 + 15)),
                processing_time: Timestamp::EPOCH,
                elements: std::slice::from_ref(&element),
                outputs: &[],
                late: &[],
                dead_letters: &[],
            };
            timeline.on_step(&step);
        }
        assert!(timeline.is_density());
        assert!(timeline.density.cells.len() <= MAX_CELLS);
        assert!(timeline.density.column_width >= n / MAX_COLUMNS);
        assert!(timeline.watermark.len() <= MAX_WATERMARK_POINTS + 1);
        assert_eq!(
            timeline.watermark.last().map(|w| w.1),
            Some(Watermark::at(Timestamp::from_millis((n as i64 - 1) * 30 + 15)))
        );
        let drops = n.div_ceil(97);
        assert_eq!(timeline.mark_counts(), [n - drops, 0, drops, 0, 0]);
        let cells: u64 = timeline.density.cells.values().sum();
        assert_eq!(cells, n, "every record is in exactly one cell");
        let svg = timeline.render(TimelineFormat::Svg);
        assert!(svg.len() < 3_000_000, "{} bytes", svg.len());
        assert!(svg.contains(r#"class="cell dropped""#));
    }
}
