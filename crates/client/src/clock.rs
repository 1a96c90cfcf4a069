//! The clock-rollback defence: the latest time the application has seen, kept across runs.
//!
//! A license file verifies until its `expires_at`, and a grace period lasts from the last valid check:
//! both compare with the machine's clock, which the user can set back. The SDK therefore remembers the
//! latest time it has seen (its own clock at each verification and check, a file's `issued_at`, the
//! server's signed `timestamp` in every online answer) and refuses a clock more than
//! [`CLOCK_TOLERANCE`](crate::CLOCK_TOLERANCE) behind it ([`Error::ClockSetBack`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::Error;
use crate::license_file::CLOCK_TOLERANCE;
use crate::types::{unix_secs, unix_time};

/// Where a [`ClockGuard`] keeps the latest time seen. Implement it to keep the time somewhere harder to
/// reset than a file (the OS keychain, the registry, a hardware token).
pub trait TimeStore: Send + Sync {
    /// The latest time stored, `None` when nothing is (first run) or it cannot be read.
    fn load(&self) -> Option<SystemTime>;
    /// Stores `t`, which is later than what [`TimeStore::load`] returned. A failure is ignored: the
    /// guard still remembers the time for the life of the process.
    fn save(&self, t: SystemTime) -> std::io::Result<()>;
}

/// A [`TimeStore`] in a small file: the UNIX seconds in decimal. Written atomically (a temporary file
/// renamed over it), created with its directory when missing.
#[derive(Debug, Clone)]
pub struct FileTimeStore {
    path: PathBuf,
}

impl FileTimeStore {
    /// A store in the file `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileTimeStore {
        FileTimeStore { path: path.into() }
    }

    /// The file it uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The default file for the vendor whose signing key has the id `key_id`: `licensd/<key_id>/clock`
    /// under the user's local data directory (`$XDG_DATA_HOME` or `~/.local/share` on Linux,
    /// `~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on Windows). One file per vendor, so
    /// one application cannot disturb another's. `None` when the platform has no such directory.
    pub fn default_for(key_id: &str) -> Option<FileTimeStore> {
        let safe: String = key_id.chars().filter(char::is_ascii_alphanumeric).collect();
        let dir = dirs::data_local_dir()?;
        Some(FileTimeStore::new(
            dir.join("licensd").join(if safe.is_empty() { "default".into() } else { safe }).join("clock"),
        ))
    }
}

impl TimeStore for FileTimeStore {
    fn load(&self) -> Option<SystemTime> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.trim().parse::<i64>().ok().map(unix_time)
    }

    fn save(&self, t: SystemTime) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, unix_secs(t).to_string())?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// A [`TimeStore`] that forgets at exit (tests, and platforms without a data directory).
#[derive(Debug, Default)]
pub struct MemoryTimeStore(Mutex<Option<SystemTime>>);

impl TimeStore for MemoryTimeStore {
    fn load(&self) -> Option<SystemTime> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, t: SystemTime) -> std::io::Result<()> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
        Ok(())
    }
}

/// The latest time seen, and the check against it. Cheap to clone; clones share their state.
///
/// [`LicenseFile::verify`](crate::LicenseFile::verify) and [`Client`](crate::Client) use
/// [`ClockGuard::default_for`] the signing key unless given another.
#[derive(Clone)]
pub struct ClockGuard {
    store: Arc<dyn TimeStore>,
    latest: Arc<Mutex<Option<SystemTime>>>,
}

impl fmt::Debug for ClockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClockGuard").field("latest", &self.latest()).finish_non_exhaustive()
    }
}

impl ClockGuard {
    /// A guard keeping its time in `store`.
    pub fn new(store: impl TimeStore + 'static) -> ClockGuard {
        let latest = store.load();
        ClockGuard { store: Arc::new(store), latest: Arc::new(Mutex::new(latest)) }
    }

    /// A guard that remembers only for the life of the process.
    pub fn in_memory() -> ClockGuard {
        ClockGuard::new(MemoryTimeStore::default())
    }

    /// The default guard for the vendor whose key has the id `key_id`: a [`FileTimeStore::default_for`]
    /// it, or in memory where the platform has no data directory.
    pub fn default_for(key_id: &str) -> ClockGuard {
        match FileTimeStore::default_for(key_id) {
            Some(store) => ClockGuard::new(store),
            None => ClockGuard::in_memory(),
        }
    }

    /// The latest time seen, if any.
    pub fn latest(&self) -> Option<SystemTime> {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Error::ClockSetBack`] when `now` is more than [`CLOCK_TOLERANCE`] behind the latest time seen.
    pub fn check(&self, now: SystemTime) -> Result<(), Error> {
        match self.latest() {
            Some(latest) if now.checked_add(CLOCK_TOLERANCE).is_some_and(|n| n < latest) => Err(Error::ClockSetBack),
            _ => Ok(()),
        }
    }

    /// Records that time `t` has been seen (a no-op when it is not later than the latest, or later by
    /// under a second: the store is written at most once a second).
    pub fn observe(&self, t: SystemTime) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let later = match *latest {
            None => true,
            Some(l) => t.duration_since(l).is_ok_and(|d| d >= Duration::from_secs(1)),
        };
        if later {
            *latest = Some(t);
            // A store that cannot be written still leaves the time in memory for this process.
            let _ = self.store.save(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_behind_the_latest_time_seen_is_refused_and_time_only_moves_forward() {
        let g = ClockGuard::in_memory();
        let t = unix_time(1_764_048_000);
        g.check(t).unwrap();
        g.observe(t);
        g.check(t - Duration::from_secs(299)).unwrap();
        assert!(matches!(g.check(t - Duration::from_secs(301)), Err(Error::ClockSetBack)));
        g.observe(t - Duration::from_secs(3600));
        assert_eq!(g.latest(), Some(t));
    }

    #[test]
    fn the_file_store_keeps_the_time_across_guards() {
        let dir = std::env::temp_dir().join(format!("licensd-clock-{}", std::process::id()));
        let path = dir.join("nested").join("clock");
        let _ = std::fs::remove_dir_all(&dir);
        let t = unix_time(1_800_000_000);
        ClockGuard::new(FileTimeStore::new(&path)).observe(t);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1800000000");
        let again = ClockGuard::new(FileTimeStore::new(&path));
        assert_eq!(again.latest(), Some(t));
        assert!(matches!(again.check(t - Duration::from_secs(86_400)), Err(Error::ClockSetBack)));
        // An unreadable file counts as a first run.
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(ClockGuard::new(FileTimeStore::new(&path)).latest(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_files_are_per_vendor_and_path_safe() {
        let a = FileTimeStore::default_for("0123abcd").map(|s| s.path().to_path_buf());
        let b = FileTimeStore::default_for("../../etc").map(|s| s.path().to_path_buf());
        if let (Some(a), Some(b)) = (a, b) {
            assert!(a.ends_with("licensd/0123abcd/clock"), "{a:?}");
            assert!(b.ends_with("licensd/etc/clock"), "{b:?}");
        }
    }
}
