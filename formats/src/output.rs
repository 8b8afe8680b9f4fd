//! How window results are written: one `json.dumps`-style line per pane, optionally with pane timing.
//!
//! The line is the output value itself (for the traffic pipeline, the seed's record); `--pane-info`
//! appends `"pane"` (`EARLY`/`ON_TIME`/`LATE`) and `"pane_index"` after the value's own fields.

use std::io::Write;

use pipeline::io::{pyjson, Sink, SinkError};
use pipeline::WindowOutput;
use serde::Serialize;

/// Writes each [`WindowOutput`]'s value as a JSON line to `W`.
pub struct OutputLines<W> {
    writer: W,
    name: String,
    pane_info: bool,
    line: Vec<u8>,
    lines: u64,
}

#[derive(Serialize)]
struct WithPane<'a, O> {
    #[serde(flatten)]
    value: &'a O,
    pane: &'static str,
    pane_index: u64,
}

impl<W: Write> OutputLines<W> {
    /// Writes to `writer` (`name` for errors); with `pane_info`, each line carries the pane's timing and index.
    pub fn new(writer: W, name: impl Into<String>, pane_info: bool) -> Self {
        OutputLines {
            writer,
            name: name.into(),
            pane_info,
            line: Vec::with_capacity(256),
            lines: 0,
        }
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

impl<K, O: Serialize, W: Write> Sink<WindowOutput<K, O>> for OutputLines<W> {
    fn write(&mut self, item: &WindowOutput<K, O>) -> Result<(), SinkError> {
        self.line.clear();
        let result = if self.pane_info {
            let with = WithPane {
                value: &item.value,
                pane: item.pane.timing.as_str(),
                pane_index: item.pane.index,
            };
            pyjson::to_writer(&mut self.line, &with)
        } else {
            pyjson::to_writer(&mut self.line, &item.value)
        };
        result.map_err(|e| SinkError::Serialize(e.to_string()))?;
        self.line.push(b'\n');
        self.lines += 1;
        self.writer.write_all(&self.line).map_err(|source| SinkError::Io {
            what: self.name.clone(),
            source,
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|source| SinkError::Io {
            what: self.name.clone(),
            source,
        })
    }
}

/// Discards everything: for outputs nobody asked for.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl<T> Sink<T> for Discard {
    fn write(&mut self, _: &T) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
