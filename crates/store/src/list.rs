//! The list language of the management API: Django-style filters (`field__path__lookup=value`),
//! `order_by`/`ordering`, `limit` and `offset`, compiled against a per-resource allow-list into
//! parameterised SQL. Identifiers only ever come from the allow-list; user text is always bound.

use licensd_core::time::{DAY_MS, parse_date, parse_datetime};

use crate::db::{Db, Dialect, Query, Row};
use crate::error::StoreError;
use crate::scope::Scope;
use crate::sql::{key_canonical, key_folds_case, push_contains, push_contains_indexed, push_match, push_starts_with};

/// How a field's values are parsed and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bool,
    /// A point in time, stored as UTC milliseconds.
    Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Exact,
    IContains,
    StartsWith,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    DateGt,
    DateGte,
    DateLt,
    DateLte,
    IsNull,
}

impl Lookup {
    /// Every lookup, in the order the reference lists them.
    pub const ALL: &[Lookup] = &[
        Lookup::Exact,
        Lookup::IContains,
        Lookup::StartsWith,
        Lookup::In,
        Lookup::Gt,
        Lookup::Gte,
        Lookup::Lt,
        Lookup::Lte,
        Lookup::DateGt,
        Lookup::DateGte,
        Lookup::DateLt,
        Lookup::DateLte,
        Lookup::IsNull,
    ];

    /// What follows the field name in a parameter: `""` for an exact match, else `__icontains` and so on.
    pub fn suffix(self) -> &'static str {
        match self {
            Lookup::Exact => "",
            Lookup::IContains => "__icontains",
            Lookup::StartsWith => "__startswith",
            Lookup::In => "__in",
            Lookup::Gt => "__gt",
            Lookup::Gte => "__gte",
            Lookup::Lt => "__lt",
            Lookup::Lte => "__lte",
            Lookup::DateGt => "__date__gt",
            Lookup::DateGte => "__date__gte",
            Lookup::DateLt => "__date__lt",
            Lookup::DateLte => "__date__lte",
            Lookup::IsNull => "__isnull",
        }
    }

    fn parse(s: &str) -> Option<Lookup> {
        Some(match s {
            "" | "exact" => Lookup::Exact,
            "icontains" => Lookup::IContains,
            "startswith" => Lookup::StartsWith,
            "in" => Lookup::In,
            "gt" => Lookup::Gt,
            "gte" => Lookup::Gte,
            "lt" => Lookup::Lt,
            "lte" => Lookup::Lte,
            "date__gt" => Lookup::DateGt,
            "date__gte" => Lookup::DateGte,
            "date__lt" => Lookup::DateLt,
            "date__lte" => Lookup::DateLte,
            "isnull" => Lookup::IsNull,
            _ => return None,
        })
    }
}

pub const TEXT: &[Lookup] = &[Lookup::Exact, Lookup::IContains, Lookup::StartsWith, Lookup::In, Lookup::IsNull];
pub const INT: &[Lookup] =
    &[Lookup::Exact, Lookup::In, Lookup::Gt, Lookup::Gte, Lookup::Lt, Lookup::Lte, Lookup::IsNull];
pub const BOOL: &[Lookup] = &[Lookup::Exact];
pub const TIME: &[Lookup] = &[
    Lookup::Exact,
    Lookup::Gt,
    Lookup::Gte,
    Lookup::Lt,
    Lookup::Lte,
    Lookup::DateGt,
    Lookup::DateGte,
    Lookup::DateLt,
    Lookup::DateLte,
    Lookup::IsNull,
];

/// How an exact match (`field=`, `field__in=`) compares text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// As given.
    None,
    /// An email: surrounding whitespace removed, case ignored. `Some(column)`: the lower-cased column the
    /// store keeps beside it (`email_norm`, unique-indexed), compared with the value lower-cased as the store
    /// writes it; `None`: `lower()` on both sides.
    Email(Option<&'static str>),
    /// A license key: surrounding whitespace removed, and case, dashes and whitespace ignored for keys that fold
    /// case ([`licensd_core::keys::folds_case`]; every key licensd issues), by the index of migration 17.
    Key,
}

/// One filterable (and maybe sortable) field of a resource.
#[derive(Debug)]
pub struct Field {
    /// The public name, e.g. `customer__email`.
    pub name: &'static str,
    /// The SQL expression it compares (from the allow-list, never from input).
    pub expr: &'static str,
    pub kind: Kind,
    pub lookups: &'static [Lookup],
    /// For fields of related rows: an `EXISTS (… AND {})` wrapper, so a match on any related row
    /// selects the parent once.
    pub exists: Option<&'static str>,
    pub sortable: bool,
    /// A trigram index for `__icontains` on SQLite: (FTS5 table, its column, the row id it is keyed by).
    /// PostgreSQL's `pg_trgm` indexes serve `ILIKE` on the expression itself.
    pub trigram: Option<(&'static str, &'static str, &'static str)>,
    /// For a related field whose related rows are the trigram table's rows (the FTS row id is the related
    /// row's id): the parent's column holding that id. A trigram match then compiles to
    /// `<column> IN (SELECT rowid FROM <fts> …)`, skipping the hop through the related table, which for a
    /// common term meant one primary-key probe per matching row (docs/benchmarks.md, "License search").
    pub trigram_key: Option<&'static str>,
    /// For a boolean computed from another column: the conditions `=true` and `=false` compile to, so an
    /// index on that column serves them (`(x > 0) = ?` hides it from the planner).
    pub predicate: Option<(&'static str, &'static str)>,
    /// How `=` and `__in` compare its text.
    pub fold: Fold,
}

impl Field {
    pub const fn new(name: &'static str, expr: &'static str, kind: Kind) -> Field {
        let lookups = match kind {
            Kind::Int => INT,
            Kind::Text => TEXT,
            Kind::Bool => BOOL,
            Kind::Time => TIME,
        };
        Field {
            name,
            expr,
            kind,
            lookups,
            exists: None,
            sortable: false,
            trigram: None,
            trigram_key: None,
            predicate: None,
            fold: Fold::None,
        }
    }
    pub const fn sortable(mut self) -> Field {
        self.sortable = true;
        self
    }
    pub const fn lookups(mut self, lookups: &'static [Lookup]) -> Field {
        self.lookups = lookups;
        self
    }
    /// Serves `__icontains` of 3+ characters on SQLite from an FTS5 trigram table.
    pub const fn trigram(mut self, table: &'static str, column: &'static str, rowid: &'static str) -> Field {
        self.trigram = Some((table, column, rowid));
        self
    }
    /// See [`Field::trigram_key`].
    pub const fn trigram_key(mut self, column: &'static str) -> Field {
        self.trigram_key = Some(column);
        self
    }
    pub const fn predicate(mut self, when_true: &'static str, when_false: &'static str) -> Field {
        self.predicate = Some((when_true, when_false));
        self
    }

