//! The keepalived.conf preprocessor, with keepalived 2.2.7's semantics (keepalived.conf(5)
//! "ADVANCED CONFIGURATION" and `lib/parser.c`).
//!
//! Each physical line goes through these steps, in keepalived's order:
//!
//! 1. **decomment**: leading blanks are dropped; `#` or `!` outside double quotes starts a
//!    comment (`\#` and `\!` outside quotes are a literal `#`/`!`); trailing blanks are
//!    dropped; a line ending in `\` continues a multi-line definition. A blank line ends a
//!    multi-line definition, a comment-only line does not. keepalived decomments again
//!    after each substitution, so `${_HASH}` only survives inside double quotes.
//! 2. **`@id` / `@^id`**: a line starting with `@ID ` is kept (without the prefix) only when
//!    `ID` equals the configuration id; `@^ID ` keeps it only when it differs. With no
//!    configuration id, `@ID` lines are dropped and `@^ID` lines kept.
//! 3. **`$NAME=VALUE`** (no blank before `=`, only blanks before `$`) defines or redefines
//!    a parameter; a value ending in `\` starts a multi-line definition.
//! 4. **`~SEQ(var, [start,] [step,] end)`, `~SEQx(...)`, `~LST(var, v1, v2, ...)`,
//!    `~LST({a, b}, {1, 2}, {3, 4})`** replicate the rest of the line, with the variable(s)
//!    defined for each pass; they nest (`~SEQ(a,2) ~SEQ(b,3) x$a$b` gives 6 lines).
//!    The arguments of `~SEQ` are substituted first; numbers are read like `strtol(.., 0)`
//!    (`0x` hex, leading `0` octal).
//! 5. **substitution**: `$NAME` followed by a blank, `,`, `)` or the end of the line, and
//!    `${NAME}` anywhere, are replaced by the value; the replaced text is scanned again, so
//!    definitions may refer to later definitions (the value at use time counts). A
//!    multi-line definition is only replaced when its reference ends the line; its first
//!    line joins the current line and its other lines follow it. Undefined parameters are
//!    left as written (keepalived does so too; we also warn). Built-ins: `${_PWD}` (the
//!    directory of the current file), `${_INSTANCE}` (the configuration id),
//!    `${_RANDOM [MIN [MAX]]}` (default 0..=32767, seeded by [`LoadOptions::random_seed`]),
//!    `${_HASH}` (`#`) and `${_BANG}` (`!`); built-ins can be redefined. keepalived 2.2.7
//!    has no user-defined parameterised definitions (`$NAME(a,b)`): only `_RANDOM` takes
//!    arguments, so none are implemented.
//! 6. **include**: a line `include PATTERN` (also `includer`, `includem`, `includew`,
//!    `includeb`, `includea`) reads the files matching the glob PATTERN (`*`, `?`, `[...]`,
//!    and csh braces `{a,b}` as with `GLOB_BRACE`), in sorted order per brace
//!    alternative. keepalived `chdir()`s to the directory of each file it opens, so a
//!    relative PATTERN is relative to **the directory of the file containing the include**
//!    (for the top file, relative to the directory in its path, or the working directory).
//!    The whole rest of the line is the pattern (quotes are not removed, as in keepalived).
//!    The checks of keepalived's `include_check` apply: `readable` (a match that is a
//!    directory, executable or unreadable), `match` (a missing file), `wildcard_match` (a
//!    wildcard matching nothing), `brace_match` (a brace alternative matching nothing); a
//!    failed check is an error when the include variant or `include_check` asks for it and
//!    otherwise a warning (a wildcard matching nothing is silent, so `include conf.d/*` of
//!    an empty directory is fine). Include lines are recognised after conditional and
//!    parameter processing. Cycles and nesting deeper than [`Limits::max_include_depth`]
//!    are errors (keepalived would recurse until it runs out of file descriptors).
//! 7. **braces**: the line is split at the first `{` or `}` outside double quotes; the brace
//!    becomes a line of its own and the rest goes through steps 2-7 again.
//!
//! Tokens: blanks separate words; a double-quoted string is one word (without the quotes;
//! a `"` also ends an unquoted word), and inside double quotes the escapes of
//! keepalived.conf(5) "Quoted strings" are resolved (`\"`, `\\`, `\n`, `\t`, `\xXX`, `\nnn`,
//! `\cC`, ...). Single quotes are left in the text (keepalived's script parser handles
//! them).
//!
//! Spans: every character carries the place it was written; a token spans from its first
//! to its last character when both are on one line, else it points at its first
//! character. Text produced by `$NAME` points at where `$NAME` was written; text replicated
//! by `~SEQ`/`~LST` keeps the place of the template text.
//!
//! Everything is bounded by [`Limits`]; no input makes this module panic.

use crate::diag::{did_you_mean, Diagnostic};
use crate::source::{FileId, FileSystem, SourceMap, Span};
use crate::syntax::{Line, Node, Token, TreeBuilder};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Bounds on the work the preprocessor does, so that no input can exhaust memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of include files (the top file is depth 1).
    pub max_include_depth: usize,
    /// Maximum number of files read in total.
    pub max_files: usize,
    /// Maximum number of characters in all files read.
    pub max_input_chars: usize,
    /// Maximum number of characters produced after expansion.
    pub max_output_chars: usize,
    /// Maximum number of passes of one `~SEQ` / `~LST`.
    pub max_seq_count: u64,
    /// Maximum nesting of `~SEQ`/`~LST` and multi-line expansions.
    pub max_expansion_depth: usize,
    /// Maximum number of characters in one logical line after substitution.
    pub max_line_chars: usize,
    /// Maximum number of substitutions in one logical line (catches `$A=$A`).
    pub max_substitutions: usize,
    /// Maximum number of paths one include pattern may produce.
    pub max_glob_paths: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_include_depth: 32,
            max_files: 4096,
            max_input_chars: 256 << 20,
            max_output_chars: 64 << 20,
            max_seq_count: 1 << 20,
            max_expansion_depth: 32,
            max_line_chars: 1 << 20,
            max_substitutions: 10_000,
            max_glob_paths: 10_000,
        }
    }
}

/// How to load a configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The configuration id for `@id` lines and `${_INSTANCE}` (keepalived `-i`; its
    /// default is the host name up to the first dot, see [`crate::fs::default_config_id`],
    /// which the caller passes here).
    pub config_id: Option<String>,
    /// The working directory, used to make a relative top-level path absolute for
    /// `${_PWD}` (keepalived reports `getcwd()`). `None` leaves it relative.
    pub cwd: Option<PathBuf>,
    /// Seed for `${_RANDOM}` (keepalived `random_seed`; keepalived seeds from the time
    /// when none is given, we default to 0 so results are reproducible).
    pub random_seed: u64,
    /// Bounds.
    pub limits: Limits,
}

/// The result of loading a configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Every file read (the top file is `FileId(0)` when it could be read).
    pub sources: SourceMap,
    /// The tree of keyword nodes.
    pub tree: Vec<Node>,
    /// Everything found wrong while preprocessing and building the tree.
    pub diagnostics: Vec<Diagnostic>,
    /// For each file (indexed by `FileId`), the `include` line that read it (`None` for
    /// the top file).
    pub included_from: Vec<Option<Span>>,
}

/// The preprocessed lines of tokens, before the tree is built.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// Every file read.
    pub sources: SourceMap,
    /// One line of tokens per logical line (a brace is a line of its own).
    pub lines: Vec<Line>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
    /// See [`Loaded::included_from`].
    pub included_from: Vec<Option<Span>>,
}

/// Loads `path` through `fs`: preprocesses it and builds the tree.
pub fn load(path: &Path, fs: &dyn FileSystem, opts: &LoadOptions) -> Loaded {
    let mut tree = Vec::new();
    let s = load_streaming(path, fs, opts, &mut |n| tree.push(n));
    Loaded {
        sources: s.sources,
        tree,
        diagnostics: s.diagnostics,
        included_from: s.included_from,
    }
}

/// The result of [`load_streaming`]: everything [`Loaded`] has but the tree.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// See [`Loaded::sources`].
    pub sources: SourceMap,
    /// Everything found wrong while preprocessing and building the tree.
    pub diagnostics: Vec<Diagnostic>,
    /// See [`Loaded::included_from`].
    pub included_from: Vec<Option<Span>>,
}

