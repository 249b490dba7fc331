//! Which spec files a run covers: files, directories searched for `*.yaml` and `*.yml`,
//! and glob patterns, in a deterministic order, then the `--shard` part of them.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// `--shard K/N`: the K-th of N parts, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let invalid = || format!("`{text}` is not K/N with 1 <= K <= N (e.g. 2/4)");
        let (k, n) = text.split_once('/').ok_or_else(invalid)?;
        let index: usize = k.trim().parse().map_err(|_| invalid())?;
        let count: usize = n.trim().parse().map_err(|_| invalid())?;
        if index == 0 || count == 0 || index > count {
            return Err(invalid());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Round-robin over the sorted list, so shards stay balanced as files are added and
    /// the union of all shards is every file exactly once.
    pub fn take<T>(self, files: Vec<T>) -> Vec<T> {
        files
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, file)| file)
            .collect()
    }
}

/// Every spec file named by `args`, sorted, each once even when named two ways.
pub fn discover(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = BTreeSet::new();
    for arg in args {
        let text = arg.to_string_lossy();
        let before = files.len();
        if !arg.exists() && is_pattern(&text) {
            expand_glob(&text, &mut files)?;
        } else if arg.is_dir() {
            walk(arg, &mut files).map_err(|e| format!("cannot read {}: {e}", arg.display()))?;
            if files.len() == before && !files.iter().any(|f| f.starts_with(arg)) {
                return Err(format!(
                    "{}: no *.yaml or *.yml spec file in it",
                    arg.display()
                ));
            }
        } else if arg.exists() {
            files.insert(arg.clone());
        } else {
            return Err(format!("{}: no such file or directory", arg.display()));
        }
    }
    Ok(once_each(files))
}

/// Keeps the first spelling of each file (`specs/a.yaml` and `./specs/a.yaml` are one).
fn once_each(files: BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    files
        .into_iter()
        .filter(|file| seen.insert(file.canonicalize().unwrap_or_else(|_| file.clone())))
        .collect()
}

fn is_pattern(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

fn expand_glob(pattern: &str, files: &mut BTreeSet<PathBuf>) -> Result<(), String> {
    let paths = glob::glob(pattern).map_err(|e| format!("invalid pattern `{pattern}`: {e}"))?;
    let mut matched = BTreeSet::new();
    for path in paths {
        let path = path.map_err(|e| format!("cannot read {}: {e}", e.path().display()))?;
        if path.is_dir() {
            walk(&path, &mut matched)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        } else if is_spec_file(&path) {
            matched.insert(path);
        }
    }
    if matched.is_empty() {
        return Err(format!("`{pattern}` matches no spec file"));
    }
    files.extend(matched);
    Ok(())
}

fn walk(dir: &Path, files: &mut BTreeSet<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if is_spec_file(&path) {
            files.insert(path);
        }
    }
    Ok(())
}

fn is_spec_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_every_file_exactly_once() {
        let files: Vec<PathBuf> = (0..23)
            .map(|i| PathBuf::from(format!("s{i:02}.yaml")))
            .collect();
        let mut union = Vec::new();
        for index in 1..=4 {
            let part = Shard { index, count: 4 }.take(files.clone());
            assert!(part.len() >= 5 && part.len() <= 6);
            union.extend(part);
        }
        union.sort();
        assert_eq!(union, files);
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn directories_and_globs_are_expanded_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yaml", "a.yml", "sub/c.yaml", "notes.txt"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let found = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                Path::new("a.yml"),
                Path::new("b.yaml"),
                Path::new("sub/c.yaml")
            ]
        );

        let pattern = dir.path().join("*.yaml");
        let globbed = discover(&[pattern]).unwrap();
        assert_eq!(globbed, [dir.path().join("b.yaml")]);
        assert!(discover(&[dir.path().join("*.none")]).is_err());
    }
}
