//! Where each field of the config file is written: a map from field paths such as
//! `hooks[2].triggerConfig.webhookPath` to line and column, built from yaml-rust2's marked
//! events. Validation works on the parsed model, which has no positions; this index puts them
//! back so every error can name its place in the file.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based line and column.
pub type Pos = (usize, usize);

/// Field path → position of its key (mapping entries) or value (sequence items).
#[derive(Debug, Default, Clone)]
pub struct PositionIndex {
    by_path: HashMap<String, Pos>,
    /// Every key and value start, in document order, for finding the field at a position.
    marks: Vec<(Pos, String)>,
}

impl PositionIndex {
    /// Indexes `text`. A YAML syntax error stops indexing there; what came before is kept,
    /// because the parser's own error is what gets reported then.
    pub fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let _ = Parser::new_from_str(text).load(&mut builder, false);
        builder.index
    }

    /// [`PositionIndex::build`] keeping only `paths` and their parents, which is all that
    /// [`PositionIndex::get`] and [`PositionIndex::locate`] need for them; nothing is kept for
    /// [`PositionIndex::field_at`]. A file of thousands of hooks indexed whole holds a string
    /// for every field, megabytes for the few an error or a warning names.
    pub fn for_paths<'a>(text: &str, paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut wanted = HashSet::new();
        for path in paths {
            let mut current = Some(path);
            while let Some(path) = current.filter(|p| wanted.insert(p.to_string())) {
                current = parent(path);
            }
        }
        let mut builder = Builder {
            wanted: Some(wanted),
            ..Builder::default()
        };
        let _ = Parser::new_from_str(text).load(&mut builder, false);
        builder.index
    }

    /// The position of exactly this path.
    pub fn get(&self, path: &str) -> Option<Pos> {
        self.by_path.get(path).copied()
    }

    /// The position of `path`, or of its nearest parent that is written in the file (a field
    /// left out gets its defaults, so the error points at the object that lacks it).
    pub fn locate(&self, path: &str) -> Pos {
        let mut current = path;
        loop {
            if let Some(pos) = self.get(current) {
                return pos;
            }
            match parent(current) {
                Some(p) => current = p,
                None => return (1, 1),
            }
        }
    }

    /// The innermost field whose key or value starts at or before `pos`: the field a
    /// position in a value belongs to.
    pub fn field_at(&self, pos: Pos) -> Option<&str> {
        self.marks
            .iter()
            .rev()
            .find(|(at, _)| *at <= pos)
            .map(|(_, path)| path.as_str())
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

enum Frame {
    Map {
        path: String,
        /// The path of the entry whose value comes next, if a key was just read.
        pending: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    index: PositionIndex,
    stack: Vec<Frame>,
    /// The only paths to keep, when not all are (see [`PositionIndex::for_paths`]).
    wanted: Option<HashSet<String>>,
}

impl Builder {
    /// Where the next node goes, and whether its start is a key (which is what a path points
    /// at for mapping entries). `None` for the document root.
    fn next_child(&mut self, is_scalar: bool, text: &str) -> Option<(String, bool)> {
        match self.stack.last_mut()? {
            Frame::Map { path, pending } => match pending.take() {
                Some(child) => Some((child, false)),
                None => {
                    // Complex (non-scalar) keys cannot be named in a path; mark them `?`.
                    let key = if is_scalar { text } else { "?" };
                    *pending = Some(join_key(path, key));
                    pending.clone().map(|p| (p, true))
                }
            },
            Frame::Seq { path, next } => {
                let child = format!("{path}[{next}]");
                *next += 1;
                Some((child, false))
            }
        }
    }

    fn record(&mut self, path: &str, is_key: bool, pos: Pos) {
        if is_key {
            self.pull_back_parent(pos);
        }
        let kept = self.wanted.as_ref().is_none_or(|w| w.contains(path));
        if kept && (is_key || !self.index.by_path.contains_key(path)) {
            self.index.by_path.insert(path.to_string(), pos);
        }
        if self.wanted.is_none() {
            self.index.marks.push((pos, path.to_string()));
        }
    }

    /// yaml-rust2 marks a block mapping's start after its first key, so an item `- id: a`
    /// would point at `a`; its first key's position is where the mapping really begins.
    fn pull_back_parent(&mut self, key_pos: Pos) {
        if let Some(Frame::Map { path, .. }) = self.stack.last()
            && let Some(start) = self.index.by_path.get_mut(path.as_str())
            && *start > key_pos
        {
            *start = key_pos;
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        // yaml-rust2 counts lines from 1 and columns from 0.
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(ref text, ..) => {
                if let Some((path, is_key)) = self.next_child(true, text) {
                    self.record(&path, is_key, pos);
                }
            }
            Event::Alias(_) => {
                if let Some((path, is_key)) = self.next_child(true, "*") {
                    self.record(&path, is_key, pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = match self.next_child(false, "") {
                    Some((path, is_key)) => {
                        self.record(&path, is_key, pos);
                        path
                    }
                    None => String::new(),
                };
                self.stack.push(match ev {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        pending: None,
                    },
                    _ => Frame::Seq { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
server: { listen: 127.0.0.1:3005 }
tools:
  log-event:
    command: [/bin/echo, hi]
hooks:
  - id: first
    triggerConfig:
      webhookPath: one
  - id: second
    triggerConfig: {}
";

    #[test]
    fn keys_and_sequence_items_have_positions() {
        let index = PositionIndex::build(TEXT);
        assert_eq!(index.get("server"), Some((1, 1)));
        assert_eq!(index.get("server.listen"), Some((1, 11)));
        assert_eq!(index.get("tools.log-event.command"), Some((4, 5)));
        assert_eq!(index.get("tools.log-event.command[1]"), Some((4, 26)));
        assert_eq!(index.get("hooks[0]"), Some((6, 5)));
        assert_eq!(
            index.get("hooks[0].triggerConfig.webhookPath"),
            Some((8, 7))
        );
        assert_eq!(index.get("hooks[1].id"), Some((9, 5)));
    }

    #[test]
    fn missing_fields_fall_back_to_their_nearest_parent() {
        let index = PositionIndex::build(TEXT);
        assert_eq!(index.locate("hooks[1].triggerConfig.webhookPath"), (10, 5));
        assert_eq!(index.locate("hooks[1].actionConfig.webhookUrl"), (9, 5));
        assert_eq!(index.locate("admin.token"), (1, 1));
    }

    #[test]
    fn a_position_inside_a_value_names_its_field() {
        let index = PositionIndex::build(TEXT);
        assert_eq!(
            index.field_at((8, 22)),
            Some("hooks[0].triggerConfig.webhookPath")
        );
        assert_eq!(index.field_at((1, 20)), Some("server.listen"));
        assert_eq!(index.field_at((4, 28)), Some("tools.log-event.command[1]"));
    }

    #[test]
    fn an_index_for_some_paths_places_them_as_the_whole_one_does() {
        let whole = PositionIndex::build(TEXT);
        let wanted = [
            "hooks[1].actionConfig.webhookUrl",
            "hooks[0].triggerConfig.webhookPath",
            "server.listen",
        ];
        let some = PositionIndex::for_paths(TEXT, wanted);
        for path in wanted {
            assert_eq!(some.locate(path), whole.locate(path), "{path}");
        }
        // Parents are kept, a mapping item's start pulled back to its first key as in the
        // whole index; nothing else is.
        assert_eq!(some.get("hooks[1]"), Some((9, 5)));
        assert_eq!(some.get("hooks[1]"), whole.get("hooks[1]"));
        assert_eq!(some.get("hooks[1].id"), None);
        assert_eq!(some.get("tools"), None);
        assert_eq!(some.by_path.len(), 7);
        assert!(some.marks.is_empty());
    }

    #[test]
    fn a_syntax_error_keeps_what_came_before() {
        let index = PositionIndex::build("a: 1\nb: [\n");
        assert_eq!(index.get("a"), Some((1, 1)));
    }
}