/// Loads `path` like [`load`], but hands each top-level node to `on_node` as soon as it is
/// complete, so the whole tree never needs to be held (see [`crate::lower::Lowering`]).
/// The nodes arrive in the order [`load`] would list them.
pub fn load_streaming(
    path: &Path,
    fs: &dyn FileSystem,
    opts: &LoadOptions,
    on_node: &mut dyn FnMut(Node),
) -> Streamed {
    let mut builder = TreeBuilder::default();
    let mut ready = Vec::new();
    let mut sink = |line: Line| {
        builder.push_line(line);
        builder.take_ready(&mut ready);
        for n in ready.drain(..) {
            on_node(n);
        }
    };
    let p = run_pre(path, fs, opts, &mut sink);
    let (rest, tree_diags) = builder.finish();
    for n in rest {
        on_node(n);
    }
    let mut diagnostics = p.diagnostics;
    diagnostics.extend(tree_diags);
    Streamed {
        sources: p.sources,
        diagnostics,
        included_from: p.included_from,
    }
}

/// Loads configuration text given directly, as if it were the file `keepalived.conf` in
/// the working directory of an otherwise empty file system (includes find nothing).
pub fn load_str(text: &str, opts: &LoadOptions) -> Loaded {
    let fs = crate::fs::MemFs::new().file("keepalived.conf", text);
    load(Path::new("keepalived.conf"), &fs, opts)
}

/// Preprocesses `path` into lines of tokens.
pub fn preprocess(path: &Path, fs: &dyn FileSystem, opts: &LoadOptions) -> Preprocessed {
    let mut lines = Vec::new();
    let s = run_pre(path, fs, opts, &mut |l| lines.push(l));
    Preprocessed {
        sources: s.sources,
        lines,
        diagnostics: s.diagnostics,
        included_from: s.included_from,
    }
}

/// Runs the preprocessor, handing each line of tokens to `out`.
fn run_pre(
    path: &Path,
    fs: &dyn FileSystem,
    opts: &LoadOptions,
    out: &mut dyn FnMut(Line),
) -> Streamed {
    let mut pre = Pre::new(fs, opts, out);
    match fs.read(path) {
        Ok(text) => {
            pre.in_chars = text.chars().count();
            if pre.in_chars > opts.limits.max_input_chars {
                pre.diags.push(global_error(format!(
                    "{} is larger than the limit of {} characters",
                    path.display(),
                    opts.limits.max_input_chars
                )));
            } else {
                pre.run_file(path.to_path_buf(), text, None);
            }
        }
        Err(e) => pre.diags.push(global_error(format!(
            "cannot read configuration file {}: {}",
            path.display(),
            e
        ))),
    }
    Streamed {
        sources: pre.sources,
        diagnostics: pre.diags,
        included_from: pre.included_from,
    }
}

fn global_error(message: String) -> Diagnostic {
    Diagnostic {
        severity: crate::diag::Severity::Error,
        span: None,
        message,
        help: None,
    }
}

/// One character and where it was written.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    at: Span,
}

type Text = Vec<Ch>;

