//! JSON Lines files: a streaming record source and a result sink.
//!
//! The source reads one line at a time (never the whole file), skips blank lines, strips a trailing
//! `\r`, and numbers records by their 1-based line so dead letters can point at them. It can peek at the
//! next line without consuming it, so a caller can decide what an input is from its first line while
//! reading it only once (a pipe cannot be opened again). The sink writes one
//! JSON value per line in Python's `json.dumps` layout (see [`pipeline::io::pyjson`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::Path;

use serde::Serialize;

use pipeline::io::{pyjson, LentStep, Position, Record, Sink, SinkError, Source, SourceError, Step};

/// Reads a JSON Lines input as records, one bundle per non-blank line.
pub struct JsonlSource<R> {
    name: String,
    reader: R,
    line: u64,
    bytes_read: u64,
    buf: Vec<u8>,
    /// The length of a line read by [`JsonlSource::peek_line`] and not yet consumed; it is in `buf`.
    peeked: Option<usize>,
}

impl JsonlSource<BufReader<File>> {
    /// Opens `path` for streaming.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|source| SourceError::Io {
            what: path.display().to_string(),
            source,
        })?;
        Ok(JsonlSource::from_reader(
            path.display().to_string(),
            BufReader::with_capacity(1 << 16, file),
        ))
    }
}

impl<R: BufRead> JsonlSource<R> {
    /// Reads records from `reader`; `name` appears in error messages.
    pub fn from_reader(name: impl Into<String>, reader: R) -> Self {
        JsonlSource {
            name: name.into(),
            reader,
            line: 0,
            bytes_read: 0,
            buf: Vec::with_capacity(1024),
            peeked: None,
        }
    }

    /// The name given at creation, used in error messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes consumed so far (for progress reporting).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line and its 1-based number, without the line break.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, SourceError> {
        let len = match self.peeked.take() {
            Some(len) => len,
            None => match self.read_line()? {
                Some(len) => len,
                None => return Ok(None),
            },
        };
        Ok(Some((self.line, &self.buf[..len])))
    }

    /// The line the next [`next_line`](Self::next_line) will return, without consuming it.
    pub fn peek_line(&mut self) -> Result<Option<(u64, &[u8])>, SourceError> {
        let len = match self.peeked {
            Some(len) => len,
            None => match self.read_line()? {
                Some(len) => *self.peeked.insert(len),
                None => return Ok(None),
            },
        };
        Ok(Some((self.line, &self.buf[..len])))
    }

    /// Reads the next non-blank line into `buf`; its length without the line break.
    fn read_line(&mut self) -> Result<Option<usize>, SourceError> {
        loop {
            self.buf.clear();
            let n = read_until_newline(&mut self.reader, &mut self.buf).map_err(|source| SourceError::Io {
                what: self.name.clone(),
                source,
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes_read += n as u64;
            let mut len = self.buf.len();
            while len > 0 && matches!(self.buf[len - 1], b'\n' | b'\r') {
                len -= 1;
            }
            if !self.buf[..len].iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(len));
            }
        }
    }
}

/// `BufRead::read_until(b'\n', ..)` with a vectorised search for the line break (the standard one
/// searches a word at a time, which showed in profiles of a replay).
fn read_until_newline<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut read = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (done, used) = match memchr::memchr(b'\n', available) {
            Some(i) => {
                buf.extend_from_slice(&available[..=i]);
                (true, i + 1)
            }
            None => {
                buf.extend_from_slice(available);
                (available.is_empty(), available.len())
            }
        };
        reader.consume(used);
        read += used;
        if done {
            return Ok(read);
        }
    }
}

impl<R: BufRead> Source for JsonlSource<R> {
    fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        Ok(self
            .next_line()?
            .map(|(line, bytes)| Step::Bundle(vec![Record::new(bytes, Position::Line { line })])))
    }

    /// Each line is lent from the read buffer: a runner copies only the lines it keeps.
    fn next_lent(&mut self) -> Result<Option<LentStep<'_>>, SourceError> {
        Ok(self.next_line()?.map(|(line, payload)| LentStep::Record {
            payload,
            position: Position::Line { line },
        }))
    }
}

