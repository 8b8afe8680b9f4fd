//! `simulate --transcript`: the per-step transcript of a replayed file, as YAML, in the very form the
//! testkit's snapshots hold it.
//!
//! [`TranscriptWriter`] is a [`RunObserver`] that turns each step into its
//! [`pipeline::transcript::TranscriptStep`] block and writes it at once as YAML (so a large input streams
//! instead of being held), then the final counts. The YAML is insta's (a port of the rules of its
//! vendored `yaml-rust` emitter: two-space indentation, compact sequences, the same quoting, maps of
//! values in key order), so `simulate --transcript` on a scenario prints the body of the testkit's
//! snapshot of it byte for byte. Writing goes to any `std::io::Write`; the first error is kept and
//! returned by [`TranscriptWriter::finish`].

use std::fmt::Write as _;
use std::io::Write;

use pipeline::transcript::{ElementFate, TranscriptStep};
use pipeline::PipelineStats;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

use crate::observe::{ObservedKey, ObservedStep, RunObserver};

/// Writes a run's transcript as YAML, step by step; see the module docs.
pub struct TranscriptWriter<W: Write> {
    out: W,
    steps: usize,
    error: Option<std::io::Error>,
}

impl<W: Write> TranscriptWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        TranscriptWriter {
            out,
            steps: 0,
            error: None,
        }
    }

    /// Writes the final counts and returns `out`, or the first write error.
    pub fn finish(mut self, stats: &PipelineStats) -> std::io::Result<W> {
        if self.steps == 0 {
            self.write("steps: []\n".to_owned());
        }
        let stats = Node::of(stats);
        self.write(format!("{}\n", to_yaml(&Node::Map(vec![("stats".to_owned(), stats)]))));
        match self.error {
            Some(e) => Err(e),
            None => {
                self.out.flush()?;
                Ok(self.out)
            }
        }
    }

    fn write(&mut self, text: String) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
    }
}

impl<K: ObservedKey, O: Serialize, W: Write> RunObserver<K, O> for TranscriptWriter<W> {
    fn on_step(&mut self, step: &ObservedStep<'_, K, O>) {
        let mut block = TranscriptStep::new(step.number, step.action, step.watermark, step.processing_time);
        for e in step.elements {
            let reason = e.reason.as_deref().filter(|_| e.fate == ElementFate::DeadLettered);
            let key = e.key.as_ref().map(ObservedKey::to_json);
            block.push_element(e.index, key.as_ref().zip(e.event_time), e.fate, reason);
        }
        for out in step.outputs {
            block.push_pane(&out.key.to_json(), out.window, out.pane, &out.value);
        }
        let item = to_yaml(&Node::Map(vec![(
            "steps".to_owned(),
            Node::Seq(vec![Node::of(&block)]),
        )]));
        let item = item.strip_prefix("steps:\n").unwrap_or(&item);
        let text = if self.steps == 0 {
            format!("steps:\n{item}\n")
        } else {
            format!("{item}\n")
        };
        self.steps += 1;
        self.write(text);
    }
}

/// A serialized value with its maps in the order they were written: struct fields in declaration
/// order, a `serde_json::Value` map in key order (as insta's `sort_maps` shows it).
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// `value` through JSON, keeping field order. Panics when it does not serialize (a transcript's
    /// blocks and counts always do).
    fn of<T: Serialize>(value: &T) -> Node {
        let json = serde_json::to_string(value).expect("a transcript block serializes");
        serde_json::from_str(&json).expect("JSON reads back")
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// The node as insta's YAML emitter writes it (without its leading `---`).
fn to_yaml(node: &Node) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        level: -1,
    };
    emitter.node(node);
    emitter.out
}

/// A port of the emitting rules of insta's vendored `yaml-rust` emitter (compact, indent 2).
struct Emitter {
    out: String,
    level: isize,
}

impl Emitter {
    fn indent(&mut self) {
        for _ in 0..self.level.max(0) {
            self.out.push_str("  ");
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Seq(items) => self.seq(items),
            Node::Map(entries) => self.map(entries),
            Node::Str(s) if need_quotes(s) => escape(&mut self.out, s),
            Node::Str(s) => self.out.push_str(s),
            Node::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Node::Float(f) => {
                let _ = write!(self.out, "{f}");
            }
            Node::Null => self.out.push('~'),
        }
    }

    fn seq(&mut self, items: &[Node]) {
        if items.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.level += 1;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push('\n');
                self.indent();
            }
            self.out.push('-');
            self.value(true, item);
        }
        self.level -= 1;
    }

    fn map(&mut self, entries: &[(String, Node)]) {
        if entries.is_empty() {
            self.out.push_str("{}");
            return;
        }
        self.level += 1;
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push('\n');
                self.indent();
            }
            self.node(&Node::Str(key.clone()));
            self.out.push(':');
            self.value(false, value);
        }
        self.level -= 1;
    }

    fn value(&mut self, inline: bool, node: &Node) {
        match node {
            Node::Seq(items) if !inline && !items.is_empty() => {
                self.nested_line();
                self.seq(items);
            }
            Node::Map(entries) if !inline && !entries.is_empty() => {
                self.nested_line();
                self.map(entries);
            }
            _ => {
                self.out.push(' ');
                self.node(node);
            }
        }
    }

    fn nested_line(&mut self) {
        self.out.push('\n');
        self.level += 1;
        self.indent();
        self.level -= 1;
    }
}

/// insta's (yaml-rust's) rule for when a string is written in double quotes.
fn need_quotes(s: &str) -> bool {
    s.is_empty()
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.starts_with(['&', '*', '?', '|', '-', '<', '>', '=', '!', '%', '@'])
        || s.contains(|c: char| {
            matches!(c, ':' | '{' | '}' | '[' | ']' | ',' | '#' | '`' | '"' | '\'' | '\\'
                | '\0'..='\x06' | '\t' | '\n' | '\r' | '\x0e'..='\x1a' | '\x1c'..='\x1f')
        })
        || [
            "yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "true", "False", "FALSE", "false", "on", "On", "ON",
            "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ]
        .contains(&s)
        || s.starts_with('.')
        || s.starts_with("0x")
        || s.parse::<i64>().is_ok()
        || s.parse::<f64>().is_ok()
}

fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < '\x20' || c == '\x7f' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_where_insta_quotes_them() {
        let node = Node::Map(vec![
            ("a".into(), Node::Str("-inf".into())),
            ("b".into(), Node::Str("+inf".into())),
            ("c".into(), Node::Str("add_elements(1 element)".into())),
            ("d".into(), Node::Str("alice @ 23:12".into())),
            ("e".into(), Node::Seq(vec![])),
            (
                "f".into(),
                Node::Seq(vec![Node::Map(vec![
                    ("x".into(), Node::Int(1)),
                    ("y".into(), Node::Bool(true)),
                ])]),
            ),
        ]);
        assert_eq!(
            to_yaml(&node),
            "a: \"-inf\"\nb: \"+inf\"\nc: add_elements(1 element)\nd: \"alice @ 23:12\"\ne: []\nf:\n  - x: 1\n    y: true"
        );
    }
}
