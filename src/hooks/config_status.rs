//! The config file's state as `GET /api/config/status` shows it: which file, when it was
//! loaded and last read, why an edit was refused, and the warnings about the config in force.
//! The reloader writes it; handlers only read it.

use std::path::Path;
use std::sync::RwLock;

use serde::Serialize;

use crate::clock::Millis;

/// The state of the config file, as `GET /api/config/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// The watched file; `None` when the hub was started without one.
    pub path: Option<String>,
    /// When the config in force was loaded (RFC 3339).
    pub loaded_at: String,
    /// When the file was last read (RFC 3339).
    pub last_checked_at: String,
    /// Whether the file as it is now is the config in force.
    pub ok: bool,
    /// Why the file was refused: every issue, one a line, as `file:line:col: field: message`.
    pub error: Option<String>,
    /// Warnings about the config in force, and that a file preferred at the next start
    /// appeared.
    pub warnings: Vec<String>,
}

/// The shared, always-current [`ConfigStatus`].
#[derive(Debug)]
pub struct ConfigStatusCell(RwLock<ConfigStatus>);

impl ConfigStatusCell {
    /// The status at start: the config given to the hub is in force.
    pub fn new(path: Option<&Path>, now: Millis) -> Self {
        // Absolute, so the owner sees which file of that name it is.
        let shown = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Self(RwLock::new(ConfigStatus {
            path: path.map(|p| shown(p).display().to_string()),
            loaded_at: crate::clock::rfc3339(now),
            last_checked_at: crate::clock::rfc3339(now),
            ok: true,
            error: None,
            warnings: Vec::new(),
        }))
    }

    /// A copy of the status now.
    pub fn get(&self) -> ConfigStatus {
        self.0.read().expect("config status lock poisoned").clone()
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut ConfigStatus)) {
        change(&mut self.0.write().expect("config status lock poisoned"));
    }
}
