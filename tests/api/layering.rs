//! Issue 11 item 6, "The layering is checked": the edges between the crate's top-level
//! modules are read from src/ and held against the rules below (docs/architecture.md,
//! "The layering check").
//!
//! The scan is textual but token-based: a small tokenizer drops comments (`//`, `/* */`,
//! doc comments) and keeps string literals apart from code; every item under
//! `#[cfg(test)]` is skipped (an inline `mod tests { … }` by brace matching, a
//! `#[cfg(test)] mod x;` declaration by leaving out the whole file `x.rs` / `x/mod.rs`).
//! References are `crate::…` paths (in `use` trees, grouped or not, and inside code),
//! `super::…` / `self::…` paths and paths through a child module the file declares.
//!
//! Today's violations are listed in `KNOWN_DEBT` (without line numbers). The test fails
//! on a violation that is not listed (new debt) and on a listed entry that no longer
//! occurs (paid debt: delete the line). The target is an empty list.
//!
//! `LAYERING_PRINT=1 cargo test --locked --test api layering -- --nocapture` prints the
//! module graph of the domain files as an adjacency list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// The table: edit here.
// ---------------------------------------------------------------------------------------

/// Top-level modules whose every file is an edge (router assembly, wire adapters).
/// `setup` does not exist yet.
const EDGE_MODULES: &[&str] = &["http", "admin", "setup"];
/// A file with this name is an edge wherever it is (a protocol's handlers).
const EDGE_FILE_NAME: &str = "routes.rs";
/// Further files that are the wire edge of a protocol (e.g. "src/saml/acs.rs").
const EDGE_FILES: &[&str] = &["src/scim/wire.rs", "src/saml/slo_pages.rs"];
/// Edge-like: `config.rs` gathers the settings of many modules (session, webhooks,
/// outbound, secrets) for lib.rs and main.rs, and nothing else uses it. Like an edge it is
/// exempt from R1–R6 (it would break R5 as a foundation module) and may not be depended on
/// by a domain file; R7 and R8 hold for every file, edges included.
const EDGE_LIKE: &[&str] = &["src/config.rs"];
/// Always edges: the crate root and the CLI. A `crate::item` that is not a module is an
/// item of lib.rs.
const CRATE_ROOT_FILES: &[&str] = &["src/lib.rs", "src/main.rs"];

/// R1: names a domain file may not use, and what they belong to.
const WIRE_NAMES: &[(&str, &str)] = &[("axum", "axum"), ("AppState", "http"), ("ApiError", "ApiError")];
/// R2: the only modules store/ may refer to (modules that do not exist yet are fine).
const STORE_MAY_USE: &[&str] = &["metrics", "model", "clock", "audit"];
/// R3: directory may not refer to access.
const DIRECTORY_MAY_NOT_USE: &[&str] = &["access"];
/// R4: no protocol refers to another.
const PROTOCOLS: &[&str] = &["scim", "saml", "oidc", "signals"];
/// R5: foundation modules refer only to foundation modules.
const FOUNDATION: &[&str] = &["model", "clock", "secrets", "metrics", "outbound", "audit"];
/// R7: only store/ names this crate.
const SQL_CRATE: &str = "rusqlite";
/// R8: SQL text in string literals outside store/ (upper case, whole words; `SELECT`,
/// `UPDATE` and `WHERE` must be followed by white space, as in `SELECT `).
const SQL_WORDS: &[(&str, bool)] =
    &[("SELECT", true), ("INSERT INTO", false), ("UPDATE", true), ("DELETE FROM", false), ("WHERE", true)];
/// The module whose files may hold SQL and name rusqlite.
const STORE: &str = "store";

/// Violations tolerated today, as `Violation::key` prints them (no line numbers). Delete
/// an entry when its debt is paid: the test fails on stale entries.
const KNOWN_DEBT: &[&str] = &[
    // R1: domain -> edge (http, admin, routes.rs, axum, AppState, ApiError)
    // R2: store uses only STORE_MAY_USE
    // R3: directory -> access
    // R4: protocol -> protocol
    // R6: cycles between top-level modules (domain files)
    // R7: rusqlite outside store/
    // R8: SQL text outside store/
];

