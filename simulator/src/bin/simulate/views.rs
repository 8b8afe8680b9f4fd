//! The views of a run that `simulate` can give besides its window results: a picture (`--timeline`), the
//! per-step transcript (`--transcript`) and the answer to "why this count" (`--explain`). The flags and
//! the wiring live here; the observers themselves are the library's (`simulator::timeline`,
//! `simulator::transcript`, `simulator::explain`).

use std::hash::Hash;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pipeline::combine::CombineFn;
use pipeline::io::Source;
use pipeline::Pipeline;
use serde::Serialize;
use simulator::explain::{ExplainTarget, Explainer};
use simulator::observe::{ObservedKey, RunObserver};
use simulator::timeline::{Timeline, TimelineFormat, TimelineOptions};
use simulator::transcript::TranscriptWriter;
use simulator::{simulate_observed, SimulationOptions, SimulationReport, Sinks};

use crate::{commit, create};

/// The flags of the views.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ViewArgs {
    /// Draw the run into FILE: arrival order across, event time up, the watermark, the windows, each
    /// record coloured by its fate and each pane firing. SVG, or an HTML page with hover details when
    /// FILE ends in .html. Past 5,000 records the picture is a density map of bounded size.
    #[arg(long, value_name = "FILE")]
    pub(crate) timeline: Option<PathBuf>,

    /// Print the per-step transcript (YAML, as the testkit snapshots it) on standard output instead of
    /// the window results (--out still gets those).
    #[arg(long, conflicts_with = "explain")]
    pub(crate) transcript: bool,

    /// Explain one window's count on standard output instead of the window results: the records in
    /// each of its panes, those dropped and why, and those of the key in the next window. ID is the
    /// output's id; WINDOW_START its window_start (2024-04-28T23:12:40) or RFC 3339.
    #[arg(long, value_name = "ID@WINDOW_START", value_parser = explain_target)]
    pub(crate) explain: Option<ExplainTarget>,
}

fn explain_target(text: &str) -> Result<ExplainTarget, String> {
    text.parse()
        .map_err(|e: simulator::explain::ExplainTargetError| e.to_string())
}

impl ViewArgs {
    /// True when any view is asked for.
    pub(crate) fn requested(&self) -> bool {
        self.timeline.is_some() || self.transcript || self.explain.is_some()
    }

    /// True when a view takes standard output from the window results.
    pub(crate) fn uses_stdout(&self) -> bool {
        self.transcript || self.explain.is_some()
    }
}

fn timeline_format(path: &Path) -> TimelineFormat {
    let html = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if html {
        TimelineFormat::Html
    } else {
        TimelineFormat::Svg
    }
}

/// Runs the simulation with the requested views watching, then writes them: the transcript as it goes,
/// the explanation and the picture (whole or not at all) at the end.
pub(crate) fn simulate_with_views<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    source: &mut dyn Source,
    options: &SimulationOptions,
    sinks: Sinks<'_, K, O>,
    views: &ViewArgs,
    title: &str,
) -> Result<SimulationReport>
where
    K: Clone + Ord + Hash + ObservedKey,
    C: CombineFn + Clone,
    O: Serialize,
{
    let mut timeline = views.timeline.as_deref().map(|path| {
        Timeline::new(TimelineOptions {
            title: title.to_owned(),
            details: timeline_format(path) == TimelineFormat::Html,
            ..TimelineOptions::default()
        })
    });
    let mut explainer = views
        .explain
        .clone()
        .map(|target| Explainer::new(target, pipeline.strategy()));
    let mut transcript = views
        .transcript
        .then(|| TranscriptWriter::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())));
    let mut observers: Vec<&mut dyn RunObserver<K, O>> = Vec::new();
    if let Some(t) = &mut timeline {
        observers.push(t);
    }
    if let Some(e) = &mut explainer {
        observers.push(e);
    }
    if let Some(t) = &mut transcript {
        observers.push(t);
    }
    let report = simulate_observed(pipeline, source, options, sinks, &mut |_| {}, &mut observers)?;
    drop(observers);
    if let Some(writer) = transcript {
        writer
            .finish(&report.stats)
            .context("cannot write the transcript (--transcript)")?;
    }
    if let Some(explainer) = explainer {
        match explainer.report() {
            Ok(text) => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(text.as_bytes())?;
                stdout.flush()?;
            }
            Err(message) => bail!("--explain: {message}"),
        }
    }
    if let (Some(path), Some(timeline)) = (&views.timeline, timeline) {
        let mut file = create(path, "--timeline")?;
        file.write_all(timeline.render(timeline_format(path)).as_bytes())
            .with_context(|| format!("cannot write {} (--timeline)", path.display()))?;
        commit(file, "--timeline")?;
    }
    Ok(report)
}
