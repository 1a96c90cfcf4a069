//! Lists that page and sort on the server with the management API's own list parameters: licenses and the
//! activity (the audit log). A page asks the store for one page and its count, never a whole table; the filter
//! form offers a few of the allow-list's filters, and what the form sends is checked by the same allow-list.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use licensd_store::list::{ListParams, Spec};
use licensd_store::{events, licenses};
use maud::{Markup, html};
use std::collections::BTreeMap;

use super::layout::page;
use super::pages::{event_table, license_table, params};
use super::{PREFIX, Page, Person, html as answer, page_error};
use crate::AppState;

/// Rows a list page shows.
const PAGE: i64 = 50;

/// A filter the form offers: the list parameter, its label, the input's type, and for a select its choices.
struct Filter {
    param: &'static str,
    label: &'static str,
    kind: &'static str,
    choices: &'static [(&'static str, &'static str)],
}

const fn text(param: &'static str, label: &'static str) -> Filter {
    Filter { param, label, kind: "text", choices: &[] }
}

const fn date(param: &'static str, label: &'static str) -> Filter {
    Filter { param, label, kind: "date", choices: &[] }
}

const fn select(param: &'static str, label: &'static str, choices: &'static [(&'static str, &'static str)]) -> Filter {
    Filter { param, label, kind: "select", choices }
}

/// What a list page is: its path, store list, filters and orders.
struct ListPage {
    path: &'static str,
    spec: &'static Spec,
    filters: &'static [Filter],
    orders: &'static [(&'static str, &'static str)],
}

const LICENSES: ListPage = ListPage {
    path: "/licenses",
    spec: &licenses::SPEC,
    filters: &[
        text("product__short_code", "Product (short code)"),
        text("customer__email", "Customer email"),
        text("order__store_id", "Invoice"),
        select("enabled", "Enabled", &[("", "any"), ("true", "enabled"), ("false", "disabled")]),
        select("active", "On a device", &[("", "any"), ("true", "yes"), ("false", "no")]),
        date("validity_period__date__gte", "Expires from"),
        date("validity_period__date__lte", "Expires until"),
    ],
    orders: &[
        ("-created_at", "newest first"),
        ("created_at", "oldest first"),
        ("validity_period", "expiring first"),
        // Not "-last_check": the last check is a row of its own per license (written off the client's path),
        // so that order sorts every license (130 ms at a million); a license's page shows it.
        ("license_key", "by key"),
    ],
};

const ACTIVITY: ListPage = ListPage {
    path: "/activity",
    spec: &events::SPEC,
    filters: &[
        text("action", "Action (e.g. license.disabled)"),
        text("actor", "Who (exactly as recorded)"),
        text("license", "License id"),
        date("created_at__date__gte", "From"),
        date("created_at__date__lte", "Until"),
    ],
    orders: &[("-id", "newest first"), ("id", "oldest first")],
};

