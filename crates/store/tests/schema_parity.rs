//! The two schemas agree (issue 13). A fresh SQLite and a fresh PostgreSQL database, migrated, are read back as
//! facts, one line each: tables, columns (type class, nullability, ids never reused, default), primary keys, foreign
//! keys, indexes (unique or not, keys, predicate, method, included columns) and triggers. Both sides must hold
//! the same facts, except for the differences listed in [`MEANT`], each with its reason: that list is the
//! written record of how the dialects differ. [`RELIED_ON`] names the indexes the code and the migrations'
//! measurements count on, and every unique index must be in the store's constraint → field table.
//!
//! PostgreSQL when `LICENSD_TEST_POSTGRES` names a server (required under `CI`); without one the test still
//! reads the SQLite schema and checks what it can alone.

use std::collections::{BTreeMap, BTreeSet};

use licensd_store::db::{Db, query};
use licensd_store::error::UNIQUE_INDEXES;

/// A difference between the dialects that is meant: the facts only SQLite has, those only PostgreSQL has
/// (patterns, `*` matching any text), and why.
struct Meant {
    sqlite: &'static [&'static str],
    postgres: &'static [&'static str],
    why: &'static str,
}

/// Every difference between the migrated schemas that is meant. A fact on one side only that no entry covers
/// fails the test, and so does an entry that covers nothing (the difference it records is gone).
const MEANT: &[Meant] = &[
    Meant {
        sqlite: &["table *_fts*", "column *_fts*", "primary key *_fts*", "trigger *_fts_* on *"],
        postgres: &["index *_trgm on *: (*) using gin"],
        why: "Substring search (`__icontains`, `?search=`): SQLite keeps FTS5 trigram tables (`licenses_fts`, \
              `customers_fts`, `devices_fts`, `orders_fts`, with their shadow tables) up to date by triggers; \
              PostgreSQL answers the same predicates from pg_trgm GIN indexes on the columns (migration 4).",
    },
    Meant {
        sqlite: &["table sqlite_sequence", "column sqlite_sequence.*"],
        postgres: &[],
        why: "SQLite's bookkeeping for AUTOINCREMENT (migration 11): the highest id each table gave out. \
              PostgreSQL's identity columns keep theirs in sequences, which are not tables.",
    },
    Meant {
        sqlite: &["trigger events_product_ai on events"],
        postgres: &["trigger events_product on events"],
        why: "Events get their license's product when the writer leaves it out (migration 11): PostgreSQL sets it \
              BEFORE INSERT through the function `events_product()`; SQLite cannot change the new row in a \
              BEFORE trigger and UPDATEs it AFTER INSERT.",
    },
    Meant {
        sqlite: &["index ix_licenses_license_key_canonical on licenses: (replace(upper(license_key), '-', ''))"],
        postgres: &[
            "index ix_licenses_license_key_canonical on licenses: (replace(upper(license_key collate c), '-', ''))",
        ],
        why: "Keys as typed (migration 17): upper() must fold ASCII letters only, as Rust's to_ascii_uppercase \
              does. SQLite's does; PostgreSQL's folds by the database's locale unless the text is COLLATE \"C\". \
              The store writes each dialect's expression (`key_canonical`), so each index serves it.",
    },
    Meant {
        sqlite: &[],
        postgres: &[
            "index ix_licenses_id_times on licenses: (id) include (created_at, updated_at, expires_at, time_activated)",
        ],
        why: "Planner-specific (migration 8): for time filters on the default id order PostgreSQL's planner walks \
              the primary key; with the times included in the index that walk is an index-only scan. SQLite has \
              no INCLUDE and its planner did not need one (migration 8 gives it the index on times_activated).",
    },
    Meant {
        sqlite: &["column events.id: integer, not null", "column signing_keys.id: integer, not null"],
        postgres: &[
            "column events.id: integer, not null, ids never reused",
            "column signing_keys.id: integer, not null, ids never reused",
        ],
        why: "Append-only tables: licensd never deletes an event or a signing key, so SQLite's numbering (one past \
              the highest id present) cannot hand an id out twice here. Migration 11 rebuilt with AUTOINCREMENT the \
              tables whose rows are deleted and whose ids events, `created_by` and client state name. Whatever \
              comes to delete these rows must rebuild the table with AUTOINCREMENT first.",
    },
    Meant {
        sqlite: &["column schema_migrations.version: integer, null"],
        postgres: &["column schema_migrations.version: integer, not null"],
        why: "The migration runner makes its table with one statement for both (`version BIGINT PRIMARY KEY`); \
              PostgreSQL's primary keys are NOT NULL, SQLite lets a primary key that is not INTEGER hold NULL. \
              The runner always writes a version.",
    },
];

