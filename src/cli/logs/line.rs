//! A plain text log line that writes the request being handled where its span would be: the
//! time, the level, then `request{id="…" method=POST path="/…"}:` from the task-local
//! [`RequestLine`] (`serve::traced`), then what tracing-subscriber's full format writes after the
//! level (the spans, the target, the fields), so a line reads as it did when the request was a
//! span. Used only without colour: the format of a coloured line is tracing-subscriber's own.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::serve::RequestLine;

/// The line format (see the module doc).
pub struct Line {
    /// The full format without its time and level, which this writes itself.
    rest: Format<Full, ()>,
}

impl Line {
    pub fn new() -> Self {
        Self {
            rest: Format::default().without_time().with_level(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // As the full format writes them without colour.
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        write!(writer, " {} ", level(event.metadata().level()))?;
        if let Some(request) = RequestLine::current() {
            write!(writer, "{request}")?;
            // The spans that follow it start at once; the target, after a space.
            let in_spans = ctx
                .event_scope()
                .is_some_and(|mut spans| spans.next().is_some());
            if !in_spans {
                writer.write_char(' ')?;
            }
        }
        self.rest.format_event(ctx, writer, event)
    }
}

/// A level as the full format writes it without colour: five characters wide.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::cli::logs::fields::Fields;
    use crate::cli::logs::memory::Lines;

    /// The lines without their time (the first 27 characters, `2026-12-06T02:37:12.990498Z`).
    fn without_time(lines: &Lines) -> Vec<String> {
        lines.text().lines().map(|l| l[27..].to_string()).collect()
    }

    /// Lines at each level, with fields, in a nested span and in none.
    fn write_lines() {
        tracing::info!(status = 401, code = "auth_invalid", "delivery refused");
        tracing::warn!(reason = "a \"quoted\" reason", "slow");
        tracing::debug!("request answered");
        tracing::error!(n = 3, "failed");
        tracing::info_span!("execution", id = "01JX", hook = "gh").in_scope(|| {
            tracing::info!(attempt = 1, "execution failed");
        });
    }

    const REQUESTS: [(&str, Method, &str); 3] = [
        ("01JABC", Method::POST, "/api/webhooks/gh"),
        ("cf-ray-\"7\"", Method::GET, "/api/webhooks/a%20b"),
        ("x\\y", Method::DELETE, "/api/hooks/gh"),
    ];

    /// The lines written outside any request and then in `in_request`, by [`Line`] or (when
    /// `line_format` is false) by tracing-subscriber's own format.
    fn written(line_format: bool, in_request: impl FnOnce()) -> Vec<String> {
        let lines = Lines::default();
        let writer = lines.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .fmt_fields(Fields)
            .with_writer(move || writer.clone());
        let write = || {
            write_lines();
            in_request();
        };
        match line_format {
            true => {
                tracing::subscriber::with_default(builder.event_format(Line::new()).finish(), write)
            }
            false => tracing::subscriber::with_default(builder.finish(), write),
        }
        without_time(&lines)
    }

    /// A request written as the `request` span, by tracing-subscriber's own format.
    fn as_span(id: &'static str, method: &Method, path: &'static str) -> Vec<String> {
        written(false, || {
            let span = tracing::info_span!("request", id = id, method = %method, path = path);
            span.in_scope(write_lines);
        })
    }

    /// The same, written by [`Line`] from a [`RequestLine`].
    fn as_line(id: &'static str, method: &Method, path: &'static str) -> Vec<String> {
        written(true, || {
            RequestLine::new(id, method.clone(), path).in_scope(write_lines)
        })
    }

    #[test]
    fn a_request_line_reads_as_the_request_span_did() {
        for (id, method, path) in REQUESTS {
            let expected = as_span(id, &method, path);
            assert_eq!(expected.len(), 10);
            assert!(expected[5].contains("request{id="), "{expected:?}");
            assert!(expected[9].contains("}:execution{id="), "{expected:?}");
            assert_eq!(as_line(id, &method, path), expected);
        }
    }
}
