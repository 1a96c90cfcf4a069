//! The catalog: products, their features and license templates, with every term explained in place, and the
//! product's trial setup (which template `POST /api/v1/client/trial` issues from).
//!
//! The explanations are docs/licenses.md's own text, compiled in ([`DOC`]) and looked up by a field's name in
//! its section's tables (what the field does, what is allowed, its effect on the client API) and in "Zero and
//! null" (what `0` and an empty box mean), so the page and the reference cannot disagree. The unit tests fail
//! when a field of an input has no box here, or no row there.
//!
//! Every role that may read sees the catalog (the management API lets every token `GET` it); only a role that
//! may [`Action::Catalog`] (admin) sees the forms' buttons and may post them. Writes go through the store
//! functions of `/api/v1/products`, `/product-features` and `/license-templates`, so their rules, events and
//! refusals are the API's; a refusal is shown next to the form, which keeps what was typed. An edit form carries
//! the version of the record it showed and is saved only if the record is still that one (`super::version_of`);
//! a delete is behind a confirmation that says what deleting does, and a record in use is refused in words.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use licensd_core::access::Action;
use licensd_core::model::{
    AuthorizationMethod, ConsumptionPeriod, Feature, FeatureInput, FeatureType, LicenseTemplate, LicenseTemplateInput,
    LicenseType, Product, ProductInput, TemplateFeatureInput,
};
use licensd_store::{Scope, StoreError, products, templates};
use maud::{Markup, html};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::layout::{csrf, error_box, limit, notice, page};
use super::pages::{found, params};
use super::{
    CHANGED, NotSaved, PREFIX, Page, PageError, Person, Posted, VERSION, html as answer, not_found, same_text,
    see_other, store_error, unchanged, version_of,
};
use crate::AppState;

/// The catalog's routes, under [`PREFIX`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/catalog", get(catalog))
        .route("/catalog/products", post(product_create))
        .route("/catalog/products/new", get(product_new))
        .route("/catalog/products/{id}", get(product).post(product_update))
        .route("/catalog/products/{id}/delete", post(product_delete))
        .route("/catalog/products/{id}/features", post(feature_create))
        .route("/catalog/products/{id}/features/new", get(feature_new))
        .route("/catalog/products/{id}/templates", post(template_create))
        .route("/catalog/products/{id}/templates/new", get(template_new))
        .route("/catalog/features/{id}", get(feature).post(feature_update))
        .route("/catalog/features/{id}/delete", post(feature_delete))
        .route("/catalog/templates/{id}", get(template).post(template_update))
        .route("/catalog/templates/{id}/delete", post(template_delete))
}

/// Products per page of the catalog, templates per page of a product.
const PAGE: i64 = 20;
/// The features and templates the catalog shows beside a page of products (one list each, never per product).
const RELATED: i64 = 100;

// ---------------------------------------------------------------------------------------------
// docs/licenses.md, the explanations' source

/// The reference the catalog's explanations come from.
static DOC_TEXT: &str = include_str!("../../../../docs/licenses.md");
static DOC: LazyLock<Doc> = LazyLock::new(|| Doc::parse(DOC_TEXT));

/// One field's row in a table of docs/licenses.md.
#[derive(Debug, Default, Clone)]
struct DocRow {
    /// The `###` heading above the table ("Trials", …; empty directly under the `##`): the tests check that each
    /// box is in the fieldset of its doc heading.
    #[cfg_attr(not(test), allow(dead_code))]
    group: String,
    allowed: String,
    what: String,
    /// Its effect on the client API (`docs/client-api.md`), where the table says.
    client: String,
}

/// What the catalog reads of docs/licenses.md.
#[derive(Debug, Default)]
struct Doc {
    /// (`##` section, field) → the field's row.
    rows: HashMap<(String, String), DocRow>,
    /// field → what `0` means and what `null` (an empty box) means, from "Zero and null".
    zero: HashMap<String, (String, String)>,
    /// `##` section → its paragraphs and list items, in order (tables and code blocks left out).
    prose: HashMap<String, Vec<String>>,
    /// The row above, while a table is read.
    above: Option<DocRow>,
}

/// The names a cell writes in backticks: "`reset_consumption`, `consumption_period`" names both.
fn backticked(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('`').skip(1).step_by(2)
}

impl Doc {
    fn parse(text: &str) -> Doc {
        let mut doc = Doc::default();
        let (mut h2, mut h3) = (String::new(), String::new());
        let mut header: Vec<String> = Vec::new();
        let mut para: Option<String> = None;
        let mut in_code = false;
        let flush = |doc: &mut Doc, h2: &str, para: &mut Option<String>| {
            if let Some(p) = para.take() {
                doc.prose.entry(h2.to_string()).or_default().push(p);
            }
        };
        for line in text.lines() {
            if line.starts_with("```") {
                flush(&mut doc, &h2, &mut para);
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            if let Some(h) = line.strip_prefix("## ") {
                flush(&mut doc, &h2, &mut para);
                (h2, h3) = (h.trim().to_string(), String::new());
                continue;
            }
            if let Some(h) = line.strip_prefix("### ") {
                flush(&mut doc, &h2, &mut para);
                h3 = h.trim().to_string();
                continue;
            }
            if line.starts_with('|') {
                flush(&mut doc, &h2, &mut para);
                let cells: Vec<String> =
                    line.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
                if header.is_empty() {
                    header = cells;
                    doc.above = None;
                } else if !cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
                    doc.row(&h2, &h3, &header, &cells);
                }
                continue;
            }
            header.clear();
            if line.trim().is_empty() {
                flush(&mut doc, &h2, &mut para);
            } else if let Some(item) = line.strip_prefix("- ") {
                flush(&mut doc, &h2, &mut para);
                para = Some(item.trim().to_string());
            } else if let Some(p) = para.as_mut() {
                p.push(' ');
                p.push_str(line.trim());
            } else {
                para = Some(line.trim().to_string());
            }
        }
        flush(&mut doc, &h2, &mut para);
        doc
    }

    fn row(&mut self, h2: &str, h3: &str, header: &[String], cells: &[String]) {
        let col =
            |name: &str| header.iter().position(|h| h == name).and_then(|i| cells.get(i)).cloned().unwrap_or_default();
        let first = cells.first().map_or("", String::as_str);
        if header.get(1).is_some_and(|h| h == "`0` means") {
            for f in backticked(first) {
                self.zero.insert(f.to_string(), (col("`0` means"), col("`null` means")));
            }
        } else if header.first().is_some_and(|h| h == "field") && header.iter().any(|h| h == "what it does") {
            // "as above": the cell of the row above it in the same table.
            let above = self.above.take().unwrap_or_default();
            let cell = |name: &str, above: &str| match col(name) {
                c if c == "as above" => above.to_string(),
                c => c,
            };
            let row = DocRow {
                group: h3.to_string(),
                allowed: cell("allowed", &above.allowed),
                what: cell("what it does", &above.what),
                client: cell("client API", &above.client),
            };
            self.above = Some(row.clone());
            for f in backticked(first) {
                self.rows.insert((h2.to_string(), f.to_string()), row.clone());
            }
        }
    }

    fn row_of(&self, section: &str, field: &str) -> Option<&DocRow> {
        self.rows.get(&(section.to_string(), field.to_string()))
    }

    fn prose_of(&self, section: &str) -> &[String] {
        self.prose.get(section).map_or(&[], Vec::as_slice)
    }
}

/// The doc's inline markup as HTML: `code` and **strong**, the only kinds its cells and paragraphs use. The
/// text itself is escaped by maud like any other.
fn md(s: &str) -> Markup {
    let mut runs: Vec<(String, bool, bool)> = Vec::new();
    let (mut code, mut strong, mut cur) = (false, false, String::new());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let toggle = if c == '`' {
            Some(1)
        } else if !code && rest.starts_with("**") {
            Some(2)
        } else {
            None
        };
        match toggle {
            Some(n) => {
                runs.push((std::mem::take(&mut cur), code, strong));
                if n == 1 {
                    code = !code;
                } else {
                    strong = !strong;
                }
                rest = &rest[n..];
            }
            None => {
                cur.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    runs.push((cur, code, strong));
    html! {
        @for (text, code, strong) in runs.into_iter().filter(|r| !r.0.is_empty()) {
            @if code && strong { strong { code { (text) } } }
            @else if code { code { (text) } }
            @else if strong { strong { (text) } }
            @else { (text) }
        }
    }
}

/// A cell as a sentence: its first letter up, a full stop at its end.
fn sentence(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    let mut chars = s.trim().chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_uppercase());
    }
    out.extend(chars);
    if !out.ends_with(['.', ')', '"']) {
        out.push('.');
    }
    out
}

