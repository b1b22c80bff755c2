//! Hooks written as the config file writes them (SPEC §8, `?format=yaml`): a `hooks:` list that
//! `hookhub check` accepts and the file can take as it is, so a hook made in the UI can move
//! into the file without retyping it.
//!
//! No secret is ever written. Each one (a webhook secret, a signing secret, a forward's header
//! values, a URL carrying credentials) becomes a `${VAR}` placeholder named in a comment above
//! its hook, and every `${` in the other values is written `$${`: the file's substitution then
//! gives back exactly the hook that was read, once the variables are set.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::error::ApiError;
use crate::hooks::Source;
use crate::model::{Hook, TOKEN_SCHEMES, TriggerKind, redact};

/// `?format=json` (the default) or `?format=yaml`.
#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

impl FormatQuery {
    /// Whether YAML was asked for; an unknown format is refused, naming the field.
    pub fn yaml(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("" | "json") => Ok(false),
            Some("yaml") => Ok(true),
            Some(_) => Err(ApiError::invalid_field("format", "must be json or yaml")),
        }
    }
}

/// The answer to a `?format=yaml` request: [`document`] as `application/yaml`.
pub fn answer<'a>(
    hooks: impl IntoIterator<Item = (&'a Hook, Source)>,
) -> Result<Response, ApiError> {
    let content_type = [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")];
    Ok((content_type, document(hooks)?).into_response())
}

/// The YAML document of `hooks`, in their order, each with where it was defined.
pub fn document<'a>(
    hooks: impl IntoIterator<Item = (&'a Hook, Source)>,
) -> Result<String, ApiError> {
    let mut out = String::from(
        "# Hooks exported by hookhub. Secrets are not exported: set each ${VAR} named below in\n\
         # the hub's environment before this file is loaded (a value with \" or \\ in it needs\n\
         # them written \\\" and \\\\, as it lands between double quotes). A hook lives in the\n\
         # config file or in the database, not both: delete one made in the UI once the file has it.\n\
         hooks:\n",
    );
    let mut secrets = Placeholders::default();
    for (hook, source) in hooks {
        let from = match source {
            Source::ConfigFile => "from the config file",
            Source::Api => "made in the UI or API",
        };
        let _ = writeln!(out, "  # {} ({from})", hook.id);
        let first = secrets.named.len();
        let value = secrets.exported(hook)?;
        let mut item = serde_yaml::to_string(&[value]).map_err(ApiError::internal)?;
        if secrets.named.len() > first {
            out.push_str("  # Set these variables:\n");
        }
        for named in &secrets.named[first..] {
            let _ = writeln!(out, "  #   {}: {}", named.var, named.what);
            // Quoted, so a value such as a `{{…}}` template is read as a string.
            item = item.replace(&named.marker, &format!("\"${{{}}}\"", named.var));
        }
        for line in item.lines() {
            if !line.is_empty() {
                out.push_str("  ");
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The placeholders of one document. Each stands in the hook's value as a marker that YAML
/// writes as a plain word, replaced by `"${VAR}"` in the text written.
struct Placeholders {
    /// Makes the markers unlike any text a hook could hold.
    nonce: u64,
    named: Vec<Named>,
    taken: BTreeSet<String>,
}

struct Named {
    var: String,
    /// The field it stands for, for the comment.
    what: String,
    marker: String,
}

impl Default for Placeholders {
    fn default() -> Self {
        Self {
            nonce: rand::random(),
            named: Vec::new(),
            taken: BTreeSet::new(),
        }
    }
}

impl Placeholders {
    /// The hook as the file writes it, its secrets replaced by markers.
    fn exported(&mut self, hook: &Hook) -> Result<Value, ApiError> {
        // serde_yaml's mappings keep the struct's field order: `id` and `name` come first.
        let mut value = serde_yaml::to_value(hook).map_err(ApiError::internal)?;
        escape_references(&mut value);
        let prefix = var_prefix(&hook.id);
        let trigger = &hook.trigger_config;
        if hook.trigger == TriggerKind::Schedule && trigger.webhook_path.is_empty() {
            value["triggerConfig"]
                .as_mapping_mut()
                .map(|t| t.remove("webhookPath"));
        }
        if !trigger.webhook_secret.is_empty() {
            let what = if TOKEN_SCHEMES.contains(&trigger.scheme_name()) {
                "triggerConfig.webhookSecret, the secret the sender has (the hub keeps only its hash)"
            } else {
                "triggerConfig.webhookSecret, the secret the sender signs with"
            };
            let mut markers: Vec<Value> = (trigger.webhook_secret.iter())
                .map(|_| self.marker(&prefix, "WEBHOOK_SECRET", what.into()))
                .collect();
            value["triggerConfig"]["webhookSecret"] = match markers.len() {
                1 => markers.remove(0),
                _ => Value::Sequence(markers),
            };
        }
        self.forward_secrets(&prefix, hook, &mut value["actionConfig"]);
        Ok(value)
    }

    /// A forward's signing secret, header values and credentialed URL.
    fn forward_secrets(&mut self, prefix: &str, hook: &Hook, action: &mut Value) {
        let config = &hook.action_config;
        if !config.signing_secret.is_empty() {
            let what = "actionConfig.signingSecret, the key forwards are signed with";
            action["signingSecret"] = self.marker(prefix, "SIGNING_SECRET", what.into());
        }
        if let Some(url) = &config.webhook_url
            && redact::url_has_credentials(url)
        {
            let what = format!(
                "actionConfig.webhookUrl, the whole URL: {}",
                redact::url(url)
            );
            action["webhookUrl"] = self.marker(prefix, "WEBHOOK_URL", what);
        }
        for (name, header) in &config.headers {
            if !header.is_empty() {
                let suffix = format!("HEADER_{}", var_part(name));
                let what = format!("actionConfig.headers.{name}");
                action["headers"][name] = self.marker(prefix, &suffix, what);
            }
        }
    }

    /// A new placeholder `<PREFIX>_<SUFFIX>` (with `_2`, `_3`… when taken), as its marker.
    fn marker(&mut self, prefix: &str, suffix: &str, what: String) -> Value {
        let mut var = format!("{prefix}_{suffix}");
        let mut n = 2;
        while !self.taken.insert(var.clone()) {
            var = format!("{prefix}_{suffix}_{n}");
            n += 1;
        }
        let marker = format!(
            "hookhub-placeholder-{:016x}-{}",
            self.nonce,
            self.named.len()
        );
        self.named.push(Named {
            var,
            what,
            marker: marker.clone(),
        });
        Value::String(marker)
    }
}

/// Writes every `${` in keys and strings as `$${`, which the file's substitution reads back as
/// `${`: a template that mentions `${…}` must not be taken for a variable.
fn escape_references(value: &mut Value) {
    match value {
        Value::String(s) if s.contains("${") => *s = s.replace("${", "$${"),
        Value::Sequence(items) => items.iter_mut().for_each(escape_references),
        Value::Mapping(map) => {
            let escaped: Mapping = std::mem::take(map)
                .into_iter()
                .map(|(mut k, mut v)| {
                    escape_references(&mut k);
                    escape_references(&mut v);
                    (k, v)
                })
                .collect();
            *map = escaped;
        }
        _ => {}
    }
}

/// `github-prs` → `GITHUB_PRS`; a variable name must not start with a digit.
fn var_prefix(id: &str) -> String {
    let part = var_part(id);
    if part.starts_with(|c: char| c.is_ascii_alphabetic()) {
        part
    } else {
        format!("HOOK_{part}")
    }
}

/// Upper-case letters and digits, everything else `_`.
fn var_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionConfig, ActionKind, Secrets, TriggerConfig};

    fn forward() -> Hook {
        Hook {
            id: "7-orders".into(),
            name: "Orders ${not a var}".into(),
            enabled: true,
            trigger: TriggerKind::Webhook,
            trigger_config: TriggerConfig {
                webhook_path: "orders".into(),
                webhook_secret: Secrets(vec!["s3cret-one".into(), "s3cret-two".into()]),
                ..Default::default()
            },
            action: ActionKind::Webhook,
            action_config: ActionConfig {
                webhook_url: Some("https://user:pw@example.com/x?key=k3y".into()),
                headers: [("X-Api-Key".to_string(), "h3ader".to_string())].into(),
                body_template: Some("{\"a\": \"${{webhook.body.a}}\"}\nsecond line".into()),
                ..Default::default()
            },
            alerts: None,
        }
    }

    #[test]
    fn secrets_become_named_placeholders_and_references_are_escaped() {
        let yaml = document([(&forward(), Source::Api)]).unwrap();
        for secret in ["s3cret-one", "s3cret-two", "pw", "k3y", "h3ader"] {
            assert!(!yaml.contains(secret), "{secret} leaked:\n{yaml}");
        }
        for var in [
            "HOOK_7_ORDERS_WEBHOOK_SECRET",
            "HOOK_7_ORDERS_WEBHOOK_SECRET_2",
            "HOOK_7_ORDERS_WEBHOOK_URL",
            "HOOK_7_ORDERS_HEADER_X_API_KEY",
        ] {
            assert!(
                yaml.contains(&format!("#   {var}: ")),
                "{var} named:\n{yaml}"
            );
            assert!(yaml.contains(&format!("${{{var}}}")), "{var} used:\n{yaml}");
        }
        assert!(yaml.contains("$${not a var}"), "{yaml}");
        assert!(yaml.contains("$${{webhook.body.a}}"), "{yaml}");
    }

    #[test]
    fn the_document_reads_back_as_the_same_hook() {
        let env = |name: &str| {
            let value = match name {
                "HOOK_7_ORDERS_WEBHOOK_SECRET" => "s3cret-one",
                "HOOK_7_ORDERS_WEBHOOK_SECRET_2" => "s3cret-two",
                "HOOK_7_ORDERS_WEBHOOK_URL" => "https://user:pw@example.com/x?key=k3y",
                "HOOK_7_ORDERS_HEADER_X_API_KEY" => "h3ader",
                _ => return None,
            };
            Some(value.to_string())
        };
        let yaml = document([(&forward(), Source::Api)]).unwrap();
        let config = crate::config::load_str(&yaml, "exported.yaml", &env)
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(config.hooks, vec![std::sync::Arc::new(forward())]);
    }
}
