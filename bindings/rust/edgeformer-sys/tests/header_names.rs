//! The hand-written declarations follow the C header: the set of `EF_API`
//! function names in include/edgeformer/edgeformer.h equals the set of
//! functions declared in src/lib.rs, and every integer constant declared here
//! has the header's value. The header is found through EF_PUBLIC_HEADER or
//! relative to this crate inside the source tree.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

fn header_text() -> String {
    let path = match std::env::var("EF_PUBLIC_HEADER") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/edgeformer/edgeformer.h"),
    };
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Removes /* */ and // comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.map_or(true, |l| b < l) => {
                out.push_str(&rest[..b]);
                out.push(' ');
                rest = match rest[b + 2..].find("*/") {
                    Some(e) => &rest[b + 2 + e + 2..],
                    None => "",
                };
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = match rest[l..].find('\n') {
                    Some(e) => &rest[l + e..],
                    None => "",
                };
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Names of the functions declared with EF_API: the identifier right before
/// the first '(' after each EF_API, with no ';', '{' or '}' in between.
fn header_functions(header: &str) -> BTreeSet<String> {
    let text: String =
        strip_comments(header).lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut names = BTreeSet::new();
    let mut pos = 0;
    while let Some(i) = text[pos..].find("EF_API") {
        let at = pos + i;
        let start = at + "EF_API".len();
        pos = start;
        let prev_ok = text[..at].chars().last().map_or(true, |c| !is_ident(c));
        let next_ok = text[start..].chars().next().is_some_and(|c| !is_ident(c));
        if !prev_ok || !next_ok {
            continue;
        }
        let Some(paren) = text[start..].find('(') else { break };
        let decl = &text[start..start + paren];
        if decl.contains([';', '{', '}']) {
            continue;
        }
        let tail: Vec<char> = decl.trim_end().chars().rev().take_while(|&c| is_ident(c)).collect();
        let name: String = tail.into_iter().rev().collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    names
}

fn sys_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Names of the functions in the extern "C" block(s) of src/lib.rs.
fn sys_functions(src: &str) -> BTreeSet<String> {
    let src = strip_comments(src);
    let mut names = BTreeSet::new();
    let mut in_extern = false;
    for line in src.lines() {
        let l = line.trim();
        if l.starts_with("extern \"C\"") {
            in_extern = true;
        } else if in_extern && l == "}" {
            in_extern = false;
        } else if in_extern {
            if let Some(rest) = l.strip_prefix("pub fn ") {
                names.insert(rest.chars().take_while(|&c| is_ident(c)).collect());
            }
        }
    }
    names
}

#[test]
fn every_header_function_is_declared_and_nothing_else() {
    let header = header_functions(&header_text());
    assert!(header.len() > 40, "parsed only {} EF_API functions", header.len());
    let sys = sys_functions(&sys_source());
    let missing: Vec<_> = header.difference(&sys).collect();
    let extra: Vec<_> = sys.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "edgeformer-sys is out of date with edgeformer.h:\n  missing here: {missing:?}\n  not in the header: {extra:?}"
    );
}

#[test]
fn integer_constants_match_the_header() {
    let mut defines = BTreeMap::new();
    for line in strip_comments(&header_text()).lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        if let (Some(name), Some(value)) = (words.next(), words.next()) {
            // "(-1)" as well as "12u"
            if let Ok(v) = value.trim_matches(|c| c == '(' || c == ')').trim_end_matches('u').parse::<i64>() {
                defines.insert(name.to_string(), v);
            }
        }
    }
    assert!(defines.contains_key("EF_ERR_INTERNAL"), "no #define parsed");
    let mut checked = 0;
    for line in sys_source().lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else { continue };
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        let Some(value) = rest.split('=').nth(1) else { continue };
        let Ok(v) = value.trim().trim_end_matches(';').replace('_', "").parse::<i64>() else { continue };
        let expected = defines.get(&name).unwrap_or_else(|| panic!("{name} is not #defined in the header"));
        assert_eq!(v, *expected, "{name}");
        checked += 1;
    }
    assert!(checked > 30, "checked only {checked} constants");
}

#[test]
fn version_number_matches_the_loaded_library() {
    let loaded = unsafe { edgeformer_sys::ef_version_number() };
    assert_eq!(loaded / 1_000_000, edgeformer_sys::EF_VERSION_MAJOR);
}