// ---------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::` or a single punctuation character.
    Punct(String),
    /// A string literal's text between its quotes (escapes left as written).
    Str(String),
    /// Numbers and character literals.
    Lit,
    Lifetime,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Rust source to tokens; comments are dropped.
fn tokenize(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((open, hashes)) = raw_string_start(&c, i) {
            let start_line = line;
            let mut j = i + open;
            let mut text = String::new();
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                if c[j] == '\n' {
                    line += 1;
                }
                text.push(c[j]);
                j += 1;
            }
            out.push(Token { tok: Tok::Str(text), line: start_line });
            i = j;
        } else if ch == '"' || ((ch == 'b' || ch == 'c') && at(i + 1) == '"') {
            let start_line = line;
            let mut j = if ch == '"' { i + 1 } else { i + 2 };
            let mut text = String::new();
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' && j + 1 < c.len() {
                    text.push(c[j]);
                    j += 1;
                }
                if c[j] == '\n' {
                    line += 1;
                }
                text.push(c[j]);
                j += 1;
            }
            out.push(Token { tok: Tok::Str(text), line: start_line });
            i = j + 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            let q = if ch == '\'' { i } else { i + 1 };
            if at(q + 1) == '\\' {
                // Escaped character literal: up to the closing quote.
                let mut j = q + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                out.push(Token { tok: Tok::Lit, line });
                i = j + 1;
            } else if at(q + 2) == '\'' {
                out.push(Token { tok: Tok::Lit, line });
                i = q + 3;
            } else {
                // A lifetime or a loop label.
                let mut j = q + 1;
                while j < c.len() && is_ident_char(c[j]) {
                    j += 1;
                }
                out.push(Token { tok: Tok::Lifetime, line });
                i = j;
            }
        } else if ch == 'r' && at(i + 1) == '#' && is_ident_start(at(i + 2)) {
            // Raw identifier r#name.
            let mut j = i + 2;
            while j < c.len() && is_ident_char(c[j]) {
                j += 1;
            }
            out.push(Token { tok: Tok::Ident(c[i + 2..j].iter().collect()), line });
            i = j;
        } else if is_ident_start(ch) {
            let mut j = i;
            while j < c.len() && is_ident_char(c[j]) {
                j += 1;
            }
            out.push(Token { tok: Tok::Ident(c[i..j].iter().collect()), line });
            i = j;
        } else if ch.is_ascii_digit() {
            let mut j = i;
            while j < c.len() && (is_ident_char(c[j]) || (c[j] == '.' && at(j + 1).is_ascii_digit())) {
                j += 1;
            }
            out.push(Token { tok: Tok::Lit, line });
            i = j;
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token { tok: Tok::Punct("::".into()), line });
            i += 2;
        } else {
            out.push(Token { tok: Tok::Punct(ch.to_string()), line });
            i += 1;
        }
    }
    out
}

/// At `i`: `r"`, `r#"`, `br##"`, `cr"`…: (length of the opening, number of `#`).
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if matches!(c.get(j), Some('b') | Some('c')) {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((j + 1 - i, hashes))
}

fn is_punct(t: Option<&Token>, p: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(x), .. }) if x == p)
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t {
        Some(Token { tok: Tok::Ident(x), .. }) => Some(x),
        _ => None,
    }
}

/// Index just past the group opened at `open` (`(`, `[` or `{`), by bracket matching.
fn skip_group(t: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < t.len() {
        if let Tok::Punct(p) = &t[i].tok {
            match p.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    t.len()
}

/// A `#[cfg(test)] mod name;` declaration (with its `#[path = "…"]`, if any).
#[derive(Debug, PartialEq, Eq)]
struct TestMod {
    name: String,
    path: Option<String>,
}

/// Is the attribute body (between `[` and `]`) `cfg(test)` or `cfg(all(test, …))`?
fn is_cfg_test(body: &[Token]) -> bool {
    let words: Vec<&str> = body
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Ident(x) => Some(x.as_str()),
            Tok::Punct(p) if p == "(" => Some("("),
            _ => None,
        })
        .collect();
    words.starts_with(&["cfg", "(", "test"]) || words.starts_with(&["cfg", "(", "all", "(", "test"])
}

