//! Where each value of a spec sits in its source file.
//!
//! serde_yaml gives positions only for its own errors, so a second, event-level pass over
//! the same text records the line and column of every node by its path from the root.
//! Checks and captures use these positions to point a failure back at the spec.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::Seg;

/// A place in a spec file: 1-based line and column, and the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
}

impl Pos {
    /// The position of a byte offset in `source`.
    pub fn from_offset(source: &str, offset: usize) -> Pos {
        let offset = offset.min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..offset].chars().count() + 1;
        Pos {
            line,
            column,
            offset,
        }
    }

    /// The position of a 1-based line and column in `source`.
    pub fn from_line_col(source: &str, line: usize, column: usize) -> Pos {
        let line_start: usize = source
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let rest = &source[line_start.min(source.len())..];
        let within: usize = rest
            .chars()
            .take_while(|c| *c != '\n')
            .take(column.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        Pos {
            line,
            column,
            offset: line_start + within,
        }
    }
}

/// Positions of values (and of the keys that introduce them) by path. Paths are stored
/// as hashes: a run may hold thousands of specs, and the paths themselves are never listed.
#[derive(Debug, Default)]
pub struct Positions {
    values: HashMap<u64, Pos>,
    keys: HashMap<u64, Pos>,
}

/// The hash of a path, built one segment at a time so that indexing never copies paths.
fn path_hash(path: &[Seg]) -> u64 {
    path.iter().fold(ROOT, |parent, seg| match seg {
        Seg::Key(key) => key_hash(parent, key),
        Seg::Index(index) => index_hash(parent, *index),
    })
}

const ROOT: u64 = 0;

fn key_hash(parent: u64, key: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (parent, 0u8, key).hash(&mut hasher);
    hasher.finish()
}

fn index_hash(parent: u64, index: usize) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (parent, 1u8, index).hash(&mut hasher);
    hasher.finish()
}

impl Positions {
    /// Indexes `source`. Text that is not valid YAML yields an empty index: serde_yaml
    /// reports the syntax error with its own position.
    pub fn index(source: &str) -> Positions {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut builder = Builder {
            source,
            line_starts,
            stack: Vec::new(),
            out: Positions::default(),
            done: false,
        };
        // serde_yaml accepts a tab after a colon where yaml-rust2 stops; a tab and a space
        // are both one byte and one column, so indexing the text with spaces keeps every
        // position and indexes the whole file.
        let spaced = source.replace('\t', " ");
        let mut parser = Parser::new_from_str(&spaced);
        let _ = parser.load(&mut builder, false);
        builder.out
    }

    /// The value at `path`, or its nearest ancestor that is known.
    pub fn find(&self, path: &[Seg]) -> Pos {
        (0..=path.len())
            .rev()
            .find_map(|len| self.values.get(&path_hash(&path[..len])))
            .copied()
            .unwrap_or_default()
    }

    /// Frees what only load-time diagnostics use (key positions) once a spec is valid; a
    /// run may hold thousands of specs.
    pub fn compact(&mut self) {
        self.keys = HashMap::new();
        self.values.shrink_to_fit();
    }

    /// The key that introduces the value at `path`, falling back to the value.
    pub fn key(&self, path: &[Seg]) -> Pos {
        self.keys
            .get(&path_hash(path))
            .copied()
            .unwrap_or_else(|| self.find(path))
    }
}

enum Frame {
    Map {
        path: u64,
        /// The path of the value the last key introduced, until that value arrives.
        key: Option<u64>,
        /// No key seen yet: the first key's place becomes the mapping's place, since the
        /// parser marks a block mapping where its first colon is.
        first: bool,
    },
    Seq {
        path: u64,
        next: usize,
    },
}

struct Builder<'a> {
    source: &'a str,
    /// Byte offset where each line starts, so that a position costs no rescan.
    line_starts: Vec<usize>,
    stack: Vec<Frame>,
    out: Positions,
    done: bool,
}

impl Builder<'_> {
    fn pos(&self, mark: Marker) -> Pos {
        let (line, column) = (mark.line(), mark.col() + 1);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.source.len());
        let within: usize = self.source[start..]
            .chars()
            .take_while(|c| *c != '\n')
            .take(column - 1)
            .map(char::len_utf8)
            .sum();
        Pos {
            line,
            column,
            offset: start + within,
        }
    }

    /// Takes the path of the node that starts now, or records a mapping key and says so.
    fn node_path(&mut self, event: &Event, pos: Pos) -> Option<u64> {
        match self.stack.last_mut() {
            None => Some(ROOT),
            Some(Frame::Seq { path, next }) => {
                let child = index_hash(*path, *next);
                *next += 1;
                Some(child)
            }
            Some(Frame::Map { path, key, first }) => match key.take() {
                Some(child) => Some(child),
                None => {
                    let name = match event {
                        Event::Scalar(text, ..) => text.as_str(),
                        _ => "?",
                    };
                    if std::mem::take(first) {
                        self.out.values.insert(*path, pos);
                    }
                    let child = key_hash(*path, name);
                    self.out.keys.insert(child, pos);
                    *key = Some(child);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.done {
            return;
        }
        let pos = self.pos(mark);
        match event {
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentEnd => self.done = true,
            Event::Scalar(..) | Event::Alias(..) => {
                if let Some(path) = self.node_path(&event, pos) {
                    self.out.values.insert(path, pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A complex mapping key is indexed as if its key were "?".
                let path = self
                    .node_path(&event, pos)
                    .unwrap_or_else(|| key_hash(self.top_path(), "?"));
                self.out.values.insert(path, pos);
                let frame = match event {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        key: None,
                        first: true,
                    },
                    _ => Frame::Seq { path, next: 0 },
                };
                self.stack.push(frame);
            }
            _ => {}
        }
    }
}

impl Builder<'_> {
    fn top_path(&self) -> u64 {
        match self.stack.last() {
            Some(Frame::Map { path, .. } | Frame::Seq { path, .. }) => *path,
            None => ROOT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segs: &[Seg]) -> Vec<Seg> {
        segs.to_vec()
    }

    #[test]
    fn finds_nested_values_by_path() {
        let source = "name: x\nsteps:\n  - name: one\n    request:\n      url: http://a\n";
        let positions = Positions::index(source);
        let url = path(&["steps".into(), 0.into(), "request".into(), "url".into()]);
        let pos = positions.find(&url);
        assert_eq!((pos.line, pos.column), (5, 12));
        assert_eq!(&source[pos.offset..pos.offset + 8], "http://a");
        let key = positions.key(&url);
        assert_eq!((key.line, key.column), (5, 7));
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key() {
        let source = "steps:\n  - name: one\n    request: {url: x}\n";
        let positions = Positions::index(source);
        let step = positions.find(&path(&["steps".into(), 0.into()]));
        assert_eq!((step.line, step.column), (2, 5));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let source = "steps:\n  - name: one\n";
        let positions = Positions::index(source);
        let missing = path(&["steps".into(), 0.into(), "check".into()]);
        assert_eq!(positions.find(&missing).line, 2);
    }

    #[test]
    fn offsets_count_bytes_not_chars() {
        let source = "a: é\nb: x\n";
        let pos = Pos::from_line_col(source, 2, 4);
        assert_eq!(&source[pos.offset..], "x\n");
        assert_eq!(Pos::from_offset(source, pos.offset), pos);
    }
}
