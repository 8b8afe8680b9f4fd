//! What a consumer core handed its pipeline, step by step: the record of a run that a replay reproduces.
//!
//! The core owns the Kafka-side rules a plain replay of the input cannot know — how polled records are
//! bundled, the watermark it min-combines over partitions (with idleness and restored floors), and the
//! records it judges late per partition before its pipeline sees them. With recording on
//! ([`ConsumerCore::record`](crate::ConsumerCore::record)), it notes each of these as it happens, in
//! order: every bundle its pipeline processed (records at their partition and offset, dead letters
//! included), every watermark it moved the pipeline to, the processing time whenever the pipeline's
//! trigger can use it, and every record it reported late itself. Fed to the same pipeline in the same
//! order with an explicit watermark and scripted processing time, these steps give the same panes, late
//! records and dead letters. A revocation drops the pipeline's state, which no step can say: the record
//! ends there ([`Recorded::End`]). Writing the steps down is the driver's business (`traffic-agg
//! --record` writes a scenario file).

use std::collections::VecDeque;

use pipeline::io::{LateRecord, Record, Step};
use pipeline::time::{Duration, Timestamp, Watermark};

/// One thing a recording core noted, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A step the pipeline took: a watermark, or processing time moving forward (from the pipeline's
    /// start at the epoch).
    Step(Step),
    /// A bundle the pipeline processed: records at `Position::Offset`, in order.
    Bundle {
        /// The records.
        records: Vec<Record>,
        /// Each record's lateness horizon (its partition's watermark: windows expired at it are
        /// dropped, see `pipeline::Decoded::lateness_horizon`), when one of them can matter: a record
        /// in several windows whose horizon is ahead of the pipeline watermark. `None` otherwise.
        lateness_horizons: Option<Vec<Watermark>>,
    },
    /// A record the core reported late itself, without handing it to the pipeline.
    DroppedLate(LateRecord),
    /// A revocation dropped the pipeline's state: nothing after it is recorded.
    End,
}

/// The recording side of a core: see the module docs.
#[derive(Debug)]
pub(crate) struct Recorder {
    noted: VecDeque<Recorded>,
    watermark: Watermark,
    processing_time: Timestamp,
    /// Processing time is noted only when the pipeline's trigger can use it.
    uses_processing_time: bool,
    /// Whether anything was noted yet.
    started: bool,
    ended: bool,
}

impl Recorder {
    /// A recorder for a pipeline that stands at `processing_time` and `watermark`.
    pub(crate) fn new(processing_time: Timestamp, watermark: Watermark, uses_processing_time: bool) -> Self {
        Recorder {
            noted: VecDeque::new(),
            watermark,
            processing_time,
            uses_processing_time,
            started: false,
            ended: false,
        }
    }

    /// The next thing noted.
    pub(crate) fn poll(&mut self) -> Option<Recorded> {
        self.noted.pop_front()
    }

    /// The pipeline's processing time is now `now`: noted when the trigger can use it and it moved.
    pub(crate) fn processing_time(&mut self, now: Timestamp) {
        if self.ended || !self.uses_processing_time || now <= self.processing_time {
            return;
        }
        let by = Duration::millis(now.millis() - self.processing_time.millis());
        self.processing_time = now;
        self.note(Recorded::Step(Step::ProcessingTime(by)));
    }

    /// The pipeline processes `records` as one bundle at processing time `now`, with these lateness
    /// horizons when they can matter.
    pub(crate) fn bundle(&mut self, records: Vec<Record>, lateness_horizons: Option<Vec<Watermark>>, now: Timestamp) {
        if self.ended || records.is_empty() {
            return;
        }
        self.processing_time(now);
        self.note(Recorded::Bundle {
            records,
            lateness_horizons,
        });
    }

    /// The pipeline's watermark is now `watermark` (noted when it moved), at processing time `now`.
    pub(crate) fn watermark(&mut self, watermark: Watermark, now: Timestamp) {
        if self.ended || watermark <= self.watermark {
            return;
        }
        self.processing_time(now);
        self.watermark = watermark;
        self.note(Recorded::Step(Step::Watermark(watermark)));
    }

    /// The core reported `late` without handing it to the pipeline.
    pub(crate) fn dropped_late(&mut self, late: &LateRecord) {
        if !self.ended {
            self.note(Recorded::DroppedLate(late.clone()));
        }
    }

    /// The pipeline's state was dropped. Ends the recording once anything was recorded: a pipeline that
    /// never took a step loses nothing.
    pub(crate) fn state_dropped(&mut self) {
        if self.started && !self.ended {
            self.ended = true;
            self.noted.push_back(Recorded::End);
        }
    }

    fn note(&mut self, recorded: Recorded) {
        self.started = true;
        self.noted.push_back(recorded);
    }
}
