//! In-memory sources and sinks, for tests and for embedding a pipeline in another program.

use std::collections::VecDeque;

use super::{Position, Record, Sink, SinkError, Source, SourceError, Step};

/// A source over a list of steps prepared in advance.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    steps: VecDeque<Step>,
    next_index: u64,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        MemorySource::default()
    }

    /// A source yielding each payload as a bundle of one, positioned by index.
    pub fn from_payloads<P: Into<Vec<u8>>>(payloads: impl IntoIterator<Item = P>) -> Self {
        let mut source = MemorySource::new();
        for p in payloads {
            source.push_bundle([p]);
        }
        source
    }

    /// Appends one bundle of payloads; they are numbered in the order pushed.
    pub fn push_bundle<P: Into<Vec<u8>>>(&mut self, payloads: impl IntoIterator<Item = P>) -> &mut Self {
        let records = payloads
            .into_iter()
            .map(|p| {
                let index = self.next_index;
                self.next_index += 1;
                Record::new(p, Position::Index { index })
            })
            .collect();
        self.steps.push_back(Step::Bundle(records));
        self
    }

    /// Appends any step (a watermark step, a processing-time step, a bundle with its own positions).
    pub fn push(&mut self, step: Step) -> &mut Self {
        self.steps.push_back(step);
        self
    }
}

impl Source for MemorySource {
    fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        Ok(self.steps.pop_front())
    }
}

/// A sink collecting clones of what it is given.
#[derive(Debug, Clone)]
pub struct MemorySink<T> {
    /// Everything written, in order.
    pub items: Vec<T>,
    /// How many times `flush` was called.
    pub flushes: usize,
}

impl<T> Default for MemorySink<T> {
    fn default() -> Self {
        MemorySink {
            items: Vec::new(),
            flushes: 0,
        }
    }
}

impl<T: Clone> Sink<T> for MemorySink<T> {
    fn write(&mut self, item: &T) -> Result<(), SinkError> {
        self.items.push(item.clone());
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.flushes += 1;
        Ok(())
    }
}