    pub const fn related(mut self, exists: &'static str) -> Field {
        self.exists = Some(exists);
        self
    }
    /// An email whose exact matches ignore case, through `norm` (the lower-cased column kept beside it).
    pub const fn email(mut self, norm: &'static str) -> Field {
        self.fold = Fold::Email(Some(norm));
        self
    }
    /// An email whose exact matches ignore case, with no lower-cased column beside it.
    pub const fn email_lower(mut self) -> Field {
        self.fold = Fold::Email(None);
        self
    }
    /// A license key, matched as the client API matches a typed key.
    pub const fn key(mut self) -> Field {
        self.fold = Fold::Key;
        self
    }
}

/// One place `?search=` looks: the ids of the listed rows whose `expr` contains the term, case-insensitively,
/// served by a trigram index (FTS5 on SQLite, `pg_trgm` on PostgreSQL, on `expr` itself).
#[derive(Debug)]
pub struct Search {
    /// What it looks at, for the reference: `the customer's email`.
    pub doc: &'static str,
    /// `SELECT <the listed row's id> FROM … WHERE {}`.
    pub select: &'static str,
    pub expr: &'static str,
    /// The FTS5 trigram table, its column, and the row id of the rows it indexes.
    pub trigram: (&'static str, &'static str, &'static str),
    /// Which of the rows the branch goes through a manager may match on.
    pub scope: SearchScope,
}

/// The scope a [`Search`] branch applies for a manager token (an admin's matches everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// The branch reads the listed row and rows it owns: the list's own scope is enough.
    Listed,
    /// The branch goes through a license: only those of the token's products (this is its product column).
    Product(&'static str),
    /// The branch goes through an order (this alias): only orders the token may see.
    Order(&'static str),
}

/// The fewest characters `?search=` takes: trigram indexes need three.
pub const MIN_SEARCH_CHARS: usize = 3;

/// A resource's allow-list.
#[derive(Debug)]
pub struct Spec {
    pub fields: &'static [Field],
    /// The id column, the tie-breaker of every ordering.
    pub id_expr: &'static str,
    /// Where `?search=` looks; empty for a list without it.
    pub search: &'static [Search],
}

/// A bad query parameter: the API answers 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

fn bad(param: &str, message: impl Into<String>) -> ParamError {
    ParamError { param: param.to_string(), message: message.into() }
}

#[derive(Debug, Clone)]
enum Arg {
    Int(i64),
    Text(String),
    Bool(bool),
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

#[derive(Debug, Clone)]
struct Cond {
    field: &'static Field,
    lookup: Lookup,
    arg: Arg,
}

/// A parsed list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    conds: Vec<Cond>,
    order: Option<(&'static Field, bool)>,
    /// `?search=`, trimmed; compiled by [`ListParams::push_search`].
    search: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Counts matches only up to this many and one more (see [`page`] and [`ListParams::push_search`]): for a
    /// page that says "more than N" rather than pay for an exact count of a broad search. `None` (every API
    /// surface): an exact count.
    pub count_cap: Option<i64>,
}

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The most values all `__in` lists of one request hold together. Every value is a bound parameter, and
/// SQLite refuses a statement of over 32,766 (PostgreSQL 65,535); a page holds 100 rows at most, so a
/// longer list never shows more.
pub const MAX_IN_VALUES: usize = 1000;

/// The most characters an `__icontains` or `__startswith` value has. SQLite refuses a LIKE or GLOB
/// pattern of over 50,000 bytes; 1,000 characters stay under it whatever their encoding and escapes (at
/// most 4 bytes each, doubled by escaping, or 11 in the case-folding GLOB classes of `sql::push_contains`).
pub const MAX_PATTERN_CHARS: usize = 1000;

/// The most filter conditions one request has (`limit`, `offset` and `order_by` not counted). Each is an
/// `AND` term: SQLite refuses an expression over 1,000 deep, and PostgreSQL's planning time grows faster
/// than the number of semi-joins (about 0.2 s for 10, 6 s for 80, minutes for 900).
pub const MAX_FILTERS: usize = 20;

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "1" => Some(true),
        "false" | "False" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

fn parse_int(param: &str, s: &str) -> Result<i64, ParamError> {
    s.trim().parse::<i64>().map_err(|_| bad(param, format!("{s:?} is not an integer")))
}

/// Parses every query parameter against the allow-list; `extra` names parameters a surface handles
/// itself (they are skipped, not refused).
pub fn parse(spec: &'static Spec, params: &[(String, String)], extra: &[&str]) -> Result<ListParams, ParamError> {
    let mut out =
        ListParams { conds: Vec::new(), order: None, search: None, limit: DEFAULT_LIMIT, offset: 0, count_cap: None };
    let mut in_values = 0;
    for (key, value) in params {
        // Neither backend keeps a NUL in text (PostgreSQL refuses it outright).
        if key.contains('\0') || value.contains('\0') {
            return Err(bad(key, "must not contain NUL characters"));
        }
        match key.as_str() {
            "limit" => {
                let n = parse_int(key, value)?;
                if n < 1 {
                    return Err(bad(key, "must be a positive integer"));
                }
                out.limit = n.min(MAX_LIMIT);
            }
            "offset" => {
                let n = parse_int(key, value)?;
                if n < 0 {
                    return Err(bad(key, "must be zero or a positive integer"));
                }
                out.offset = n;
            }
            "order_by" | "ordering" => {
                let (name, desc) = match value.strip_prefix('-') {
                    Some(n) => (n, true),
                    None => (value.as_str(), false),
                };
                let field = spec.fields.iter().find(|f| f.name == name && f.sortable).ok_or_else(|| {
                    bad(key, format!("cannot order by {name:?}; sortable fields: {}", sortable(spec)))
                })?;
                out.order = Some((field, desc));
            }
            k if extra.contains(&k) => {}
            "search" if !spec.search.is_empty() => {
                if out.conds.len() + usize::from(out.search.is_some()) == MAX_FILTERS {
                    return Err(bad(key, format!("a request takes at most {MAX_FILTERS} filters")));
                }
                if out.search.is_some() {
                    return Err(bad(key, "is given more than once"));
                }
                let term = value.trim();
                let n = term.chars().count();
                if n < MIN_SEARCH_CHARS {
                    return Err(bad(key, format!("needs at least {MIN_SEARCH_CHARS} characters")));
                }
                if n > MAX_PATTERN_CHARS {
                    return Err(bad(key, format!("takes at most {MAX_PATTERN_CHARS} characters")));
                }
                out.search = Some(term.to_string());
            }
            _ => {
                if out.conds.len() + usize::from(out.search.is_some()) == MAX_FILTERS {
                    return Err(bad(key, format!("a request takes at most {MAX_FILTERS} filters")));
                }
                let cond = parse_cond(spec, key, value)?;
                in_values += match &cond.arg {
                    Arg::Ints(v) => v.len(),
                    Arg::Texts(v) => v.len(),
                    _ => 0,
                };
                if in_values > MAX_IN_VALUES {
                    return Err(too_many_values(key));
                }
                out.conds.push(cond);
            }
        }
    }
    Ok(out)
}

fn sortable(spec: &Spec) -> String {
    spec.fields.iter().filter(|f| f.sortable).map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn too_many_values(param: &str) -> ParamError {
    bad(param, format!("takes at most {MAX_IN_VALUES} values (all __in lists of a request together)"))
}

fn parse_cond(spec: &'static Spec, key: &str, value: &str) -> Result<Cond, ParamError> {
    // The longest field name that prefixes the key wins; the rest is the lookup.
    let field = spec
        .fields
        .iter()
        .filter(|f| key == f.name || key.strip_prefix(f.name).is_some_and(|rest| rest.starts_with("__")))
        .max_by_key(|f| f.name.len())
        .ok_or_else(|| bad(key, unknown_filter(spec, key)))?;
    let rest = key[field.name.len()..].trim_start_matches("__");
    let lookup = Lookup::parse(rest).filter(|l| field.lookups.contains(l)).ok_or_else(|| {
        let supported: Vec<String> = field.lookups.iter().map(|l| format!("{}{}", field.name, l.suffix())).collect();
        bad(key, format!("{:?} is not a lookup {} supports; it takes {}", rest, field.name, supported.join(", ")))
    })?;
    if lookup == Lookup::In && value.split(',').nth(MAX_IN_VALUES).is_some() {
        // Refused before parsing a list that could never run.
        return Err(too_many_values(key));
    }
    if matches!(lookup, Lookup::IContains | Lookup::StartsWith) && value.chars().nth(MAX_PATTERN_CHARS).is_some() {
        return Err(bad(key, format!("takes at most {MAX_PATTERN_CHARS} characters")));
    }
    let arg = match (lookup, field.kind) {
        (Lookup::IsNull, _) => Arg::Bool(parse_bool(value).ok_or_else(|| bad(key, "expects true or false"))?),
        (Lookup::In, Kind::Int) => Arg::Ints(value.split(',').map(|v| parse_int(key, v)).collect::<Result<_, _>>()?),
        (Lookup::In, _) => Arg::Texts(value.split(',').map(str::to_string).collect()),
        (Lookup::DateGt | Lookup::DateGte | Lookup::DateLt | Lookup::DateLte, _) => {
            let day = parse_date(value).ok_or_else(|| bad(key, format!("{value:?} is not a date (YYYY-MM-DD)")))?;
            let start = match lookup {
                Lookup::DateGt | Lookup::DateLte => day + DAY_MS,
                _ => day,
            };
            Arg::Int(start)
        }
        (_, Kind::Int) => Arg::Int(parse_int(key, value)?),
        (_, Kind::Bool) => Arg::Bool(parse_bool(value).ok_or_else(|| bad(key, "expects true or false"))?),
        (_, Kind::Time) => Arg::Int(
            parse_datetime(value)
                .ok_or_else(|| bad(key, format!("{value:?} is not a date or an RFC 3339 timestamp")))?,
        ),
        (_, Kind::Text) => {
            if value.is_empty() && lookup != Lookup::Exact {
                return Err(bad(key, "needs a value"));
            }
            Arg::Text(value.to_string())
        }
    };
    Ok(Cond { field, lookup, arg })
}

/// Where every filter of a list is listed, for the `400` of an unknown one.
pub const REFERENCE: &str = "docs/filters.md, or this list's parameters in /openapi.json";

/// The `400` detail of an unknown filter: the nearest valid names, and where all of them are listed.
fn unknown_filter(spec: &Spec, key: &str) -> String {
    let near = suggestions(spec, key);
    if near.is_empty() {
        format!("unknown filter; every filter of this list: {REFERENCE}")
    } else {
        format!("unknown filter; did you mean {}? Every filter of this list: {REFERENCE}", near.join(", "))
    }
}

/// Words people try for a filter, and the field name licensd has for it.
const SYNONYMS: &[(&str, &str)] = &[
    ("key", "license_key"),
    ("activation_key", "license_key"),
    ("serial", "license_key"),
    ("invoice", "store_id"),
    ("order_id", "store_id"),
    ("machine", "hardware_id"),
    ("machine_id", "hardware_id"),
    ("identifier", "hardware_id"),
    ("fingerprint", "hardware_id"),
    ("company", "company_name"),
    ("status", "enabled"),
    ("q", "search"),
    ("query", "search"),
];

/// The filter names nearest to an unknown `key`, best first (at most four): names that end in the key's own
/// (`hardware_id` -> `devices__hardware_id`, `key` -> `license_key`), then names within a small edit
/// distance (`customer_email` -> `customer__email`). A lookup the key ends in is kept where the field takes
/// it.
pub fn suggestions(spec: &Spec, key: &str) -> Vec<String> {
    let (base, lookup) = Lookup::ALL
        .iter()
        .filter(|l| **l != Lookup::Exact)
        .find_map(|l| key.strip_suffix(l.suffix()).filter(|b| !b.is_empty()).map(|b| (b, Some(*l))))
        .unwrap_or((key, None));
    let base_lower = base.to_ascii_lowercase();
    let mut names: Vec<(&'static str, &'static [Lookup])> = spec.fields.iter().map(|f| (f.name, f.lookups)).collect();
    if !spec.search.is_empty() {
        names.push(("search", &[Lookup::Exact]));
    }
    let allowed = (base_lower.chars().count() / 3).clamp(1, 3);
    // The key itself, and what other licensing servers (DevMate, LicenseSpring) call the same thing.
    let mut targets = vec![base_lower.as_str()];
    targets.extend(SYNONYMS.iter().filter(|(word, _)| *word == base_lower).map(|(_, name)| *name));
    let mut scored: Vec<(usize, usize, &'static str, &'static [Lookup])> = names
        .into_iter()
        .filter_map(|(name, lookups)| {
            let ends =
                |t: &str| name.len() > t.len() && name.ends_with(t) && name[..name.len() - t.len()].ends_with('_');
            if targets[1..].contains(&name) || targets.iter().any(|t| ends(t)) {
                return Some((0, name.len(), name, lookups));
            }
            let d = strsim::damerau_levenshtein(&base_lower, name);
            (d <= allowed).then_some((1, d, name, lookups))
        })
        .collect();
    scored.sort_by_key(|(tier, d, name, _)| (*tier, *d, *name));
    scored
        .into_iter()
        .take(4)
        .map(|(_, _, name, lookups)| match lookup {
            Some(l) if lookups.contains(&l) => format!("{name}{}", l.suffix()),
            _ => name.to_string(),
        })
        .collect()
}

impl ListParams {
    /// Parameters with no filters, for internal use.
    pub fn all() -> ListParams {
        ListParams { conds: Vec::new(), order: None, search: None, limit: MAX_LIMIT, offset: 0, count_cap: None }
    }

    /// Appends ` AND <id> IN (…)` for `?search=`: the union of every [`Search`] branch of the spec, each the
    /// ids whose text contains the term (an FTS5 trigram match on SQLite, `ILIKE` on PostgreSQL, both
    /// served by a trigram index), each branch within the scope. A union rather than `OR`s of semi-joins,
    /// so that PostgreSQL drives each branch from its index instead of scanning the listed table.
    ///
    /// With [`ListParams::count_cap`] each branch stops at its first cap + 1 distinct ids. The union is then
    /// exact when no branch reached the cap, and over the cap when one did (that branch alone holds more), so a
    /// capped count still tells "exactly n" from "more than the cap"; a broad term costs one bounded read per
    /// branch instead of every match of every branch.
    pub fn push_search(&self, q: &mut Query, dialect: Dialect, spec: &Spec, scope: &Scope) {
        let Some(term) = &self.search else { return };
        q.push(" AND ").push(spec.id_expr).push(" IN (");
        for (i, s) in spec.search.iter().enumerate() {
            if i > 0 {
                q.push(" UNION ");
            }
            let (head, tail) = s.select.split_once("{}").unwrap_or((s.select, ""));
            if self.count_cap.is_some() {
                // A branch that selects its own table's `id` joins only parents (one id per row): limited as it
                // is. One that selects a reference (`l.customer_id`, `d.license_id`) may repeat an id, so it is
                // made distinct first (a bare LIMIT on it could stop at the cap with fewer distinct ids).
                let own_id = head.split_whitespace().nth(1).is_some_and(|c| c.ends_with(".id"));
                q.push("SELECT * FROM (");
                match own_id {
                    true => q.push(head),
                    false => q.push(&head.replacen("SELECT ", "SELECT DISTINCT ", 1)),
                };
            } else {
                q.push(head);
            }
            match dialect {
                Dialect::Sqlite => {
                    let (table, column, rowid) = s.trigram;
                    q.push(rowid).push(" IN ");
                    push_match(q, table, column, term);
                }
                Dialect::Postgres => push_contains(q, dialect, s.expr, term),
            }
            match s.scope {
                SearchScope::Listed => {}
                SearchScope::Product(col) => scope.restrict(q, col),
                SearchScope::Order(alias) => scope.restrict_owner(q, "order_id", alias),
            }
            q.push(tail);
            if let Some(cap) = self.count_cap {
                q.push(" LIMIT ").push_bind(cap.saturating_add(1)).push(&format!(") AS branch{i}"));
            }
        }
        q.push(")");
    }

    /// Appends ` AND <condition>` for every filter.
    pub fn push_where(&self, q: &mut Query, dialect: Dialect) {
        for c in &self.conds {
            q.push(" AND ");
            if let (Some(key), Some((term, (table, column, _)))) = (c.field.trigram_key, trigram(dialect, c)) {
                q.push(key).push(" IN ");
                push_match(q, table, column, term);
                continue;
            }
            let (head, tail) = match c.field.exists {
                Some(w) => w.split_once("{}").unwrap_or((w, "")),
                None => ("", ""),
            };
            q.push(head);
            push_cond(q, dialect, c);
            q.push(tail);
        }
    }

    /// Appends ` ORDER BY …` (ties broken by id, so pages are stable) and ` LIMIT … OFFSET …`.
    pub fn push_order_page(&self, q: &mut Query, spec: &Spec) {
        let (expr, desc) = match self.order {
            Some((f, d)) => (f.expr, d),
            None => (spec.id_expr, false),
        };
        let dir = if desc { " DESC" } else { " ASC" };
        q.push(" ORDER BY ").push(expr).push(dir);
        if expr != spec.id_expr {
            q.push(", ").push(spec.id_expr).push(dir);
        }
        q.push(" LIMIT ").push_bind(self.limit).push(" OFFSET ").push_bind(self.offset);
    }
}

/// An `__icontains` the field's trigram index serves (SQLite, 3 characters or more): the term and the
/// index (FTS5 table, column, row id).
fn trigram(dialect: Dialect, c: &Cond) -> Option<(&str, (&'static str, &'static str, &'static str))> {
    match (&c.lookup, &c.arg, c.field.trigram) {
        (Lookup::IContains, Arg::Text(t), Some(index)) if dialect == Dialect::Sqlite && t.chars().count() >= 3 => {
            Some((t, index))
        }
        _ => None,
    }
}

fn push_cond(q: &mut Query, dialect: Dialect, c: &Cond) {
    let e = c.field.expr;
    match (&c.lookup, &c.arg) {
        (Lookup::Exact, Arg::Text(t)) if c.field.fold != Fold::None => {
            push_folded(q, dialect, c.field, std::slice::from_ref(t));
        }
        (Lookup::In, Arg::Texts(v)) if c.field.fold != Fold::None => push_folded(q, dialect, c.field, v),
        (Lookup::IsNull, Arg::Bool(true)) => {
            q.push(e).push(" IS NULL");
        }
        (Lookup::IsNull, _) => {
            q.push(e).push(" IS NOT NULL");
        }
        (Lookup::Exact, Arg::Bool(b)) if c.field.predicate.is_some() => {
            let (when_true, when_false) = c.field.predicate.unwrap_or_default();
            q.push("(").push(if *b { when_true } else { when_false }).push(")");
        }
        (Lookup::IContains, Arg::Text(t)) => {
            let (fts, rowid) =
                c.field.trigram.map_or((None, ""), |(table, column, rowid)| (Some((table, column)), rowid));
            push_contains_indexed(q, dialect, e, fts, rowid, t);
        }
        (Lookup::StartsWith, Arg::Text(t)) => push_starts_with(q, dialect, e, t),
        (Lookup::In, Arg::Ints(v)) => {
            q.push(e);
            crate::scope::push_in_list(q, v);
        }
        (Lookup::In, Arg::Texts(v)) => {
            q.push(e).push(" IN (");
            for (i, t) in v.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.push_bind(t.as_str());
            }
            q.push(")");
        }
        (l, arg) => {
            let op = match l {
                Lookup::Gt => " > ",
                Lookup::Gte | Lookup::DateGte | Lookup::DateGt => " >= ",
                Lookup::Lt | Lookup::DateLt | Lookup::DateLte => " < ",
                Lookup::Lte => " <= ",
                _ => " = ",
            };
            q.push(e).push(op);
            match arg {
                Arg::Int(i) => q.push_bind(*i),
                Arg::Bool(b) => q.push_bind(*b),
                Arg::Text(t) => q.push_bind(t.as_str()),
                Arg::Ints(_) | Arg::Texts(_) => q.push("NULL"),
            };
        }
    }
}

/// `<e> IN (?, …)` over `values`, each made by `f`.
fn push_values(q: &mut Query, e: &str, values: &[String], f: impl Fn(&str) -> String) {
    q.push(e).push(" IN (");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_bind(f(v));
    }
    q.push(")");
}

/// An exact match (one value or an `__in` list) of an email or key field: see [`Fold`].
fn push_folded(q: &mut Query, dialect: Dialect, field: &Field, values: &[String]) {
    let e = field.expr;
    match field.fold {
        Fold::Email(Some(norm)) => push_values(q, norm, values, |v| v.trim().to_lowercase()),
        Fold::Email(None) => {
            q.push("lower(").push(e).push(") IN (");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.push("lower(").push_bind(v.trim()).push(")");
            }
            q.push(")");
        }
        Fold::Key => {
            q.push("(");
            push_values(q, e, values, |v| licensd_core::keys::typed(v).to_string());
            q.push(" OR (");
            push_values(q, &key_canonical(dialect, e), values, licensd_core::keys::canonical);
            q.push(" AND ").push(&key_folds_case(dialect, e)).push("))");
        }
        Fold::None => push_values(q, e, values, str::to_string),
    }
}

/// Appends the condition under which the key column `e` names a typed key, in one of two passes: `exact`, the
/// key with surrounding whitespace removed (one probe of the unique index: the hot path of the client API);
/// else the keys that fold case and have its canonical form (case, dashes and whitespace aside; the index of
/// migration 17). A lookup of one license tries the second only when the first finds nothing, so a key stored
/// exactly as typed always wins.
pub(crate) fn push_key_pass(q: &mut Query, dialect: Dialect, e: &str, typed_key: &str, exact: bool) {
    let t = licensd_core::keys::typed(typed_key);
    if exact {
        q.push(e).push(" = ").push_bind(t);
    } else {
        q.push(&key_canonical(dialect, e)).push(" = ").push_bind(licensd_core::keys::canonical(t));
        q.push(" AND ").push(&key_folds_case(dialect, e));
    }
}

/// Runs a list: the count of all matches and one page of rows, concurrently. `from` is the `FROM … WHERE …` part
/// with scope conditions already in it; `cols` the select list. With [`ListParams::count_cap`] set the count
/// stops at the cap plus one (a count above the cap means "more than the cap"); the page is the same. A capped
/// search reads its first cap + 1 matches once and cuts the page from them (its union of bounded branches is
/// the costly part, and a count beside the page would compute it twice).
pub async fn page(
    db: &Db,
    spec: &'static Spec,
    params: &ListParams,
    cols: &str,
    from: &Query,
) -> Result<(i64, Vec<Row>), StoreError> {
    let mut rows = Query { sql: format!("SELECT {cols} {}", from.sql).into(), args: from.args.clone() };
    params.push_where(&mut rows, db.dialect());
    if let (Some(cap), Some(_)) = (params.count_cap, &params.search) {
        ListParams { limit: cap.saturating_add(1), offset: 0, ..params.clone() }.push_order_page(&mut rows, spec);
        let all = db.fetch_all(rows).await?;
        let n = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let skip = usize::try_from(params.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(params.limit).unwrap_or(0);
        return Ok((n, all.into_iter().skip(skip).take(take).collect()));
    }
    params.push_order_page(&mut rows, spec);
    // Two connections at once: on a million rows the count and the page each take tens of milliseconds,
    // and the caller waits for the slower one rather than for both.
    let (count, rows) = tokio::try_join!(db.fetch_one(count_query(db, params, from)), db.fetch_all(rows))?;
    Ok((count.get("n")?, rows))
}

/// The count alone of a list's matches (see [`page`]), for a page that shows a number and no rows.
pub async fn count(db: &Db, params: &ListParams, from: &Query) -> Result<i64, StoreError> {
    db.fetch_one(count_query(db, params, from)).await?.get("n")
}

/// `SELECT COUNT(*) AS n` of the matches, over a subquery limited to the cap plus one when there is a cap.
fn count_query(db: &Db, params: &ListParams, from: &Query) -> Query {
    let head = if params.count_cap.is_some() { "SELECT COUNT(*) AS n FROM (SELECT 1" } else { "SELECT COUNT(*) AS n" };
    let mut count = Query { sql: format!("{head} {}", from.sql).into(), args: from.args.clone() };
    params.push_where(&mut count, db.dialect());
    if let Some(cap) = params.count_cap {
        count.push(" LIMIT ").push_bind(cap.saturating_add(1)).push(") capped");
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    static FIELDS: &[Field] = &[
        Field::new("id", "x.id", Kind::Int).sortable(),
        Field::new("name", "x.name", Kind::Text).sortable(),
        Field::new("enabled", "x.enabled", Kind::Bool),
        Field::new("active", "(x.uses > 0)", Kind::Bool).predicate("x.uses > 0", "x.uses <= 0"),
        Field::new("created_at", "x.created_at", Kind::Time).sortable(),
        Field::new("devices__hostname", "d.hostname", Kind::Text)
            .related("EXISTS (SELECT 1 FROM devices d WHERE d.license_id = x.id AND {})"),
        Field::new("owner__email", "c.email", Kind::Text)
            .related("x.owner_id IN (SELECT c.id FROM owners c WHERE {})")
            .trigram("owners_fts", "email", "c.id")
            .trigram_key("x.owner_id"),
    ];
    static SPEC: Spec = Spec { fields: FIELDS, id_expr: "x.id", search: &[] };

    static FOLDED: &[Field] = &[
        Field::new("email", "c.email", Kind::Text).email("c.email_norm"),
        Field::new("account_email", "a.email", Kind::Text).email_lower(),
        Field::new("license_key", "l.license_key", Kind::Text).key(),
    ];
    static SEARCH: &[Search] = &[
        Search {
            doc: "key",
            select: "SELECT l.customer_id FROM licenses l WHERE {}",
            expr: "l.license_key",
            trigram: ("licenses_fts", "license_key", "l.id"),
            scope: SearchScope::Product("l.product_id"),
        },
        Search {
            doc: "email",
            select: "SELECT c.id FROM customers c WHERE {}",
            expr: "c.email",
            trigram: ("customers_fts", "email", "c.id"),
            scope: SearchScope::Listed,
        },
    ];
    static FOLDED_SPEC: Spec = Spec { fields: FOLDED, id_expr: "c.id", search: SEARCH };

    #[test]
    fn emails_and_keys_compile_to_their_folded_comparisons() {
        let compile = |pairs: &[(&str, &str)], d: Dialect| {
            let lp = parse(&FOLDED_SPEC, &p(pairs), &[]).unwrap();
            let mut q = crate::db::query("");
            lp.push_where(&mut q, d);
            (q.sql.to_string(), q.args)
        };
        let (s, a) = compile(&[("email", " Ann@Example.COM "), ("account_email__in", "A@b.c, x@Y.z")], Dialect::Sqlite);
        assert_eq!(s, " AND c.email_norm IN (?) AND lower(a.email) IN (lower(?), lower(?))");
        assert_eq!(a, vec!["ann@example.com".into(), "A@b.c".into(), "x@Y.z".into()]);
        let (s, a) = compile(&[("license_key", " acme-7h3kq ")], Dialect::Postgres);
        assert_eq!(
            s,
            " AND (l.license_key IN (?) OR (replace(upper(l.license_key COLLATE \"C\"), '-', '') IN (?) AND \
             substr(l.license_key, strpos(l.license_key, '-') + 1) = upper(substr(l.license_key, \
             strpos(l.license_key, '-') + 1) COLLATE \"C\")))"
        );
        assert_eq!(a, vec!["acme-7h3kq".into(), "ACME7H3KQ".into()]);
        // Other lookups compare the column as it is.
        let (s, _) = compile(&[("email__startswith", "Ann")], Dialect::Postgres);
        assert_eq!(s, " AND c.email LIKE ? ESCAPE '\\'");
    }

    #[test]
    fn search_is_one_union_of_branches_each_in_scope() {
        let lp = parse(&FOLDED_SPEC, &p(&[("search", "  ann  ")]), &[]).unwrap();
        let manager = Scope {
            actor: "m".into(),
            token_id: Some(1),
            products: Some(vec![7].into()),
            role: licensd_core::model::Role::Manager,
        };
        let mut q = crate::db::query("");
        lp.push_search(&mut q, Dialect::Sqlite, &FOLDED_SPEC, &manager);
        assert_eq!(
            q.sql,
            " AND c.id IN (SELECT l.customer_id FROM licenses l WHERE l.id IN (SELECT rowid FROM licenses_fts WHERE \
             licenses_fts MATCH ?) AND l.product_id IN (?) UNION SELECT c.id FROM customers c WHERE c.id IN (SELECT rowid \
             FROM customers_fts WHERE customers_fts MATCH ?))"
        );
        assert_eq!(q.args, vec!["license_key : \"ann\"".into(), 7i64.into(), "email : \"ann\"".into()]);
        let mut q = crate::db::query("");
        lp.push_search(&mut q, Dialect::Postgres, &FOLDED_SPEC, &Scope::system());
        assert_eq!(
            q.sql,
            " AND c.id IN (SELECT l.customer_id FROM licenses l WHERE l.license_key ILIKE ? ESCAPE '\\' UNION \
             SELECT c.id FROM customers c WHERE c.email ILIKE ? ESCAPE '\\')"
        );
        assert_eq!(q.args, vec!["%ann%".into(), "%ann%".into()]);
        // Lists without search refuse it as an unknown filter; short terms are refused before any SQL.
        assert_eq!(parse(&SPEC, &p(&[("search", "ann")]), &[]).unwrap_err().param, "search");
        assert!(parse(&FOLDED_SPEC, &p(&[("search", " an ")]), &[]).unwrap_err().message.contains("at least 3"));
    }

    #[test]
    fn unknown_filters_suggest_names_that_end_in_them_synonyms_and_near_misses() {
        let near = |key: &str| suggestions(&crate::licenses::SPEC, key);
        assert_eq!(near("key")[0], "license_key");
        assert_eq!(near("hardware_id"), ["devices__hardware_id"]);
        assert_eq!(near("devices__hardwareid__icontains"), ["devices__hardware_id__icontains"]);
        assert_eq!(near("invoice"), ["order__store_id"]);
        assert_eq!(near("q"), ["search"]);
        assert!(near("zzzzzzzz").is_empty());
        assert!(near("email").contains(&"customer__email".to_string()), "{:?}", near("email"));
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn sql(pairs: &[(&str, &str)], d: Dialect) -> (String, Vec<crate::db::Value>) {
        let lp = parse(&SPEC, &p(pairs), &[]).unwrap();
        let mut q = crate::db::query("");
        lp.push_where(&mut q, d);
        (q.sql.to_string(), q.args)
    }

    #[test]
    fn filters_compile_to_bound_sql() {
        let (s, a) = sql(&[("name__icontains", "a%b"), ("enabled", "True")], Dialect::Postgres);
        assert_eq!(s, " AND x.name ILIKE ? ESCAPE '\\' AND x.enabled = ?");
        assert_eq!(a, vec!["%a\\%b%".into(), true.into()]);
        let (s, _) = sql(&[("devices__hostname", "h")], Dialect::Sqlite);
        assert_eq!(s, " AND EXISTS (SELECT 1 FROM devices d WHERE d.license_id = x.id AND d.hostname = ?)");
        let (s, a) = sql(&[("active", "false"), ("enabled", "1")], Dialect::Sqlite);
        assert_eq!(s, " AND (x.uses <= 0) AND x.enabled = ?");
        assert_eq!(a, vec![true.into()]);
        let (s, a) = sql(&[("created_at__date__lte", "2020-01-01")], Dialect::Sqlite);
        assert_eq!(s, " AND x.created_at < ?");
        assert_eq!(a, vec![(parse_date("2020-01-02").unwrap()).into()]);
    }

    #[test]
    fn keyed_trigram_matches_skip_the_related_table() {
        let (s, a) = sql(&[("owner__email__icontains", "ab\"c")], Dialect::Sqlite);
        assert_eq!(s, " AND x.owner_id IN (SELECT rowid FROM owners_fts WHERE owners_fts MATCH ?)");
        assert_eq!(a, vec!["email : \"ab\"\"c\"".into()]);
        // Too short for trigrams, another lookup, or PostgreSQL: through the related table.
        let (s, _) = sql(&[("owner__email__icontains", "ab")], Dialect::Sqlite);
        assert_eq!(s, " AND x.owner_id IN (SELECT c.id FROM owners c WHERE c.email LIKE ? ESCAPE '\\')");
        let (s, _) = sql(&[("owner__email", "abc")], Dialect::Sqlite);
        assert_eq!(s, " AND x.owner_id IN (SELECT c.id FROM owners c WHERE c.email = ?)");
        let (s, _) = sql(&[("owner__email__icontains", "abc")], Dialect::Postgres);
        assert_eq!(s, " AND x.owner_id IN (SELECT c.id FROM owners c WHERE c.email ILIKE ? ESCAPE '\\')");
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let e = |pairs: &[(&str, &str)]| parse(&SPEC, &p(pairs), &[]).unwrap_err().param;
        assert_eq!(e(&[("nope", "1")]), "nope");
        assert_eq!(e(&[("enabled__icontains", "x")]), "enabled__icontains");
        assert_eq!(e(&[("id", "abc")]), "id");
        assert_eq!(e(&[("limit", "-1")]), "limit");
        assert_eq!(e(&[("offset", "abc")]), "offset");
        assert_eq!(e(&[("order_by", "enabled")]), "order_by");
        assert_eq!(e(&[("created_at__gt", "soon")]), "created_at__gt");
        assert_eq!(e(&[("name__in__x", "a")]), "name__in__x");
    }

    #[test]
    fn lists_patterns_and_filters_are_bounded_before_any_sql() {
        let e = |pairs: Vec<(String, String)>| parse(&SPEC, &pairs, &[]).map(|_| ()).map_err(|e| e.param);
        let list = |n: usize| vec!["1"; n].join(",");
        assert_eq!(e(vec![("id__in".into(), list(MAX_IN_VALUES))]), Ok(()));
        assert_eq!(e(vec![("id__in".into(), list(MAX_IN_VALUES + 1))]), Err("id__in".into()));
        let halves = vec![("id__in".into(), list(MAX_IN_VALUES / 2)), ("name__in".into(), list(MAX_IN_VALUES / 2 + 1))];
        assert_eq!(e(halves), Err("name__in".into()));
        let pattern = |n: usize| "é".repeat(n);
        assert_eq!(e(vec![("name__icontains".into(), pattern(MAX_PATTERN_CHARS))]), Ok(()));
        assert_eq!(e(vec![("name__icontains".into(), pattern(MAX_PATTERN_CHARS + 1))]), Err("name__icontains".into()));
        assert_eq!(
            e(vec![("name__startswith".into(), pattern(MAX_PATTERN_CHARS + 1))]),
            Err("name__startswith".into())
        );
        // Exact matches are not patterns.
        assert_eq!(e(vec![("name".into(), pattern(MAX_PATTERN_CHARS * 10))]), Ok(()));
        let mut many: Vec<(String, String)> = vec![("enabled".into(), "true".into()); MAX_FILTERS];
        many.extend([("limit".into(), "5".into()), ("order_by".into(), "id".into())]);
        assert_eq!(e(many.clone()), Ok(()));
        many.push(("name".into(), "x".into()));
        assert_eq!(e(many), Err("name".into()));
    }

    #[test]
    fn limit_is_capped_and_order_breaks_ties_by_id() {
        let lp = parse(&SPEC, &p(&[("limit", "1000"), ("order_by", "-created_at")]), &[]).unwrap();
        assert_eq!(lp.limit, 100);
        let mut q = crate::db::query("");
        lp.push_order_page(&mut q, &SPEC);
        assert_eq!(q.sql, " ORDER BY x.created_at DESC, x.id DESC LIMIT ? OFFSET ?");
    }

    fn license_key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names: Vec<&str> = crate::licenses::SPEC.fields.iter().map(|f| f.name).collect();
        const SUFFIXES: &[&str] =
            &["", "__icontains", "__startswith", "__in", "__gte", "__date__lt", "__isnull", "__x", "__"];
        prop_oneof![
            (prop::sample::select(names), prop::sample::select(SUFFIXES)).prop_map(|(n, s)| format!("{n}{s}")),
            "[a-z_]{0,30}",
        ]
    }

    proptest::proptest! {
        #[test]
        fn random_query_strings_never_panic(key in "[a-z_]{0,30}", value in "\\PC{0,20}") {
            let _ = parse(&SPEC, &[(key, value)], &[]);
        }

        /// Whatever the input, a parsed query compiles to SQL whose placeholders match its arguments one
        /// for one, and no input text reaches the SQL itself.
        #[test]
        fn parsed_queries_compile_to_fully_bound_sql(
            pairs in proptest::collection::vec((license_key(), "[a-zA-Z0-9 ,:%_'-]{0,12}"), 0..5),
        ) {
            if let Ok(lp) = parse(&crate::licenses::SPEC, &pairs, &[]) {
                for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                    let mut q = crate::db::query("SELECT 1 FROM licenses l WHERE 1 = 1");
                    lp.push_where(&mut q, dialect);
                    lp.push_order_page(&mut q, &crate::licenses::SPEC);
                    let placeholders = q.sql.matches('?').count();
                    proptest::prop_assert_eq!(placeholders, q.args.len(), "{}", q.sql);
                    for (_, v) in &pairs {
                        if v.len() > 3 && v.contains(['\'', ' ', ',']) {
                            proptest::prop_assert!(!q.sql.contains(v.as_str()), "{} in {}", v, q.sql);
                        }
                    }
                }
            }
        }
    }
}