/// Indexes the code or a migration's measurement relies on, with where: each must exist on both backends.
/// (The unique indexes are checked through `UNIQUE_INDEXES`, below.)
const RELIED_ON: &[(&str, &str)] = &[
    ("ix_licenses_license_key_canonical", "keys as typed: `list::key_canonical` (migration 17)"),
    ("ix_licenses_times_activated", "`active=true|false` counts (migrations 8 and 10)"),
    ("ix_licenses_product", "a manager's licenses, in id order"),
    ("ix_licenses_customer", "a customer's licenses; semi-joins from customers"),
    ("ix_licenses_order", "an order's licenses; semi-joins from orders"),
    ("ix_licenses_template", "a template's licenses (delete checks)"),
    ("ix_licenses_bundle", "a bundle's licenses"),
    ("ix_licenses_created_at", "time filters and orderings"),
    ("ix_licenses_updated_at", "time filters and orderings"),
    ("ix_licenses_validity", "expiry filters"),
    ("ix_licenses_time_activated", "activation-time filters"),
    ("ix_licenses_enabled", "`enabled` filters (migration 5)"),
    ("ix_devices_license", "a license's devices (the client API's transactions)"),
    ("ix_devices_lease", "lapsed floating leases, reaped in each transaction on the license"),
    ("ix_devices_hardware_id", "device filters by hardware id"),
    ("ix_events_license", "a license's history"),
    ("ix_events_product", "a manager's view of the audit log (migration 11)"),
    ("ix_events_created_at", "the audit log in time order"),
    ("ix_customers_email_exact", "`email=` filters (migration 5)"),
    ("ix_dashboard_invitations_user", "a user's open invitations, ended when a new one is made (migration 19)"),
];

#[derive(Default)]
struct Schema {
    facts: BTreeSet<String>,
    /// Every index by name (primary keys and SQLite's automatic ones excluded).
    indexes: BTreeSet<String>,
    /// Unique indexes other than primary keys: name → (table, key columns; `None` when a key is an expression).
    unique: BTreeMap<String, (String, Option<Vec<String>>)>,
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Sqlite,
    Postgres,
}

/// The type class of SQLite's declared type, by its affinity rules (and BOOLEAN, JSON as declared).
fn sqlite_class(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.contains("BOOL") {
        "boolean"
    } else if t.contains("JSON") {
        "json"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else if t.is_empty() || t.contains("BLOB") {
        "blob"
    } else {
        "numeric"
    }
}

fn postgres_class(data_type: &str) -> String {
    match data_type {
        "bigint" | "integer" | "smallint" => "integer".into(),
        "text" => "text".into(),
        t if t.starts_with("character") => "text".into(),
        "boolean" => "boolean".into(),
        "double precision" | "real" => "real".into(),
        t if t.starts_with("numeric") => "numeric".into(),
        "bytea" => "blob".into(),
        "json" | "jsonb" => "json".into(),
        other => other.into(),
    }
}

/// SQL text made comparable across the dialects: lower case outside string literals, no double quotes,
/// whitespace collapsed, PostgreSQL's `::type` casts and grouping parentheses dropped (a function's stay).
fn normalize(sql: &str) -> String {
    let mut out = String::new();
    // For each open parenthesis: whether it is kept (a function call's).
    let mut parens: Vec<bool> = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                out.push(c);
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '\'' {
                        break;
                    }
                }
            }
            '"' => {}
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                // The cast's type: one word here (`text`, `bigint`).
                while chars.peek().is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    chars.next();
                }
            }
            '(' => {
                let call = out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                parens.push(call);
                if call {
                    out.push('(');
                }
            }
            ')' => {
                if parens.pop().unwrap_or(true) {
                    out.push(')');
                }
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.ends_with('(') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out.replace(" )", ")").replace(" ,", ",").trim().to_string()
}

