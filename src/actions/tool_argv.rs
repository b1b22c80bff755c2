//! A tool's command rendered from its templates (SPEC §6), and the two refusals that keep a
//! payload from steering it: a value that would reach the program as an option
//! (`argument_is_an_option`) and a value that is not there (`param_missing`). Both come first in
//! the attempt's error, followed by the config field to fix.

use serde_json::Value;

use super::template::{self, StrictError};
use crate::config::ToolDef;

/// Error code (at the start of the attempt's error) of an argument that would be an option.
pub const ARGUMENT_IS_AN_OPTION: &str = "argument_is_an_option";
/// Error code of a template naming a missing or null value.
pub const PARAM_MISSING: &str = "param_missing";

/// Why a tool's command did not render. The text starts with the SPEC §6 code when a value was
/// refused rather than a template broken, and names the config field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ArgvError {
    /// A template of `field` did not render.
    #[error("{}", template_message(.field, .error))]
    Template { field: String, error: StrictError },
    #[error("{field}: a `shell: true` tool's command must be one string")]
    NotOneLine { field: String },
    /// Element `index` of `field` renders to `arg`, which `program` would read as an option.
    #[error(
        "{}: {field}[{index}] renders to {}, which {program} would \
         read as an option; put \"--\" before it or set allowOptionArgs: true",
        ARGUMENT_IS_AN_OPTION,
        shown(.arg)
    )]
    OptionLike {
        field: String,
        index: usize,
        arg: String,
        program: String,
    },
}

/// Renders each template of `field` into exactly one argument, or, for `shell: true`, the one
/// command line into `/bin/sh -c` with every value quoted. Both refuse missing values and,
/// unless the tool allows them, option-like values.
pub(super) fn render_argv(
    field: &str,
    tool: &ToolDef,
    command: &[String],
    context: &Value,
) -> Result<Vec<String>, ArgvError> {
    if tool.shell {
        let [line] = command else {
            return Err(ArgvError::NotOneLine {
                field: field.to_string(),
            });
        };
        let rendered = template::render_shell(line, context, tool.allow_option_args)
            .map_err(|e| template_error(field, e))?;
        return Ok(vec!["/bin/sh".into(), "-c".into(), rendered]);
    }
    let argv = command
        .iter()
        .enumerate()
        .map(|(i, t)| {
            template::render_strict(t, context)
                .map_err(|e| template_error(&format!("{field}[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !tool.allow_option_args {
        check_options(field, command, &argv)?;
    }
    Ok(argv)
}

/// Refuses an argument that begins with `-` because of what was rendered into it, unless it
/// stands after a literal `--` (the end of options for nearly every program). An element whose
/// own text begins with `-` (`--ref={{params.ref}}`) is the owner's option, whatever follows,
/// so only elements written otherwise are checked; `{{#if x}}--force{{/if}}` is refused too, as
/// the hub cannot tell the owner's text in a block from a value.
fn check_options(field: &str, command: &[String], argv: &[String]) -> Result<(), ArgvError> {
    for (i, (template, arg)) in command.iter().zip(argv).enumerate() {
        if template == "--" {
            return Ok(());
        }
        if arg.starts_with('-') && !template.starts_with('-') {
            return Err(ArgvError::OptionLike {
                field: field.to_string(),
                index: i,
                arg: arg.clone(),
                program: argv.first().cloned().unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// The attempt's error when a template of `field` did not render.
pub(super) fn template_error(field: &str, error: StrictError) -> ArgvError {
    ArgvError::Template {
        field: field.to_string(),
        error,
    }
}

/// [`ArgvError::Template`]'s text: the SPEC §6 code first when the value was refused.
fn template_message(field: &str, error: &StrictError) -> String {
    match error {
        StrictError::Missing(path) => format!(
            "{PARAM_MISSING}: {field}: `{path}` is missing or null, and the tool is never run \
             with an empty string in its place"
        ),
        StrictError::OptionValue(value) => format!(
            "{ARGUMENT_IS_AN_OPTION}: {field}: a value renders to {}, which the script's \
             command would read as an option; guard it (e.g. with \"--\") and set \
             allowOptionArgs: true",
            shown(value)
        ),
        StrictError::Template(e) => format!("{field}: {e}"),
    }
}

/// `value` quoted for an error message, cut after 80 characters.
fn shown(value: &str) -> String {
    let mut head: String = value.chars().take(80).collect();
    if head.len() < value.len() {
        head.push('…');
    }
    format!("{head:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// `check_options` of a command whose templates rendered to `argv`.
    fn check(command: &[&str], argv: &[&str]) -> Result<(), ArgvError> {
        check_options("tools.t.command", &strings(command), &strings(argv))
    }

    #[test]
    fn a_rendered_value_that_starts_an_argument_with_a_dash_is_refused() {
        let error = check(
            &["/usr/bin/git", "log", "{{params.ref}}"],
            &["/usr/bin/git", "log", "--output=owned.txt"],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "argument_is_an_option: tools.t.command[2] renders to \"--output=owned.txt\", \
             which /usr/bin/git would read as an option; put \"--\" before it or set \
             allowOptionArgs: true"
        );
        // A lone dash (stdin for many programs) and a dash put there by a block count too.
        assert!(check(&["/bin/cat", "{{x}}"], &["/bin/cat", "-"]).is_err());
        let block = ["/bin/rm", "{{#if f}}-rf{{/if}}"];
        assert!(check(&block, &["/bin/rm", "-rf"]).is_err());
    }

    #[test]
    fn the_owners_own_options_and_anything_after_a_literal_double_dash_pass() {
        let owned = ["/usr/bin/git", "--ref={{params.ref}}", "-v"];
        assert_eq!(check(&owned, &["/usr/bin/git", "--ref=-x", "-v"]), Ok(()));
        let guarded = ["/usr/bin/sort", "--", "{{f}}", "{{g}}"];
        assert_eq!(
            check(&guarded, &["/usr/bin/sort", "--", "--output=x", "-"]),
            Ok(())
        );
        // A `--` that a value rendered is not the owner's end of options.
        let forged = ["/usr/bin/sort", "{{a}}", "{{b}}"];
        assert!(check(&forged, &["/usr/bin/sort", "--", "--output=x"]).is_err());
        let plain = ["/bin/echo", "a-{{x}}", " {{y}}"];
        assert_eq!(check(&plain, &["/bin/echo", "a--x", " -y"]), Ok(()));
    }

    #[test]
    fn refusals_start_with_their_code_and_name_the_field() {
        let missing = template_error("tools.t.env.REF", StrictError::Missing("params.ref".into()))
            .to_string();
        assert!(
            missing.starts_with("param_missing: tools.t.env.REF: `params.ref` is missing or null"),
            "{missing}"
        );
        let option =
            template_error("tools.t.command", StrictError::OptionValue("-x".into())).to_string();
        assert!(
            option.starts_with("argument_is_an_option: tools.t.command: a value renders to \"-x\""),
            "{option}"
        );
        let broken =
            template_error("tools.t.command[1]", StrictError::Template("bad".into())).to_string();
        assert_eq!(broken, "tools.t.command[1]: bad");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let shown = shown(&format!("-{}", "a".repeat(200)));
        assert_eq!(shown.chars().count(), 80 + 3);
        assert!(shown.ends_with("…\""), "{shown}");
    }
}
