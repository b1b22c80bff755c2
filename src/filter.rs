//! CEL filters (SPEC §4 step 6): a hook's `triggerConfig.filter`, compiled once when the hook set
//! is built and evaluated against each verified delivery's `body`, `headers`, `query` and
//! `eventType`.
//!
//! This module owns the expression language and the conversion of a delivery into CEL values. It
//! never decides what happens to a delivery that does not match (the registry's `admits` turns
//! the answer into a skip reason) and never sees sled or HTTP types.
//!
//! Cost: the expression is trusted (it comes from the config file or an admin), the payload is
//! not. CEL has no loops or recursion: an evaluation costs at most the payload's size to the
//! power of the expression's macro nesting (`exists`, `all`, `map`…), which is 1 for every common
//! filter. Each variable is converted once per call, only when the expression names it, and
//! strings are borrowed rather than copied. Error texts can quote payload values (a regex
//! taken from the payload, a repeated map key), so they are cut to [`MAX_ERROR_CHARS`].
//!
//! The engine is the `cel` crate, the renamed successor of `cel-interpreter`: the last
//! `cel-interpreter` (0.10) panics while parsing incomplete input such as `body.x ==`, which
//! would turn a typo in the config file into a crash instead of a config error.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use cel::{Context, Env, Program, Value};

/// The variables a filter may name, in the order the error messages list them.
const VARIABLES: [&str; 4] = ["body", "headers", "query", "eventType"];

/// Longest error text kept; a runtime error may print a whole payload value.
pub const MAX_ERROR_CHARS: usize = 300;

/// What a filter sees of one delivery.
pub struct FilterInput<'a> {
    /// The parsed payload: any JSON value.
    pub body: &'a serde_json::Value,
    /// Request headers, names lower-cased.
    pub headers: &'a crate::execution::Headers,
    /// Query parameters.
    pub query: &'a BTreeMap<String, String>,
    /// The sender's event type (`X-GitHub-Event`, a CloudEvents `type`, …), when it has one.
    pub event_type: Option<&'a str>,
}

/// Why an expression is not a filter; config validation shows it under `triggerConfig.filter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("is empty: write an expression such as `body.action == 'opened'`")]
    Empty,
    #[error("syntax error at {line}:{column}: {why}")]
    Syntax {
        line: isize,
        column: isize,
        why: String,
    },
    /// The parser failed without saying where.
    #[error("syntax error")]
    SyntaxUnplaced,
    #[error("unknown variable `{0}`: a filter sees body, headers, query and eventType")]
    UnknownVariable(String),
}

/// Why a filter gave no answer for one delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The expression's value, of the type named.
    #[error("filter must return a bool, got {0}")]
    NotBool(String),
    /// The engine's own text (a missing field, a wrong type), cut to [`MAX_ERROR_CHARS`].
    #[error("{0}")]
    Runtime(String),
}

/// Why a delivery is not for a hook: the reason its execution is recorded `skipped` with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// The event type (cut to 100 characters) and the hook's events, listed.
    #[error("event `{event}` is not in events [{listed}]")]
    EventNotListed { event: String, listed: String },
    #[error("the delivery has no event type, and events is [{0}]")]
    NoEventType(String),
    /// The filter's source.
    #[error("filter `{0}` is false")]
    FilterFalse(String),
    #[error("filter error: {0}")]
    FilterError(EvalError),
}

/// A compiled CEL expression.
pub struct Filter {
    program: Program,
    source: String,
    /// Which of [`VARIABLES`] the expression names, so unused ones are never converted.
    uses: [bool; 4],
    /// The standard functions and types, built once and shared by every evaluation.
    env: Arc<Env>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter").field(&self.source).finish()
    }
}

impl Filter {
    /// Parses `expression`. The error gives the position within the expression
    /// (`syntax error at 1:12: …`) or names an unknown variable.
    pub fn compile(expression: &str) -> Result<Filter, CompileError> {
        if expression.trim().is_empty() {
            return Err(CompileError::Empty);
        }
        let program = Program::compile(expression).map_err(|errors| {
            let first = errors.errors.first().map(|e| {
                let (line, column) = e.pos;
                let why = e.msg.strip_prefix("Syntax error: ").unwrap_or(&e.msg);
                CompileError::Syntax {
                    line,
                    column,
                    why: why.to_string(),
                }
            });
            first.unwrap_or(CompileError::SyntaxUnplaced)
        })?;
        let references = program.references();
        let mut named: Vec<&str> = references.variables();
        named.sort_unstable();
        if let Some(unknown) = named
            .iter()
            .find(|name| !VARIABLES.contains(name) && !is_macro_binder(expression, name))
        {
            return Err(CompileError::UnknownVariable(unknown.to_string()));
        }
        let uses = VARIABLES.map(|v| references.has_variable(v));
        Ok(Filter {
            program,
            source: expression.to_string(),
            uses,
            env: Arc::new(Env::stdlib()),
        })
    }