/// Writes each item as one line of `json.dumps`-style JSON.
pub struct JsonlSink<W, T: ?Sized> {
    name: String,
    writer: W,
    items: PhantomData<fn(&T)>,
}

impl<T: Serialize + ?Sized> JsonlSink<BufWriter<File>, T> {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|source| SinkError::Io {
            what: path.display().to_string(),
            source,
        })?;
        Ok(JsonlSink::new(
            path.display().to_string(),
            BufWriter::with_capacity(1 << 16, file),
        ))
    }
}

impl<W: Write, T: Serialize + ?Sized> JsonlSink<W, T> {
    /// Writes to `writer`; `name` appears in error messages.
    pub fn new(name: impl Into<String>, writer: W) -> Self {
        JsonlSink {
            name: name.into(),
            writer,
            items: PhantomData,
        }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.writer
    }

    fn io_error(&self, source: io::Error) -> SinkError {
        SinkError::Io {
            what: self.name.clone(),
            source,
        }
    }
}

impl<W: Write, T: Serialize + ?Sized> Sink<T> for JsonlSink<W, T> {
    fn write(&mut self, item: &T) -> Result<(), SinkError> {
        pyjson::to_writer(&mut self.writer, item).map_err(|e| match e.io_error_kind() {
            Some(kind) => self.io_error(io::Error::new(kind, e.to_string())),
            None => SinkError::Serialize(e.to_string()),
        })?;
        self.writer.write_all(b"\n").map_err(|e| self.io_error(e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|e| self.io_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_blank_lines_skipped_and_breaks_stripped() {
        let input = b"{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}";
        let mut source = JsonlSource::from_reader("mem", &input[..]);
        let mut seen = Vec::new();
        while let Some(Step::Bundle(records)) = source.next_step().unwrap() {
            for r in records {
                seen.push((r.position, String::from_utf8(r.payload).unwrap()));
            }
        }
        assert_eq!(
            seen,
            vec![
                (Position::Line { line: 1 }, "{\"a\":1}".to_owned()),
                (Position::Line { line: 4 }, "{\"b\":2}".to_owned()),
                (Position::Line { line: 5 }, "{\"c\":3}".to_owned()),
            ]
        );
        assert_eq!(source.bytes_read(), input.len() as u64);
    }

    #[test]
    fn a_peeked_line_is_returned_again_by_next_line() {
        let input = b"\n{\"a\":1}\n{\"b\":2}\n";
        let mut source = JsonlSource::from_reader("mem", &input[..]);
        assert_eq!(source.peek_line().unwrap(), Some((2, &b"{\"a\":1}"[..])));
        assert_eq!(source.peek_line().unwrap(), Some((2, &b"{\"a\":1}"[..])));
        assert_eq!(source.next_line().unwrap(), Some((2, &b"{\"a\":1}"[..])));
        assert_eq!(source.next_line().unwrap(), Some((3, &b"{\"b\":2}"[..])));
        assert_eq!(source.peek_line().unwrap(), None);
        assert_eq!(source.next_line().unwrap(), None);
    }

    #[test]
    fn non_utf8_lines_are_records_too() {
        let input = b"\xff\xfe\n";
        let mut source = JsonlSource::from_reader("mem", &input[..]);
        assert!(matches!(source.next_step().unwrap(), Some(Step::Bundle(r)) if r[0].payload == b"\xff\xfe"));
    }

    #[test]
    fn sink_writes_python_style_lines() {
        let mut sink = JsonlSink::new("mem", Vec::new());
        sink.write(&serde_json::json!({"id": "1", "n": 2})).unwrap();
        sink.write(&serde_json::json!({"id": "2", "n": 3})).unwrap();
        assert_eq!(
            String::from_utf8(sink.into_inner()).unwrap(),
            "{\"id\": \"1\", \"n\": 2}\n{\"id\": \"2\", \"n\": 3}\n"
        );
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = JsonlSource::open(Path::new("/no/such/visits.jsonl"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/no/such/visits.jsonl"), "{err}");
    }
}