/// A field's explanation, from the doc: what `0` and an empty box mean, what it does, what is allowed, what the
/// client API does with it.
fn explain(section: &str, field: &str) -> Markup {
    let row = DOC.row_of(section, field);
    let zero = DOC.zero.get(field);
    html! {
        @if let Some((z, n)) = zero {
            span.zero {
                strong { "0" } ": " (md(z))
                @if n != "(not allowed)" { "; " strong { "empty" } ": " (md(n)) }
                "."
            }
        }
        @if let Some(r) = row {
            span { (md(&sentence(&r.what))) }
            @if !r.allowed.is_empty() && r.allowed != "boolean" { span { "Allowed: " (md(&r.allowed)) "." } }
            @if !r.client.is_empty() && r.client != "—" { span { "Client API: " (md(&r.client)) "." } }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The terms of each form

/// What a term's box holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Text of at most this many characters.
    Text(u32),
    /// A whole number of at least this.
    Int(i64),
    /// A whole number of at least this, or an empty box for `null`.
    OptInt(i64),
    Bool,
    /// One of these values.
    Choice(&'static [&'static str]),
    /// One of these values, or none (`null`).
    OptChoice(&'static [&'static str]),
    /// A JSON object.
    Json,
}

/// One field of an input, as its form shows it.
#[derive(Debug)]
struct Term {
    name: &'static str,
    label: &'static str,
    kind: Kind,
}

const fn t(name: &'static str, label: &'static str, kind: Kind) -> Term {
    Term { name, label, kind }
}

/// A fieldset of a form: the `###` heading of docs/licenses.md its terms are under (or none), and the terms.
struct Group {
    heading: &'static str,
    terms: &'static [Term],
}

/// The sections of docs/licenses.md that explain each form.
const PRODUCTS: &str = "Products";
const FEATURES: &str = "Product features";
const TEMPLATES: &str = "License templates";

static PRODUCT_FORM: &[Group] = &[Group {
    heading: "",
    terms: &[
        t("product_name", "Name", Kind::Text(200)),
        t("short_code", "Short code", Kind::Text(64)),
        t("bundle_id", "Bundle id", Kind::Text(255)),
        t("use_offline_license", "Offline licenses", Kind::Bool),
        t("authorization_method", "Authorization method", Kind::Choice(&AuthorizationMethod::NAMES)),
        t("is_bundle", "A bundle", Kind::Bool),
        t("metadata", "Metadata", Kind::Json),
    ],
}];

static FEATURE_FORM: &[Group] = &[Group {
    heading: "",
    terms: &[
        t("code", "Code", Kind::Text(64)),
        t("name", "Name", Kind::Text(200)),
        t("feature_type", "Type", Kind::Choice(&FeatureType::NAMES)),
        t("max_consumption", "Consumption limit", Kind::Int(0)),
        t("allow_overages", "Overages allowed", Kind::Bool),
        t("max_overages", "Max overages", Kind::Int(0)),
        t("reset_consumption", "Reset consumption", Kind::Bool),
        t("consumption_period", "Consumption period", Kind::OptChoice(&ConsumptionPeriod::NAMES)),
        t("is_floating_cloud", "Floating", Kind::Bool),
        t("floating_users", "Seats per license", Kind::Int(0)),
        t("floating_timeout", "Seat timeout (minutes)", Kind::Int(1)),
        t("metadata", "Metadata", Kind::Json),
    ],
}];

/// The features of a template form come after the terms of this group.
const FEATURES_GROUP: &str = "Consumption and features";
/// The trial setup is told in this group.
const TRIAL_GROUP: &str = "Trials";

static TEMPLATE_FORM: &[Group] = &[
    Group {
        heading: "Identity and key format",
        terms: &[
            t("name", "Name", Kind::Text(200)),
            t("code", "Code", Kind::Text(64)),
            t("license_type", "License type", Kind::Choice(&LicenseType::NAMES)),
            t("key_prefix", "Key prefix", Kind::Text(32)),
            t("key_groups", "Key groups", Kind::Int(1)),
            t("key_group_size", "Characters per group", Kind::Int(1)),
        ],
    },
    Group {
        heading: "Activations, expiry, license files",
        terms: &[
            t("max_activations", "Max activations", Kind::OptInt(0)),
            t("validity_period_days", "Validity (days)", Kind::OptInt(1)),
            t("maintenance_duration_days", "Maintenance (days)", Kind::OptInt(1)),
            t("license_file_ttl_days", "License file lifetime (days)", Kind::Int(1)),
        ],
    },
    Group {
        heading: TRIAL_GROUP,
        terms: &[t("is_trial", "Trial template", Kind::Bool), t("trial_days", "Trial length (days)", Kind::Int(0))],
    },
    Group {
        heading: "Floating licenses and borrowing",
        terms: &[
            t("is_floating_cloud", "Floating", Kind::Bool),
            t("floating_users", "Seats", Kind::Int(0)),
            t("floating_timeout", "Lease timeout (minutes)", Kind::Int(1)),
            t("can_borrow", "Borrowing allowed", Kind::Bool),
            t("max_borrow_time", "Longest borrow (hours)", Kind::Int(0)),
        ],
    },
    Group { heading: "Transfers", terms: &[t("max_transfers", "Max transfers", Kind::Int(0))] },
    Group {
        heading: FEATURES_GROUP,
        terms: &[
            t("max_consumptions", "Consumption limit", Kind::Int(0)),
            t("allow_overages", "Overages allowed", Kind::Bool),
            t("max_overages", "Max overages", Kind::Int(0)),
        ],
    },
    Group {
        heading: "Other",
        terms: &[t("prevent_vm", "Prevent virtual machines", Kind::Bool), t("metadata", "Metadata", Kind::Json)],
    },
];

fn terms_of(form: &'static [Group]) -> impl Iterator<Item = &'static Term> {
    form.iter().flat_map(|g| g.terms)
}

/// What a form's boxes hold, by field name: as typed (a posted form) or as stored (a record).
#[derive(Debug, Default)]
struct Values(BTreeMap<String, String>);

impl Values {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn set(&mut self, name: impl Into<String>, v: impl Into<String>) {
        self.0.insert(name.into(), v.into());
    }

    /// A posted form's fields (the first of a repeated name).
    fn posted(p: &Posted) -> Values {
        let mut v = Values::default();
        for (k, x) in &p.fields {
            v.0.entry(k.clone()).or_insert_with(|| x.clone());
        }
        v
    }

    /// An input's fields as the form's boxes show them (`null` and `false` as empty boxes).
    fn of(form: &'static [Group], input: &impl serde::Serialize) -> Values {
        let json = serde_json::to_value(input).unwrap_or_default();
        let mut v = Values::default();
        for t in terms_of(form) {
            let text = match json.get(t.name) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => String::new(),
                Some(Value::Bool(true)) => "true".into(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(other) => serde_json::to_string_pretty(other).unwrap_or_default(),
            };
            v.set(t.name, text);
        }
        v
    }
}

/// Why a form was not saved: the box it concerns (a field name of the form, or none) and the message.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    field: String,
    message: String,
    /// The record changed since the form was loaded (the page then shows what each box holds now).
    stale: bool,
}

impl Problem {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { status: StatusCode::BAD_REQUEST, field: field.into(), message: message.into(), stale: false }
    }

    fn stale() -> Problem {
        Problem { status: StatusCode::CONFLICT, field: String::new(), message: CHANGED.into(), stale: true }
    }

    /// A store's refusal as a problem of the form (`400`; `409` for a taken code or a record in use);
    /// anything else is an error page.
    fn of(e: StoreError) -> Result<Problem, PageError> {
        Ok(match e {
            StoreError::Invalid { field, message }
            | StoreError::Domain(licensd_core::Error::Invalid { field, message }) => Problem::invalid(field, message),
            StoreError::Conflict { field, message } => {
                Problem { status: StatusCode::CONFLICT, field, message, stale: false }
            }
            StoreError::State(m) | StoreError::InUse(m) => {
                Problem { status: StatusCode::CONFLICT, field: String::new(), message: m, stale: false }
            }
            e => return Err(store_error(e)),
        })
    }
}

