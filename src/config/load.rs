//! Reading the config file: `${VAR}` substitution, parsing, validation. Every problem found
//! comes back at once, each with file, line, column and field path, sorted by position, so one
//! run of `hookhub check` shows everything to fix.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::env;
use super::position::PositionIndex;
use super::validate::{self, Problem};

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Field path such as `hooks[2].triggerConfig.webhookPath`; empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with a config file, one issue a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// The config file to use: `--config`, else `$HOOKHUB_CONFIG`, else `./hooks.yaml`, else
/// `./hooks.example.yaml`. `None` when none of them exists.
pub fn find_config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    choose_config(explicit).map(|choice| choice.path)
}

/// The config file the hub uses, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChoice {
    pub path: PathBuf,
    /// How it was chosen, for the log line that names it at start.
    pub reason: &'static str,
    /// A file that would have been chosen had it existed: `./hooks.yaml`, while the example
    /// stands in for it. The running hub warns when it appears (it takes effect at a restart).
    pub preferred: Option<PathBuf>,
}

/// [`find_config_path`], saying why that file.
pub fn choose_config(explicit: Option<&Path>) -> Option<ConfigChoice> {
    let chosen = |path: PathBuf, reason| ConfigChoice {
        path,
        reason,
        preferred: None,
    };
    if let Some(p) = explicit {
        return Some(chosen(p.to_path_buf(), "given with --config"));
    }
    if let Some(p) = std::env::var_os("HOOKHUB_CONFIG").filter(|p| !p.is_empty()) {
        return Some(chosen(PathBuf::from(p), "from $HOOKHUB_CONFIG"));
    }
    let own = PathBuf::from("hooks.yaml");
    if own.exists() {
        return Some(chosen(own, "./hooks.yaml"));
    }
    let example = PathBuf::from("hooks.example.yaml");
    let exists = example.exists();
    exists.then_some(ConfigChoice {
        path: example,
        reason: "the example, as there is no ./hooks.yaml; copy it to hooks.yaml, edit it \
                 and restart",
        preferred: Some(own),
    })
}

/// Reads, substitutes and validates a config file from disk, with the process environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    load_file_with_warnings(path).map(|(config, _)| config)
}

/// [`load_file`], also returning the warnings of a valid file (such as a hook with no secret).
pub fn load_file_with_warnings(path: &Path) -> Result<(Config, Vec<ConfigIssue>), ConfigError> {
    let text = read_file(path)?;
    load_file_text(&text, &path.display().to_string(), &|var| {
        std::env::var(var).ok()
    })
}

/// The text of the config file at `path`.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        issues: vec![ConfigIssue {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        }],
    })
}

/// [`load_str_with_warnings`] for the text of a config *file*, which must also say which
/// hooks it defines: an empty file, or one without a `hooks` list, is refused, so a file saved
/// empty by mistake cannot remove every hook. `hooks: []` says "none" on purpose.
pub fn load_file_text(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<ConfigIssue>), ConfigError> {
    load(
        text,
        file,
        env,
        Rules {
            hooks_required: true,
        },
    )
}

/// Substitutes, parses and validates config text. `file` names it in errors; `env` looks up
/// `${VAR}` values.
pub fn load_str(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    load_str_with_warnings(text, file, env).map(|(config, _)| config)
}

/// [`load_str`], also returning the warnings of a valid config, sorted by position.
///
/// Stages stop at the first one that fails: a missing variable makes later type errors
/// meaningless, and serde stops at its first error.
pub fn load_str_with_warnings(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<ConfigIssue>), ConfigError> {
    load(text, file, env, Rules::default())
}

/// What a text must hold besides a valid config.
#[derive(Debug, Clone, Copy, Default)]
struct Rules {
    /// A top-level `hooks` list (see [`load_file_text`]).
    hooks_required: bool,
}

fn load(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
    rules: Rules,
) -> Result<(Config, Vec<ConfigIssue>), ConfigError> {
    let substituted = env::substitute(text, env);
    if !substituted.problems.is_empty() {
        let index = PositionIndex::build(&substituted.text);
        let issues = substituted
            .problems
            .iter()
            .map(|p| {
                let (line, column) = env::line_col(text, p.offset);
                let out = env::line_col(&substituted.text, p.out_offset);
                let path = index.field_at(out).unwrap_or_default().to_string();
                ConfigIssue {
                    file: file.to_string(),
                    line,
                    column,
                    path,
                    message: p.message.clone(),
                }
            })
            .collect();
        return Err(sorted(issues));
    }
    let config = parse(&substituted.text, file)?;
    let (mut errors, warnings) = validate::validate_config(&config);
    // A file that gave hooks has the list; only one without can lack it.
    if rules.hooks_required && config.hooks.is_empty() {
        errors.extend(no_hooks_list(&substituted.text));
    }
    if !errors.is_empty() {
        return Err(sorted(place(errors, file, &substituted.text)));
    }
    Ok((
        config,
        sorted(place(warnings, file, &substituted.text)).issues,
    ))
}

