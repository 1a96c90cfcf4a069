//! The reference of every management list's filters, generated from the store's allow-lists
//! (`licensd_store::list::Spec`), never written by hand: `docs/filters.md` (a golden test in
//! `tests/http/reference.rs` fails when it is stale) and the query parameters of each list operation in
//! `/openapi.json`, which also gets its `servers` here.

use licensd_store::list::{
    Field, Fold, Kind, Lookup, MAX_FILTERS, MAX_IN_VALUES, MAX_PATTERN_CHARS, MIN_SEARCH_CHARS, Spec,
};
use serde_json::{Value, json};
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{OpenApi, RefOr};

use crate::front_door::HttpConfig;

/// A list operation of the management API and the allow-list it parses its query with.
pub struct List {
    pub path: &'static str,
    pub spec: &'static Spec,
}

/// Every list of `/api/v1` (a test checks that no list operation of `/openapi.json` is missing).
pub static LISTS: &[List] = &[
    List { path: "/api/v1/products", spec: &licensd_store::products::SPEC },
    List { path: "/api/v1/product-features", spec: &licensd_store::products::FEATURE_SPEC },
    List { path: "/api/v1/product-versions", spec: &licensd_store::versions::SPEC },
    List { path: "/api/v1/license-templates", spec: &licensd_store::templates::SPEC },
    List { path: "/api/v1/customer-accounts", spec: &licensd_store::accounts::SPEC },
    List { path: "/api/v1/customers", spec: &licensd_store::customers::SPEC },
    List { path: "/api/v1/orders", spec: &licensd_store::orders::SPEC },
    List { path: "/api/v1/licenses", spec: &licensd_store::licenses::SPEC },
    // A manager's allow-list has the same names (its `license` filter only sees the manager's licenses).
    List { path: "/api/v1/license-users", spec: &licensd_store::license_users::SPEC },
    List { path: "/api/v1/devices", spec: &licensd_store::devices::SPEC },
    List { path: "/api/v1/events", spec: &licensd_store::events::SPEC },
    List { path: "/api/v1/api-keys", spec: &licensd_store::api_keys::SPEC },
    List { path: "/api/v1/oauth-clients", spec: &licensd_store::oauth::SPEC },
];

/// The command that rewrites `docs/filters.md` from the allow-lists.
pub const REGENERATE: &str = "LICENSD_WRITE_DOCS=1 cargo test -p licensd-server --test http filters_reference";

fn value_doc(f: &Field) -> &'static str {
    match (f.kind, f.fold) {
        (Kind::Int, _) => "integer",
        (Kind::Bool, _) => "boolean",
        (Kind::Time, _) => "time",
        (Kind::Text, Fold::Email(_)) => "email",
        (Kind::Text, Fold::Key) => "license key",
        (Kind::Text, Fold::None) => "text",
    }
}

/// What a lookup of a field matches, in a sentence fragment (the parameter's description in OpenAPI).
fn lookup_doc(f: &Field, l: Lookup) -> String {
    let indexed = if f.trigram.is_some() { " (trigram-indexed from 3 characters)" } else { "" };
    match l {
        Lookup::Exact => match (f.kind, f.fold) {
            (Kind::Bool, _) => "is `true` or `false`".into(),
            (Kind::Time, _) => {
                "is this time (a date `YYYY-MM-DD` is its midnight UTC, or an RFC 3339 timestamp)".into()
            }
            (_, Fold::Email(_)) => "is this email, ignoring case and surrounding whitespace".into(),
            (_, Fold::Key) => "may be named by this typed key: surrounding whitespace removed, and case ignored for a \
                               key with no lower-case letter after its first `-` (every key licensd issues)"
                .into(),
            _ => "equals".into(),
        },
        Lookup::IContains => format!("contains, ignoring case{indexed}"),
        Lookup::StartsWith => "starts with (case-sensitive)".into(),
        Lookup::In => match f.fold {
            Fold::None => "is one of a comma-separated list".into(),
            _ => "is one of a comma-separated list, each compared as `=` compares".into(),
        },
        Lookup::Gt => "is greater than".into(),
        Lookup::Gte => "is at least".into(),
        Lookup::Lt => "is less than".into(),
        Lookup::Lte => "is at most".into(),
        Lookup::DateGt => "is after this day (`YYYY-MM-DD`, UTC)".into(),
        Lookup::DateGte => "is on or after this day (`YYYY-MM-DD`, UTC)".into(),
        Lookup::DateLt => "is before this day (`YYYY-MM-DD`, UTC)".into(),
        Lookup::DateLte => "is on or before this day (`YYYY-MM-DD`, UTC)".into(),
        Lookup::IsNull => "`true`: has no value; `false`: has one".into(),
    }
}