/// The filters given (non-empty, offered by the form), the order and the offset, from the query string.
struct Asked {
    filters: Vec<(&'static str, String)>,
    order: &'static str,
    offset: i64,
}

fn asked(list: &ListPage, q: &BTreeMap<String, String>) -> Result<Asked, super::PageError> {
    let filters = list
        .filters
        .iter()
        .filter_map(|f| q.get(f.param).map(|v| (f.param, v.trim().to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let order = match q.get("order_by").map(String::as_str) {
        None | Some("") => list.orders[0].0,
        Some(o) => list
            .orders
            .iter()
            .map(|(k, _)| *k)
            .find(|k| *k == o)
            .ok_or_else(|| page_error(StatusCode::BAD_REQUEST, "That order is not offered."))?,
    };
    let offset = match q.get("offset").map(String::as_str) {
        None | Some("") => 0,
        Some(o) => o
            .parse::<i64>()
            .ok()
            .filter(|o| (0..=1_000_000).contains(o))
            .ok_or_else(|| page_error(StatusCode::BAD_REQUEST, "offset must be a whole number from 0."))?,
    };
    Ok(Asked { filters, order, offset })
}

impl Asked {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = self.filters.clone();
        p.push(("order_by", self.order.to_string()));
        p.push(("limit", PAGE.to_string()));
        p.push(("offset", self.offset.to_string()));
        p
    }

    /// This list's URL at another offset.
    fn at(&self, list: &ListPage, offset: i64) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.filters {
            s.append_pair(k, v);
        }
        s.append_pair("order_by", self.order);
        s.append_pair("offset", &offset.to_string());
        format!("{PREFIX}{}?{}", list.path, s.finish())
    }
}

fn filter_form(list: &ListPage, a: &Asked) -> Markup {
    let value = |p: &str| a.filters.iter().find(|(k, _)| *k == p).map_or("", |(_, v)| v.as_str()).to_string();
    html! {
        form.filters method="get" action={ (PREFIX) (list.path) } {
            @for f in list.filters {
                div {
                    label for={ "f-" (f.param) } { (f.label) }
                    @if f.kind == "select" {
                        select id={ "f-" (f.param) } name=(f.param) {
                            @for (v, l) in f.choices { option value=(v) selected[value(f.param) == *v] { (l) } }
                        }
                    } @else {
                        input id={ "f-" (f.param) } type=(f.kind) name=(f.param) value=(value(f.param));
                    }
                }
            }
            div {
                label for="f-order" { "Order" }
                select #f-order name="order_by" {
                    @for (v, l) in list.orders { option value=(v) selected[a.order == *v] { (l) } }
                }
            }
            div { button type="submit" { "Show" } }
        }
    }
}

/// How far past a page's offset a list counts: a list of a million licenses says "of more than 10000" rather
/// than count them all on every page (the management API's own lists count exactly).
const COUNT_AHEAD: i64 = 10_000;

/// The list's parameters with its count bounded [`COUNT_AHEAD`] past the offset.
fn bounded(mut lp: ListParams, a: &Asked) -> ListParams {
    lp.count_cap = Some(a.offset.saturating_add(COUNT_AHEAD));
    lp
}

fn pager(list: &ListPage, a: &Asked, count: i64, shown: usize) -> Markup {
    let first = if shown == 0 { 0 } else { a.offset + 1 };
    let last = a.offset + shown as i64;
    let cap = a.offset.saturating_add(COUNT_AHEAD);
    html! {
        nav.pager aria-label="Pages" {
            span { (first) "–" (last) " of " @if count > cap { "more than " (cap) } @else { (count) } }
            @if a.offset > 0 { a rel="prev" href=(a.at(list, (a.offset - PAGE).max(0))) { "← Previous" } }
            @if last < count { a rel="next" href=(a.at(list, a.offset + PAGE)) { "Next →" } }
        }
    }
}

pub async fn licenses_page(State(s): State<AppState>, p: Person, Query(q): Query<BTreeMap<String, String>>) -> Page {
    let scope = p.read()?;
    let a = asked(&LICENSES, &q)?;
    let lp = bounded(params(LICENSES.spec, &a.pairs())?, &a);
    let (count, ls) = licenses::list(&s.db, &scope, &lp).await.map_err(super::store_error)?;
    let body = html! {
        (filter_form(&LICENSES, &a))
        (pager(&LICENSES, &a, count, ls.len()))
        @if ls.is_empty() { p.muted { "No license matches." } } @else { (license_table(&ls)) }
    };
    Ok(answer(StatusCode::OK, page(&p, "Licenses", body)))
}

pub async fn activity(State(s): State<AppState>, p: Person, Query(q): Query<BTreeMap<String, String>>) -> Page {
    let scope = p.read()?;
    let a = asked(&ACTIVITY, &q)?;
    let lp = bounded(params(ACTIVITY.spec, &a.pairs())?, &a);
    let (count, es) = events::list(&s.db, &scope, &lp).await.map_err(super::store_error)?;
    let body = html! {
        (filter_form(&ACTIVITY, &a))
        (pager(&ACTIVITY, &a, count, es.len()))
        (event_table(&es))
    };
    Ok(answer(StatusCode::OK, page(&p, "Activity", body)))
}