/// The boxes of `form` as the JSON fields of its input, or the box that does not hold its kind of value.
fn parse_terms(form: &'static [Group], v: &Values) -> Result<Map<String, Value>, Problem> {
    let mut out = Map::new();
    for t in terms_of(form) {
        let raw = v.get(t.name);
        let int = |s: &str| s.trim().parse::<i64>().map_err(|_| Problem::invalid(t.name, "must be a whole number"));
        let value = match t.kind {
            Kind::Text(_) => Value::from(raw),
            Kind::Int(_) => Value::from(int(raw)?),
            Kind::OptInt(_) if raw.trim().is_empty() => Value::Null,
            Kind::OptInt(_) => Value::from(int(raw)?),
            Kind::Bool => Value::from(raw == "true"),
            Kind::OptChoice(_) if raw.is_empty() => Value::Null,
            Kind::Choice(names) | Kind::OptChoice(names) if names.contains(&raw) => Value::from(raw),
            Kind::Choice(names) | Kind::OptChoice(names) => {
                return Err(Problem::invalid(t.name, format!("must be one of {}", names.join(", "))));
            }
            Kind::Json if raw.trim().is_empty() => Value::Object(Map::new()),
            Kind::Json => serde_json::from_str::<Value>(raw)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| Problem::invalid(t.name, "must be a JSON object, such as {} or {\"tier\": 1}"))?,
        };
        out.insert(t.name.to_string(), value);
    }
    Ok(out)
}

/// The input the fields make (each field was given its kind by [`parse_terms`], so this fails only if the
/// forms and the inputs drifted apart, which the tests catch).
fn input<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, Problem> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| Problem::invalid("", e.to_string()))
}

/// A label for a field a refusal names.
fn label_of(form: &'static [Group], field: &str) -> Option<&'static str> {
    terms_of(form).find(|t| t.name == field).map(|t| t.label)
}

// ---------------------------------------------------------------------------------------------
// Rendering a form

/// A form as shown: its values, the refusal it answers (if any), and whether the person may post it.
struct Shown<'a> {
    values: &'a Values,
    problem: Option<&'a Problem>,
    editable: bool,
    /// An existing record's form: the version of the record it shows ([`version_of`]), which the save sends back.
    version: Option<String>,
    /// After a save refused because the record changed: what each box holds now, shown under the boxes that
    /// differ from what was typed.
    current: Option<&'a Values>,
}

impl<'a> Shown<'a> {
    /// A new record's form.
    fn new(values: &'a Values, problem: Option<&'a Problem>) -> Shown<'a> {
        Shown { values, problem, editable: true, version: None, current: None }
    }

    /// An existing record's form, of `record` as stored (`stored`, its boxes' values), with `edit` when a save
    /// failed (what was typed, and why).
    fn existing(
        record: &impl serde::Serialize,
        stored: &'a Values,
        edit: Option<(&'a Values, &'a Problem)>,
        editable: bool,
    ) -> Shown<'a> {
        let (values, problem) = edit.map_or((stored, None), |(v, pr)| (v, Some(pr)));
        let current = problem.filter(|pr| pr.stale).map(|_| stored);
        Shown { values, problem, editable, version: Some(version_of(record)), current }
    }

    /// The refusal, if it concerns `field`.
    fn problem_at(&self, field: &str) -> Option<&Problem> {
        self.problem.filter(|p| p.field == field)
    }

    /// After a stale save: what the box `name` holds now, when that differs from what was typed.
    fn now(&self, name: &str, kind: Option<Kind>) -> Markup {
        let Some(cur) = self.current else { return html! {} };
        let (typed, now) = (self.values.get(name), cur.get(name));
        if same_text(typed) == same_text(now) {
            return html! {};
        }
        let shown = match kind {
            Some(Kind::Bool) | None if now.is_empty() => "no".to_string(),
            Some(Kind::Bool) | None => "yes".to_string(),
            _ if now.is_empty() => "empty".to_string(),
            _ => now.to_string(),
        };
        html! { p.now { "Now: " code { (shown) } } }
    }
}

/// The ids of a field's parts, and what describes its box.
fn ids(name: &str, has_problem: bool) -> (String, String, String) {
    let id = format!("f-{name}");
    let help = format!("{id}-help");
    let described = if has_problem { format!("{id}-error {help}") } else { help.clone() };
    (id, help, described)
}

fn term_box(section: &str, t: &Term, f: &Shown) -> Markup {
    let problem = f.problem_at(t.name);
    let (id, help, described) = ids(t.name, problem.is_some());
    let v = f.values.get(t.name);
    let invalid = problem.map(|_| "true");
    let label = html! { label for=(id) { (t.label) " " code.api { (t.name) } } };
    html! {
        div.term {
            div.term-input {
                @match t.kind {
                    Kind::Bool => {
                        div.check {
                            input type="checkbox" id=(id) name=(t.name) value="true" checked[v == "true"]
                                aria-describedby=(described) aria-invalid=[invalid];
                            (label)
                        }
                    }
                    Kind::Text(max) => {
                        (label)
                        input type="text" id=(id) name=(t.name) value=(v) maxlength=(max)
                            aria-describedby=(described) aria-invalid=[invalid];
                    }
                    Kind::Int(min) | Kind::OptInt(min) => {
                        (label)
                        input type="number" id=(id) name=(t.name) value=(v) min=(min) step="1" inputmode="numeric"
                            aria-describedby=(described) aria-invalid=[invalid];
                    }
                    Kind::Choice(names) | Kind::OptChoice(names) => {
                        (label)
                        select id=(id) name=(t.name) aria-describedby=(described) aria-invalid=[invalid] {
                            @if matches!(t.kind, Kind::OptChoice(_)) { option value="" selected[v.is_empty()] { "none" } }
                            @for n in names { option value=(n) selected[v == *n] { (n) } }
                        }
                    }
                    Kind::Json => {
                        (label)
                        textarea id=(id) name=(t.name) rows="3" spellcheck="false"
                            aria-describedby=(described) aria-invalid=[invalid] { (v) }
                    }
                }
                @if let Some(p) = problem { p.field-error id={ (id) "-error" } { (p.message) } }
                (f.now(t.name, Some(t.kind)))
            }
            small.help id=(help) { (explain(section, t.name)) }
        }
    }
}

/// The refusal at the top of a form, naming the box it concerns.
fn problem_box(form: &'static [Group], extra: &dyn Fn(&str) -> Option<String>, p: &Problem) -> Markup {
    if p.stale {
        return error_box(&p.message);
    }
    let what = match label_of(form, &p.field) {
        Some(l) => format!("{l} ({}): {}", p.field, p.message),
        None => match extra(&p.field) {
            Some(l) => format!("{l}: {}", p.message),
            None if p.field.is_empty() => p.message.clone(),
            None => format!("{}: {}", p.field, p.message),
        },
    };
    error_box(&format!("Not saved. {what}"))
}

