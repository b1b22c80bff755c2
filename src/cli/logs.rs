//! Where the log goes and how it looks: stderr, as text or JSON, at the level `RUST_LOG` picks.
//! Colour is for people at a terminal: a log written to a file or collected by journald must
//! not carry ANSI escape codes, and `NO_COLOR` (https://no-color.org) turns colour off.

mod fields;

use std::ffi::OsStr;
use std::io::IsTerminal;

use super::LogFormat;

/// Logs to stderr; `RUST_LOG` picks the level (info by default). Each line carries the spans
/// it was written in: the request (with its id) or the execution.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = wants_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.fmt_fields(fields::Fields).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}

/// Colour only on a terminal, and not when `NO_COLOR` is set to anything but empty.
fn wants_colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(wants_colour(true, None));
        assert!(wants_colour(true, Some(OsStr::new(""))));
        assert!(!wants_colour(true, Some(OsStr::new("1"))));
        assert!(!wants_colour(false, None));
        assert!(!wants_colour(false, Some(OsStr::new(""))));
    }
}
