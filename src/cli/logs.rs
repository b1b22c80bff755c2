//! Where the log goes and how it looks: stderr, as text or JSON, at the level `RUST_LOG` picks.
//! Colour is for people at a terminal: a log written to a file or collected by journald must
//! not carry ANSI escape codes, and `NO_COLOR` (https://no-color.org) turns colour off.

mod fields;
mod line;
#[cfg(test)]
mod memory;

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry, registry};

use super::LogFormat;

/// Logs to stderr; `RUST_LOG` picks the level (info by default). Each line carries the spans
/// it was written in: the request (with its id) or the execution.
pub fn init(format: LogFormat) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let colour = wants_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    // Requests are spans only where the line shows them otherwise (colour, JSON) or `RUST_LOG`
    // may name them (see `serve::traced`).
    let spanless =
        matches!(format, LogFormat::Text) && !colour && matches!(filter, Filter::Targets(_));
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text if spanless => layer
            .fmt_fields(fields::Fields)
            .event_format(line::Line::new())
            .boxed(),
        LogFormat::Text => layer.fmt_fields(fields::Fields).boxed(),
        LogFormat::Json => layer.json().with_current_span(true).boxed(),
    };
    let set = match filter {
        Filter::Targets(targets) => registry().with(layer).with(targets).try_init(),
        Filter::Env(env) => registry().with(layer).with(env).try_init(),
    };
    if spanless && set.is_ok() {
        crate::serve::carry_requests_without_spans();
    }
}

/// What `RUST_LOG` lets through.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "one, made at start")]
enum Filter {
    /// Levels by target only, the usual `RUST_LOG` (`info`, `hookhub=debug,hyper=warn`).
    /// Chosen whenever it can say what `RUST_LOG` says: `EnvFilter` takes a shared lock each
    /// time any span is entered or left, to look for span directives, and a request's span (the
    /// request is one when `RUST_LOG` needs `EnvFilter`) is entered five times a delivery. Under
    /// saturation that lock's cache line moving between the cores cost ~1% of the hub's CPU
    /// (BENCHMARKS.md).
    Targets(Targets),
    /// Directives only `EnvFilter` reads: spans and fields (`[request{path=x}]=debug`).
    Env(EnvFilter),
}

/// The filter for `RUST_LOG`'s value: info when it is unset, empty or unreadable.
fn filter(rust_log: Option<&str>) -> Filter {
    let rust_log = rust_log.map(str::trim).filter(|v| !v.is_empty());
    let Some(directives) = rust_log else {
        return Filter::Targets(Targets::new().with_default(LevelFilter::INFO));
    };
    match directives.parse::<Targets>() {
        Ok(targets) => Filter::Targets(targets),
        Err(_) => {
            Filter::Env(EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info")))
        }
    }
}

/// Colour only on a terminal, and not when `NO_COLOR` is set to anything but empty.
fn wants_colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_or_levels_by_target_are_read_without_env_filter() {
        for rust_log in [
            None,
            Some(""),
            Some("  "),
            Some("debug"),
            Some("info,hookhub=debug"),
        ] {
            assert!(
                matches!(filter(rust_log), Filter::Targets(_)),
                "{rust_log:?} took EnvFilter"
            );
        }
        let Filter::Targets(unset) = filter(None) else {
            unreachable!()
        };
        assert_eq!(unset.default_level(), Some(LevelFilter::INFO));
        let Filter::Targets(levels) = filter(Some("warn,hookhub::ingress=debug")) else {
            unreachable!()
        };
        assert!(levels.would_enable("hookhub::ingress::record", &tracing::Level::DEBUG));
        assert!(!levels.would_enable("hookhub::queue", &tracing::Level::INFO));
    }

    #[test]
    fn span_directives_take_env_filter_and_nonsense_means_info() {
        let Filter::Env(spans) = filter(Some("info,[request{path=x}]=debug")) else {
            panic!("a span directive needs EnvFilter")
        };
        assert!(spans.to_string().contains("[request{path=x}]=debug"));
        let Filter::Env(nonsense) = filter(Some("hookhub=loud")) else {
            panic!("an unknown level is not a target")
        };
        assert_eq!(nonsense.to_string(), "info");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(wants_colour(true, None));
        assert!(wants_colour(true, Some(OsStr::new(""))));
        assert!(!wants_colour(true, Some(OsStr::new("1"))));
        assert!(!wants_colour(false, None));
        assert!(!wants_colour(false, Some(OsStr::new(""))));
    }
}
