//! The SQL fragments that differ between SQLite and PostgreSQL for matching text and license keys, written once
//! for every surface (`/api/v1`'s filters and `?search=`, DevMate's `/v2` filters, and those to come). Row locks and
//! `greatest` are methods of [`crate::db::Dialect`] and [`crate::db::Tx`]; migrations differ by file.

use crate::db::{Dialect, Query};

/// `expr` contains `v`, whatever the case of its letters, without an index: `ILIKE` on PostgreSQL (a
/// `pg_trgm` index on the expression serves it where there is one); on SQLite `LIKE` for ASCII terms and,
/// because SQLite's `LIKE` folds ASCII letters only (`müller` would miss `MÜLLER`), a `GLOB` with both cases of
/// every letter otherwise.
pub fn push_contains(q: &mut Query, dialect: Dialect, expr: &str, v: &str) {
    match dialect {
        Dialect::Postgres => {
            q.push(expr).push(" ILIKE ").push_bind(format!("%{}%", escape_like(v))).push(" ESCAPE '\\'");
        }
        Dialect::Sqlite if v.is_ascii() => {
            q.push(expr).push(" LIKE ").push_bind(format!("%{}%", escape_like(v))).push(" ESCAPE '\\'");
        }
        Dialect::Sqlite => {
            q.push(expr).push(" GLOB ").push_bind(glob_contains_folded(v));
        }
    }
}

/// `expr` contains `v`, whatever the case, through a trigram index where the backend has one for it: on SQLite
/// the FTS5 trigram table `fts` = (table, column), matched by `rowid` (FTS5 folds every letter's case), when the
/// term has the 3 characters a trigram needs; otherwise [`push_contains`].
pub fn push_contains_indexed(
    q: &mut Query,
    dialect: Dialect,
    expr: &str,
    fts: Option<(&str, &str)>,
    rowid: &str,
    v: &str,
) {
    match (dialect, fts) {
        (Dialect::Sqlite, Some((table, column))) if v.chars().count() >= 3 => {
            q.push(rowid).push(" IN ");
            push_match(q, table, column, v);
        }
        _ => push_contains(q, dialect, expr, v),
    }
}

/// `expr` starts with `v`, case as given: `LIKE 'v%'` on PostgreSQL; `GLOB 'v*'` on SQLite, whose `LIKE`
/// would ignore ASCII case.
pub fn push_starts_with(q: &mut Query, dialect: Dialect, expr: &str, v: &str) {
    match dialect {
        Dialect::Postgres => {
            q.push(expr).push(" LIKE ").push_bind(format!("{}%", escape_like(v))).push(" ESCAPE '\\'");
        }
        Dialect::Sqlite => {
            q.push(expr).push(" GLOB ").push_bind(format!("{}*", escape_glob(v)));
        }
    }
}

/// `(SELECT rowid FROM <fts> WHERE <fts> MATCH '<column> : "<term>"')` (SQLite): an FTS5 phrase of the term's
/// trigrams is a case-insensitive substring match; quotes in the term are doubled.
pub fn push_match(q: &mut Query, table: &str, column: &str, term: &str) {
    q.push("(SELECT rowid FROM ").push(table).push(" WHERE ").push(table).push(" MATCH ");
    q.push_bind(format!("{column} : \"{}\"", term.replace('"', "\"\""))).push(")");
}

/// [`licensd_core::keys::canonical`] of a stored key as migration 17 indexes it: upper case (ASCII letters
/// only, on both backends), dashes removed (a stored key has no whitespace: `validate_key`).
pub fn key_canonical(dialect: Dialect, e: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("replace(upper({e}), '-', '')"),
        Dialect::Postgres => format!("replace(upper({e} COLLATE \"C\"), '-', '')"),
    }
}

/// [`licensd_core::keys::folds_case`] in SQL: the key after its first `-` (all of it without one) has no
/// lower-case ASCII letter.
pub fn key_folds_case(dialect: Dialect, e: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("substr({e}, instr({e}, '-') + 1) = upper(substr({e}, instr({e}, '-') + 1))"),
        Dialect::Postgres => {
            format!("substr({e}, strpos({e}, '-') + 1) = upper(substr({e}, strpos({e}, '-') + 1) COLLATE \"C\")")
        }
    }
}

/// `LIKE`'s wildcards and its escape character taken literally (with `ESCAPE '\'`).
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `GLOB`'s wildcards taken literally (a class of one character each).
pub fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            _ => out.push(c),
        }
    }
    out
}

/// A GLOB pattern for "contains `v`, whatever the case of its letters": `*[mM][üÜ][lL][lL]*` for `Müll`.
fn glob_contains_folded(v: &str) -> String {
    fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
        let c = it.next()?;
        it.next().is_none().then_some(c)
    }
    let mut out = String::with_capacity(v.len() * 4 + 2);
    out.push('*');
    for c in v.chars() {
        match (single(c.to_lowercase()), single(c.to_uppercase())) {
            (Some(l), Some(u)) if l != u => {
                out.push('[');
                out.push(l);
                out.push(u);
                if c != l && c != u {
                    out.push(c);
                }
                out.push(']');
            }
            _ if matches!(c, '*' | '?' | '[') => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out.push('*');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_globs_hold_both_cases_of_every_letter() {
        assert_eq!(glob_contains_folded("Müll"), "*[mM][üÜ][lL][lL]*");
        assert_eq!(glob_contains_folded("Ż 5"), "*[żŻ] 5*");
        assert_eq!(glob_contains_folded("a*?[]"), "*[aA][*][?][[]]*");
        assert_eq!(glob_contains_folded("ß"), "*ß*");
    }

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
        assert_eq!(escape_glob("a*b?[c"), "a[*]b[?][[]c");
    }

    #[test]
    fn contains_picks_the_dialects_operator() {
        let sql = |d: Dialect, v: &str| {
            let mut q = crate::db::query("");
            push_contains(&mut q, d, "x.name", v);
            (q.sql.to_string(), q.args)
        };
        assert_eq!(sql(Dialect::Postgres, "müller").0, "x.name ILIKE ? ESCAPE '\\'");
        assert_eq!(sql(Dialect::Sqlite, "muller").0, "x.name LIKE ? ESCAPE '\\'");
        let (s, a) = sql(Dialect::Sqlite, "müller");
        assert_eq!(s, "x.name GLOB ?");
        assert_eq!(a, vec!["*[mM][üÜ][lL][lL][eE][rR]*".into()]);
    }
}
