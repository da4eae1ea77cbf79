//! Source files, their ids and spans (file, 1-based line and column).

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A place in a source file: 1-based line and column (in characters), and the length in
/// characters of the text it covers (0 for a point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
    /// Length in characters.
    pub len: u32,
}

/// One loaded file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as it was resolved (what diagnostics print).
    pub path: PathBuf,
    /// The whole text (shared with the preprocessor while it reads the file; an
    /// `Arc<String>` rather than `Arc<str>` so that the text read is never copied).
    pub text: Arc<String>,
}

/// All files read while loading one configuration.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.add_shared(path, Arc::new(text))
    }
    /// Adds a file whose text is shared, and returns its id.
    pub fn add_shared(&mut self, path: PathBuf, text: Arc<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile { path, text });
        id
    }
    /// A file by id.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }
    /// The text of line `line` (1-based) of a file, without its newline.
    pub fn line_text(&self, id: FileId, line: u32) -> Option<&str> {
        let f = self.get(id)?;
        f.text.lines().nth(line.checked_sub(1)? as usize)
    }
    /// All files.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
}

/// How the front end reads files, so tests can use in-memory trees.
pub trait FileSystem {
    /// Reads a whole file as UTF-8 (invalid bytes replaced).
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// Lists the entries of a directory (names only).
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Whether a path is an executable regular file (for script checks).
    fn is_executable(&self, path: &Path) -> bool;
    /// Whether a path is a directory (includes skip directories). The default asks
    /// [`FileSystem::read_dir`].
    fn is_dir(&self, path: &Path) -> bool {
        self.read_dir(path).is_ok()
    }
}