/// The JSON Schema of a filter parameter's value.
fn lookup_schema(f: &Field, l: Lookup) -> Value {
    match (l, f.kind) {
        (Lookup::IsNull, _) | (_, Kind::Bool) => json!({"type": "boolean"}),
        (Lookup::In, _) => json!({"type": "string"}),
        (Lookup::DateGt | Lookup::DateGte | Lookup::DateLt | Lookup::DateLte, _) => {
            json!({"type": "string", "format": "date"})
        }
        (_, Kind::Int) => json!({"type": "integer", "format": "int64"}),
        (Lookup::IContains | Lookup::StartsWith, _) => {
            json!({"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_CHARS})
        }
        _ => json!({"type": "string"}),
    }
}

fn sortable(spec: &Spec) -> Vec<&'static str> {
    spec.fields.iter().filter(|f| f.sortable).map(|f| f.name).collect()
}

fn search_doc(spec: &Spec) -> String {
    let places: Vec<&str> = spec.search.iter().map(|s| s.doc).collect();
    format!(
        "One search box: the rows whose {} contains this text (at least {MIN_SEARCH_CHARS} characters, case-insensitive, \
         surrounding whitespace removed; trigram-indexed). Combines with the other filters.",
        places.join(", or ")
    )
}

fn query_param(name: String, description: String, schema: Value) -> Option<Parameter> {
    serde_json::from_value(
        json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema}),
    )
    .ok()
}

/// The query parameters of one list: every filter with every lookup, `search` where the list has it, and
/// `order_by`/`ordering` with the sortable fields.
fn parameters(spec: &Spec) -> Vec<Parameter> {
    let mut out = Vec::new();
    for f in spec.fields {
        for l in Lookup::ALL.iter().filter(|l| f.lookups.contains(l)) {
            let description = format!("`{}` {}.", f.name, lookup_doc(f, *l));
            out.extend(query_param(format!("{}{}", f.name, l.suffix()), description, lookup_schema(f, *l)));
        }
    }
    if !spec.search.is_empty() {
        let schema = json!({"type": "string", "minLength": MIN_SEARCH_CHARS, "maxLength": MAX_PATTERN_CHARS});
        out.extend(query_param("search".into(), search_doc(spec), schema));
    }
    let orders: Vec<String> = sortable(spec).iter().flat_map(|n| [n.to_string(), format!("-{n}")]).collect();
    for name in ["order_by", "ordering"] {
        let description = "`field` ascending or `-field` descending; ties are broken by id (`ordering` is a synonym \
                           of `order_by`)";
        out.extend(query_param(name.into(), description.into(), json!({"type": "string", "enum": orders})));
    }
    out
}

/// Completes the generated document: each list operation's filters as query parameters (replacing the
/// generic `order_by`), and `servers`: the `--public-url` when there is one, else `/` (this server).
pub fn document(openapi: &mut OpenApi, http: &HttpConfig) {
    for list in LISTS {
        let Some(op) = openapi.paths.paths.get_mut(list.path).and_then(|item| item.get.as_mut()) else { continue };
        let params = op.parameters.get_or_insert_with(Vec::new);
        params.retain(|p| !matches!(p, RefOr::T(p) if p.name == "order_by"));
        params.extend(parameters(list.spec).into_iter().map(RefOr::T));
    }
    let url = http.public_url.as_ref().map_or("/", |u| u.as_str());
    openapi.servers = Some(vec![utoipa::openapi::server::Server::new(url)]);
}

