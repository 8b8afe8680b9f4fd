//! Transcripts: a run's window outputs as a canonical, pane-aware document for snapshot tests.
//!
//! The document and its wording live in [`pipeline::transcript`] (so `simulate --transcript` prints the
//! very same one); this module builds it from a [`TestOutput`].
//!
//! A [`Transcript`] has one block per script step: the step in the builder's words, the watermark after
//! it (and, after a processing-time step, the virtual processing time), the elements of a bundle with
//! what became of them, and the panes the step fired (key, window, timing — `EARLY` for a trigger's
//! speculative panes, `ON_TIME`, `LATE` — index, final flag, value). A pane listed under a
//! processing-time step is a processing-time firing. It is built only from virtual time and the run's own order, so it
//! never holds a wall-clock time, a machine path or a hash-map order, and it serializes the same way on
//! every machine. Snapshot it with insta, for example `insta::assert_yaml_snapshot!(output.transcript())`,
//! review changes with `cargo insta review` (or read the `.snap.new` files) and commit the `.snap` files.

use pipeline::transcript::StepAction;
use pipeline::Position;
use serde::Serialize;

use crate::run::TestOutput;

pub use pipeline::transcript::{Transcript, TranscriptPane, TranscriptStep};

impl<K: Serialize, O: Serialize> TestOutput<K, O> {
    /// The run as a [`Transcript`]. Panics when a key or value does not serialize to JSON.
    pub fn transcript(&self) -> Transcript {
        let steps = self
            .steps
            .iter()
            .map(|s| {
                let action = StepAction::of(&s.step, s.implicit);
                let mut block = TranscriptStep::new(s.number, action, s.watermark, s.processing_time);
                for e in &s.elements {
                    let reason = self
                        .dead_letters
                        .iter()
                        .find(|d| d.position == Position::Index { index: e.index })
                        .map(|d| d.reason.as_str());
                    let decoded = e.key.as_ref().zip(e.event_time);
                    block.push_element(e.index, decoded, e.fate, reason);
                }
                for p in self.panes.iter().filter(|p| p.step == s.number) {
                    block.push_pane(&p.key, p.window, p.pane, &p.value);
                }
                block
            })
            .collect();
        Transcript {
            steps,
            stats: self.stats,
        }
    }
}