fn text_str(t: &[Ch]) -> String {
    t.iter().map(|c| c.c).collect()
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn trim_start(t: &mut Text) {
    let n = t.iter().take_while(|c| is_blank(c.c)).count();
    if n > 0 {
        t.drain(..n);
    }
}

fn trim_end(t: &mut Text) {
    while t.last().is_some_and(|c| is_blank(c.c)) {
        t.pop();
    }
}

fn starts_with(t: &[Ch], s: &str) -> bool {
    let mut it = t.iter();
    s.chars().all(|c| it.next().is_some_and(|x| x.c == c))
}

/// The span covering a run of characters: from the first to the last when both are on
/// one line of one file (in order), else the first.
fn merge_span(t: &[Ch]) -> Option<Span> {
    let first = t.first()?.at;
    let last = t.last()?.at;
    if first.file == last.file && first.line == last.line && last.col >= first.col {
        let end = last.col.saturating_add(last.len);
        Some(Span {
            len: end.saturating_sub(first.col),
            ..first
        })
    } else {
        Some(first)
    }
}

/// What a parameter stands for.
#[derive(Debug, Clone)]
enum Value {
    Text(Text),
    /// A multi-line definition: its lines (at least one).
    Lines(Vec<Text>),
    Pwd,
    Instance,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    Blank,
}

/// A producer of logical lines (already decommented).
trait Source {
    /// `None` at the end; `Some(Err(Raw::Blank))` for a blank physical line.
    fn next(&mut self, pre: &mut Pre<'_>) -> Option<Result<Text, Raw>>;
}

/// The physical lines of a file, read in place (as `text.split('\n')`).
struct FileSource {
    file: FileId,
    text: std::sync::Arc<String>,
    /// Byte offset of the next line; `None` after the last one.
    pos: Option<usize>,
    idx: usize,
}

impl FileSource {
    /// The byte range and number of the next physical line (without `\r`/`\n` at its
    /// end); `None` after the last one.
    fn next_raw(&mut self) -> Option<(usize, usize, u32)> {
        let pos = self.pos?;
        let rest = self.text.get(pos..)?;
        let end = match rest.find('\n') {
            Some(i) => {
                self.pos = Some(pos + i + 1);
                pos + i
            }
            None => {
                self.pos = None;
                pos + rest.len()
            }
        };
        self.idx += 1;
        let line_no = u32::try_from(self.idx).unwrap_or(u32::MAX);
        let raw = self.text.get(pos..end)?;
        let trimmed = raw.trim_end_matches(['\r', '\n']);
        Some((pos, pos + trimmed.len(), line_no))
    }
}

impl Source for FileSource {
    fn next(&mut self, pre: &mut Pre<'_>) -> Option<Result<Text, Raw>> {
        loop {
            let (a, b, line_no) = self.next_raw()?;
            let raw = self.text.get(a..b)?;
            if raw.is_empty() {
                return Some(Err(Raw::Blank));
            }
            let t = pre.decomment(raw, self.file, line_no);
            if !t.is_empty() {
                return Some(Ok(t));
            }
            // A comment-only line: skipped, it does not end a multi-line definition.
        }
    }
}

/// A physical line that no preprocessor step changes beyond dropping its comment and
/// splitting it at braces: printable ASCII (blanks are spaces and tabs) without `$`, `~`,
/// `@`, quotes, backslashes or `include`. Returns the line without its comment.
fn simple_line(raw: &str) -> Option<&str> {
    let ok = raw.bytes().all(|b| {
        (b == b'\t' || (0x20..0x7f).contains(&b)) && !matches!(b, b'$' | b'~' | b'@' | b'"' | b'\\')
    });
    if !ok || raw.contains("include") {
        return None;
    }
    match raw.find(['#', '!']) {
        Some(i) => raw.get(..i),
        None => Some(raw),
    }
}

struct LinesSource {
    lines: std::vec::IntoIter<Text>,
}

impl Source for LinesSource {
    fn next(&mut self, _pre: &mut Pre<'_>) -> Option<Result<Text, Raw>> {
        self.lines.next().map(Ok)
    }
}

// include_check bits, as keepalived's include_t.
const INC_R: u8 = 1;
const INC_M: u8 = 2;
const INC_W: u8 = 4;
const INC_B: u8 = 8;

struct Pre<'a> {
    fs: &'a dyn FileSystem,
    opts: &'a LoadOptions,
    sources: SourceMap,
    included_from: Vec<Option<Span>>,
    diags: Vec<Diagnostic>,
    seen: HashSet<(Span, String)>,
    /// Where each line of tokens goes.
    out: &'a mut dyn FnMut(Line),
    defs: HashMap<String, Value>,
    /// Open files (normalised path, id), innermost last.
    stack: Vec<(PathBuf, FileId)>,
    include_check: u8,
    in_chars: usize,
    out_chars: usize,
    depth: usize,
    rng: u64,
    stopped: bool,
}

impl<'a> Pre<'a> {
    fn new(fs: &'a dyn FileSystem, opts: &'a LoadOptions, out: &'a mut dyn FnMut(Line)) -> Self {
        let mut defs = HashMap::new();
        defs.insert("_PWD".to_string(), Value::Pwd);
        defs.insert("_INSTANCE".to_string(), Value::Instance);
        defs.insert("_RANDOM".to_string(), Value::Random);
        let builtin = |c: char| {
            Value::Text(vec![Ch {
                c,
                at: Span {
                    file: FileId(0),
                    line: 0,
                    col: 0,
                    len: 0,
                },
            }])
        };
        defs.insert("_HASH".to_string(), builtin('#'));
        defs.insert("_BANG".to_string(), builtin('!'));
        Self {
            fs,
            opts,
            sources: SourceMap::default(),
            included_from: Vec::new(),
            diags: Vec::new(),
            seen: HashSet::new(),
            out,
            defs,
            stack: Vec::new(),
            include_check: 0,
            in_chars: 0,
            out_chars: 0,
            depth: 0,
            rng: opts.random_seed ^ 0x9e37_79b9_7f4a_7c15,
            stopped: false,
        }
    }

    fn error(&mut self, at: Span, msg: impl Into<String>) {
        self.push_diag(Diagnostic::error(at, msg));
    }

    fn warning(&mut self, at: Span, msg: impl Into<String>) {
        self.push_diag(Diagnostic::warning(at, msg));
    }

    /// Records a finding once (lines replicated by `~SEQ` would repeat it).
    fn push_diag(&mut self, d: Diagnostic) {
        if self.diags.len() >= 10_000 {
            return;
        }
        if let Some(s) = d.span {
            if !self.seen.insert((s, d.message.clone())) {
                return;
            }
        }
        self.diags.push(d);
    }

    fn stop(&mut self, at: Option<Span>, msg: String) {
        if !self.stopped {
            self.stopped = true;
            self.diags.push(Diagnostic {
                severity: crate::diag::Severity::Error,
                span: at,
                message: msg,
                help: Some("the rest of the configuration is not read".into()),
            });
        }
    }

    // ---- files ----

    fn run_file(&mut self, path: PathBuf, text: String, from: Option<Span>) {
        let text = std::sync::Arc::new(text);
        let id = self.sources.add_shared(path.clone(), text.clone());
        self.included_from.push(from);
        let norm = crate::fs::normalize(&path);
        self.stack.push((norm, id));
        let sav = self.include_check;
        let mut src = FileSource {
            file: id,
            text,
            pos: Some(0),
            idx: 0,
        };
        self.run_file_lines(&mut src);
        self.include_check = sav;
        self.stack.pop();
    }

    /// [`Pre::run`] over a file, with a fast path for the lines [`simple_line`] accepts:
    /// they are split and tokenized straight from the text, with the same tokens, spans
    /// and limits as the general path (no per-character copy).
    fn run_file_lines(&mut self, src: &mut FileSource) {
        let text = src.text.clone();
        while let Some((a, b, line_no)) = src.next_raw() {
            let raw = text.get(a..b).unwrap_or("");
            if raw.is_empty() {
                if self.stopped {
                    return;
                }
                continue;
            }
            if let Some(line) = simple_line(raw) {
                let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
                let body = line.trim_matches([' ', '\t']);
                if body.is_empty() {
                    // A comment-only line.
                    continue;
                }
                if self.stopped {
                    return;
                }
                self.emit_simple(body, lead, src.file, line_no);
                continue;
            }
            let t = self.decomment(raw, src.file, line_no);
            if t.is_empty() {
                continue;
            }
            if self.stopped {
                return;
            }
            self.process(t, src);
        }
    }

    /// A [`simple_line`] (trimmed, starting at byte `ofs` of its physical line) as
    /// [`Pre::process`] emits it: split at each brace, each piece tokenized at blanks.
    fn emit_simple(&mut self, line: &str, ofs: usize, file: FileId, line_no: u32) {
        let mut rest = line;
        let mut at = ofs;
        while !rest.is_empty() {
            if self.stopped {
                return;
            }
            let seg_len = if rest.starts_with(['{', '}']) {
                1
            } else {
                rest.find(['{', '}']).unwrap_or(rest.len())
            };
            let (seg, tail) = rest.split_at(seg_len);
            self.emit_str(seg.trim_end_matches([' ', '\t']), at, file, line_no);
            let tail_trimmed = tail.trim_start_matches([' ', '\t']);
            at += seg_len + (tail.len() - tail_trimmed.len());
            rest = tail_trimmed;
        }
    }

    /// [`Pre::emit`] for a piece of a [`simple_line`] starting at byte `ofs`.
    fn emit_str(&mut self, seg: &str, ofs: usize, file: FileId, line_no: u32) {
        if seg.is_empty() {
            return;
        }
        let col = |i: usize| u32::try_from(ofs + i + 1).unwrap_or(u32::MAX);
        self.out_chars = self.out_chars.saturating_add(seg.len());
        if self.out_chars > self.opts.limits.max_output_chars {
            let at = Span {
                file,
                line: line_no,
                col: col(0),
                len: 1,
            };
            self.stop(
                Some(at),
                format!(
                    "the expanded configuration is larger than {} characters",
                    self.opts.limits.max_output_chars
                ),
            );
            return;
        }
        let mut toks = Vec::new();
        let mut i = 0;
        for word in seg.split([' ', '\t']) {
            if !word.is_empty() {
                toks.push(Token {
                    text: word.to_string(),
                    span: Span {
                        file,
                        line: line_no,
                        col: col(i),
                        len: u32::try_from(word.len()).unwrap_or(u32::MAX),
                    },
                    quoted: false,
                });
            }
            i += word.len() + 1;
        }
        if !toks.is_empty() {
            (self.out)(toks);
        }
    }

    fn run(&mut self, src: &mut dyn Source) {
        while let Some(raw) = src.next(self) {
            if self.stopped {
                return;
            }
            if let Ok(t) = raw {
                self.process(t, src);
            }
        }
    }

    /// keepalived's `decomment()` of a physical line, keeping the place of every character.
    fn decomment(&mut self, raw: &str, file: FileId, line: u32) -> Text {
        let chars: Text = raw
            .chars()
            .enumerate()
            .map(|(i, c)| Ch {
                c,
                at: Span {
                    file,
                    line,
                    col: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    len: 1,
                },
            })
            .collect();
        self.decomment_text(&chars)
    }

    /// keepalived's `decomment()`: drops leading and trailing blanks and the comment (from
    /// `#` or `!` outside double quotes; `\#`/`\!` outside quotes are literal); a final
    /// `\` (even after a comment, as in keepalived) is kept as the continuation mark.
    /// keepalived applies it again after each substitution, so a `#` produced by `${_HASH}`
    /// outside quotes starts a comment.
    fn decomment_text(&mut self, chars: &[Ch]) -> Text {
        let mut out: Text = Vec::with_capacity(chars.len());
        let mut i = chars.iter().take_while(|c| is_blank(c.c)).count();
        let mut quote: Option<Span> = None;
        let mut cont: Option<Span> = None;
        let mut skip = false;
        while let Some(&ch) = chars.get(i) {
            match ch.c {
                '"' => {
                    if !skip {
                        quote = if quote.is_some() { None } else { Some(ch.at) };
                        out.push(ch);
                    }
                    i += 1;
                }
                '\\' => match chars.get(i + 1) {
                    Some(&n) if quote.is_none() && (n.c == '#' || n.c == '!') => {
                        if !skip {
                            out.push(n);
                        }
                        i += 2;
                    }
                    Some(&n) => {
                        if !skip {
                            out.push(ch);
                            out.push(n);
                        }
                        i += 2;
                    }
                    None => {
                        cont = Some(ch.at);
                        i += 1;
                    }
                },
                '#' | '!' if quote.is_none() => {
                    skip = true;
                    i += 1;
                }
                _ => {
                    if !skip {
                        out.push(ch);
                    }
                    i += 1;
                }
            }
        }
        if let Some(q) = quote {
            self.error(q, "unterminated quote");
        }
        trim_end(&mut out);
        if let Some(at) = cont {
            out.push(Ch { c: '\\', at });
        }
        out
    }

    // ---- logical lines ----

    /// Processes one logical line (steps 2-7 of the module docs); lines it needs beyond
    /// it (multi-line definitions) come from `src`.
    fn process(&mut self, first: Text, src: &mut dyn Source) {
        let mut deferred: Vec<Vec<Text>> = Vec::new();
        let mut pending = Some(first);
        while let Some(mut line) = pending.take() {
            if self.stopped {
                return;
            }
            let mut rounds = 0usize;
            let mut subs = 0usize;
            loop {
                trim_start(&mut line);
                if line.is_empty() {
                    break;
                }
                rounds += 1;
                if rounds > 64 {
                    break;
                }
                if line.first().is_some_and(|c| c.c == '@') && !self.conditional(&mut line) {
                    line.clear();
                    break;
                }
                if line.first().is_some_and(|c| c.c == '$') && self.definition(&line, src) {
                    line.clear();
                    break;
                }
                if starts_with(&line, "~SEQ") || starts_with(&line, "~LST") {
                    self.sequence(&line, src);
                    line.clear();
                    break;
                }
                if line.first().is_some_and(|c| c.c == '~') {
                    break;
                }
                if !line.iter().any(|c| c.c == '$') {
                    break;
                }
                match self.substitute(&mut line, &mut subs, &mut deferred) {
                    Some(true) => {
                        line = self.decomment_text(&line);
                        let again = line.first().is_some_and(|c| c.c == '@')
                            || line.iter().any(|c| c.c == '$');
                        if !again {
                            break;
                        }
                    }
                    Some(false) => break,
                    None => {
                        line.clear();
                        break;
                    }
                }
            }
            trim_start(&mut line);
            trim_end(&mut line);
            if line.is_empty() {
                continue;
            }
            self.lint_references(&line);
            if self.include(&line) {
                continue;
            }
            // Split at the first brace outside quotes.
            let (head, rest) = split_brace(line);
            self.emit(head);
            pending = rest;
        }
        for lines in deferred {
            if self.stopped {
                return;
            }
            if self.depth >= self.opts.limits.max_expansion_depth {
                let at = lines.first().and_then(|l| l.first()).map(|c| c.at);
                self.stop(
                    at,
                    "multi-line definitions nest too deeply (a definition that uses itself?)"
                        .into(),
                );
                return;
            }
            self.depth += 1;
            self.run(&mut LinesSource {
                lines: lines.into_iter(),
            });
            self.depth -= 1;
        }
    }

    /// `@id` / `@^id`: returns whether the line is kept (and strips the prefix).
    fn conditional(&mut self, line: &mut Text) -> bool {
        let neg = line.get(1).is_some_and(|c| c.c == '^');
        let ofs = if neg { 2 } else { 1 };
        let Some(ws) = line.iter().skip(ofs).position(|c| is_blank(c.c)) else {
            if let Some(s) = merge_span(line) {
                self.warning(s, "conditional line has nothing after the configuration id");
            }
            return false;
        };
        let id: String = line[ofs..ofs + ws].iter().map(|c| c.c).collect();
        let matches = self.opts.config_id.as_deref() == Some(id.as_str());
        if matches == neg {
            return false;
        }
        line.drain(..ofs + ws);
        trim_start(line);
        true
    }

    /// `$NAME=VALUE`: records the definition; false if the line is not a definition.
    fn definition(&mut self, line: &Text, src: &mut dyn Source) -> bool {
        let Some(second) = line.get(1) else {
            return false;
        };
        if !(second.c.is_ascii_alphabetic() || second.c == '_') {
            return false;
        }
        let mut i = 2;
        loop {
            match line.get(i) {
                None => return false,
                Some(c) if c.c == '=' => break,
                Some(c) if c.c.is_ascii_alphanumeric() || c.c == '_' => i += 1,
                Some(_) => return false,
            }
        }
        let name: String = line[1..i].iter().map(|c| c.c).collect();
        let mut value: Text = line[i + 1..].to_vec();
        trim_start(&mut value);
        let value = if value.last().is_some_and(|c| c.c == '\\') {
            value.pop();
            trim_end(&mut value);
            let mut lines = Vec::new();
            if !value.is_empty() {
                lines.push(value);
            }
            while let Some(next) = src.next(self) {
                let Ok(mut t) = next else { break };
                if t.last().is_some_and(|c| c.c == '\\') {
                    t.pop();
                    trim_end(&mut t);
                    if !t.is_empty() {
                        lines.push(t);
                    }
                } else {
                    lines.push(t);
                    break;
                }
            }
            if lines.is_empty() {
                Value::Text(Vec::new())
            } else {
                Value::Lines(lines)
            }
        } else {
            Value::Text(value)
        };
        self.defs.insert(name, value);
        true
    }

    /// Replaces the references in `line`; `Some(true)` if anything was replaced,
    /// `None` if a limit was hit (the line is dropped).
    fn substitute(
        &mut self,
        line: &mut Text,
        subs: &mut usize,
        deferred: &mut Vec<Vec<Text>>,
    ) -> Option<bool> {
        let mut found = false;
        let mut pos = 0;
        while pos + 1 < line.len() {
            if line.get(pos).is_none_or(|c| c.c != '$') {
                pos += 1;
                continue;
            }
            let Some(r) = parse_ref(line, pos) else {
                pos += 1;
                continue;
            };
            let at_end = pos + r.len == line.len();
            let value = match self.defs.get(&r.name) {
                Some(Value::Lines(_)) if !at_end => None,
                Some(_) if r.params.is_some() && r.name != "_RANDOM" => None,
                Some(v) => Some(v.clone()),
                None => None,
            };
            let Some(value) = value else {
                pos += 1;
                continue;
            };
            let at = merge_span(line.get(pos..pos + r.len).unwrap_or(&[])).unwrap_or(line[pos].at);
            *subs += 1;
            if *subs > self.opts.limits.max_substitutions {
                self.error(
                    at,
                    format!(
                        "more than {} substitutions in one line (does `${}` refer to itself?)",
                        self.opts.limits.max_substitutions, r.name
                    ),
                );
                return None;
            }
            let mk = |s: &str| -> Text { s.chars().map(|c| Ch { c, at }).collect() };
            let repl: Text = match value {
                Value::Text(t) => t.iter().map(|c| Ch { c: c.c, at }).collect(),
                Value::Lines(ls) => {
                    let mut it = ls.into_iter();
                    let first = it
                        .next()
                        .unwrap_or_default()
                        .iter()
                        .map(|c| Ch { c: c.c, at })
                        .collect();
                    let rest: Vec<Text> = it
                        .map(|l| l.iter().map(|c| Ch { c: c.c, at }).collect())
                        .collect();
                    if !rest.is_empty() {
                        deferred.push(rest);
                    }
                    first
                }
                Value::Pwd => mk(&self.pwd()),
                Value::Instance => mk(self.opts.config_id.as_deref().unwrap_or("")),
                Value::Random => {
                    let v = self.random(r.params.as_deref(), at);
                    mk(&v.to_string())
                }
            };
            let tilde = repl
                .iter()
                .find(|c| !is_blank(c.c))
                .is_some_and(|c| c.c == '~');
            if line.len() - r.len + repl.len() > self.opts.limits.max_line_chars {
                self.error(
                    at,
                    format!(
                        "line longer than {} characters after substitution",
                        self.opts.limits.max_line_chars
                    ),
                );
                return None;
            }
            line.splice(pos..pos + r.len, repl);
            found = true;
            if tilde {
                break;
            }
        }
        Some(found)
    }

    fn pwd(&self) -> String {
        let cur = self
            .stack
            .last()
            .and_then(|(_, id)| self.sources.get(*id))
            .map(|f| f.path.clone())
            .unwrap_or_default();
        let dir = cur.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = match &self.opts.cwd {
            Some(cwd) if dir.is_relative() => crate::fs::normalize(&cwd.join(&dir)),
            _ if dir.as_os_str().is_empty() => PathBuf::from("."),
            _ => dir,
        };
        dir.to_string_lossy().into_owned()
    }

    /// `${_RANDOM [MIN [MAX]]}`.
    fn random(&mut self, params: Option<&str>, at: Span) -> u64 {
        let mut min = 0u64;
        let mut max = 32767u64;
        if let Some(p) = params {
            let nums: Vec<&str> = p.split(' ').filter(|s| !s.is_empty()).collect();
            let parse = |s: &str| s.parse::<u64>().ok();
            match nums.as_slice() {
                [a] => min = parse(a).unwrap_or(u64::MAX),
                [a, b, rest @ ..] => {
                    min = parse(a).unwrap_or(u64::MAX);
                    max = parse(b).unwrap_or(u64::MAX);
                    if !rest.is_empty() {
                        self.warning(at, "too many parameters for ${_RANDOM}");
                    }
                }
                [] => {}
            }
        }
        if min > max {
            self.warning(
                at,
                format!("${{_RANDOM}} minimum {min} is above the maximum {max}"),
            );
            std::mem::swap(&mut min, &mut max);
        }
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let span = u128::from(max - min) + 1;
        min + u64::try_from(u128::from(z) % span).unwrap_or(0)
    }

    /// Warns about `$` references left after substitution.
    fn lint_references(&mut self, line: &Text) {
        let mut quoted = false;
        let mut i = 0;
        while let Some(ch) = line.get(i) {
            if ch.c == '"' {
                quoted = !quoted;
            }
            if ch.c != '$' {
                i += 1;
                continue;
            }
            let braced = line.get(i + 1).is_some_and(|c| c.c == '{');
            let name_start = if braced { i + 2 } else { i + 1 };
            let name: String = line
                .iter()
                .skip(name_start)
                .take_while(|c| c.c.is_ascii_alphanumeric() || c.c == '_')
                .map(|c| c.c)
                .collect();
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                i += 1;
                continue;
            }
            let end = name_start + name.chars().count();
            let reflen = if braced && line.get(end).is_some_and(|c| c.c == '}') {
                end + 1 - i
            } else {
                end - i
            };
            let at = merge_span(line.get(i..i + reflen).unwrap_or(&[])).unwrap_or(ch.at);
            match self.defs.get(&name) {
                Some(Value::Lines(_)) => self.push_diag(
                    Diagnostic::warning(
                        at,
                        format!("multi-line definition `${name}` is not replaced here"),
                    )
                    .with_help("a multi-line definition is only replaced at the end of a line"),
                ),
                Some(_) if !braced => {
                    let next = line.get(end).map(|c| c.c).unwrap_or(' ');
                    self.push_diag(
                        Diagnostic::warning(
                            at,
                            format!("`${name}` is not replaced because `{next}` follows it"),
                        )
                        .with_help(format!("write `${{{name}}}`")),
                    );
                }
                Some(_) => {}
                None if braced || !quoted => {
                    let mut d = Diagnostic::warning(
                        at,
                        format!("undefined parameter `${name}` is left as written"),
                    );
                    let names: Vec<&str> = self.defs.keys().map(String::as_str).collect();
                    let mut sorted = names.clone();
                    sorted.sort_unstable();
                    if let Some(s) = did_you_mean(&name, sorted.iter().copied()) {
                        d = d.with_help(format!("did you mean `${s}`?"));
                    } else {
                        d = d.with_help(format!("define it with `${name}=VALUE` before use"));
                    }
                    self.push_diag(d);
                }
                None => {}
            }
            i += reflen.max(1);
        }
    }

    // ---- ~SEQ / ~LST ----

    fn sequence(&mut self, line: &Text, src: &mut dyn Source) {
        let at = merge_span(line.get(..4).unwrap_or(&[])).unwrap_or(Span {
            file: FileId(0),
            line: 0,
            col: 0,
            len: 0,
        });
        let is_lst = starts_with(line, "~LST");
        let parsed = if is_lst {
            parse_lst(line)
        } else {
            self.parse_seq(line)
        };
        let (vars, values, template) = match parsed {
            Ok(p) => p,
            Err(msg) => {
                let what = if is_lst { "~LST" } else { "~SEQ" };
                let whole = merge_span(line).unwrap_or(at);
                self.push_diag(
                    Diagnostic::error(whole, format!("invalid {what}: {msg}")).with_help(
                        if is_lst {
                            "write ~LST(var, v1, v2, ...) or ~LST({a, b}, {1, 2}, {3, 4})"
                        } else {
                            "write ~SEQ(var, start, step, end), ~SEQ(var, start, end) or ~SEQ(var, end)"
                        },
                    ),
                );
                return;
            }
        };
        if self.depth >= self.opts.limits.max_expansion_depth {
            self.stop(Some(at), "~SEQ/~LST nest too deeply".into());
            return;
        }
        self.depth += 1;
        let mut values = values;
        let mut count = 0u64;
        while let Some(set) = values.next_set() {
            if self.stopped {
                break;
            }
            count += 1;
            if count > self.opts.limits.max_seq_count {
                self.error(
                    at,
                    format!(
                        "~SEQ/~LST produce more than {} passes",
                        self.opts.limits.max_seq_count
                    ),
                );
                break;
            }
            for (var, val) in vars.iter().zip(set) {
                let v: Text = val.chars().map(|c| Ch { c, at }).collect();
                self.defs.insert(var.clone(), Value::Text(v));
            }
            self.process(template.clone(), src);
        }
        self.depth -= 1;
    }

    /// keepalived's `add_seq()`.
    fn parse_seq(&mut self, line: &Text) -> Result<(Vec<String>, Values, Text), String> {
        let s: Vec<char> = line.iter().map(|c| c.c).collect();
        let mut p = 4;
        let hex = s.get(p) == Some(&'x');
        if hex {
            p += 1;
        }
        skip_blanks(&s, &mut p);
        if s.get(p) != Some(&'(') {
            return Err("expected `(`".into());
        }
        p += 1;
        skip_blanks(&s, &mut p);
        let var_start = p;
        while s
            .get(p)
            .is_some_and(|c| !matches!(c, ' ' | '\t' | ',' | ')'))
        {
            p += 1;
        }
        let var: String = s[var_start..p].iter().collect();
        skip_blanks(&s, &mut p);
        if var.is_empty() || s.get(p) != Some(&',') {
            return Err("expected a variable name and `,`".into());
        }
        p += 1;
        let Some(close) = s[p..].iter().position(|c| *c == ')').map(|x| x + p) else {
            return Err("missing `)`".into());
        };
        // The arguments may use parameters.
        let mut args: Text = line[p..=close].to_vec();
        if args.len() > 200 {
            return Err("arguments too long".into());
        }
        let mut subs = 0;
        let mut deferred = Vec::new();
        if args.iter().any(|c| c.c == '$') {
            self.substitute(&mut args, &mut subs, &mut deferred);
            if !deferred.is_empty() {
                return Err("an argument is a multi-line definition".into());
            }
        }
        let a: Vec<char> = args.iter().map(|c| c.c).collect();
        let mut q = 0;
        let mut nums = Vec::new();
        loop {
            let (v, used) = strtol(&a[q..]);
            q += used;
            nums.push(v);
            skip_blanks(&a, &mut q);
            match a.get(q) {
                Some(')') => break,
                Some(',') if nums.len() < 3 => q += 1,
                _ => return Err("expected numbers separated by `,`".into()),
            }
        }
        let (start, step, end) = match nums.as_slice() {
            [end] => {
                let end = *end;
                (
                    if end < 0 { -1 } else { 1 },
                    if end < 1 { -1 } else { 1 },
                    end,
                )
            }
            [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
            [start, step, end] => {
                if *step == 0 || (start < end && *step < 0) || (start > end && *step > 0) {
                    return Err(format!("step {step} never gets from {start} to {end}"));
                }
                (*start, *step, *end)
            }
            _ => return Err("expected 1 to 3 numbers".into()),
        };
        if hex && (start < 0 || end < 0) {
            return Err("~SEQx is only valid for positive numbers".into());
        }
        let mut t = close + 1;
        skip_blanks(&s, &mut t);
        let template = line.get(t..).unwrap_or(&[]).to_vec();
        Ok((
            vec![var],
            Values::Seq {
                next: Some(i128::from(start)),
                step: i128::from(step),
                end: i128::from(end),
                hex,
            },
            template,
        ))
    }

    // ---- include ----

    /// Handles an include line; false if the line is not one.
    fn include(&mut self, line: &Text) -> bool {
        let s: Vec<char> = line.iter().map(|c| c.c).collect();
        // `include_check` (a global_defs keyword) also steers include handling.
        if starts_with(line, "include_check") {
            self.include_check_keyword(line);
            return false;
        }
        if !starts_with(line, "include") {
            return false;
        }
        let (kind, rest) = match s.get(7) {
            Some(c) if c.is_whitespace() => (0u8, 8),
            Some(c) if "rmwba".contains(*c) && s.get(8).is_some_and(|c| c.is_whitespace()) => {
                let k = match c {
                    'r' => INC_R,
                    'm' => INC_R | INC_M,
                    'w' => INC_R | INC_M | INC_W,
                    'b' => INC_R | INC_B,
                    _ => INC_R | INC_M | INC_W | INC_B,
                };
                (k, 9)
            }
            _ => return false,
        };
        let at = merge_span(line).unwrap_or(Span {
            file: FileId(0),
            line: 0,
            col: 0,
            len: 0,
        });
        let mut p = rest;
        skip_blanks(&s, &mut p);
        let pattern: String = s.get(p..).unwrap_or(&[]).iter().collect();
        let pat_at = merge_span(line.get(p..).unwrap_or(&[])).unwrap_or(at);
        if pattern.is_empty() {
            self.error(at, "include without a file name");
            return true;
        }
        let flags = self.include_check | kind;
        let quoted_help = if pattern.starts_with('"') || pattern.starts_with('\'') {
            Some("keepalived does not remove quotes from include paths".to_string())
        } else {
            None
        };
        // Relative to the directory of the including file (keepalived chdir()s there).
        let base = self
            .stack
            .last()
            .and_then(|(_, id)| self.sources.get(*id))
            .and_then(|f| f.path.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let full = if Path::new(&pattern).is_absolute() || base.as_os_str().is_empty() {
            pattern.clone()
        } else {
            format!(
                "{}/{}",
                base.to_string_lossy().trim_end_matches('/'),
                pattern
            )
        };
        let alts = match brace_expand(&full, self.opts.limits.max_glob_paths) {
            Some(a) => a,
            None => {
                self.error(pat_at, "include pattern has too many brace alternatives");
                return true;
            }
        };
        let has_brace = alts.len() > 1 || has_unescaped(&full, '{');
        let mut matches: Vec<PathBuf> = Vec::new();
        let mut missing = false;
        let mut wildcard = false;
        for alt in &alts {
            let g = glob(self.fs, alt, self.opts.limits.max_glob_paths);
            missing |= g.missing;
            wildcard |= g.wildcard;
            matches.extend(g.matches);
            if matches.len() > self.opts.limits.max_glob_paths {
                self.error(pat_at, "include pattern matches too many files");
                return true;
            }
        }
        let sev = |bit: u8| flags & bit != 0;
        let report = |pre: &mut Self, error: bool, msg: String| {
            let mut d = if error {
                Diagnostic::error(pat_at, msg)
            } else {
                Diagnostic::warning(pat_at, msg)
            };
            if let Some(h) = &quoted_help {
                d = d.with_help(h.clone());
            }
            pre.push_diag(d);
        };
        if matches.is_empty() {
            if missing {
                let bit = if has_brace { INC_B } else { INC_M };
                report(self, sev(bit), format!("include file not found: {pattern}"));
            } else if wildcard && sev(INC_W) {
                report(
                    self,
                    true,
                    format!("no file matches include pattern {pattern}"),
                );
            }
            return true;
        }
        if missing {
            report(
                self,
                sev(INC_B),
                format!("some files of include pattern {pattern} are missing"),
            );
            if sev(INC_B) {
                return true;
            }
        }
        for m in matches {
            if self.stopped {
                break;
            }
            if self.fs.is_dir(&m) {
                report(
                    self,
                    sev(INC_R),
                    format!("include {} is a directory; skipped", m.display()),
                );
                continue;
            }
            if self.fs.is_executable(&m) {
                report(
                    self,
                    sev(INC_R),
                    format!("include {} is executable; skipped", m.display()),
                );
                continue;
            }
            let norm = crate::fs::normalize(&m);
            if self.stack.iter().any(|(p, _)| *p == norm) {
                let chain: Vec<String> = self
                    .stack
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .chain(std::iter::once(norm.display().to_string()))
                    .collect();
                self.push_diag(
                    Diagnostic::error(pat_at, format!("include cycle: {}", chain.join(" -> ")))
                        .with_help("remove the include that leads back to an open file"),
                );
                continue;
            }
            if self.stack.len() >= self.opts.limits.max_include_depth {
                self.error(
                    pat_at,
                    format!(
                        "includes nest deeper than {} files",
                        self.opts.limits.max_include_depth
                    ),
                );
                continue;
            }
            if self.sources.files().len() >= self.opts.limits.max_files {
                self.stop(
                    Some(pat_at),
                    format!("more than {} files included", self.opts.limits.max_files),
                );
                break;
            }
            match self.fs.read(&m) {
                Ok(text) => {
                    self.in_chars = self.in_chars.saturating_add(text.len());
                    if self.in_chars > self.opts.limits.max_input_chars {
                        self.stop(
                            Some(pat_at),
                            format!(
                                "configuration files larger than {} characters in total",
                                self.opts.limits.max_input_chars
                            ),
                        );
                        break;
                    }
                    self.run_file(m, text, Some(at));
                }
                Err(e) => report(
                    self,
                    sev(INC_R),
                    format!("cannot read include {}: {e}", m.display()),
                ),
            }
        }
        true
    }

    fn include_check_keyword(&mut self, line: &Text) {
        let s = text_str(line);
        let mut words = s.split_whitespace();
        if words.next() != Some("include_check") {
            return;
        }
        let words: Vec<&str> = words.collect();
        if words.is_empty() {
            self.include_check = INC_R | INC_M | INC_W | INC_B;
            return;
        }
        let mut first_plain = true;
        for w in words {
            let (op, name) = match w.as_bytes().first() {
                Some(b'+') => ('+', &w[1..]),
                Some(b'-') => ('-', &w[1..]),
                _ => ('=', w),
            };
            let own = match name {
                "readable" => INC_R,
                "match" => INC_M,
                "wildcard_match" => INC_W,
                "brace_match" => INC_B,
                _ => {
                    let names = ["readable", "match", "wildcard_match", "brace_match"];
                    let mut d = Diagnostic::warning(
                        merge_span(line).unwrap_or(line[0].at),
                        format!("unknown include_check option `{name}`"),
                    );
                    if let Some(s) = did_you_mean(name, names) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.push_diag(d);
                    continue;
                }
            };
            // match, wildcard_match and brace_match include the readable check.
            let bits = own | INC_R;
            match op {
                '+' => self.include_check |= bits,
                '-' => self.include_check &= !own,
                _ => {
                    if first_plain {
                        self.include_check = 0;
                        first_plain = false;
                    }
                    self.include_check |= bits;
                }
            }
        }
    }

    // ---- output ----

    fn emit(&mut self, seg: Text) {
        if seg.is_empty() {
            return;
        }
        self.out_chars = self.out_chars.saturating_add(seg.len());
        if self.out_chars > self.opts.limits.max_output_chars {
            let at = seg.first().map(|c| c.at);
            self.stop(
                at,
                format!(
                    "the expanded configuration is larger than {} characters",
                    self.opts.limits.max_output_chars
                ),
            );
            return;
        }
        let toks = tokenize_text(&seg);
        if !toks.is_empty() {
            (self.out)(toks);
        }
    }
}

fn skip_blanks(s: &[char], p: &mut usize) {
    while s.get(*p).is_some_and(|c| is_blank(*c)) {
        *p += 1;
    }
}

/// C `strtol(s, &end, 0)`: blanks, sign, `0x` hex / leading-`0` octal / decimal;
/// returns the value (saturated) and the characters used (0 when there is no number).
fn strtol(s: &[char]) -> (i64, usize) {
    let mut p = 0;
    while s.get(p).is_some_and(|c| c.is_whitespace()) {
        p += 1;
    }
    let mut neg = false;
    if let Some(c @ ('+' | '-')) = s.get(p) {
        neg = *c == '-';
        p += 1;
    }
    let mut radix = 10;
    if s.get(p) == Some(&'0') {
        if matches!(s.get(p + 1), Some('x' | 'X'))
            && s.get(p + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            p += 2;
        } else {
            radix = 8;
        }
    }
    let digits_start = p;
    let mut v: i128 = 0;
    while let Some(d) = s.get(p).and_then(|c| c.to_digit(radix)) {
        v = (v * i128::from(radix) + i128::from(d)).min(i128::from(i64::MAX) + 1);
        p += 1;
    }
    if p == digits_start {
        return (0, 0);
    }
    let v = if neg { -v } else { v };
    let v = i64::try_from(v).unwrap_or(if neg { i64::MIN } else { i64::MAX });
    (v, p)
}

/// The values of a `~SEQ` or `~LST`.
enum Values {
    Seq {
        next: Option<i128>,
        step: i128,
        end: i128,
        hex: bool,
    },
    Lst(std::vec::IntoIter<Vec<String>>),
}

impl Values {
    fn next_set(&mut self) -> Option<Vec<String>> {
        match self {
            Values::Seq {
                next,
                step,
                end,
                hex,
            } => {
                let v = (*next)?;
                let n = v + *step;
                *next = if (*step > 0 && n > *end) || (*step < 0 && n < *end) {
                    None
                } else {
                    Some(n)
                };
                Some(vec![if *hex {
                    format!("{v:x}")
                } else {
                    v.to_string()
                }])
            }
            Values::Lst(it) => it.next(),
        }
    }
}

/// keepalived's `add_lst()`.
fn parse_lst(line: &Text) -> Result<(Vec<String>, Values, Text), String> {
    let s: Vec<char> = line.iter().map(|c| c.c).collect();
    let mut p = 4;
    skip_blanks(&s, &mut p);
    if s.get(p) != Some(&'(') {
        return Err("expected `(`".into());
    }
    p += 1;
    skip_blanks(&s, &mut p);
    let braced = s.get(p) == Some(&'{');
    if braced {
        p += 1;
        skip_blanks(&s, &mut p);
    }
    let word = |p: &mut usize, stops: &str| -> String {
        let st = *p;
        while s.get(*p).is_some_and(|c| !stops.contains(*c)) {
            *p += 1;
        }
        s[st..*p].iter().collect()
    };
    let mut vars = Vec::new();
    loop {
        let v = word(&mut p, " \t,}");
        if v.is_empty() {
            return Err("expected a variable name".into());
        }
        vars.push(v);
        skip_blanks(&s, &mut p);
        if !braced {
            break;
        }
        match s.get(p) {
            Some('}') => {
                p += 1;
                skip_blanks(&s, &mut p);
                break;
            }
            Some(',') => {
                p += 1;
                skip_blanks(&s, &mut p);
            }
            _ => return Err("expected `,` or `}` after a variable".into()),
        }
        if vars.len() > 64 {
            return Err("too many variables".into());
        }
    }
    if s.get(p) != Some(&',') {
        return Err("expected `,` after the variables".into());
    }
    p += 1;
    skip_blanks(&s, &mut p);
    let mut sets: Vec<Vec<String>> = Vec::new();
    loop {
        let set_braced = s.get(p) == Some(&'{');
        if set_braced {
            p += 1;
            skip_blanks(&s, &mut p);
        }
        let mut set = Vec::new();
        loop {
            set.push(word(&mut p, " \t,})"));
            skip_blanks(&s, &mut p);
            if !set_braced {
                break;
            }
            match s.get(p) {
                Some('}') => {
                    p += 1;
                    skip_blanks(&s, &mut p);
                    break;
                }
                Some(',') => {
                    p += 1;
                    skip_blanks(&s, &mut p);
                }
                _ => return Err("expected `,` or `}` in a value set".into()),
            }
            if set.len() > vars.len() {
                return Err(format!(
                    "a value set has more values than the {} variables",
                    vars.len()
                ));
            }
        }
        if set.len() > vars.len() {
            return Err(format!(
                "a value set has more values than the {} variables",
                vars.len()
            ));
        }
        // Missing values are empty.
        set.resize(vars.len(), String::new());
        sets.push(set);
        match s.get(p) {
            Some(')') => break,
            Some(',') => {
                p += 1;
                skip_blanks(&s, &mut p);
            }
            _ => return Err("expected `,` or `)` after a value".into()),
        }
        if sets.len() > 1 << 20 {
            return Err("too many values".into());
        }
    }
    let mut t = p + 1;
    skip_blanks(&s, &mut t);
    let template = line.get(t..).unwrap_or(&[]).to_vec();
    Ok((vars, Values::Lst(sets.into_iter()), template))
}

/// A `$NAME` / `${NAME}` / `${NAME params}` reference at `pos` (which holds `$`).
struct Ref {
    name: String,
    params: Option<String>,
    /// Characters from `$` to the end of the reference.
    len: usize,
}

/// keepalived's `find_definition()` syntax: `${NAME}` (optionally `${NAME 1 2}` with
/// digits and spaces), or `$NAME` followed by a blank, `,`, `)` or the end of the line.
fn parse_ref(line: &[Ch], pos: usize) -> Option<Ref> {
    let braced = line.get(pos + 1)?.c == '{';
    let start = if braced { pos + 2 } else { pos + 1 };
    let first = line.get(start)?.c;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let mut p = start + 1;
    while line
        .get(p)
        .is_some_and(|c| c.c.is_ascii_alphanumeric() || c.c == '_')
    {
        p += 1;
    }
    let name: String = line[start..p].iter().map(|c| c.c).collect();
    if braced {
        let pstart = p;
        while line
            .get(p)
            .is_some_and(|c| c.c == ' ' || c.c.is_ascii_digit())
        {
            p += 1;
        }
        let raw: String = line[pstart..p].iter().map(|c| c.c).collect();
        let params = if raw.trim().is_empty() {
            None
        } else {
            if raw.ends_with(' ') {
                return None;
            }
            Some(raw.trim().to_string())
        };
        if line.get(p)?.c != '}' {
            return None;
        }
        Some(Ref {
            name,
            params,
            len: p + 1 - pos,
        })
    } else {
        match line.get(p).map(|c| c.c) {
            None | Some(' ' | '\t' | ',' | ')') => Some(Ref {
                name,
                params: None,
                len: p - pos,
            }),
            Some(_) => None,
        }
    }
}

/// Splits at the first `{`/`}` outside double quotes: a leading brace is returned alone
/// (the rest, blanks skipped, is the remainder); otherwise the text before the brace is
/// returned and the remainder starts with the brace.
fn split_brace(line: Text) -> (Text, Option<Text>) {
    if line.first().is_some_and(|c| c.c == '{' || c.c == '}') {
        let mut rest = line;
        let tail = rest.split_off(1);
        let mut tail = tail;
        trim_start(&mut tail);
        return (rest, if tail.is_empty() { None } else { Some(tail) });
    }
    let mut quoted = false;
    let mut prev_backslash = false;
    let mut cut = None;
    for (i, c) in line.iter().enumerate() {
        match c.c {
            '\\' if quoted => {
                prev_backslash = !prev_backslash;
                continue;
            }
            '"' if !prev_backslash => quoted = !quoted,
            '{' | '}' if !quoted => {
                cut = Some(i);
                break;
            }
            _ => {}
        }
        prev_backslash = false;
    }
    match cut {
        Some(i) => {
            let mut head = line;
            let tail = head.split_off(i);
            trim_end(&mut head);
            (head, Some(tail))
        }
        None => (line, None),
    }
}

/// Splits one brace-free segment (or a lone brace) into tokens.
fn tokenize_text(seg: &[Ch]) -> Vec<Token> {
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(ch) = seg.get(i) {
        if ch.c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        let quoted = ch.c == '"';
        if quoted {
            i += 1;
            while let Some(c) = seg.get(i) {
                match c.c {
                    '"' => break,
                    '\\' => {
                        i += 1;
                        i += unescape(seg.get(i..).unwrap_or(&[]), &mut text);
                    }
                    other => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            i += 1; // the closing quote, if any
        } else {
            // One allocation of the right size (most words are ASCII).
            let word = seg.get(i..).unwrap_or(&[]);
            let n = word
                .iter()
                .take_while(|c| !c.c.is_whitespace() && c.c != '"')
                .count();
            text = word.iter().take(n).map(|c| c.c).collect();
            i += n;
        }
        let end = i.min(seg.len());
        if let Some(span) = merge_span(seg.get(start..end).unwrap_or(&[])) {
            toks.push(Token { text, span, quoted });
        }
    }
    toks
}

/// Resolves the escape after a `\` inside double quotes (keepalived.conf(5) "Quoted
/// strings"); returns the characters used.
fn unescape(s: &[Ch], out: &mut String) -> usize {
    let Some(first) = s.first().map(|c| c.c) else {
        out.push('\\');
        return 0;
    };
    match first {
        'x' if s.get(1).is_some_and(|c| c.c.is_ascii_hexdigit()) => {
            let mut v: u32 = 0;
            let mut n = 1;
            while let Some(d) = s.get(n).and_then(|c| c.c.to_digit(16)) {
                v = (v << 4 | d) & 0xff;
                n += 1;
            }
            out.push(char::from(u8::try_from(v).unwrap_or(0)));
            n
        }
        'c' if s.len() > 1 => {
            let c = s.get(1).map(|c| c.c).unwrap_or('@');
            out.push(char::from(u8::try_from(u32::from(c) & 0x1f).unwrap_or(0)));
            2
        }
        '0'..='7' => {
            let mut v: u32 = 0;
            let mut n = 0;
            while n < 3 {
                match s.get(n).and_then(|c| c.c.to_digit(8)) {
                    Some(d) => v = (v << 3) + d,
                    None => break,
                }
                n += 1;
            }
            out.push(char::from(u8::try_from(v & 0xff).unwrap_or(0)));
            n
        }
        c => {
            out.push(match c {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'E' => '\u{1b}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{b}',
                other => other,
            });
            1
        }
    }
}

fn has_unescaped(s: &str, ch: char) -> bool {
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ch {
            return true;
        }
    }
    false
}

/// csh-style brace expansion as glibc's `GLOB_BRACE`: `a{b,c{d,e}}f` gives `abf`, `acdf`,
/// `acef`, in that order. `None` if more than `max` results.
pub fn brace_expand(pattern: &str, max: usize) -> Option<Vec<String>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    expand_into(&chars, &mut out, max, 0)?;
    Some(out)
}

fn expand_into(p: &[char], out: &mut Vec<String>, max: usize, depth: usize) -> Option<()> {
    if depth > 64 {
        return None;
    }
    // Find the first unescaped `{` that has a matching `}`.
    let mut i = 0;
    let mut open = None;
    while i < p.len() {
        match p[i] {
            '\\' => i += 1,
            '{' => {
                open = Some(i);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let Some(o) = open else {
        if out.len() >= max {
            return None;
        }
        out.push(p.iter().collect());
        return Some(());
    };
    // Find its matching `}` and the top-level commas.
    let mut level = 0;
    let mut commas = Vec::new();
    let mut close = None;
    let mut j = o + 1;
    while j < p.len() {
        match p[j] {
            '\\' => j += 1,
            '{' => level += 1,
            '}' if level == 0 => {
                close = Some(j);
                break;
            }
            '}' => level -= 1,
            ',' if level == 0 => commas.push(j),
            _ => {}
        }
        j += 1;
    }
    let Some(c) = close else {
        // Unbalanced: glibc treats the pattern literally.
        if out.len() >= max {
            return None;
        }
        out.push(p.iter().collect());
        return Some(());
    };
    let prefix = &p[..o];
    let suffix = &p[c + 1..];
    let mut bounds = vec![o];
    bounds.extend(commas);
    bounds.push(c);
    for w in bounds.windows(2) {
        let alt = &p[w[0] + 1..w[1]];
        let mut joined: Vec<char> = Vec::with_capacity(prefix.len() + alt.len() + suffix.len());
        joined.extend_from_slice(prefix);
        joined.extend_from_slice(alt);
        joined.extend_from_slice(suffix);
        expand_into(&joined, out, max, depth + 1)?;
    }
    Some(())
}

struct GlobResult {
    matches: Vec<PathBuf>,
    /// A literal path or a directory on the way did not exist.
    missing: bool,
    /// A component had a wildcard.
    wildcard: bool,
}

fn has_magic(s: &str) -> bool {
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn unescape_glob(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        if !esc && c == '\\' {
            esc = true;
            continue;
        }
        esc = false;
        out.push(c);
    }
    out
}

/// `glob()` without braces over a [`FileSystem`]; results sorted.
fn glob(fs: &dyn FileSystem, pattern: &str, max: usize) -> GlobResult {
    let mut res = GlobResult {
        matches: Vec::new(),
        missing: false,
        wildcard: false,
    };
    let absolute = pattern.starts_with('/');
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut cands: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for comp in comps {
        let mut next = Vec::new();
        if has_magic(comp) {
            res.wildcard = true;
            for dir in &cands {
                let listing = if dir.as_os_str().is_empty() {
                    fs.read_dir(Path::new("."))
                } else {
                    fs.read_dir(dir)
                };
                match listing {
                    Ok(names) => {
                        for n in names {
                            if fnmatch(comp, &n) {
                                next.push(dir.join(n));
                                if next.len() > max {
                                    return res;
                                }
                            }
                        }
                    }
                    Err(_) => res.missing = true,
                }
            }
        } else {
            let lit = unescape_glob(comp);
            next = cands.iter().map(|d| d.join(&lit)).collect();
        }
        cands = next;
        if cands.is_empty() {
            break;
        }
    }
    for c in cands {
        if c.as_os_str().is_empty() || c == Path::new("/") {
            continue;
        }
        if fs.exists(&c) {
            res.matches.push(c);
        } else {
            res.missing = true;
        }
    }
    res.matches.sort();
    res
}

/// `fnmatch()` of one path component, without `FNM_PERIOD` exceptions: a leading `.`
/// in the name must be matched by a literal `.` (as `glob()` does).
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if n.first() == Some(&'.') && p.first() != Some(&'.') {
        return false;
    }
    // Iterative matcher with backtracking over the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let mut steps = 0u64;
    loop {
        steps += 1;
        if steps > 1_000_000 {
            return false;
        }
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() => {
                    if let Some((ok, used)) = class_match(&p[pi..], n[ni]) {
                        if ok {
                            pi += used;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && ni < n.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if c != '?' && c != '[' && c != '\\' && ni < n.len() && c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return true;
        }
        match star {
            Some((sp, sn)) if sn < n.len() => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
}

/// A `[...]` class at the start of `p`: (matches, characters used), or `None` if the
/// class is not closed (then `[` is literal).
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let neg = matches!(p.get(i), Some('!' | '^'));
    if neg {
        i += 1;
    }
    let mut ok = false;
    let mut first = true;
    loop {
        let cur = *p.get(i)?;
        if cur == ']' && !first {
            return Some((ok != neg, i + 1));
        }
        first = false;
        let lo = if cur == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            cur
        };
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|x| *x != ']') {
            let hi = *p.get(i + 2)?;
            if lo <= c && c <= hi {
                ok = true;
            }
            i += 3;
        } else {
            if lo == c {
                ok = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of tokens one physical line gives through the general path
    /// (`decomment` + `process`) and through the fast path (`emit_simple`).
    fn both_paths(raw: &str, limit: usize) -> (Vec<Line>, Vec<Line>, usize, usize) {
        let fs = crate::fs::MemFs::new();
        let mut opts = LoadOptions::default();
        opts.limits.max_output_chars = limit;
        let mut general: Vec<Line> = Vec::new();
        let mut out = |l: Line| general.push(l);
        let mut pre = Pre::new(&fs, &opts, &mut out);
        let t = pre.decomment(raw, FileId(0), 7);
        if !t.is_empty() {
            let mut none = LinesSource {
                lines: Vec::new().into_iter(),
            };
            pre.process(t, &mut none);
        }
        let general_diags = pre.diags.len();
        let mut fast: Vec<Line> = Vec::new();
        let mut out = |l: Line| fast.push(l);
        let mut pre = Pre::new(&fs, &opts, &mut out);
        let line = simple_line(raw).unwrap();
        let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
        let body = line.trim_matches([' ', '\t']);
        if !body.is_empty() {
            pre.emit_simple(body, lead, FileId(0), 7);
        }
        let fast_diags = pre.diags.len();
        (general, fast, general_diags, fast_diags)
    }

    #[test]
    fn simple_lines_take_the_fast_path_with_the_same_tokens() {
        for raw in [
            "virtual_server 192.0.2.1 80 {",
            "    real_server 198.51.100.1 8080 {",
            "}",
            "  }  ",
            "\t weight\t 3 # a comment",
            "a{b}c { d } e",
            "{{}} x",
            "   ! only a comment",
            "x}{y",
            "key value ! comment { with brace",
        ] {
            let (general, fast, gd, fd) = both_paths(raw, 1 << 20);
            assert_eq!(general, fast, "{raw:?}");
            assert_eq!((gd, fd), (0, 0), "{raw:?}");
        }
        // The output limit stops both at the same place.
        for limit in [0, 3, 5, 9] {
            let (general, fast, gd, fd) = both_paths("ab cd { ef } gh", limit);
            assert_eq!(general, fast, "limit {limit}");
            assert_eq!(gd, fd, "limit {limit}");
        }
    }

    #[test]
    fn lines_the_preprocessor_changes_are_not_simple() {
        for raw in [
            "$X=1",
            "@id x",
            "~SEQ(i,1,2) x",
            "a \"b c\"",
            "a \\# b",
            "include x.conf",
            "x { include y.conf",
            "caf\u{e9} 1",
            "a\u{b}b",
        ] {
            assert!(simple_line(raw).is_none(), "{raw:?}");
        }
    }

    #[test]
    fn braces() {
        assert_eq!(
            brace_expand("a{b,c{d,e}}f", 100).unwrap(),
            vec!["abf", "acdf", "acef"]
        );
        assert_eq!(brace_expand("x{,y}", 100).unwrap(), vec!["x", "xy"]);
        assert_eq!(brace_expand("a{b", 100).unwrap(), vec!["a{b"]);
        assert!(brace_expand("{a,b}{a,b}{a,b}", 4).is_none());
    }

    #[test]
    fn globbing() {
        assert!(fnmatch("*.conf", "a.conf"));
        assert!(!fnmatch("*.conf", ".a.conf"));
        assert!(fnmatch(".*", ".a"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(!fnmatch("[!a-c]x", "bx"));
        assert!(fnmatch("[!a-c]x", "dx"));
        assert!(fnmatch("\\*", "*"));
        assert!(!fnmatch("\\*", "a"));
        assert!(fnmatch("*a*b*c", "xxaxxbxxc"));
        assert!(!fnmatch("*a*b*c", "xxaxxbxx"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("[", "["));
    }

    #[test]
    fn c_strtol() {
        let c = |s: &str| strtol(&s.chars().collect::<Vec<_>>());
        assert_eq!(c("0x1f)"), (31, 4));
        assert_eq!(c(" 010,"), (8, 4));
        assert_eq!(c("-5"), (-5, 2));
        assert_eq!(c(")"), (0, 0));
        assert_eq!(c("99999999999999999999999"), (i64::MAX, 23));
    }
}
