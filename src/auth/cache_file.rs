//! The opt-in token cache file (`--token-cache`), so that runs close together share
//! tokens as Umbraco asks.
//!
//! Entries are keyed by a hash that includes only a fingerprint of the client secret. The
//! file is mode 0600, replaced atomically by rename, and changed under an exclusive lock
//! on a sidecar `.lock` file so that runs at once never lose each other's entries. A file
//! that is not ours is reported and left alone.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Contents {
    runner_token_cache: u32,
    entries: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Entry {
    access_token: String,
    /// Milliseconds since the Unix epoch.
    expires_at: u64,
    lifetime_seconds: u64,
}

/// A token read back from the file.
pub struct Stored {
    pub token: Secret,
    pub expires_at: SystemTime,
    pub lifetime: Duration,
}

pub struct CacheFile {
    path: PathBuf,
    /// False when the file exists but is not a runner token cache: it is never written.
    writable: bool,
}

impl CacheFile {
    /// Opens the cache at `path`, which need not exist yet.
    pub fn open(path: PathBuf) -> (CacheFile, Option<String>) {
        if let Some(problem) = unusable(&path) {
            let warning = format!("not using token cache {}: {problem}", path.display());
            return (
                CacheFile {
                    path,
                    writable: false,
                },
                Some(warning),
            );
        }
        let warning = match read(&path) {
            Ok(_) => loose_mode_warning(&path),
            Err(problem) => {
                let warning = format!(
                    "ignoring token cache {}: {problem}; it will not be changed",
                    path.display()
                );
                return (
                    CacheFile {
                        path,
                        writable: false,
                    },
                    Some(warning),
                );
            }
        };
        (
            CacheFile {
                path,
                writable: true,
            },
            warning,
        )
    }

    pub fn get(&self, key: &str) -> Option<Stored> {
        if !self.writable {
            return None;
        }
        let entry = read(&self.path).ok()?.entries.remove(key)?;
        Some(Stored {
            token: Secret::new(entry.access_token),
            expires_at: UNIX_EPOCH + Duration::from_millis(entry.expires_at),
            lifetime: Duration::from_secs(entry.lifetime_seconds),
        })
    }

    pub fn put(
        &self,
        key: &str,
        token: &Secret,
        expires_at: SystemTime,
        lifetime: Duration,
    ) -> Result<(), String> {
        let entry = Entry {
            access_token: token.expose().to_string(),
            expires_at: millis(expires_at),
            lifetime_seconds: lifetime.as_secs(),
        };
        self.update(|entries| {
            entries.insert(key.to_string(), entry);
        })
    }

    pub fn remove(&self, key: &str, token: &Secret) -> Result<(), String> {
        self.update(|entries| {
            if entries
                .get(key)
                .is_some_and(|e| e.access_token == token.expose())
            {
                entries.remove(key);
            }
        })
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Entry>)) -> Result<(), String> {
        if !self.writable {
            return Ok(());
        }
        let _lock = lock(&self.path).map_err(|e| format!("cannot lock: {e}"))?;
        let mut contents = read(&self.path)?;
        change(&mut contents.entries);
        let now = millis(SystemTime::now());
        contents.entries.retain(|_, e| e.expires_at > now);
        contents.runner_token_cache = FORMAT;
        write_atomically(&self.path, &contents).map_err(|e| e.to_string())
    }
}

/// Why `path` cannot hold the cache: a symlink (whose target could be any file), a
/// directory, or a folder that does not exist.
fn unusable(path: &Path) -> Option<String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_symlink() {
            return Some("it is a symbolic link".into());
        }
        if meta.is_dir() {
            return Some("it is a directory".into());
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    (!dir.is_dir()).then(|| format!("folder {} does not exist", dir.display()))
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The file's contents; a missing or empty file is an empty cache.
fn read(path: &Path) -> Result<Contents, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(empty()),
        Err(err) => return Err(format!("cannot read it ({err})")),
    };
    if text.trim().is_empty() {
        return Ok(empty());
    }
    let contents: Contents = serde_json::from_str(&text)
        .map_err(|_| "it is not a runner token cache (corrupt or foreign content)".to_string())?;
    if contents.runner_token_cache != FORMAT {
        return Err(format!(
            "unknown format version {}",
            contents.runner_token_cache
        ));
    }
    Ok(contents)
}

fn empty() -> Contents {
    Contents {
        runner_token_cache: FORMAT,
        entries: BTreeMap::new(),
    }
}

/// Holds an exclusive lock on `PATH.lock` until dropped.
fn lock(path: &Path) -> std::io::Result<File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = private_options()
        .read(true)
        .write(true)
        .truncate(false)
        .open(lock_path)?;
    file.lock()?;
    Ok(file)
}

fn write_atomically(path: &Path, contents: &Contents) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600 on Unix.
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut temp, contents)?;
    temp.write_all(b"\n")?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Makes a cache file that others can read private at once, and says so.
#[cfg(unix)]
fn loose_mode_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o077 == 0 {
        return None;
    }
    let private = std::fs::Permissions::from_mode(0o600);
    let outcome = match std::fs::set_permissions(path, private) {
        Ok(()) => "it is now 0600".to_string(),
        Err(e) => format!("making it 0600 failed: {e}"),
    };
    Some(format!(
        "token cache {} could be read by other users (mode {:o}); {outcome}",
        path.display(),
        mode & 0o777
    ))
}

#[cfg(not(unix))]
fn loose_mode_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(300)
    }

    #[test]
    fn round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let (cache, warning) = CacheFile::open(path.clone());
        assert!(warning.is_none());
        cache
            .put("k", &Secret::new("tok"), later(), Duration::from_secs(300))
            .unwrap();
        assert_eq!(cache.get("k").unwrap().token.expose(), "tok");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn foreign_content_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "my notes").unwrap();
        let (cache, warning) = CacheFile::open(path.clone());
        assert!(warning.unwrap().contains("not a runner token cache"));
        cache
            .put("k", &Secret::new("tok"), later(), Duration::from_secs(300))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes");
        assert!(cache.get("k").is_none());
    }

    #[test]
    fn expired_entries_are_pruned_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let (cache, _) = CacheFile::open(path.clone());
        let past = SystemTime::now() - Duration::from_secs(1);
        cache
            .put("old", &Secret::new("a"), past, Duration::from_secs(1))
            .unwrap();
        cache
            .put("new", &Secret::new("b"), later(), Duration::from_secs(300))
            .unwrap();
        assert!(cache.get("old").is_none());
        assert!(cache.get("new").is_some());
    }
}
