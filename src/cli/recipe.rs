//! What `hookhub sign` and `send` sign for: the scheme and its settings, from flags or from a
//! hook of the config file (`--hook`), as the [`TriggerConfig`] the hub verifies with. `header`
//! and `hmac` hooks are defined by their settings, so those travel as flags too; the secret
//! always comes from `--secret`, since a hook made in the UI or API keeps no readable copy.

use std::path::Path;

use clap::Args;

use super::SignArgs;
use crate::model::{TriggerConfig, TriggerKind};

/// The settings of the `header` and `hmac` schemes, named as in a hook's `triggerConfig`.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "recipe", multiple = true)]
pub struct RecipeArgs {
    /// header, hmac: the header that carries the secret or the signature (triggerConfig.header).
    #[arg(long, value_name = "NAME")]
    pub header_name: Option<String>,
    /// hmac: sha1, sha256 or sha512 (default sha256).
    #[arg(long)]
    pub algorithm: Option<String>,
    /// hmac: hex or base64 (default hex).
    #[arg(long)]
    pub encoding: Option<String>,
    /// hmac: text written before the signature, such as `sha256=`.
    #[arg(long, allow_hyphen_values = true)]
    pub prefix: Option<String>,
    /// hmac: what is signed, with {timestamp} and {body} (default {body}).
    #[arg(long, value_name = "TEMPLATE")]
    pub signed_payload: Option<String>,
    /// hmac: the header that carries the timestamp of --signed-payload.
    #[arg(long, value_name = "NAME")]
    pub timestamp_header: Option<String>,
}

/// The trigger config to sign as, checked as the hub checks a hook's. The error says what to
/// fix, naming flags where the settings came from flags.
pub fn trigger_config(args: &SignArgs) -> Result<TriggerConfig, String> {
    match &args.hook {
        Some(id) => {
            let config = from_file(args.config.as_deref(), id)?;
            crate::verify::build(&config).map_err(|e| e.to_string())?;
            Ok(config)
        }
        None => {
            let config = from_flags(args);
            crate::verify::build(&config).map_err(|e| as_flags(&e.to_string()))?;
            Ok(config)
        }
    }
}

fn from_flags(args: &SignArgs) -> TriggerConfig {
    let recipe = args.recipe.clone();
    TriggerConfig {
        scheme: Some(args.scheme.clone()),
        header: recipe.header_name,
        algorithm: recipe.algorithm,
        encoding: recipe.encoding,
        prefix: recipe.prefix,
        signed_payload: recipe.signed_payload,
        timestamp_header: recipe.timestamp_header,
        ..TriggerConfig::default()
    }
}

/// The trigger config of hook `id` in the config file, read as the hub reads it (its
/// `${VAR}`s from the environment).
fn from_file(explicit: Option<&Path>, id: &str) -> Result<TriggerConfig, String> {
    let path = crate::config::find_config_path(explicit).ok_or(
        "no config file to find --hook in: pass --config, set HOOKHUB_CONFIG, or run where \
         hooks.yaml is",
    )?;
    let config = crate::config::load_file(&path).map_err(|e| e.to_string())?;
    let hook = config.hooks.iter().find(|h| h.id == id).ok_or_else(|| {
        format!(
            "no hook `{id}` in {}; a hook made in the web UI or the API is not in the file: \
             give --scheme and its settings instead (its page's \"Test it with curl\" shows them)",
            path.display()
        )
    })?;
    if hook.trigger == TriggerKind::Schedule {
        return Err(format!(
            "hook `{id}` runs on a schedule; no delivery can reach it"
        ));
    }
    Ok(hook.trigger_config.clone())
}

/// [`crate::verify::build`]'s message with the hook's field names turned into the flags that
/// set them here.
fn as_flags(message: &str) -> String {
    [
        ("triggerConfig.timestampHeader", "--timestamp-header"),
        ("triggerConfig.signedPayload", "--signed-payload"),
        ("triggerConfig.header", "--header-name"),
        ("triggerConfig.algorithm", "--algorithm"),
        ("triggerConfig.encoding", "--encoding"),
        ("triggerConfig.prefix", "--prefix"),
    ]
    .iter()
    .fold(message.to_string(), |text, (field, flag)| {
        text.replace(field, flag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_named_by_their_flags() {
        let config = TriggerConfig {
            scheme: Some("hmac".into()),
            ..TriggerConfig::default()
        };
        let err = crate::verify::build(&config).unwrap_err().to_string();
        assert!(as_flags(&err).contains("needs --header-name"), "{err}");
        let config = TriggerConfig {
            scheme: Some("github".into()),
            algorithm: Some("sha1".into()),
            ..TriggerConfig::default()
        };
        let err = as_flags(&crate::verify::build(&config).unwrap_err().to_string());
        assert!(
            err.starts_with("--algorithm is not used by scheme `github`"),
            "{err}"
        );
    }
}