/// The tokens without the items under `#[cfg(test)]` (and without everything after an
/// inner `#![cfg(test)]`), and the test-only module files the tokens declare.
fn strip_test_code(t: &[Token]) -> (Vec<Token>, Vec<TestMod>) {
    let mut out = Vec::new();
    let mut mods = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let inner = is_punct(t.get(i + 1), "!");
        let open = if inner { i + 2 } else { i + 1 };
        if !(is_punct(t.get(i), "#") && is_punct(t.get(open), "[")) {
            out.push(t[i].clone());
            i += 1;
            continue;
        }
        let end = skip_group(t, open);
        if !is_cfg_test(&t[open + 1..end.saturating_sub(1)]) {
            out.extend_from_slice(&t[i..end]);
            i = end;
            continue;
        }
        if inner {
            // `#![cfg(test)]`: the rest of this file (or block) is test code.
            break;
        }
        // Further attributes of the same item; note a `#[path = "…"]`.
        let mut j = end;
        let mut path = None;
        while is_punct(t.get(j), "#") && is_punct(t.get(j + 1), "[") {
            let e = skip_group(t, j + 1);
            if ident(t.get(j + 2)) == Some("path") && is_punct(t.get(j + 3), "=") {
                if let Some(Token { tok: Tok::Str(s), .. }) = t.get(j + 4) {
                    path = Some(s.clone());
                }
            }
            j = e;
        }
        // `[pub[(…)]] mod name;`
        let mut k = j;
        if ident(t.get(k)) == Some("pub") {
            k += 1;
            if is_punct(t.get(k), "(") {
                k = skip_group(t, k);
            }
        }
        if ident(t.get(k)) == Some("mod") && is_punct(t.get(k + 2), ";") {
            if let Some(name) = ident(t.get(k + 1)) {
                mods.push(TestMod { name: name.to_string(), path: path.clone() });
            }
        }
        // Skip the item: up to a `;` outside brackets, or past its first `{ … }`.
        while j < t.len() {
            match &t[j].tok {
                Tok::Punct(p) if p == ";" => {
                    j += 1;
                    break;
                }
                Tok::Punct(p) if p == "{" => {
                    j = skip_group(t, j);
                    break;
                }
                Tok::Punct(p) if p == "(" || p == "[" => j = skip_group(t, j),
                _ => j += 1,
            }
        }
        i = j;
    }
    (out, mods)
}

// ---------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------

/// A path this file refers to, from the crate root.
#[derive(Debug, PartialEq, Eq)]
struct Ref {
    path: Vec<String>,
    line: usize,
}

/// Parse a use tree (or a plain path) at `i`, below `prefix`; push every leaf path.
/// Returns the index after the tree.
fn parse_tree(t: &[Token], mut i: usize, prefix: &[String], out: &mut Vec<Ref>) -> usize {
    let mut path = prefix.to_vec();
    let mut line = t.get(i).map_or(0, |x| x.line);
    loop {
        if is_punct(t.get(i), "{") {
            i += 1;
            while i < t.len() && !is_punct(t.get(i), "}") {
                let before = i;
                i = parse_tree(t, i, &path, out);
                if is_punct(t.get(i), ",") {
                    i += 1;
                } else if i == before {
                    // Not a use tree after all: step on.
                    i += 1;
                }
            }
            return i + 1;
        }
        if is_punct(t.get(i), "*") {
            out.push(Ref { path, line });
            return i + 1;
        }
        match ident(t.get(i)) {
            Some("self") => {}
            Some(seg) => path.push(seg.to_string()),
            None => break,
        }
        if path.len() == prefix.len() + 1 {
            line = t[i].line;
        }
        i += 1;
        // `::` followed by a segment, a group or a glob continues the path (not `::<`).
        if is_punct(t.get(i), "::")
            && (ident(t.get(i + 1)).is_some() || is_punct(t.get(i + 1), "{") || is_punct(t.get(i + 1), "*"))
        {
            i += 1;
        } else {
            break;
        }
    }
    if ident(t.get(i)) == Some("as") {
        i += 2;
    }
    out.push(Ref { path, line });
    i
}

