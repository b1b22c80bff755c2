//! How a text log line writes its fields and its spans' fields: as tracing-subscriber's
//! `DefaultFields` writes them, with one shortcut. A `str` field that needs no escaping is
//! written as it is, quoted; `DefaultFields` goes through `format_args!` with two styled
//! pieces and the string's `Debug`, a character at a time. Every request's span has two such
//! fields (its id and path), formatted when the span is made whether or not a line is written
//! in it: making the span cost ~4,900 instructions a delivery with `DefaultFields` and ~3,500
//! with this (BENCHMARKS.md). Everything else, and everything when the output is coloured, is
//! `DefaultFields`' own work.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// The field formatter (see the module doc).
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields;

impl<'writer> FormatFields<'writer> for Fields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return record(writer, fields);
        }
        // Gathered first, then handed over in one piece: a span's fields go into a new
        // `String`, which grew six or seven times a request when they were written into it one
        // piece at a time. Written straight through when the buffer is in use (a field's
        // `Display` that formats fields itself).
        STAGED.with(|staged| match staged.try_borrow_mut() {
            Ok(mut staged) => {
                staged.clear();
                let result = record(Writer::new(&mut *staged), fields);
                let written = writer.write_str(&staged);
                if staged.capacity() > STAGED_KEPT {
                    *staged = String::new();
                }
                result.and(written)
            }
            Err(_) => record(writer, fields),
        })
    }
}

thread_local! {
    /// The fields of a span or event being formatted, in plain text.
    static STAGED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The most a thread's [`STAGED`] buffer keeps between uses.
const STAGED_KEPT: usize = 4096;

fn record<R: RecordFields>(writer: Writer<'_>, fields: R) -> fmt::Result {
    let mut visitor = Visitor {
        writer,
        is_empty: true,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    /// Nothing written yet: the next field needs no space before it.
    is_empty: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// Writes one field as `DefaultFields` does.
    fn as_default(&mut self, name: &str, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        // It writes every field but tracing-log's `log.` metadata, which the line shows apart.
        if !name.starts_with("log.") {
            self.is_empty = false;
        }
    }

    fn write_plain(&mut self, name: &str, value: &str) -> fmt::Result {
        if !std::mem::take(&mut self.is_empty) {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(name)?;
        self.writer.write_str("=\"")?;
        self.writer.write_str(value)?;
        self.writer.write_char('"')
    }
}

/// Whether `str`'s `Debug` would write `value` unchanged between its quotes.
fn needs_no_escape(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        let shortcut = self.result.is_ok()
            && !self.writer.has_ansi_escapes()
            && name != "message"
            && !name.starts_with("r#")
            && !name.starts_with("log.")
            && needs_no_escape(value);
        if shortcut {
            self.result = self.write_plain(name, value);
        } else {
            self.as_default(name, |v| v.record_str(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.as_default(field.name(), |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.as_default(field.name(), |v| v.record_debug(field, value));
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::cli::logs::memory::Lines;

    #[derive(Debug)]
    struct Failed(io::Error);

    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not send")
        }
    }

    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// Spans and events with every kind of field, plain and in need of escaping.
    fn write_lines() {
        for text in [
            "01JABC",
            "",
            "a b",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "\u{1b}[31m",
            "é",
        ] {
            let span = tracing::info_span!("request", id = text, method = %"POST", path = "/x");
            let _entered = span.enter();
            tracing::info!(text, n = 3, ok = true, r#type = "t", "said {text}");
            tracing::info!(message = text, after = text);
            tracing::warn!(error = &Failed(io::Error::other("reset")) as &dyn std::error::Error);
            tracing::info!(debug = ?text, display = %text, "");
        }
    }

    fn output(colour: bool, fields: bool) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(colour)
            .without_time()
            .with_writer(move || writer.clone());
        match fields {
            true => {
                tracing::subscriber::with_default(builder.fmt_fields(Fields).finish(), write_lines)
            }
            false => tracing::subscriber::with_default(builder.finish(), write_lines),
        }
        lines.text()
    }

    #[test]
    fn lines_read_as_default_fields_writes_them() {
        for colour in [false, true] {
            let ours = output(colour, true);
            assert_eq!(ours, output(colour, false), "colour: {colour}");
            assert!(
                ours.contains(r#"id="01JABC" method=POST path="/x""#) || colour,
                "{ours}"
            );
        }
    }
}
