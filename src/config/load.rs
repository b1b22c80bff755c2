//! Reading the config file: `${VAR}` substitution, parsing, validation.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;

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
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("HOOKHUB_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    ["hooks.yaml", "hooks.example.yaml"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Reads, substitutes and validates a config file from disk, with the process environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        issues: vec![ConfigIssue {
            file: name.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    load_str(&text, &name, &|var| std::env::var(var).ok())
}

/// Substitutes, parses and validates config text. `file` names it in errors; `env` looks up
/// `${VAR}` values.
pub fn load_str(
    text: &str,
    file: &str,
    _env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        ConfigError {
            issues: vec![ConfigIssue {
                file: file.to_string(),
                line,
                column,
                path: String::new(),
                message: e.to_string(),
            }],
        }
    })
}