/// Every crate-internal path the (test-free) tokens refer to. `module` is the file's
/// module path (`["saml", "acs"]`); `children` are the modules it declares.
fn references(t: &[Token], module: &[String], children: &BTreeSet<String>) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let prev_joins = i > 0 && (is_punct(t.get(i - 1), "::") || is_punct(t.get(i - 1), "."));
        let head = ident(t.get(i));
        if prev_joins || !is_punct(t.get(i + 1), "::") || head.is_none() {
            i += 1;
            continue;
        }
        match head {
            Some("crate") => i = parse_tree(t, i + 2, &[], &mut out),
            Some("super") | Some("self") => {
                let mut base = module.to_vec();
                let mut j = i;
                loop {
                    match ident(t.get(j)) {
                        Some("super") => {
                            base.pop();
                        }
                        Some("self") => {}
                        _ => break,
                    }
                    if !is_punct(t.get(j + 1), "::") {
                        break;
                    }
                    j += 2;
                }
                i = parse_tree(t, j, &base, &mut out);
            }
            Some(name) if children.contains(name) => i = parse_tree(t, i, module, &mut out),
            _ => i += 1,
        }
    }
    out
}

/// The modules the tokens declare (`mod x;` or `mod x { … }`), test modules aside.
fn child_modules(t: &[Token]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in t.windows(2) {
        if ident(w.first()) == Some("mod") {
            if let Some(name) = ident(w.get(1)) {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// Does the literal hold `word` in upper case as a whole word (followed by white space
/// when `space_after`)?
fn sql_word_in(text: &str, word: &str, space_after: bool) -> bool {
    let mut from = 0;
    while let Some(k) = text[from..].find(word) {
        let start = from + k;
        let end = start + word.len();
        let before_ok = !text[..start].chars().next_back().is_some_and(is_ident_char);
        let next = text[end..].chars().next();
        let after_ok = if space_after {
            next.is_some_and(char::is_whitespace) || text[end..].starts_with("\\n")
        } else {
            !next.is_some_and(is_ident_char)
        };
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

// ---------------------------------------------------------------------------------------
// Files, graph, rules
// ---------------------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// "src/saml/acs.rs" → ["saml", "acs"]; "src/scim/mod.rs" → ["scim"]; lib.rs → [].
fn module_path(rel: &str) -> Vec<String> {
    let inner = rel.strip_prefix("src/").unwrap_or(rel);
    let inner = inner.strip_suffix(".rs").unwrap_or(inner);
    let mut parts: Vec<String> = inner.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") || CRATE_ROOT_FILES.contains(&rel) {
        parts.pop();
    }
    parts
}

struct SourceFile {
    /// "src/saml/acs.rs"
    rel: String,
    module: Vec<String>,
    /// The top-level module ("crate" for lib.rs and main.rs).
    top: String,
    edge: bool,
    tokens: Vec<Token>,
}

fn is_edge_file(rel: &str, module: &[String]) -> bool {
    CRATE_ROOT_FILES.contains(&rel)
        || module.first().is_some_and(|m| EDGE_MODULES.contains(&m.as_str()))
        || rel.rsplit('/').next() == Some(EDGE_FILE_NAME)
        || EDGE_FILES.contains(&rel)
        || EDGE_LIKE.contains(&rel)
}

/// Every file under src/ that is compiled outside tests, tokenized and without test code.
fn load_sources(src_root: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src_root, &mut paths);
    paths.sort();
    let rel = |p: &Path| {
        let r = p.strip_prefix(src_root).unwrap().to_string_lossy().replace('\\', "/");
        format!("src/{r}")
    };
    let mut parsed = Vec::new();
    let mut excluded: Vec<String> = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        let (tokens, test_mods) = strip_test_code(&tokenize(&text));
        let r = rel(p);
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let dir = r.rsplit_once('/').map_or("src", |(d, _)| d).to_string();
        for m in test_mods {
            if let Some(explicit) = m.path {
                excluded.push(format!("{dir}/{explicit}"));
                continue;
            }
            let base = if ["mod.rs", "lib.rs", "main.rs"].contains(&name.as_str()) {
                dir.clone()
            } else {
                format!("{dir}/{}", name.trim_end_matches(".rs"))
            };
            excluded.push(format!("{base}/{}.rs", m.name));
            excluded.push(format!("{base}/{}/", m.name));
        }
        parsed.push((r, tokens));
    }
    let is_excluded = |r: &str| {
        excluded.iter().any(|e| {
            r == e
                || (e.ends_with('/') && r.starts_with(e.as_str()))
                || (e.ends_with(".rs") && r.starts_with(&format!("{}/", e.trim_end_matches(".rs"))))
        })
    };
    parsed
        .into_iter()
        .filter(|(r, _)| !is_excluded(r))
        .map(|(rel, tokens)| {
            let module = module_path(&rel);
            let top = module.first().cloned().unwrap_or_else(|| "crate".into());
            let edge = is_edge_file(&rel, &module);
            SourceFile { rel, module, top, edge, tokens }
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
    rule: &'static str,
}

impl Violation {
    /// What KNOWN_DEBT lists: no line number; a cycle edge without its witness file.
    fn key(&self) -> String {
        if self.rule == "R6" {
            format!("cycle: {} -> {} (R6)", self.from, self.to)
        } else {
            format!("{}: {} -> {} ({})", self.file, self.from, self.to, self.rule)
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} -> {} ({})", self.file, self.line, self.from, self.to, self.rule)
    }
}

/// Domain edges between top-level modules, with the first witness (file, line) of each.
type Graph = BTreeMap<String, BTreeMap<String, (String, usize)>>;

struct Analysis {
    violations: Vec<Violation>,
    graph: Graph,
    files: usize,
}

fn analyse(files: &[SourceFile]) -> Analysis {
    let modules: BTreeSet<&str> = files.iter().filter_map(|f| f.module.first()).map(String::as_str).collect();
    // Module paths of edge files: a reference below one of them depends on an edge.
    let edge_paths: Vec<&[String]> =
        files.iter().filter(|f| f.edge && !f.module.is_empty()).map(|f| f.module.as_slice()).collect();
    let edge_target = |p: &[String]| -> Option<String> {
        if p.first().is_some_and(|m| !modules.contains(m.as_str())) {
            return Some("crate root (lib.rs)".into());
        }
        edge_paths.iter().filter(|e| p.starts_with(e)).min_by_key(|e| e.len()).map(|e| e.join("::"))
    };
    let mut violations = Vec::new();
    let mut graph = Graph::new();
    let mut v = |file: &SourceFile, line, to: &str, rule| {
        violations.push(Violation {
            file: file.rel.clone(),
            line,
            from: file.top.clone(),
            to: to.into(),
            rule,
        })
    };
    for f in files {
        let in_store = f.top == STORE;
        for t in &f.tokens {
            match &t.tok {
                Tok::Ident(name) if name == SQL_CRATE && !in_store => v(f, t.line, SQL_CRATE, "R7"),
                Tok::Ident(name) if !f.edge => {
                    if let Some((_, to)) = WIRE_NAMES.iter().find(|(n, _)| n == name) {
                        v(f, t.line, to, "R1");
                    }
                }
                Tok::Str(text)
                    if !in_store && SQL_WORDS.iter().any(|(w, space)| sql_word_in(text, w, *space)) =>
                {
                    v(f, t.line, "SQL", "R8")
                }
                _ => {}
            }
        }
        if f.edge {
            continue;
        }
        let children = child_modules(&f.tokens);
        for r in references(&f.tokens, &f.module, &children) {
            let Some(target) = r.path.first() else { continue };
            if let Some(edge) = edge_target(&r.path) {
                v(f, r.line, &edge, "R1");
                continue;
            }
            if *target == f.top {
                continue;
            }
            let from = f.top.as_str();
            let to = target.as_str();
            graph.entry(f.top.clone()).or_default().entry(to.into()).or_insert((f.rel.clone(), r.line));
            if from == STORE && !STORE_MAY_USE.contains(&to) {
                v(f, r.line, to, "R2");
            }
            if from == "directory" && DIRECTORY_MAY_NOT_USE.contains(&to) {
                v(f, r.line, to, "R3");
            }
            if PROTOCOLS.contains(&from) && PROTOCOLS.contains(&to) {
                v(f, r.line, to, "R4");
            }
            if FOUNDATION.contains(&from) && !FOUNDATION.contains(&to) {
                v(f, r.line, to, "R5");
            }
        }
    }
    for scc in cycles(&graph) {
        for from in &scc {
            for (to, (file, line)) in &graph[from] {
                if scc.contains(to) {
                    violations.push(Violation {
                        file: file.clone(),
                        line: *line,
                        from: from.clone(),
                        to: to.clone(),
                        rule: "R6",
                    });
                }
            }
        }
    }
    violations.sort();
    violations.dedup();
    Analysis { violations, graph, files: files.len() }
}

/// Strongly connected components with more than one member (Tarjan), sorted.
fn cycles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flat_map(|m| m.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = graph
        .iter()
        .flat_map(|(k, m)| std::iter::once(k.as_str()).chain(m.keys().map(String::as_str)))
        .collect();
    for n in nodes {
        if !t.index.contains_key(n) {
            t.visit(n);
        }
    }
    t.out.sort();
    t.out
}

fn adjacency(graph: &Graph) -> String {
    let mut s = String::new();
    for (from, tos) in graph {
        let list: Vec<&str> = tos.keys().map(String::as_str).collect();
        s.push_str(&format!("{from} -> {}\n", list.join(", ")));
    }
    s
}

// ---------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------

#[test]
fn layering_rules_hold_apart_from_known_debt() {
    let files = load_sources(&root().join("src"));
    let a = analyse(&files);
    assert!(a.files > 100, "only {} source files: the scan is broken", a.files);
    assert!(a.graph.values().map(BTreeMap::len).sum::<usize>() > 20, "few edges: the scan is broken");
    let mut debt = BTreeSet::new();
    for d in KNOWN_DEBT {
        assert!(debt.insert(*d), "KNOWN_DEBT lists {d:?} twice");
    }
    let found: BTreeSet<String> = a.violations.iter().map(Violation::key).collect();
    let new: Vec<&String> = found.iter().filter(|k| !debt.contains(k.as_str())).collect();
    let stale: Vec<&&str> = debt.iter().filter(|d| !found.contains(**d)).collect();
    if !new.is_empty() || !stale.is_empty() {
        let all: Vec<String> = a.violations.iter().map(ToString::to_string).collect();
        let sccs: Vec<String> =
            cycles(&a.graph).iter().map(|s| s.iter().cloned().collect::<Vec<_>>().join(", ")).collect();
        panic!(
            "layering (docs/architecture.md, \"The layering check\"):\n\
             new violations (not in KNOWN_DEBT): {}\n{}\n\n\
             stale KNOWN_DEBT entries (paid: delete them): {}\n{}\n\n\
             cycles: {}\n\nall {} violations:\n{}\n",
            new.len(),
            new.iter().map(|k| format!("    \"{k}\",")).collect::<Vec<_>>().join("\n"),
            stale.len(),
            stale.iter().map(|k| format!("    \"{k}\",")).collect::<Vec<_>>().join("\n"),
            if sccs.is_empty() { "none".into() } else { sccs.join(" | ") },
            all.len(),
            all.join("\n"),
        );
    }
}

#[test]
fn layering_graph_prints_on_request() {
    let files = load_sources(&root().join("src"));
    let a = analyse(&files);
    if std::env::var("LAYERING_PRINT").is_ok_and(|v| v == "1") {
        println!("module graph of the domain files (edge files excluded):\n{}", adjacency(&a.graph));
        for v in &a.violations {
            println!("{v}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Self-tests of the scan
// ---------------------------------------------------------------------------------------

fn refs_of(src: &str, module: &[&str]) -> Vec<String> {
    let (t, _) = strip_test_code(&tokenize(src));
    let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
    references(&t, &module, &child_modules(&t)).iter().map(|r| r.path.join("::")).collect()
}

#[test]
fn layering_scan_ignores_comments_and_strings() {
    let src = r###"
        // use crate::a::x;
        /// crate::b::y
        //! crate::c
        /* crate::d /* nested crate::e */ crate::f */
        /** crate::g */
        const S: &str = "crate::h::i";
        const R: &str = r#"crate::j "quoted" crate::k"#;
        const B: &[u8] = b"crate::l";
        const Q: char = '"';
        fn f<'a>(x: &'a str) -> &'a str { crate::real::call(x) }
    "###;
    assert_eq!(refs_of(src, &["m"]), ["real::call"]);
}

#[test]
fn layering_scan_parses_grouped_uses_and_paths_in_code() {
    let src = r#"
        use crate::{a::b, c, d::{self, e::{f, g as h}}, i::*};
        use crate::j::K as L;
        fn x() { let _ = crate::saml::slo_out::logout_url(&y); crate::k::F::<u8>::new(); }
    "#;
    assert_eq!(
        refs_of(src, &["m"]),
        ["a::b", "c", "d", "d::e::f", "d::e::g", "i", "j::K", "saml::slo_out::logout_url", "k::F"]
    );
    let lines: Vec<usize> = {
        let t = tokenize("use crate::{\n    a::b,\n    c,\n};");
        references(&t, &[], &BTreeSet::new()).iter().map(|r| r.line).collect()
    };
    assert_eq!(lines, [2, 3]);
}

#[test]
fn layering_scan_resolves_super_self_and_child_modules() {
    let src = "mod routes;\npub use routes::router;\nuse super::super::store::Db;\nuse self::x::Y;\n\
               fn f() { other::thing(); a.routes::b; }";
    assert_eq!(
        refs_of(src, &["scim", "patch"]),
        ["scim::patch::routes::router", "store::Db", "scim::patch::x::Y"]
    );
}

#[test]
fn layering_scan_skips_cfg_test_code() {
    let src = r#"
        use crate::kept::A;
        #[cfg(test)]
        mod tests {
            use crate::gone::B;
            fn nested() { if true { crate::gone::c(); } }
        }
        #[cfg(test)]
        mod fixtures;
        #[cfg(test)]
        #[path = "other_tests.rs"]
        mod more;
        #[cfg(all(test, feature = "x"))]
        fn helper() -> [u8; 2] { crate::gone::d() }
        #[cfg(not(test))]
        fn live() { crate::kept::e(); }
    "#;
    assert_eq!(refs_of(src, &["m"]), ["kept::A", "kept::e"]);
    let (_, mods) = strip_test_code(&tokenize(src));
    assert_eq!(
        mods,
        [
            TestMod { name: "fixtures".into(), path: None },
            TestMod { name: "more".into(), path: Some("other_tests.rs".into()) },
        ]
    );
    assert!(refs_of("use crate::a::B;\n#![cfg(test)]\nuse crate::c::D;", &["m"]) == ["a::B"]);
}

#[test]
fn layering_scan_finds_sql_words_only_as_whole_upper_case_words() {
    assert!(sql_word_in("SELECT id FROM users", "SELECT", true));
    assert!(sql_word_in("x WHERE y = ?1", "WHERE", true));
    assert!(sql_word_in("DELETE FROM t", "DELETE FROM", false));
    assert!(!sql_word_in("select id from users", "SELECT", true));
    assert!(!sql_word_in("NO_UPDATE x", "UPDATE", true));
    assert!(!sql_word_in("UPDATED", "UPDATE", true));
    assert!(!sql_word_in("nowhere", "WHERE", true));
}

#[test]
fn layering_cycles_are_found_in_a_small_graph() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "a")] {
        g.entry(a.into()).or_default().insert(b.into(), ("src/x.rs".into(), 1));
    }
    let found: Vec<Vec<String>> = cycles(&g).into_iter().map(|s| s.into_iter().collect()).collect();
    assert_eq!(found, [vec!["a", "b", "c"], vec!["d", "e"]]);
    g.remove("e");
    assert_eq!(cycles(&g).len(), 1);
}

#[test]
fn layering_rules_classify_a_synthetic_crate() {
    let file = |rel: &str, src: &str| {
        let module = module_path(rel);
        let top = module.first().cloned().unwrap_or_else(|| "crate".into());
        let edge = is_edge_file(rel, &module);
        let tokens = strip_test_code(&tokenize(src)).0;
        SourceFile { rel: rel.into(), module, top, edge, tokens }
    };
    let files = [
        file("src/lib.rs", "pub mod http; pub mod saml; pub mod scim; pub mod store; pub mod clock;"),
        file("src/http/mod.rs", "use crate::saml::acs; pub struct AppState;"),
        file("src/saml/routes.rs", "use axum::Router; use crate::http::AppState;"),
        file("src/saml/acs.rs", "use crate::http::AppState;\nuse crate::scim::x;\nfn f() -> axum::Y {}"),
        file("src/scim/mod.rs", "mod routes;\npub use routes::router;\nuse crate::saml::y;"),
        file("src/scim/routes.rs", ""),
        file("src/store/mod.rs", "use crate::clock::now;\nuse crate::scim::z;"),
        file("src/clock.rs", "use crate::store::Db; fn f() { rusqlite::x(); let q = \"SELECT 1\"; }"),
    ];
    let a = analyse(&files);
    let got: Vec<String> = a.violations.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "src/clock.rs:1: clock -> SQL (R8)",
            "src/clock.rs:1: clock -> rusqlite (R7)",
            "src/clock.rs:1: clock -> store (R5)",
            "src/clock.rs:1: clock -> store (R6)",
            "src/saml/acs.rs:1: saml -> http (R1)",
            "src/saml/acs.rs:2: saml -> scim (R4)",
            "src/saml/acs.rs:2: saml -> scim (R6)",
            "src/saml/acs.rs:3: saml -> axum (R1)",
            "src/scim/mod.rs:2: scim -> scim::routes (R1)",
            "src/scim/mod.rs:3: scim -> saml (R4)",
            "src/scim/mod.rs:3: scim -> saml (R6)",
            "src/store/mod.rs:1: store -> clock (R6)",
            "src/store/mod.rs:2: store -> scim (R2)",
        ]
    );
    assert_eq!(a.violations.iter().find(|v| v.rule == "R6").unwrap().key(), "cycle: clock -> store (R6)");
}

#[test]
fn layering_scan_leaves_out_test_only_files() {
    let loaded: BTreeSet<String> = load_sources(&root().join("src")).into_iter().map(|f| f.rel).collect();
    // Declared `#[cfg(test)] mod x;`, `#[cfg(test)] #[path = "…"] mod tests;` and a test
    // support file in a subdirectory: whichever of them still exist must be left out.
    let test_only =
        ["src/scim/filter_sql_tests.rs", "src/http/target_tests.rs", "src/scim/patch/tests_support.rs"];
    let present: Vec<&str> = test_only.into_iter().filter(|f| root().join(f).exists()).collect();
    for f in &present {
        assert!(!loaded.contains(*f), "{f} is test code but was scanned");
    }
    assert!(loaded.contains("src/scim/mod.rs") && loaded.contains("src/lib.rs"));
}