/// Parses YAML into the model, naming the field serde stopped at.
fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = readable_path(&e.path().to_string());
        let index = PositionIndex::for_paths(text, [path.as_str()]);
        let inner = e.inner();
        let mut serde_at = inner.location().map(|l| (l.line(), l.column()));
        let mut message = bare_message(&inner.to_string(), &path, serde_at);
        if let Some(tab) = serde_at.and_then(|at| tab_near(text, at, &message)) {
            serde_at = Some(tab);
            message = "a tab character; YAML indents with spaces".to_string();
        }
        // Errors raised inside untagged enums (secrets, durations) carry the mark of an
        // enclosing node; a location before the field itself cannot be about it.
        let (line, column) = match (serde_at, index.get(&path)) {
            (Some(at), Some(field)) if at < field => field,
            (Some(at), _) => at,
            (None, _) => index.locate(&path),
        };
        ConfigError {
            issues: vec![ConfigIssue {
                file: file.to_string(),
                line,
                column,
                path,
                message,
            }],
        }
    })
}

/// Where the tab is, when the YAML scanner stopped at one: its own words ("found character
/// that cannot start any token") do not say that the character is an invisible tab. The
/// scanner points at the tab itself, or just after the indentation that holds it.
fn tab_near(text: &str, (line, column): (usize, usize), message: &str) -> Option<(usize, usize)> {
    if !message.starts_with("found character that cannot start any token") {
        return None;
    }
    let chars: Vec<char> = text.lines().nth(line.checked_sub(1)?)?.chars().collect();
    if chars.get(column.checked_sub(1)?) == Some(&'\t') {
        return Some((line, column));
    }
    let indent = chars.iter().take_while(|c| c.is_whitespace());
    let tab = indent.clone().position(|c| *c == '\t')?;
    Some((line, tab + 1))
}

/// The refusal of a config file that does not list its hooks: without it, saving an empty
/// file (or one whose `hooks:` lost its items) would remove every hook the file defines.
fn no_hooks_list(text: &str) -> Option<Problem> {
    let hint = "a file must list its hooks, so that one saved empty by mistake cannot remove \
                them all; write `hooks: []` to run without hooks from the file";
    let document: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    match &document {
        serde_yaml::Value::Null => Some((
            String::new(),
            format!("the file is empty (or holds only comments): {hint}"),
        )),
        serde_yaml::Value::Mapping(map) => match map.get("hooks") {
            None => Some(("hooks".into(), format!("is missing: {hint}"))),
            Some(serde_yaml::Value::Null) => Some(("hooks".into(), format!("is empty: {hint}"))),
            Some(_) => None,
        },
        _ => None,
    }
}

/// serde_path_to_error writes `.` for the root and `?` for what it could not name (inside a
/// syntax error); keep only the part that names real fields.
fn readable_path(path: &str) -> String {
    let known = match path.find('?') {
        Some(cut) => &path[..cut],
        None => path,
    };
    known.trim_end_matches(['.', '[']).to_string()
}

/// serde_norway's text repeats the path and the location, which the issue already carries.
fn bare_message(text: &str, path: &str, at: Option<(usize, usize)>) -> String {
    let mut message = text.to_string();
    if let Some((line, column)) = at {
        message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
    }
    for prefix in [path, parent_path(path)] {
        if let Some(rest) = message
            .strip_prefix(prefix)
            .and_then(|m| m.strip_prefix(": "))
            && !prefix.is_empty()
        {
            return rest.to_string();
        }
    }
    message
}

fn parent_path(path: &str) -> &str {
    &path[..path.rfind(['.', '[']).unwrap_or(0)]
}

/// Each problem with the place in `text` of the field it names.
fn place(problems: Vec<Problem>, file: &str, text: &str) -> Vec<ConfigIssue> {
    if problems.is_empty() {
        return Vec::new();
    }
    let index = PositionIndex::for_paths(text, problems.iter().map(|(path, _)| path.as_str()));
    problems
        .into_iter()
        .map(|(path, message)| {
            let (line, column) = index.locate(&path);
            ConfigIssue {
                file: file.to_string(),
                line,
                column,
                path,
                message,
            }
        })
        .collect()
}

fn sorted(mut issues: Vec<ConfigIssue>) -> ConfigError {
    issues.sort_by_key(|issue| (issue.line, issue.column));
    ConfigError { issues }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