/// A column's default made comparable: booleans as `false`/`true` (SQLite stores 0/1).
fn default(class: &str, sql: Option<String>) -> Option<String> {
    let d = normalize(&sql?);
    Some(match (class, d.as_str()) {
        ("boolean", "0" | "false") => "false".into(),
        ("boolean", "1" | "true") => "true".into(),
        _ => d,
    })
}

/// `never_reused`: the database numbers new rows and never hands an id out twice (PostgreSQL's identity columns,
/// SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT`).
fn column_fact(
    table: &str,
    name: &str,
    class: &str,
    not_null: bool,
    never_reused: bool,
    dflt: Option<String>,
) -> String {
    let mut f = format!("column {table}.{name}: {class}, {}", if not_null { "not null" } else { "null" });
    if never_reused {
        f.push_str(", ids never reused");
    }
    if let Some(d) = dflt {
        f.push_str(&format!(", default {d}"));
    }
    f
}

fn index_fact(name: &str, table: &str, unique: bool, keys: &[String], rest: &str) -> String {
    format!("index {name} on {table}: {}({}){rest}", if unique { "unique " } else { "" }, keys.join(", "))
}

/// The key list and `WHERE` of SQLite's `CREATE INDEX … ON t (keys) [WHERE …]`.
fn sqlite_index_parts(sql: &str) -> (Vec<String>, Option<String>) {
    let open = sql.find('(').expect("an index has keys");
    let (mut depth, mut close, mut quoted) = (0, open, false);
    let mut keys = Vec::new();
    let mut start = open + 1;
    for (i, c) in sql.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            ',' if !quoted && depth == 1 => {
                keys.push(normalize(&sql[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    keys.push(normalize(&sql[start..close]));
    let rest = sql[close + 1..].trim();
    let predicate = rest.get(..5).filter(|w| w.eq_ignore_ascii_case("where")).map(|_| normalize(&rest[5..]));
    (keys, predicate)
}

async fn strings(db: &Db, sql: &str, cols: &[&str]) -> Vec<Vec<Option<String>>> {
    let rows = db.fetch_all(query(sql.to_string())).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| cols.iter().map(|c| r.get::<Option<String>>(c).unwrap()).collect()).collect()
}

fn s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

async fn read_sqlite(db: &Db) -> Schema {
    let mut out = Schema::default();
    let objects = strings(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
        &["type", "name", "tbl_name", "sql"],
    )
    .await;
    for o in &objects {
        let (kind, name, table, sql) = (s(&o[0]), s(&o[1]), s(&o[2]), s(&o[3]));
        match kind {
            "table" => {
                out.facts.insert(format!("table {name}"));
                let autoincrement = sql.to_ascii_uppercase().contains("AUTOINCREMENT");
                let cols = strings(
                    db,
                    &format!(
                        "SELECT name, type, CAST(\"notnull\" AS TEXT) AS nn, dflt_value, CAST(pk AS TEXT) AS pk \
                         FROM pragma_table_info('{name}') ORDER BY cid"
                    ),
                    &["name", "type", "nn", "dflt_value", "pk"],
                )
                .await;
                let pk: Vec<&Vec<Option<String>>> = {
                    let mut pk: Vec<_> = cols.iter().filter(|c| s(&c[4]) != "0").collect();
                    pk.sort_by_key(|c| s(&c[4]).parse::<i64>().unwrap());
                    pk
                };
                for c in &cols {
                    let class = sqlite_class(s(&c[1]));
                    // An INTEGER PRIMARY KEY is the rowid: never NULL; with AUTOINCREMENT, never reused.
                    let rowid = pk.len() == 1 && pk[0][0] == c[0] && s(&c[1]).eq_ignore_ascii_case("INTEGER");
                    let not_null = s(&c[2]) == "1" || rowid;
                    out.facts.insert(column_fact(
                        name,
                        s(&c[0]),
                        class,
                        not_null,
                        rowid && autoincrement,
                        default(class, c[3].clone()),
                    ));
                }
                if !pk.is_empty() {
                    let keys: Vec<&str> = pk.iter().map(|c| s(&c[0])).collect();
                    out.facts.insert(format!("primary key {name} ({})", keys.join(", ")));
                }
                let fks = strings(
                    db,
                    &format!(
                        "SELECT CAST(id AS TEXT) AS id, \"table\" AS ref, \"from\" AS col, \"to\" AS ref_col, \
                         on_update, on_delete FROM pragma_foreign_key_list('{name}') ORDER BY id, seq"
                    ),
                    &["id", "ref", "col", "ref_col", "on_update", "on_delete"],
                )
                .await;
                let mut by_id: BTreeMap<String, Vec<&Vec<Option<String>>>> = BTreeMap::new();
                for f in &fks {
                    by_id.entry(s(&f[0]).to_string()).or_default().push(f);
                }
                for parts in by_id.values() {
                    let cols: Vec<&str> = parts.iter().map(|f| s(&f[2])).collect();
                    let refs: Vec<&str> =
                        parts.iter().map(|f| f[3].as_deref().unwrap_or("<its primary key>")).collect();
                    out.facts.insert(format!(
                        "foreign key {name} ({}) -> {} ({}) on delete {} on update {}",
                        cols.join(", "),
                        s(&parts[0][1]),
                        refs.join(", "),
                        s(&parts[0][5]).to_ascii_lowercase(),
                        s(&parts[0][4]).to_ascii_lowercase(),
                    ));
                }
                let list = strings(
                    db,
                    &format!("SELECT name, CAST(\"unique\" AS TEXT) AS u, origin FROM pragma_index_list('{name}')"),
                    &["name", "u", "origin"],
                )
                .await;
                for ix in &list {
                    let (ix_name, unique, origin) = (s(&ix[0]), s(&ix[1]) == "1", s(&ix[2]));
                    if origin == "pk" {
                        continue;
                    }
                    let info = strings(
                        db,
                        &format!(
                            "SELECT name, CAST(cid AS TEXT) AS cid FROM pragma_index_xinfo('{ix_name}') \
                             WHERE key ORDER BY seqno"
                        ),
                        &["name", "cid"],
                    )
                    .await;
                    let plain = info.iter().all(|k| s(&k[1]) != "-2");
                    let columns: Vec<String> = info.iter().map(|k| s(&k[0]).to_string()).collect();
                    let (keys, predicate) = match objects.iter().find(|o| s(&o[1]) == ix_name).map(|o| s(&o[3])) {
                        Some(sql) if !sql.is_empty() => sqlite_index_parts(sql),
                        _ => (columns.clone(), None),
                    };
                    let rest = predicate.map(|p| format!(" where {p}")).unwrap_or_default();
                    out.facts.insert(index_fact(ix_name, name, unique, &keys, &rest));
                    out.indexes.insert(ix_name.to_string());
                    if unique {
                        out.unique.insert(ix_name.to_string(), (name.to_string(), plain.then_some(columns)));
                    }
                }
            }
            "trigger" => {
                out.facts.insert(format!("trigger {name} on {table}"));
            }
            "view" => {
                out.facts.insert(format!("view {name}"));
            }
            _ => {}
        }
    }
    out
}

async fn read_postgres(db: &Db) -> Schema {
    let mut out = Schema::default();
    let here = "relnamespace = current_schema()::regnamespace";
    for t in strings(
        db,
        &format!(
            "SELECT relname::text AS name, relkind::text AS kind FROM pg_class WHERE {here} \
                                   AND relkind IN ('r', 'p', 'v', 'm')"
        ),
        &["name", "kind"],
    )
    .await
    {
        let kind = if matches!(s(&t[1]), "r" | "p") { "table" } else { "view" };
        out.facts.insert(format!("{kind} {}", s(&t[0])));
    }
    let columns = strings(
        db,
        &format!(
            "SELECT c.relname::text AS tbl, a.attname::text AS name, format_type(a.atttypid, NULL) AS type, \
             CASE WHEN a.attnotnull THEN 'y' ELSE 'n' END AS nn, a.attidentity::text AS ident, \
             pg_get_expr(d.adbin, d.adrelid) AS dflt \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE c.{here} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        &["tbl", "name", "type", "nn", "ident", "dflt"],
    )
    .await;
    for c in &columns {
        let class = postgres_class(s(&c[2]));
        out.facts.insert(column_fact(
            s(&c[0]),
            s(&c[1]),
            &class,
            s(&c[3]) == "y",
            !s(&c[4]).is_empty(),
            default(&class, c[5].clone()),
        ));
    }
    let indexes = strings(
        db,
        &format!(
            "SELECT i.relname::text AS name, t.relname::text AS tbl, \
             CASE WHEN x.indisunique THEN 'y' ELSE 'n' END AS uniq, \
             CASE WHEN x.indisprimary THEN 'y' ELSE 'n' END AS pk, am.amname::text AS method, \
             x.indnkeyatts::text AS nkeys, pg_get_expr(x.indpred, x.indrelid) AS pred, \
             (SELECT string_agg(pg_get_indexdef(x.indexrelid, k, true), chr(31) ORDER BY k) \
              FROM generate_series(1, x.indnatts::int) k) AS defs, \
             (SELECT string_agg(CASE WHEN k.attnum = 0 THEN 'e' ELSE '.' END, '' ORDER BY k.n) \
              FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n)) AS plain \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_am am ON am.oid = i.relam WHERE t.{here}"
        ),
        &["name", "tbl", "uniq", "pk", "method", "nkeys", "pred", "defs", "plain"],
    )
    .await;
    for ix in &indexes {
        let (name, table, unique) = (s(&ix[0]), s(&ix[1]), s(&ix[2]) == "y");
        let defs: Vec<String> = s(&ix[7]).split('\u{1f}').map(normalize).collect();
        let nkeys: usize = s(&ix[5]).parse().unwrap();
        let (keys, include) = defs.split_at(nkeys);
        if s(&ix[3]) == "y" {
            out.facts.insert(format!("primary key {table} ({})", keys.join(", ")));
            continue;
        }
        let mut rest = String::new();
        if !include.is_empty() {
            rest.push_str(&format!(" include ({})", include.join(", ")));
        }
        if let Some(p) = &ix[6] {
            rest.push_str(&format!(" where {}", normalize(p)));
        }
        if s(&ix[4]) != "btree" {
            rest.push_str(&format!(" using {}", s(&ix[4])));
        }
        out.facts.insert(index_fact(name, table, unique, keys, &rest));
        out.indexes.insert(name.to_string());
        if unique {
            let plain = s(&ix[8]).chars().take(nkeys).all(|c| c == '.');
            out.unique.insert(name.to_string(), (table.to_string(), plain.then(|| keys.to_vec())));
        }
    }
    let fks = strings(
        db,
        &format!(
            "SELECT t.relname::text AS tbl, r.relname::text AS ref, \
             (SELECT string_agg(a.attname::text, ', ' ORDER BY k.n) FROM unnest(con.conkey) WITH ORDINALITY \
              k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS cols, \
             (SELECT string_agg(a.attname::text, ', ' ORDER BY k.n) FROM unnest(con.confkey) WITH ORDINALITY \
              k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS ref_cols, \
             con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update \
             FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid \
             WHERE con.contype = 'f' AND t.{here}"
        ),
        &["tbl", "ref", "cols", "ref_cols", "on_delete", "on_update"],
    )
    .await;
    let action = |a: &str| match a {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        other => panic!("unknown foreign key action {other}"),
    };
    for f in &fks {
        out.facts.insert(format!(
            "foreign key {} ({}) -> {} ({}) on delete {} on update {}",
            s(&f[0]),
            s(&f[2]),
            s(&f[1]),
            s(&f[3]),
            action(s(&f[4])),
            action(s(&f[5])),
        ));
    }
    let triggers = strings(
        db,
        &format!(
            "SELECT g.tgname::text AS name, c.relname::text AS tbl FROM pg_trigger g \
             JOIN pg_class c ON c.oid = g.tgrelid WHERE NOT g.tgisinternal AND c.{here}"
        ),
        &["name", "tbl"],
    )
    .await;
    for t in &triggers {
        out.facts.insert(format!("trigger {} on {}", s(&t[0]), s(&t[1])));
    }
    out
}

/// `*` matches any text (none included).
fn matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).any(|i| matches(tail, &rest[i..]))
        }
    }
}

