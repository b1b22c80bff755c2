//! `${VAR}` and `${VAR:-default}` in the config text, replaced before the YAML is parsed so a
//! variable can stand anywhere a value can (SPEC §2). `$${` writes a literal `${`.
//!
//! Whole-line comments are copied untouched: a commented-out line that mentions an unset
//! variable must not make the file invalid. Lines inside a block scalar (`|`, `>`) are content,
//! not comments, so they are substituted even when they start with `#`.

/// The text after substitution, and every reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substituted {
    pub text: String,
    pub problems: Vec<EnvProblem>,
}

/// A `${…}` that could not be replaced. It is replaced by nothing so the rest of the file can
/// still be indexed and the field it sits in named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    /// Byte offset of the `${` in the original text.
    pub offset: usize,
    /// Byte offset of the same place in the substituted text.
    pub out_offset: usize,
    pub message: String,
}

/// Replaces every `${VAR}` and `${VAR:-default}` in `text` with values from `env`.
///
/// `${VAR:-default}` uses the default when the variable is unset or empty, as a shell does.
pub fn substitute(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Substituted {
    let mut out = Substituted {
        text: String::with_capacity(text.len()),
        problems: Vec::new(),
    };
    // Indentation of the line that opened the block scalar we are inside, if any.
    let mut block_indent: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        if block_indent.is_some_and(|open| !blank && indent <= open) {
            block_indent = None;
        }
        if block_indent.is_none() && line.trim_start().starts_with('#') {
            out.text.push_str(line);
        } else {
            substitute_line(line, offset, env, &mut out);
            if block_indent.is_none() && opens_block_scalar(line) {
                block_indent = Some(indent);
            }
        }
        offset += line.len();
    }
    out
}

/// Whether a line ends with a block scalar indicator (`key: |`, `- >-`, `run: |2`).
fn opens_block_scalar(line: &str) -> bool {
    let mut words = line.split_whitespace().rev();
    let (Some(last), Some(before)) = (words.next(), words.next()) else {
        return false;
    };
    let mut chars = last.chars();
    let indicator = matches!(chars.next(), Some('|' | '>'));
    let modifiers = chars.all(|c| c.is_ascii_digit() || c == '+' || c == '-');
    indicator && modifiers && (before.ends_with(':') || before == "-")
}

fn substitute_line(
    line: &str,
    line_offset: usize,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut Substituted,
) {
    let mut rest = line;
    while let Some(dollar) = rest.find('$') {
        out.text.push_str(&rest[..dollar]);
        let at = &rest[dollar..];
        if let Some(after) = at.strip_prefix("$${") {
            out.text.push_str("${");
            rest = after;
            continue;
        }
        if !at.starts_with("${") {
            out.text.push('$');
            rest = &at[1..];
            continue;
        }
        let offset = line_offset + (line.len() - at.len());
        let Some(close) = at.find('}') else {
            out.problems.push(EnvProblem {
                offset,
                out_offset: out.text.len(),
                message: EnvError::Unclosed.to_string(),
            });
            out.text.push_str(at);
            return;
        };
        match resolve(&at[2..close], env) {
            Ok(value) => out.text.push_str(&value),
            Err(error) => out.problems.push(EnvProblem {
                offset,
                out_offset: out.text.len(),
                message: error.to_string(),
            }),
        }
        rest = &at[close + 1..];
    }
    out.text.push_str(rest);
}

/// Why one `${…}` could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum EnvError {
    #[error("`${{` is not closed by `}}` on the same line (write $${{ for a literal ${{)")]
    Unclosed,
    /// The inside of the braces.
    #[error(
        "`${{{0}}}` is not a variable reference: names are letters, digits and _ \
         (write $${{ for a literal ${{)"
    )]
    NotAName(String),
    /// The variable's name.
    #[error("environment variable {0} is not set (write ${{{0}:-default}} to make it optional)")]
    Unset(String),
}

/// The value of the inside of one `${…}`.
fn resolve(inner: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !is_var_name(name) {
        return Err(EnvError::NotAName(inner.to_string()));
    }
    match (env(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_string()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_string()),
        (None, None) => Err(EnvError::Unset(name.to_string())),
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// 1-based line and column (in characters) of a byte offset, as YAML parsers count them.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_set_variables_and_defaults() {
        let s = substitute(
            "a: ${TOKEN}\nb: ${NOPE:-fallback}\nc: ${EMPTY:-x}\nd: ${EMPTY}|\ne: ${NOPE:-}|\n",
            &env,
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.text, "a: s3cret\nb: fallback\nc: x\nd: |\ne: |\n");
    }

    #[test]
    fn double_dollar_escapes_a_literal_reference() {
        let s = substitute("a: $${TOKEN} costs $5 and $$\n", &env);
        assert!(s.problems.is_empty());
        assert_eq!(s.text, "a: ${TOKEN} costs $5 and $$\n");
    }

    #[test]
    fn every_missing_variable_is_reported_where_it_is() {
        let text = "a: ok\nb: x-${ONE}\nc: ${TWO} ${TOKEN}\n";
        let s = substitute(text, &env);
        let found: Vec<_> = s
            .problems
            .iter()
            .map(|p| (line_col(text, p.offset), p.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    (2, 6),
                    "environment variable ONE is not set (write ${ONE:-default} to make it optional)"
                ),
                (
                    (3, 4),
                    "environment variable TWO is not set (write ${TWO:-default} to make it optional)"
                ),
            ]
        );
        assert_eq!(s.text, "a: ok\nb: x-\nc:  s3cret\n");
        assert_eq!(line_col(&s.text, s.problems[1].out_offset), (3, 4));
    }

    #[test]
    fn malformed_references_are_errors() {
        let s = substitute("a: ${not a var}\nb: ${OPEN\n", &env);
        assert_eq!(s.problems.len(), 2);
        assert!(s.problems[0].message.contains("not a variable reference"));
        assert!(s.problems[1].message.contains("not closed"));
    }

    #[test]
    fn whole_line_comments_are_left_alone_but_block_scalars_are_not() {
        let text = "# uses ${MISSING}\nrun: |\n  # ${TOKEN}\n  echo\nnext: 1 # ${TOKEN}\n";
        let s = substitute(text, &env);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(
            s.text,
            "# uses ${MISSING}\nrun: |\n  # s3cret\n  echo\nnext: 1 # s3cret\n"
        );
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        assert_eq!(line_col("ab\ncé: x", 7), (2, 4));
        assert_eq!(line_col("x", 0), (1, 1));
    }
}