/// A whole form: its fieldsets, each term with its explanation, `more(heading)` after a group's terms, and the
/// submit button when the person may post it (else every box is disabled).
fn form(
    p: &Person,
    action: &str,
    section: &str,
    groups: &'static [Group],
    f: &Shown,
    more: &dyn Fn(&str) -> Markup,
    submit: &str,
) -> Markup {
    html! {
        form.terms method="post" action=(action) novalidate {
            (csrf(p))
            @if let Some(v) = &f.version { input type="hidden" name=(VERSION) value=(v); }
            fieldset.all disabled[!f.editable] {
                @for g in groups {
                    @if g.heading.is_empty() {
                        @for t in g.terms { (term_box(section, t, f)) }
                        (more(g.heading))
                    } @else {
                        fieldset.group {
                            legend { (g.heading) }
                            @for t in g.terms { (term_box(section, t, f)) }
                            (more(g.heading))
                        }
                    }
                }
            }
            @if f.editable { p { button.primary type="submit" { (submit) } } }
            @else { p.muted { "Only an administrator may change the catalog." } }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared parts of the pages

#[derive(Deserialize, Default)]
pub struct CatalogQuery {
    #[serde(default)]
    offset: String,
    #[serde(default)]
    done: String,
}

/// What a redirect after a save says (fixed texts: nothing from the URL is shown).
fn done_text(code: &str) -> Option<Markup> {
    let text = match code {
        "product_created" => "The product was created.",
        "product_saved" => "The product was saved.",
        "feature_created" => "The feature was created.",
        "feature_saved" => "The feature was saved. Templates and licenses that grant it keep the limits they have.",
        "template_created" => "The license template was created.",
        "template_saved" => "The license template was saved. Licenses already issued from it keep their terms.",
        "product_deleted" => "The product was deleted.",
        "feature_deleted" => "The feature was deleted: no template or license grants it any more.",
        "template_deleted" => "The license template was deleted. Licenses issued from it keep their terms.",
        _ => return None,
    };
    Some(notice(text))
}

/// A save that did not happen: a problem to show with the form again, or the store's error.
enum Failed {
    Form(Problem),
    Store(StoreError),
    /// The record changed since the form was loaded.
    Stale,
}

impl From<NotSaved> for Failed {
    fn from(e: NotSaved) -> Self {
        match e {
            NotSaved::Stale => Failed::Stale,
            NotSaved::Store(e) => Failed::Store(e),
        }
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Store(e)
    }
}

impl From<Problem> for Failed {
    fn from(p: Problem) -> Self {
        Failed::Form(p)
    }
}

impl Failed {
    /// The problem to show with the form, or the error page (a record gone or not visible: `404`).
    fn problem(self, p: &Person) -> Result<Problem, PageError> {
        match self {
            Failed::Form(pr) => Ok(pr),
            Failed::Stale => Ok(Problem::stale()),
            Failed::Store(StoreError::NotFound) => Err(found(p, StoreError::NotFound)),
            Failed::Store(e) => Problem::of(e),
        }
    }
}

fn id_of(p: &Person, id: &str) -> Result<i64, PageError> {
    id.parse::<i64>().map_err(|_| not_found(Some(p)))
}

/// An input with the API's defaults for every field `given` leaves out (what a new record's form shows).
fn defaults<T: DeserializeOwned>(given: Value) -> Result<T, PageError> {
    serde_json::from_value(given)
        .map_err(|e| super::page_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("a form's defaults: {e}")))
}

/// The list parameters of a page of `limit` from the visitor's `offset` (checked by the list parser).
fn paged(pairs: &[(&'static str, String)], limit: i64, offset: &str) -> Vec<(&'static str, String)> {
    let mut v = pairs.to_vec();
    v.push(("limit", limit.to_string()));
    if !offset.is_empty() {
        v.push(("offset", offset.to_string()));
    }
    v
}

/// "1–20 of 45" with links to the pages before and after.
fn pager(path: &str, n: i64, shown: usize, offset: i64, limit: i64) -> Markup {
    let end = offset + shown as i64;
    html! {
        @if n > limit || offset > 0 {
            nav.pager aria-label="Pages" {
                span.muted { (if shown == 0 { offset } else { offset + 1 }) "–" (end) " of " (n) }
                @if offset > 0 { a href={ (path) "?offset=" ((offset - limit).max(0)) } { "Previous" } }
                @if end < n { a href={ (path) "?offset=" (end) } { "Next" } }
            }
        }
    }
}

fn product_path(id: i64) -> String {
    format!("{PREFIX}/catalog/products/{id}")
}

/// The features of a product a form may grant (the first [`RELATED`], by code).
async fn features_of(s: &AppState, scope: &Scope, product: i64) -> Result<(i64, Vec<Feature>), PageError> {
    let lp = params(
        &products::FEATURE_SPEC,
        &[("product", product.to_string()), ("order_by", "code".into()), ("limit", RELATED.to_string())],
    )?;
    products::list_features(&s.db, scope, &lp).await.map_err(store_error)
}

/// The template `POST /api/v1/client/trial` issues from for a product (its oldest trial template, as the
/// client API picks it), and how many trial templates the product has.
async fn trial_of(s: &AppState, scope: &Scope, product: i64) -> Result<(i64, Option<LicenseTemplate>), PageError> {
    let lp = params(
        &templates::SPEC,
        &[
            ("product", product.to_string()),
            ("is_trial", "true".into()),
            ("order_by", "id".into()),
            ("limit", "1".into()),
        ],
    )?;
    let (n, mut ts) = templates::list(&s.db, scope, &lp).await.map_err(store_error)?;
    Ok((n, ts.pop()))
}

/// The product's trial setup in a sentence, then how the client API's `trial` works: the first paragraph of
/// the doc's "Trials", and with `all` the rest of it behind a disclosure.
fn trial_setup(product: &Product, n: i64, trial: Option<&LicenseTemplate>, all: bool) -> Markup {
    let (first, rest) = DOC.prose_of("Trials").split_first().map_or((None, &[][..]), |(f, r)| (Some(f), r));
    html! {
        @match trial {
            None => p {
                "This product offers no trial: " code { "POST /api/v1/client/trial" } " with "
                code { "\"product\": \"" (product.short_code) "\"" } " answers " code { "404 NO_TRIAL" }
                ". A template with " strong { "Trial template" } " checked sets one up."
            },
            Some(t) => p {
                code { "POST /api/v1/client/trial" } " with " code { "\"product\": \"" (product.short_code) "\"" }
                " issues a license from "
                a href={ (PREFIX) "/catalog/templates/" (t.id) } { (t.name) } " (" code { (t.code) } "): "
                (trial_length(t)) ", " (limit(t.max_activations)) " activation(s)"
                @if !t.features.is_empty() {
                    ", with " @for (i, f) in t.features.iter().enumerate() { @if i > 0 { ", " } code { (f.code) } }
                }
                "."
                @if n > 1 { " The product has " (n) " trial templates: this one, the oldest, is used; the others are ignored." }
            },
        }
        @if let Some(para) = first { p.doc { (md(para)) } }
        @if all && !rest.is_empty() {
            details.doc {
                summary { "More on trials" }
                @for para in rest { p { (md(para)) } }
            }
        }
    }
}

/// How long a trial from this template lasts (the rule of docs/licenses.md's `trial_days`).
fn trial_length(t: &LicenseTemplate) -> String {
    match (t.trial_days, t.validity_period_days) {
        (d, _) if d > 0 => format!("{d} days"),
        (_, Some(d)) => format!("{d} days (its validity)"),
        _ => "never expiring".to_string(),
    }
}

/// A template's terms in a few words, for lists.
fn template_summary(t: &LicenseTemplate) -> Markup {
    html! {
        @if t.is_floating_cloud { (t.floating_users) " floating seat(s)" } @else { (limit(t.max_activations)) " activation(s)" }
        ", "
        @match t.validity_period_days { Some(d) => { (d) " days" }, None => "no expiry" }
        @if t.is_trial { " " span.badge { "trial" } }
    }
}

fn codes<'a>(cs: impl Iterator<Item = (i64, &'a str)>, path: &str) -> Markup {
    html! {
        @for (i, (id, code)) in cs.enumerate() {
            @if i > 0 { ", " }
            @if path.is_empty() { code { (code) } } @else { a href={ (PREFIX) (path) (id) } { code { (code) } } }
        }
    }
}

fn template_table(ts: &[LicenseTemplate]) -> Markup {
    html! {
        table {
            thead { tr { th { "Template" } th { "Code" } th { "Type" } th { "Terms" } th { "Features" } } }
            tbody { @for t in ts { tr {
                td { a href={ (PREFIX) "/catalog/templates/" (t.id) } { (t.name) } }
                td { code { (t.code) } }
                td { (t.license_type.as_str()) }
                td { (template_summary(t)) }
                td { (codes(t.features.iter().map(|f| (f.feature, f.code.as_str())), "")) }
            } } }
        }
    }
}

fn feature_table(fs: &[Feature]) -> Markup {
    html! {
        table {
            thead { tr { th { "Feature" } th { "Name" } th { "Type" } th { "Consumption limit" } th { "Overages" } } }
            tbody { @for f in fs { tr {
                td { a href={ (PREFIX) "/catalog/features/" (f.id) } { code { (f.code) } } }
                td { (f.name) }
                td { (f.feature_type.as_str()) }
                td { (f.max_consumption) }
                td { @if f.allow_overages { "up to " (f.max_overages) } @else { "none" } }
            } } }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The catalog: a page of products with their features and templates

pub async fn catalog(State(s): State<AppState>, p: Person, Query(q): Query<CatalogQuery>) -> Page {
    let scope = p.read()?;
    let lp = params(&products::SPEC, &paged(&[("order_by", "product_name".into())], PAGE, &q.offset))?;
    let (n, ps) = products::list(&s.db, &scope, &lp).await.map_err(store_error)?;
    // The page's features and templates in one list each (a fixed number of statements, whatever the page).
    let (mut nf, mut fs, mut nt, mut ts) = (0, Vec::new(), 0, Vec::new());
    if !ps.is_empty() {
        let ids = ps.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join(",");
        let related = |order: &str| {
            vec![("product__in", ids.clone()), ("order_by", order.to_string()), ("limit", RELATED.to_string())]
        };
        let fp = params(&products::FEATURE_SPEC, &related("code"))?;
        (nf, fs) = products::list_features(&s.db, &scope, &fp).await.map_err(store_error)?;
        let tp = params(&templates::SPEC, &related("id"))?;
        (nt, ts) = templates::list(&s.db, &scope, &tp).await.map_err(store_error)?;
    }
    let body = html! {
        @if let Some(m) = done_text(&q.done) { (m) }
        p {
            "What is sold: each product with its features and its license templates, the terms licenses are issued "
            "with. Licenses are copies: changing a template changes no license already issued from it."
        }
        @if p.may(Action::Catalog) {
            p { a.button href={ (PREFIX) "/catalog/products/new" } { "New product" } }
        }
        @if ps.is_empty() { p.muted { "No products yet." } } @else {
            table {
                thead { tr { th { "Product" } th { "Short code" } th { "Features" } th { "License templates" } } }
                tbody { @for prod in &ps { tr {
                    td { a href=(product_path(prod.id)) { (prod.product_name) } }
                    td { code { (prod.short_code) } }
                    td { (codes(fs.iter().filter(|f| f.product == prod.id).map(|f| (f.id, f.code.as_str())), "/catalog/features/")) }
                    td { ul.plain { @for t in ts.iter().filter(|t| t.product == prod.id) {
                        li { a href={ (PREFIX) "/catalog/templates/" (t.id) } { (t.name) } " " span.muted { "(" (template_summary(t)) ")" } }
                    } } }
                } } }
            }
            @if nf > fs.len() as i64 || nt > ts.len() as i64 {
                p.muted { "Not every feature and template of these products fits this page: each product's page lists all of its own." }
            }
            (pager(&format!("{PREFIX}/catalog"), n, ps.len(), lp.offset, PAGE))
        }
    };
    Ok(answer(StatusCode::OK, page(&p, "Catalog", body)))
}

// ---------------------------------------------------------------------------------------------
// Products

fn product_form(p: &Person, action: &str, f: &Shown, submit: &str) -> Markup {
    html! {
        @if let Some(pr) = f.problem { (problem_box(PRODUCT_FORM, &|_| None, pr)) }
        (form(p, action, PRODUCTS, PRODUCT_FORM, f, &|_| html! {}, submit))
    }
}

fn new_product_page(p: &Person, values: &Values, problem: Option<&Problem>) -> Markup {
    let f = Shown::new(values, problem);
    let body = html! {
        p { a href={ (PREFIX) "/catalog" } { "← Catalog" } }
        (product_form(p, &format!("{PREFIX}/catalog/products"), &f, "Create the product"))
    };
    page(p, "New product", body)
}

pub async fn product_new(p: Person) -> Page {
    p.permit(&[Action::Catalog])?;
    let blank: ProductInput = defaults(serde_json::json!({"product_name": "", "short_code": ""}))?;
    Ok(answer(StatusCode::OK, new_product_page(&p, &Values::of(PRODUCT_FORM, &blank), None)))
}

pub async fn product_create(State(s): State<AppState>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let values = Values::posted(&posted);
    let made: Result<Product, Failed> = async {
        let i = input::<ProductInput>(parse_terms(PRODUCT_FORM, &values)?)?;
        Ok(products::create(&s.db, &scope, i).await?)
    }
    .await;
    match made {
        Ok(prod) => Ok(see_other(&format!("{}?done=product_created", product_path(prod.id)))),
        Err(e) => {
            let pr = e.problem(p)?;
            Ok(answer(pr.status, new_product_page(p, &values, Some(&pr))))
        }
    }
}

/// A product's page: its facts, trial setup, templates (paged), features, and (for an admin) its form, showing
/// `edit` (what was typed and why it was refused) when a save failed, and its delete; `top` above it all (a
/// refused delete).
async fn product_page(
    s: &AppState,
    p: &Person,
    id: i64,
    q: &CatalogQuery,
    edit: Option<(&Values, &Problem)>,
    top: Option<Markup>,
) -> Result<Markup, PageError> {
    let scope = p.read()?;
    let prod = products::get(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    let tp =
        params(&templates::SPEC, &paged(&[("product", id.to_string()), ("order_by", "name".into())], PAGE, &q.offset))?;
    let (nt, ts) = templates::list(&s.db, &scope, &tp).await.map_err(store_error)?;
    let (nf, fs) = features_of(s, &scope, id).await?;
    let (n_trials, trial) = trial_of(s, &scope, id).await?;
    let admin = p.may(Action::Catalog);
    let input = ProductInput::from(&prod);
    let stored = Values::of(PRODUCT_FORM, &input);
    let f = Shown::existing(&input, &stored, edit, true);
    let body = html! {
        @if let Some(m) = done_text(&q.done) { (m) }
        @if let Some(m) = top { (m) }
        p { a href={ (PREFIX) "/catalog" } { "← Catalog" } }
        section.facts aria-label="Product" {
            dl {
                dt { "Short code" } dd { code { (prod.short_code) } " (what applications send as " code { "product" } ")" }
                dt { "Bundle id" } dd { (prod.bundle_id) }
                dt { "Offline licenses" } dd { (if prod.use_offline_license { "yes" } else { "no" }) }
                dt { "Authorization" } dd { (prod.authorization_method.as_str()) }
                dt { "A bundle" } dd { (if prod.is_bundle { "yes" } else { "no" }) }
            }
        }
        section aria-labelledby="trial" {
            h2 #trial { "Trial setup" }
            (trial_setup(&prod, n_trials, trial.as_ref(), true))
        }
        section aria-labelledby="templates" {
            h2 #templates { "License templates " span.count { (nt) } }
            @if admin { p { a.button href={ (product_path(id)) "/templates/new" } { "New template" } } }
            @if ts.is_empty() { p.muted { "No license templates yet: licenses of this product get the defaults." } }
            @else { (template_table(&ts)) }
            (pager(&product_path(id), nt, ts.len(), tp.offset, PAGE))
        }
        section aria-labelledby="features" {
            h2 #features { "Features " span.count { (nf) } }
            @if admin { p { a.button href={ (product_path(id)) "/features/new" } { "New feature" } } }
            @if fs.is_empty() { p.muted { "No features yet." } } @else { (feature_table(&fs)) }
            @if nf > fs.len() as i64 { p.muted { "The first " (fs.len()) " of " (nf) ", by code." } }
        }
        @if admin {
            section aria-labelledby="edit" {
                h2 #edit { "Edit the product" }
                details open[f.problem.is_some()] {
                    summary { "Change the product's fields" }
                    (product_form(p, &product_path(id), &f, "Save the product"))
                }
            }
            (delete_form(p, &format!("{}/delete", product_path(id)), "product", html! {
                p { "Delete " strong { (prod.product_name) } " (" code { (prod.short_code) } ") from the catalog. The audit log keeps what it was." }
                p {
                    "A product that still has licenses or license templates is not deleted: delete those first"
                    @if nt > 0 { " (it has " (nt) " license template" @if nt > 1 { "s" } ")" }
                    "."
                }
            }))
        }
    };
    Ok(page(p, &prod.product_name, body))
}

pub async fn product(
    State(s): State<AppState>,
    p: Person,
    Path(id): Path<String>,
    Query(q): Query<CatalogQuery>,
) -> Page {
    let id = id_of(&p, &id)?;
    Ok(answer(StatusCode::OK, product_page(&s, &p, id, &q, None, None).await?))
}

pub async fn product_update(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let id = id_of(p, &id)?;
    let version = posted.version()?;
    let values = Values::posted(&posted);
    let saved: Result<Product, Failed> = async {
        let i = input::<ProductInput>(parse_terms(PRODUCT_FORM, &values)?)?;
        // Saved only if the product is still the one the form showed, as the transaction reads it (row locked).
        let save = |cur: &Product| {
            unchanged(version, &ProductInput::from(cur))?;
            Ok::<_, Failed>(i)
        };
        products::update(&s.db, &scope, id, save).await
    }
    .await;
    match saved {
        Ok(_) => Ok(see_other(&format!("{}?done=product_saved", product_path(id)))),
        Err(e) => {
            let pr = e.problem(p)?;
            let m = product_page(&s, p, id, &CatalogQuery::default(), Some((&values, &pr)), None).await?;
            Ok(answer(pr.status, m))
        }
    }
}

/// Deletes a product no license or template refers to, as `DELETE /api/v1/products/{id}` does; one in use is
/// refused on its page, in words.
pub async fn product_delete(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let id = id_of(p, &id)?;
    match products::delete(&s.db, &scope, id).await {
        Ok(()) => Ok(see_other(&format!("{PREFIX}/catalog?done=product_deleted"))),
        Err(e) => {
            let pr = Failed::Store(e).problem(p)?;
            let m = product_page(&s, p, id, &CatalogQuery::default(), None, Some(not_deleted(&pr))).await?;
            Ok(answer(pr.status, m))
        }
    }
}

/// The confirmation that deletes a catalog record (for an admin), saying what deleting it does.
fn delete_form(p: &Person, action: &str, what: &str, explain: Markup) -> Markup {
    html! {
        section aria-labelledby="delete" {
            h2 #delete { "Delete the " (what) }
            details.confirm {
                summary { "Delete…" }
                form method="post" action=(action) {
                    (csrf(p))
                    (explain)
                    button.danger type="submit" { "Confirm: delete the " (what) }
                }
            }
        }
    }
}

/// A refused delete, above the record's page.
fn not_deleted(pr: &Problem) -> Markup {
    let m = pr.message.trim_end_matches('.');
    error_box(&format!("Not deleted: {m}. Nothing was changed."))
}

// ---------------------------------------------------------------------------------------------
// Features

fn feature_page(
    p: &Person,
    prod: &Product,
    title: &str,
    action: &str,
    f: &Shown,
    done: Option<Markup>,
    delete: Option<Markup>,
) -> Markup {
    let submit = if title == "New feature" { "Create the feature" } else { "Save the feature" };
    let body = html! {
        @if let Some(m) = done { (m) }
        p { a href=(product_path(prod.id)) { "← " (prod.product_name) } }
        p {
            "A feature is an entitlement of " (prod.product_name) ": templates grant it (with these limits unless "
            "they set their own) and " code { "POST /api/v1/client/consumption" } " counts it by its code."
        }
        @if let Some(pr) = f.problem { (problem_box(FEATURE_FORM, &|_| None, pr)) }
        (form(p, action, FEATURES, FEATURE_FORM, f, &|_| html! {}, submit))
        @if let Some(d) = delete { (d) }
    };
    page(p, title, body)
}

pub async fn feature_new(State(s): State<AppState>, p: Person, Path(id): Path<String>) -> Page {
    let scope = p.permit(&[Action::Catalog])?;
    let prod = products::get(&mut &s.db, &scope, id_of(&p, &id)?).await.map_err(|e| found(&p, e))?;
    let blank: FeatureInput = defaults(serde_json::json!({"product": prod.id, "code": "", "name": ""}))?;
    let values = Values::of(FEATURE_FORM, &blank);
    let f = Shown::new(&values, None);
    let action = format!("{}/features", product_path(prod.id));
    Ok(answer(StatusCode::OK, feature_page(&p, &prod, "New feature", &action, &f, None, None)))
}

pub async fn feature_create(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let prod = products::get(&mut &s.db, &scope, id_of(p, &id)?).await.map_err(|e| found(p, e))?;
    let values = Values::posted(&posted);
    let made: Result<Feature, Failed> = async {
        let mut m = parse_terms(FEATURE_FORM, &values)?;
        m.insert("product".into(), prod.id.into());
        Ok(products::create_feature(&s.db, &scope, input(m)?).await?)
    }
    .await;
    match made {
        Ok(_) => Ok(see_other(&format!("{}?done=feature_created#features", product_path(prod.id)))),
        Err(e) => {
            let pr = e.problem(p)?;
            let f = Shown::new(&values, Some(&pr));
            let action = format!("{}/features", product_path(prod.id));
            Ok(answer(pr.status, feature_page(p, &prod, "New feature", &action, &f, None, None)))
        }
    }
}

/// A feature's page: its form (disabled for whoever may not change the catalog), with `edit` when a save failed,
/// and its delete; `top` above it (a refused delete).
async fn feature_view(
    s: &AppState,
    p: &Person,
    id: i64,
    edit: Option<(&Values, &Problem)>,
    done: &str,
    top: Option<(StatusCode, Markup)>,
) -> Page {
    let scope = p.read()?;
    let feat = products::get_feature(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    let prod = products::get(&mut &s.db, &scope, feat.product).await.map_err(|e| found(p, e))?;
    let input = FeatureInput::from(&feat);
    let stored = Values::of(FEATURE_FORM, &input);
    let f = Shown::existing(&input, &stored, edit, p.may(Action::Catalog));
    let action = format!("{PREFIX}/catalog/features/{id}");
    let delete = f.editable.then(|| {
        delete_form(p, &format!("{action}/delete"), "feature", html! {
            p { "Delete the feature " code { (feat.code) } " (" (feat.name) ") of " (prod.product_name) ". The audit log keeps what it was." }
            p {
                "License templates that grant it stop granting it, and licenses that have it lose it with what was "
                "consumed of it: a client's " code { "consumption" } " of it answers " code { "404 FEATURE_NOT_FOUND" }
                " from then on. Nothing else of those templates and licenses changes."
            }
        })
    });
    let (status, top) = match top {
        Some((st, m)) => (st, Some(m)),
        None => (f.problem.map_or(StatusCode::OK, |pr| pr.status), None),
    };
    let done = top.or_else(|| done_text(done));
    let m = feature_page(p, &prod, &format!("Feature {}", feat.code), &action, &f, done, delete);
    Ok(answer(status, m))
}

pub async fn feature(
    State(s): State<AppState>,
    p: Person,
    Path(id): Path<String>,
    Query(q): Query<CatalogQuery>,
) -> Page {
    let id = id_of(&p, &id)?;
    feature_view(&s, &p, id, None, &q.done, None).await
}

pub async fn feature_update(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let id = id_of(p, &id)?;
    let version = posted.version()?;
    let values = Values::posted(&posted);
    let saved: Result<Feature, Failed> = async {
        let m = parse_terms(FEATURE_FORM, &values)?;
        products::update_feature(&s.db, &scope, id, |cur: &Feature| {
            unchanged(version, &FeatureInput::from(cur))?;
            let mut m = m;
            m.insert("product".into(), cur.product.into());
            Ok::<_, Failed>(input(m)?)
        })
        .await
    }
    .await;
    match saved {
        Ok(_) => Ok(see_other(&format!("{PREFIX}/catalog/features/{id}?done=feature_saved"))),
        Err(e) => {
            let pr = e.problem(p)?;
            feature_view(&s, p, id, Some((&values, &pr)), "", None).await
        }
    }
}

/// Deletes a feature, as `DELETE /api/v1/product-features/{id}` does (templates and licenses lose it); back to
/// its product's page.
pub async fn feature_delete(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let id = id_of(p, &id)?;
    let feat = products::get_feature(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    match products::delete_feature(&s.db, &scope, id).await {
        Ok(()) => Ok(see_other(&format!("{}?done=feature_deleted#features", product_path(feat.product)))),
        Err(e) => {
            let pr = Failed::Store(e).problem(p)?;
            feature_view(&s, p, id, None, "", Some((pr.status, not_deleted(&pr)))).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// License templates

/// A feature a template form may grant: the product's (with its own limits) or one the template grants already.
struct Grantable {
    id: i64,
    code: String,
    name: String,
    /// The feature's own limits (max consumption, overages allowed, max overages), when known.
    own: Option<(i64, bool, i64)>,
}

fn grantable(fs: &[Feature], t: Option<&LicenseTemplate>) -> Vec<Grantable> {
    let mut out: Vec<Grantable> = fs
        .iter()
        .map(|f| Grantable {
            id: f.id,
            code: f.code.clone(),
            name: f.name.clone(),
            own: Some((f.max_consumption, f.allow_overages, f.max_overages)),
        })
        .collect();
    for f in t.map_or(&[][..], |t| &t.features[..]) {
        if !out.iter().any(|g| g.id == f.feature) {
            out.push(Grantable { id: f.feature, code: f.code.clone(), name: f.name.clone(), own: None });
        }
    }
    out
}

/// The name of a feature's box in a template form: its checkbox (`part` empty) or one of its limits.
fn feature_field(id: i64, part: &str) -> String {
    if part.is_empty() { format!("feature-{id}") } else { format!("feature-{id}-{part}") }
}

/// The features a form grants, in the order the input lists them.
fn granted<'a>(v: &'a Values, feats: &'a [Grantable]) -> impl Iterator<Item = &'a Grantable> {
    feats.iter().filter(|g| v.get(&feature_field(g.id, "")) == "true")
}

fn template_values(t: &LicenseTemplateInput, feats: &[Grantable]) -> Values {
    let mut v = Values::of(TEMPLATE_FORM, t);
    let text = |n: Option<String>| n.unwrap_or_default();
    for f in &t.features {
        if let Some(g) = feats.iter().find(|g| g.code == f.code) {
            v.set(feature_field(g.id, ""), "true");
            v.set(feature_field(g.id, "max_consumption"), text(f.max_consumption.map(|n| n.to_string())));
            v.set(feature_field(g.id, "allow_overages"), text(f.allow_overages.map(|b| b.to_string())));
            v.set(feature_field(g.id, "max_overages"), text(f.max_overages.map(|n| n.to_string())));
        }
    }
    v
}

/// The template input a form makes.
fn template_input(v: &Values, product: i64, feats: &[Grantable]) -> Result<LicenseTemplateInput, Problem> {
    let mut m = parse_terms(TEMPLATE_FORM, v)?;
    let mut list = Vec::new();
    for g in granted(v, feats) {
        let int = |part: &str| {
            let name = feature_field(g.id, part);
            match v.get(&name).trim() {
                "" => Ok(None),
                s => s.parse::<i64>().map(Some).map_err(|_| Problem::invalid(name, "must be a whole number")),
            }
        };
        let allow = match v.get(&feature_field(g.id, "allow_overages")) {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                return Err(Problem::invalid(
                    feature_field(g.id, "allow_overages"),
                    "must be yes, no or the feature's",
                ));
            }
        };
        list.push(TemplateFeatureInput {
            code: g.code.clone(),
            max_consumption: int("max_consumption")?,
            allow_overages: allow,
            max_overages: int("max_overages")?,
        });
    }
    m.insert("product".into(), product.into());
    m.insert("features".into(), serde_json::to_value(&list).unwrap_or_default());
    input(m)
}

/// A refusal naming `features[i]…` as the box of that feature in the form (`order`: the granted features' ids).
fn feature_problem(mut pr: Problem, order: &[i64]) -> Problem {
    let at = pr.field.strip_prefix("features[").and_then(|r| r.split_once(']'));
    if let Some((i, rest)) = at
        && let Some(id) = i.parse::<usize>().ok().and_then(|i| order.get(i))
    {
        pr.field = feature_field(*id, rest.trim_start_matches('.').trim_start_matches("code"));
    }
    pr
}

/// One limit of a granted feature: its box (empty: the feature's own), its hidden label, its refusal.
fn limit_cell(g: &Grantable, part: &str, label: &str, f: &Shown) -> Markup {
    let name = feature_field(g.id, part);
    let pr = f.problem_at(&name);
    let v = f.values.get(&name);
    html! {
        td {
            label.visually-hidden for=(name) { (label) " of " (g.code) }
            @if part == "allow_overages" {
                select id=(name) name=(name) aria-invalid=[pr.map(|_| "true")] {
                    option value="" selected[v.is_empty()] { "the feature's" }
                    option value="true" selected[v == "true"] { "yes" }
                    option value="false" selected[v == "false"] { "no" }
                }
            } @else {
                input type="number" id=(name) name=(name) value=(v) min="0" step="1" inputmode="numeric"
                    aria-invalid=[pr.map(|_| "true")];
            }
            @if let Some(p) = pr { p.field-error { (p.message) } }
            (f.now(&name, Some(Kind::Text(0))))
        }
    }
}

/// The features a template grants: a row per feature of the product, each limit empty for the feature's own.
fn features_box(feats: &[Grantable], f: &Shown) -> Markup {
    let (_, help, _) = ids("features", false);
    html! {
        div.term.wide {
            div.term-input {
                @if feats.is_empty() { p.muted { "The product has no features yet." } } @else {
                    table aria-describedby=(help) {
                        caption { "Features " code.api { "features" } }
                        thead { tr { th { "Grant" } th { "Consumption limit" } th { "Overages allowed" } th { "Max overages" } } }
                        tbody { @for g in feats {
                            @let k = feature_field(g.id, "");
                            tr {
                                td {
                                    div.check {
                                        input type="checkbox" id=(k) name=(k) value="true" checked[f.values.get(&k) == "true"]
                                            aria-invalid=[f.problem_at(&k).map(|_| "true")];
                                        label for=(k) { code { (g.code) } " " span.muted { (g.name) } }
                                    }
                                    @if let Some((mc, ao, mo)) = g.own {
                                        small.help { "Its own: " (mc) ", overages " @if ao { "up to " (mo) } @else { "none" } }
                                    }
                                    @if let Some(p) = f.problem_at(&k) { p.field-error { (p.message) } }
                                    (f.now(&k, None))
                                }
                                (limit_cell(g, "max_consumption", "Consumption limit", f))
                                (limit_cell(g, "allow_overages", "Overages allowed", f))
                                (limit_cell(g, "max_overages", "Max overages", f))
                            }
                        } }
                    }
                }
            }
            small.help id=(help) {
                (explain(TEMPLATES, "features"))
                @if let Some((z, _)) = DOC.zero.get("max_consumption") {
                    span.zero { "A feature's " strong { "0" } ": " (md(z)) ". An empty box: the feature's own limit." }
                }
            }
        }
    }
}

/// What a template form shows besides its values: the product, its trial setup, the features it may grant.
struct TemplateContext {
    product: Product,
    trials: i64,
    trial: Option<LicenseTemplate>,
    feats: Vec<Grantable>,
}

impl TemplateContext {
    async fn load(
        s: &AppState,
        scope: &Scope,
        p: &Person,
        product: i64,
        t: Option<&LicenseTemplate>,
    ) -> Result<Self, PageError> {
        let prod = products::get(&mut &s.db, scope, product).await.map_err(|e| found(p, e))?;
        let (_, fs) = features_of(s, scope, product).await?;
        let (trials, trial) = trial_of(s, scope, product).await?;
        Ok(TemplateContext { product: prod, trials, trial, feats: grantable(&fs, t) })
    }
}

/// A template form's page (new or existing, with its delete).
fn template_page(
    p: &Person,
    cx: &TemplateContext,
    title: &str,
    action: &str,
    f: &Shown,
    done: Option<Markup>,
    delete: Option<Markup>,
) -> Markup {
    let prod = &cx.product;
    let copies =
        DOC.prose_of("How a license gets its terms").iter().find(|p| p.starts_with("**Licenses are copies.**"));
    let extra = |field: &str| {
        cx.feats.iter().find(|g| field.starts_with(&feature_field(g.id, ""))).map(|g| format!("Feature {}", g.code))
    };
    let more = |heading: &str| match heading {
        TRIAL_GROUP => html! { div.group-note { (trial_setup(prod, cx.trials, cx.trial.as_ref(), false)) } },
        FEATURES_GROUP => features_box(&cx.feats, f),
        _ => html! {},
    };
    let submit = if action.ends_with("/templates") { "Create the template" } else { "Save the template" };
    let body = html! {
        @if let Some(m) = done { (m) }
        p { a href=(product_path(prod.id)) { "← " (prod.product_name) } }
        p {
            "A license template holds the terms a kind of license of " (prod.product_name) " is sold with. "
            "Each term is explained as in the reference (docs/licenses.md); an empty number box is "
            code { "null" } " in the API."
        }
        @if let Some(c) = copies { p.doc { (md(c)) } }
        @if let Some(pr) = f.problem { (problem_box(TEMPLATE_FORM, &extra, pr)) }
        (form(p, action, TEMPLATES, TEMPLATE_FORM, f, &more, submit))
        @if let Some(d) = delete { (d) }
    };
    page(p, title, body)
}

pub async fn template_new(State(s): State<AppState>, p: Person, Path(id): Path<String>) -> Page {
    let scope = p.permit(&[Action::Catalog])?;
    let cx = TemplateContext::load(&s, &scope, &p, id_of(&p, &id)?, None).await?;
    // The API's defaults, as `POST /license-templates/` fills them in.
    let blank: LicenseTemplateInput = defaults(serde_json::json!({"product": cx.product.id, "name": "", "code": ""}))?;
    let values = template_values(&blank, &cx.feats);
    let f = Shown::new(&values, None);
    let action = format!("{}/templates", product_path(cx.product.id));
    Ok(answer(StatusCode::OK, template_page(&p, &cx, "New license template", &action, &f, None, None)))
}

pub async fn template_create(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let cx = TemplateContext::load(&s, &scope, p, id_of(p, &id)?, None).await?;
    let values = Values::posted(&posted);
    let made: Result<LicenseTemplate, Failed> = async {
        let i = template_input(&values, cx.product.id, &cx.feats)?;
        Ok(templates::create(&s.db, &scope, i).await?)
    }
    .await;
    match made {
        Ok(_) => Ok(see_other(&format!("{}?done=template_created#templates", product_path(cx.product.id)))),
        Err(e) => {
            let order: Vec<i64> = granted(&values, &cx.feats).map(|g| g.id).collect();
            let pr = feature_problem(e.problem(p)?, &order);
            let f = Shown::new(&values, Some(&pr));
            let action = format!("{}/templates", product_path(cx.product.id));
            Ok(answer(pr.status, template_page(p, &cx, "New license template", &action, &f, None, None)))
        }
    }
}

/// A template's page: its form (disabled for whoever may not change the catalog), with `edit` when a save failed,
/// and its delete; `top` above it (a refused delete).
async fn template_view(
    s: &AppState,
    p: &Person,
    id: i64,
    edit: Option<(&Values, &Problem)>,
    done: &str,
    top: Option<(StatusCode, Markup)>,
) -> Page {
    let scope = p.read()?;
    let t = templates::get(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    let cx = TemplateContext::load(s, &scope, p, t.product, Some(&t)).await?;
    let input = LicenseTemplateInput::from(&t);
    let stored = template_values(&input, &cx.feats);
    let f = Shown::existing(&input, &stored, edit, p.may(Action::Catalog));
    let action = format!("{PREFIX}/catalog/templates/{id}");
    let is_the_trial = cx.trial.as_ref().is_some_and(|tr| tr.id == t.id);
    let delete = f.editable.then(|| {
        delete_form(p, &format!("{action}/delete"), "license template", html! {
            p { "Delete the template " strong { (t.name) } " (" code { (t.code) } ") of " (cx.product.product_name) ". The audit log keeps what it was." }
            p {
                "Licenses issued from it keep every term they were issued with and lose only the link to it; no "
                "license can be issued from it any more."
            }
            @if is_the_trial {
                p {
                    "It is the template " code { "POST /api/v1/client/trial" } " issues from: after it, "
                    @if cx.trials > 1 { "the product's next oldest trial template is used." }
                    @else { "the product offers no trial (" code { "404 NO_TRIAL" } ")." }
                }
            }
        })
    });
    let (status, top) = match top {
        Some((st, m)) => (st, Some(m)),
        None => (f.problem.map_or(StatusCode::OK, |pr| pr.status), None),
    };
    let done = top.or_else(|| done_text(done));
    let m = template_page(p, &cx, &format!("Template {}", t.name), &action, &f, done, delete);
    Ok(answer(status, m))
}

pub async fn template(
    State(s): State<AppState>,
    p: Person,
    Path(id): Path<String>,
    Query(q): Query<CatalogQuery>,
) -> Page {
    let id = id_of(&p, &id)?;
    template_view(&s, &p, id, None, &q.done, None).await
}

pub async fn template_update(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let id = id_of(p, &id)?;
    let t = templates::get(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    let version = posted.version()?;
    let (_, fs) = features_of(&s, &scope, t.product).await?;
    let feats = grantable(&fs, Some(&t));
    let values = Values::posted(&posted);
    let saved: Result<LicenseTemplate, Failed> = async {
        let i = template_input(&values, t.product, &feats)?;
        // Saved only if the template is still the one the form showed, as the transaction reads it (row locked).
        let save = |cur: &LicenseTemplate| {
            unchanged(version, &LicenseTemplateInput::from(cur))?;
            Ok::<_, Failed>(i)
        };
        templates::update(&s.db, &scope, id, save).await
    }
    .await;
    match saved {
        Ok(_) => Ok(see_other(&format!("{PREFIX}/catalog/templates/{id}?done=template_saved"))),
        Err(e) => {
            let order: Vec<i64> = granted(&values, &feats).map(|g| g.id).collect();
            let pr = feature_problem(e.problem(p)?, &order);
            template_view(&s, p, id, Some((&values, &pr)), "", None).await
        }
    }
}

/// Deletes a template, as `DELETE /api/v1/license-templates/{id}` does (its licenses keep their terms); back to
/// its product's page.
pub async fn template_delete(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Catalog])?;
    let id = id_of(p, &id)?;
    let t = templates::get(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    match templates::delete(&s.db, &scope, id).await {
        Ok(()) => Ok(see_other(&format!("{}?done=template_deleted#templates", product_path(t.product)))),
        Err(e) => {
            let pr = Failed::Store(e).problem(p)?;
            template_view(&s, p, id, None, "", Some((pr.status, not_deleted(&pr)))).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON fields of an input (its serialization with defaults).
    fn fields_of(v: impl serde::Serialize) -> Vec<String> {
        let mut keys: Vec<String> = serde_json::to_value(v).unwrap().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn form_fields(form: &'static [Group], extra: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> =
            terms_of(form).map(|t| t.name.to_string()).chain(extra.iter().map(|s| s.to_string())).collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_field_of_each_input_has_a_box() {
        let t: LicenseTemplateInput = serde_json::from_str(r#"{"product":1,"name":"n","code":"c"}"#).unwrap();
        assert_eq!(form_fields(TEMPLATE_FORM, &["product", "features"]), fields_of(t));
        let f: FeatureInput = serde_json::from_str(r#"{"product":1,"name":"n","code":"c"}"#).unwrap();
        assert_eq!(form_fields(FEATURE_FORM, &["product"]), fields_of(f));
        let p: ProductInput = serde_json::from_str(r#"{"product_name":"n","short_code":"c"}"#).unwrap();
        assert_eq!(form_fields(PRODUCT_FORM, &[]), fields_of(p));
    }

    #[test]
    fn every_box_is_explained_by_docs_licenses_md_under_its_heading() {
        for (section, form) in [(PRODUCTS, PRODUCT_FORM), (FEATURES, FEATURE_FORM), (TEMPLATES, TEMPLATE_FORM)] {
            for g in form {
                for t in g.terms {
                    let row = DOC.row_of(section, t.name).unwrap_or_else(|| panic!("{section}: no row for {}", t.name));
                    assert!(!row.what.is_empty(), "{section}: {}", t.name);
                    assert_eq!(row.group, g.heading, "{section}: {} is under another heading in the doc", t.name);
                }
            }
        }
        let features = DOC.row_of(TEMPLATES, "features").unwrap();
        assert_eq!(features.group, FEATURES_GROUP);
        assert!(!DOC.prose_of("Trials").is_empty() && DOC.prose_of("Trials")[0].contains("NO_TRIAL"));
    }

    #[test]
    fn what_zero_and_empty_mean_is_the_docs() {
        let shown = |section, f| explain(section, f).into_string();
        // The zero and null table, in place.
        let max_act = shown(TEMPLATES, "max_activations");
        assert!(max_act.contains("<strong>0</strong>: no device can activate"), "{max_act}");
        assert!(max_act.contains("<strong>empty</strong>: unlimited"), "{max_act}");
        assert!(shown(TEMPLATES, "max_transfers").contains("<strong>0</strong>: <strong>unlimited</strong>"));
        let borrow = shown(TEMPLATES, "max_borrow_time");
        assert!(borrow.contains("every <code>borrow</code> is refused"), "{borrow}");
        assert!(!borrow.contains("empty"), "max_borrow_time cannot be null: {borrow}");
        assert!(shown(TEMPLATES, "validity_period_days").contains("<strong>empty</strong>: never expires"));
        // The field tables: what it does, what is allowed, the client API's refusal.
        let seats = shown(TEMPLATES, "floating_users");
        assert!(seats.contains("Number of seats") && seats.contains("409 NO_SEAT"), "{seats}");
        let trial = shown(TEMPLATES, "is_trial");
        assert!(trial.contains("<code>trial</code> issues from it") && trial.contains("404 NO_TRIAL"), "{trial}");
        assert!(shown(PRODUCTS, "short_code").contains("What applications send as"));
        assert!(shown(FEATURES, "max_consumption").contains("nothing may be consumed of that feature"));
        // A cell "as above" is the row above's.
        assert!(
            shown(TEMPLATES, "max_overages")
                .contains("Client API: <code>consumption</code>: <code>409 CONSUMPTION_LIMIT</code>")
        );
    }

    #[test]
    fn the_docs_inline_markup_is_rendered_and_escaped() {
        assert_eq!(
            md("a `b` **c `d`** <e>").into_string(),
            "a <code>b</code> <strong>c </strong><strong><code>d</code></strong> &lt;e&gt;"
        );
        assert_eq!(sentence("how many devices"), "How many devices.");
    }

    #[test]
    fn a_refusal_of_a_granted_feature_names_its_box() {
        let pr = feature_problem(Problem::invalid("features[1].max_consumption", "x"), &[7, 9]);
        assert_eq!(pr.field, "feature-9-max_consumption");
        assert_eq!(feature_problem(Problem::invalid("features[0].code", "x"), &[7]).field, "feature-7");
        assert_eq!(feature_problem(Problem::invalid("max_activations", "x"), &[7]).field, "max_activations");
    }
}