async fn migrated_sqlite() -> Db {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    // A name of its own per run: the file is always new.
    let path = dir.join(format!("{}.db", licensd_testkit::unique_name("schema_parity")));
    let db = Db::open(&format!("sqlite://{}", path.display())).await.unwrap();
    licensd_store::migrate::run(&db).await.unwrap();
    db
}

async fn migrated_postgres() -> Option<Db> {
    let url = licensd_testkit::fresh_postgres("schema_parity")?;
    let db = Db::open(&url).await.unwrap();
    licensd_store::migrate::run(&db).await.unwrap();
    Some(db)
}

/// Each unique index is in `UNIQUE_INDEXES` with its table and columns (so a violation names its field).
fn unique_indexes_are_mapped(side: Side, schema: &Schema) {
    for (name, (table, columns)) in &schema.unique {
        let Some(u) = UNIQUE_INDEXES.iter().find(|u| u.name == *name) else {
            panic!(
                "{side:?}: the unique index {name} on {table} is not in licensd_store::error::UNIQUE_INDEXES: add it \
                 with the field a violation names"
            );
        };
        assert_eq!(u.table, table, "{side:?}: {name}'s table");
        let want: Vec<String> = u.columns.iter().map(|c| c.to_string()).collect();
        let got = columns.clone().unwrap_or_default();
        assert_eq!(want, got, "{side:?}: {name}'s columns (none when a key is an expression)");
    }
    for u in UNIQUE_INDEXES {
        assert!(
            schema.unique.contains_key(u.name),
            "{side:?}: UNIQUE_INDEXES lists {}, which is not a unique index",
            u.name
        );
    }
}