/// `docs/filters.md`.
pub fn markdown() -> String {
    let mut md = String::new();
    md.push_str(
        "# Filters of the management API's lists\n\n\
         Generated from the allow-lists in `crates/store/src/` (`list::Spec` of each resource) by\n\
         `crates/server/src/reference.rs`; do not edit it by hand. A test fails when it is stale; rewrite it with\n",
    );
    md.push_str(&format!("`{REGENERATE}`.\n"));
    md.push_str(&format!(
        "The same filters are the query parameters of each list operation in `/openapi.json`.\n\n\
         ## How filters are written\n\n\
         - `field=value` is an exact match; `field__lookup=value` another lookup (the columns below). Several\n  \
           filters combine with AND. Booleans are `true`/`false`; times are a date `YYYY-MM-DD` (its midnight UTC)\n  \
           or an RFC 3339 timestamp; `__date__gt|gte|lt|lte` take a date and compare whole UTC days.\n\
         - `__in` takes a comma-separated list; `__icontains` ignores case; `__startswith` does not.\n\
         - `__icontains` of a field marked *indexed* is served by a trigram index from 3 characters on (FTS5 on\n  \
           SQLite, `pg_trgm` on PostgreSQL); shorter terms, and other fields, are scanned.\n\
         - Emails (value *email*): `=` and `__in` ignore case and surrounding whitespace.\n\
         - License keys (value *license key*): `=` and `__in` list every license the key a customer typed may\n  \
           name: the key without surrounding whitespace, and, whatever the case, dashes and spaces typed, a key\n  \
           with no lower-case letter after its first `-` (every key licensd issues; a key with lower-case letters\n  \
           of its own, such as DevMate's `id…odr`, matches only as it is written). The client API, which needs one license,\n  \
           takes the key stored exactly as typed when there is one.\n\
         - A field of a related record (`customer__email`) matches when any related record does; each row is listed\n  \
           once.\n\
         - `order_by=field` / `order_by=-field` (`ordering=` too) sorts by a field marked in the last column; ties\n  \
           are broken by id. `limit` (default 20, at most 100) and `offset` page.\n\
         - Bounds of one request: at most {MAX_FILTERS} filters (`search` counts as one; `limit`, `offset` and\n  \
           `order_by` do not), at most {MAX_IN_VALUES} values in all `__in` lists together, at most\n  \
           {MAX_PATTERN_CHARS} characters in an `__icontains`, `__startswith` or `search` value.\n\
         - An unknown filter, a lookup the field does not take or a malformed value is a `400 INVALID_PARAMETER`\n  \
           naming the parameter; for an unknown filter it suggests the nearest names.\n\
         - Manager tokens list only their products' records, whatever the filters.\n"
    ));
    for list in LISTS {
        let spec = list.spec;
        md.push_str(&format!("\n## `GET {}/`\n\n", list.path));
        if !spec.search.is_empty() {
            let places: Vec<String> = spec.search.iter().map(|s| format!("- {}\n", s.doc)).collect();
            md.push_str(&format!(
                "`search=TEXT`: one search box. Lists the rows where any of these contains TEXT (at least \
                 {MIN_SEARCH_CHARS}\ncharacters, case-insensitive, surrounding whitespace removed; every one \
                 trigram-indexed), combined with\nthe other filters:\n\n{}\n",
                places.concat()
            ));
        }
        md.push_str("| filter | value | lookups | `order_by` |\n| --- | --- | --- | --- |\n");
        for f in spec.fields {
            let lookups: Vec<String> = Lookup::ALL
                .iter()
                .filter(|l| f.lookups.contains(l))
                .map(|l| match l {
                    Lookup::Exact => "`=`".to_string(),
                    Lookup::IContains if f.trigram.is_some() => "`__icontains` (indexed)".to_string(),
                    _ => format!("`{}`", l.suffix()),
                })
                .collect();
            md.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                f.name,
                value_doc(f),
                lookups.join(", "),
                if f.sortable { "yes" } else { "" }
            ));
        }
    }
    md
}
