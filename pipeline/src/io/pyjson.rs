//! JSON text exactly as Python's `json.dumps` writes it, which is what the seed puts on its topics.
//!
//! `json.dumps` separates items with `", "` and keys from values with `": "`, and escapes every
//! non-ASCII character as `\uXXXX` (`ensure_ascii=True`). Writing the same bytes means a consumer that
//! compares messages byte for byte sees no difference between the seed and this project.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// A `serde_json` formatter producing Python's `json.dumps` layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Writes `value` to `writer` as `json.dumps` would.
pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(writer: W, value: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(writer, PythonFormatter);
    value.serialize(&mut ser)
}

/// `value` as `json.dumps` would write it.
///
/// ```
/// let text = pipeline::io::pyjson::to_string(&serde_json::json!({"id": "7", "page_views": 3, "city": "Zürich"}));
/// assert_eq!(text, r#"{"city": "Z\u00fcrich", "id": "7", "page_views": 3}"#);
/// ```
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value).expect("serializing to memory only fails for maps with non-string keys");
    String::from_utf8(out).expect("the formatter writes ASCII only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        // Expected strings are what CPython 3.11's json.dumps prints for the same values.
        let v = serde_json::json!({"a": [1, 2, {"b": null}], "c": "😀é\"\n", "d": true, "e": 1.5});
        assert_eq!(
            to_string(&v),
            r#"{"a": [1, 2, {"b": null}], "c": "\ud83d\ude00\u00e9\"\n", "d": true, "e": 1.5}"#
        );
        assert_eq!(to_string(&serde_json::json!([])), "[]");
        assert_eq!(to_string(&serde_json::json!({})), "{}");
    }
}