fn relied_on_exist(side: Side, schema: &Schema) {
    for (name, why) in RELIED_ON {
        assert!(schema.indexes.contains(*name), "{side:?} lacks the index {name}, relied on for {why}");
    }
}

/// The two halves of substring search cover the same text: each column of an FTS5 table `<t>_fts` on SQLite
/// has a trigram index `ix_<t>_<column>_trgm` on PostgreSQL, and each of those a column.
fn search_indexes_correspond(sqlite: &Schema, pg: &Schema) {
    let fts: BTreeSet<String> = sqlite
        .facts
        .iter()
        .filter_map(|f| f.strip_prefix("column ")?.split_once(':')?.0.split_once("_fts."))
        .map(|(table, column)| format!("ix_{table}_{column}_trgm"))
        .collect();
    let trgm: BTreeSet<String> = pg
        .facts
        .iter()
        .filter(|f| f.ends_with(" using gin"))
        .filter_map(|f| f.strip_prefix("index ")?.split_once(' ').map(|(name, _)| name.to_string()))
        .collect();
    assert_eq!(fts, trgm, "SQLite's FTS5 columns (as ix_<table>_<column>_trgm) and PostgreSQL's trigram indexes");
    assert_eq!(fts.len(), 10);
}

/// The facts each side has that the other lacks and [`MEANT`] does not explain: (SQLite's, PostgreSQL's).
fn unexplained(sqlite: &Schema, pg: &Schema) -> (Vec<String>, Vec<String>) {
    let meant = |fact: &str, side: fn(&Meant) -> &'static [&'static str]| {
        MEANT.iter().any(|m| side(m).iter().any(|p| matches(p, fact)))
    };
    (
        sqlite.facts.difference(&pg.facts).filter(|f| !meant(f, |m| m.sqlite)).cloned().collect(),
        pg.facts.difference(&sqlite.facts).filter(|f| !meant(f, |m| m.postgres)).cloned().collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_agree_but_for_the_meant_differences() {
    let sqlite = read_sqlite(&migrated_sqlite().await).await;
    unique_indexes_are_mapped(Side::Sqlite, &sqlite);
    relied_on_exist(Side::Sqlite, &sqlite);
    let Some(db) = migrated_postgres().await else { return };
    let pg = read_postgres(&db).await;
    unique_indexes_are_mapped(Side::Postgres, &pg);
    relied_on_exist(Side::Postgres, &pg);

    let (only_sqlite, only_pg) = unexplained(&sqlite, &pg);
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "the schemas differ where MEANT does not say why:\nonly on SQLite:\n  {}\nonly on PostgreSQL:\n  {}",
        only_sqlite.join("\n  "),
        only_pg.join("\n  "),
    );
    for m in MEANT {
        for (patterns, ours, theirs, side) in
            [(m.sqlite, &sqlite.facts, &pg.facts, "SQLite"), (m.postgres, &pg.facts, &sqlite.facts, "PostgreSQL")]
        {
            for p in patterns {
                assert!(
                    ours.iter().any(|f| !theirs.contains(f) && matches(p, f)),
                    "MEANT's {p:?} matches nothing only {side} has: is the difference gone? ({})",
                    m.why
                );
            }
        }
    }
    search_indexes_correspond(&sqlite, &pg);
    // The comparison read real columns on both sides.
    for schema in [&sqlite, &pg] {
        assert!(schema.facts.contains("column products.short_code: text, not null"));
        assert!(schema.facts.contains("column licenses.id: integer, not null, ids never reused"));
        assert!(schema.facts.contains("column licenses.enabled: boolean, not null, default true"));
    }

    // It catches the drifts that matter: migration 8's index that PostgreSQL lacked until 10, a column that
    // became nullable on one side.
    db.execute(query("DROP INDEX ix_licenses_times_activated")).await.unwrap();
    db.execute(query("ALTER TABLE devices ALTER COLUMN hostname DROP NOT NULL")).await.unwrap();
    let drifted = read_postgres(&db).await;
    assert_eq!(
        unexplained(&sqlite, &drifted),
        (
            vec![
                "column devices.hostname: text, not null, default ''".to_string(),
                "index ix_licenses_times_activated on licenses: (times_activated)".to_string(),
            ],
            vec!["column devices.hostname: text, null, default ''".to_string()],
        )
    );
    assert!(!drifted.indexes.contains("ix_licenses_times_activated"));
}

