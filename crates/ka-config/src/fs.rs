//! [`FileSystem`] implementations: [`StdFs`] reads the real disk, [`MemFs`] is an
//! in-memory tree for tests and the fuzzer.

use crate::source::FileSystem;
use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The real file system (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            out.push(entry?.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn is_executable(&self, path: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// An in-memory file tree: a map from absolute (or relative) path to text. Directories
/// exist implicitly as the parents of files (and can be added empty with [`MemFs::dir`]).
/// Paths are compared after lexical normalisation (`a/./b/../c` is `a/c`).
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, String>,
    executable: BTreeMap<PathBuf, bool>,
    dirs: BTreeMap<PathBuf, ()>,
}

impl MemFs {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file; builder style.
    pub fn file(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> Self {
        self.insert(path, text);
        self
    }

    /// Adds an empty directory; builder style.
    pub fn dir(mut self, path: impl AsRef<Path>) -> Self {
        self.dirs.insert(normalize(path.as_ref()), ());
        self
    }

    /// Marks a file executable (keepalived refuses to include executable files, and
    /// scripts must be executable); builder style.
    pub fn executable(mut self, path: impl AsRef<Path>) -> Self {
        self.executable.insert(normalize(path.as_ref()), true);
        self
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) {
        self.files.insert(normalize(path.as_ref()), text.into());
    }

    fn is_dir_norm(&self, p: &Path) -> bool {
        if self.dirs.contains_key(p) {
            return true;
        }
        let has_child = |k: &PathBuf| k.starts_with(p) && k.as_path() != p;
        self.files.keys().any(has_child) || self.dirs.keys().any(has_child)
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let p = normalize(path);
        match self.files.get(&p) {
            Some(t) => Ok(t.clone()),
            None if self.is_dir_norm(&p) => Err(io::Error::other("is a directory")),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let p = normalize(path);
        if !self.is_dir_norm(&p) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        let mut names: Vec<String> = self
            .files
            .keys()
            .chain(self.dirs.keys())
            .filter_map(|k| {
                let rest = k.strip_prefix(&p).ok()?;
                let first = rest.components().next()?;
                match first {
                    Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                    _ => None,
                }
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let p = normalize(path);
        self.files.contains_key(&p) || self.is_dir_norm(&p)
    }

    fn is_executable(&self, path: &Path) -> bool {
        let p = normalize(path);
        self.files.contains_key(&p) && self.executable.get(&p).copied().unwrap_or(false)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.is_dir_norm(&normalize(path))
    }
}

/// Lexical normalisation: drops `.` components and folds `..` into its parent (never
/// above the root); does not touch the disk.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// keepalived's default configuration id: the host name up to its first dot
/// (`uname -n`, read here from `/proc/sys/kernel/hostname`). `None` if it cannot be read.
pub fn default_config_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    config_id_from_hostname(&text)
}

/// The configuration id for a host name: the part before the first dot, trimmed.
pub fn config_id_from_hostname(hostname: &str) -> Option<String> {
    let first = hostname.trim().split('.').next().unwrap_or("");
    if first.is_empty() {
        None
    } else {
        Some(first.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfs_dirs_and_files() {
        let fs = MemFs::new()
            .file("/etc/k/a.conf", "a")
            .file("/etc/k/conf.d/b.conf", "b")
            .dir("/etc/k/empty")
            .executable("/etc/k/a.conf");
        assert!(fs.is_dir(Path::new("/etc/k")));
        assert!(fs.is_dir(Path::new("/etc/k/empty")));
        assert!(!fs.is_dir(Path::new("/etc/k/a.conf")));
        assert_eq!(
            fs.read_dir(Path::new("/etc/k")).unwrap(),
            vec!["a.conf", "conf.d", "empty"]
        );
        assert!(fs.read_dir(Path::new("/nope")).is_err());
        assert_eq!(
            fs.read(Path::new("/etc/k/./conf.d/../a.conf")).unwrap(),
            "a"
        );
        assert!(fs.read(Path::new("/etc/k/conf.d")).is_err());
        assert!(fs.is_executable(Path::new("/etc/k/a.conf")));
        assert!(!fs.is_executable(Path::new("/etc/k/conf.d/b.conf")));
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(
            normalize(Path::new("../a/../../b")),
            PathBuf::from("../../b")
        );
    }

    #[test]
    fn hostname_to_id() {
        assert_eq!(
            config_id_from_hostname("lb1.example.org\n").as_deref(),
            Some("lb1")
        );
        assert_eq!(config_id_from_hostname("lb2").as_deref(), Some("lb2"));
        assert_eq!(config_id_from_hostname(" \n"), None);
    }

    #[test]
    fn stdfs_reads_tmp() {
        let dir = std::env::temp_dir().join(format!("ka-config-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.conf"), "hello").unwrap();
        let fs = StdFs;
        assert_eq!(fs.read(&dir.join("x.conf")).unwrap(), "hello");
        assert!(fs.read_dir(&dir).unwrap().contains(&"x.conf".to_string()));
        assert!(fs.is_dir(&dir));
        assert!(!fs.is_executable(&dir.join("x.conf")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
