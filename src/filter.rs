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
    pub headers: &'a BTreeMap<String, String>,
    /// Query parameters.
    pub query: &'a BTreeMap<String, String>,
    /// The sender's event type (`X-GitHub-Event`, a CloudEvents `type`, …), when it has one.
    pub event_type: Option<&'a str>,
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
    pub fn compile(expression: &str) -> Result<Filter, String> {
        if expression.trim().is_empty() {
            return Err("is empty: write an expression such as `body.action == 'opened'`".into());
        }
        let program = Program::compile(expression).map_err(|errors| {
            let first = errors.errors.first().map(|e| {
                let (line, column) = e.pos;
                let why = e.msg.strip_prefix("Syntax error: ").unwrap_or(&e.msg);
                format!("syntax error at {line}:{column}: {why}")
            });
            first.unwrap_or_else(|| "syntax error".to_string())
        })?;
        let references = program.references();
        let mut named: Vec<&str> = references.variables();
        named.sort_unstable();
        if let Some(unknown) = named
            .iter()
            .find(|name| !VARIABLES.contains(name) && !is_macro_binder(expression, name))
        {
            return Err(format!(
                "unknown variable `{unknown}`: a filter sees body, headers, query and eventType"
            ));
        }
        let uses = VARIABLES.map(|v| references.has_variable(v));
        Ok(Filter {
            program,
            source: expression.to_string(),
            uses,
            env: Arc::new(Env::stdlib()),
        })
    }

    /// Ok(true) to run. A runtime error (missing field, wrong type) is Err(text) — the caller
    /// records the delivery as skipped with that reason.
    pub fn matches(&self, input: &FilterInput<'_>) -> Result<bool, String> {
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
            Ok(other) => Err(format!(
                "filter must return a bool, got {}",
                other.type_of()
            )),
            Err(e) => Err(cut(e.to_string())),
        }
    }
}

/// Checks a delivery's event type against a hook's `events`: any event when the list is empty,
/// else an exact entry or `*`. A delivery without an event type matches no non-empty list.
pub fn admit_event(events: &[String], event_type: Option<&str>) -> Result<(), String> {
    if events.is_empty() {
        return Ok(());
    }
    let listed = || events.join(", ");
    match event_type {
        Some(t) if events.iter().any(|e| e == t || e == "*") => Ok(()),
        Some(t) => Err(format!(
            "event `{}` is not in events [{}]",
            cut_to(t.to_string(), 100),
            listed()
        )),
        None => Err(format!(
            "the delivery has no event type, and events is [{}]",
            listed()
        )),
    }
}

impl Filter {
    /// [`Filter::matches`] as a verdict: Err is the reason the delivery is skipped.
    pub fn admit(&self, input: &FilterInput<'_>) -> Result<(), String> {
        match self.matches(input) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("filter `{}` is false", self.source)),
            Err(e) => Err(format!("filter error: {e}")),
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

fn string_map(map: &BTreeMap<String, String>) -> Box<dyn Val + '_> {
    let map: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = map
        .iter()
        .map(|(k, v)| {
            let value: Box<dyn Val + '_> = Box::new(CelString::from(v.as_str()));
            (CelMapKey::from(k.as_str()), value)
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