    /// Ok(true) to run. A runtime error (missing field, wrong type) is an error — the caller
    /// records the delivery as skipped with its text as the reason.
    pub fn matches(&self, input: &FilterInput<'_>) -> Result<bool, EvalError> {
        let mut scope = Context::with_env(self.env.clone());
        let [body, headers, query, event_type] = self.uses;
        if body {
            scope.add_variable_as_val("body", json_to_cel(input.body));
        }
        if headers {
            scope.add_variable_as_val("headers", string_map(input.headers));
        }
        if query {
            scope.add_variable_as_val("query", string_map(input.query));
        }
        if event_type {
            let value: Box<dyn Val + '_> = match input.event_type {
                Some(t) => Box::new(CelString::from(t)),
                None => Box::new(CelNull),
            };
            scope.add_variable_as_val("eventType", value);
        }
        match self.program.execute(&scope) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(EvalError::NotBool(other.type_of().to_string())),
            Err(e) => Err(EvalError::Runtime(cut(e.to_string()))),
        }
    }
}

/// Checks a delivery's event type against a hook's `events`: any event when the list is empty,
/// else an exact entry or `*`. A delivery without an event type matches no non-empty list.
pub fn admit_event(events: &[String], event_type: Option<&str>) -> Result<(), Skip> {
    if events.is_empty() {
        return Ok(());
    }
    let listed = || events.join(", ");
    match event_type {
        Some(t) if events.iter().any(|e| e == t || e == "*") => Ok(()),
        Some(t) => Err(Skip::EventNotListed {
            event: cut_to(t.to_string(), 100),
            listed: listed(),
        }),
        None => Err(Skip::NoEventType(listed())),
    }
}

impl Filter {
    /// [`Filter::matches`] as a verdict: Err is the reason the delivery is skipped.
    pub fn admit(&self, input: &FilterInput<'_>) -> Result<(), Skip> {
        match self.matches(input) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Skip::FilterFalse(self.source.clone())),
            Err(e) => Err(Skip::FilterError(e)),
        }
    }
}

/// True when `name` is bound by a macro such as `list.exists(name, …)`: the parser reports
/// bound names as variables too. Every binder is written `(name,`, so a real binder is never
/// taken for a typo.
fn is_macro_binder(expression: &str, name: &str) -> bool {
    expression.match_indices(name).any(|(at, _)| {
        let before = expression[..at].trim_end();
        let after = expression[at + name.len()..].trim_start();
        before.ends_with('(') && after.starts_with(',')
    })
}

/// Converts a JSON value faithfully: objects to maps, arrays to lists, integers that fit to
/// `int` (else `uint`), other numbers to `double`, null to `null`. Strings are borrowed, not
/// copied. serde_json's recursion limit bounds the depth of what it parsed, and so of this
/// recursion.
fn json_to_cel(value: &serde_json::Value) -> Box<dyn Val + '_> {
    match value {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => Box::new(CelString::from(s.as_str())),
        serde_json::Value::Array(items) => Box::new(CelList::from(
            items.iter().map(json_to_cel).collect::<Vec<_>>(),
        )),
        serde_json::Value::Object(fields) => {
            let map: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = fields
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), json_to_cel(v)))
                .collect();
            Box::new(CelMap::from(map))
        }
    }
}

fn string_map<K: AsRef<str>>(map: &BTreeMap<K, String>) -> Box<dyn Val + '_> {
    let map: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = map
        .iter()
        .map(|(k, v)| {
            let value: Box<dyn Val + '_> = Box::new(CelString::from(v.as_str()));
            (CelMapKey::from(k.as_ref()), value)
        })
        .collect();
    Box::new(CelMap::from(map))
}

/// Shortens `text` to [`MAX_ERROR_CHARS`] characters, marking the cut.
fn cut(text: String) -> String {
    cut_to(text, MAX_ERROR_CHARS)
}

fn cut_to(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
        text.push('…');
    }
    text
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