#[test]
fn sql_is_normalized_across_the_dialects() {
    assert_eq!(
        normalize("replace(upper((license_key COLLATE \"C\")), '-'::text, ''::text)"),
        "replace(upper(license_key collate c), '-', '')"
    );
    assert_eq!(normalize("replace(upper(license_key), '-', '')"), "replace(upper(license_key), '-', '')");
    assert_eq!(normalize("(revoked_at IS NULL)"), "revoked_at is null");
    assert_eq!(normalize("'{}'::text"), "'{}'");
    assert_eq!(normalize("'License-Key'::text"), "'License-Key'");
    assert_eq!(normalize("(((first_name || ' '::text) || last_name))"), "first_name || ' ' || last_name");
    assert_eq!(normalize("  deactivated_at   IS NULL "), "deactivated_at is null");
    assert_eq!(
        sqlite_index_parts("CREATE UNIQUE INDEX ux_a ON t (a, lower(b)) WHERE c IS NULL"),
        (vec!["a".to_string(), "lower(b)".to_string()], Some("c is null".to_string()))
    );
    assert!(matches("table *_fts*", "table licenses_fts_data"));
    assert!(!matches("table *_fts*", "table licenses"));
    assert!(matches(
        "index *_trgm on *: (*) using gin",
        "index ix_orders_store_id_trgm on orders: (store_id) using gin"
    ));
}
