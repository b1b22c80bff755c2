//! Deliveries refused at verification (or by `ipAllowlist`), kept so "401 on my webhook" can be
//! diagnosed: a small ring per path, in memory. Bounded by the number of paths hooks listen on,
//! so a flood of bad requests never grows it, and nothing of it is written to disk.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// How many refusals each path keeps.
pub const PER_PATH: usize = 50;

/// One refused delivery. The body is not kept, only its size.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub at: String,
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub client: String,
    pub method: String,
    /// Lower-cased, secrets redacted.
    pub headers: BTreeMap<String, String>,
    pub body_bytes: usize,
}

/// The rings, by webhook path.
#[derive(Debug, Default)]
pub struct Rejections {
    by_path: Mutex<HashMap<String, VecDeque<Rejection>>>,
}

impl Rejections {
    pub fn record(&self, path: &str, rejection: Rejection) {
        let mut by_path = self.by_path.lock().expect("rejections lock poisoned");
        let ring = by_path.entry(path.to_string()).or_default();
        if ring.len() == PER_PATH {
            ring.pop_front();
        }
        ring.push_back(rejection);
    }

    /// A path's refusals, newest first.
    pub fn of_path(&self, path: &str) -> Vec<Rejection> {
        let by_path = self.by_path.lock().expect("rejections lock poisoned");
        by_path
            .get(path)
            .map(|ring| ring.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(n: usize) -> Rejection {
        Rejection {
            at: String::new(),
            status: 401,
            code: "auth_invalid",
            message: n.to_string(),
            client: "127.0.0.1".into(),
            method: "POST".into(),
            headers: BTreeMap::new(),
            body_bytes: n,
        }
    }

    #[test]
    fn each_ring_keeps_the_newest_fifty() {
        let r = Rejections::default();
        for n in 0..(PER_PATH + 20) {
            r.record("gh", rejection(n));
        }
        let kept = r.of_path("gh");
        assert_eq!(kept.len(), PER_PATH);
        assert_eq!(kept[0].body_bytes, PER_PATH + 19);
        assert_eq!(kept[PER_PATH - 1].body_bytes, 20);
        assert!(r.of_path("other").is_empty());
    }
}
