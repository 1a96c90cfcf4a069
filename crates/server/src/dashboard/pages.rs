//! The dashboard's pages: sign-in, home, search, a license, a customer.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use licensd_core::access::Action;
use licensd_core::model::{License, LicenseInput};
use licensd_core::time::{DAY_MS, Day, format_date, now_ms, parse_date};
use licensd_store::list::{ListParams, Spec};
use licensd_store::users::Refused;
use licensd_store::{Scope, customers, devices, events, licenses};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, error_box, limit, notice, page, status, time};
use super::{
    CHANGED, MaybePerson, NotSaved, PREFIX, Page, PageError, Person, Posted, SignInLimiter, VERSION, html as answer,
    page_error, same_text, see_other, store_error, version_of,
};
use crate::AppState;

/// List parameters a page builds (never names a visitor typed), or a `400` page naming what was wrong.
pub(super) fn params(spec: &'static Spec, pairs: &[(&str, String)]) -> Result<ListParams, PageError> {
    let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    licensd_store::list::parse(spec, &owned, &[])
        .map_err(|e| page_error(StatusCode::BAD_REQUEST, &format!("{}: {}", e.param, e.message)))
}

/// A record's page: not found (or not visible) is the `404` page with the person's navigation.
pub(super) fn found(p: &Person, e: licensd_store::StoreError) -> PageError {
    match e {
        licensd_store::StoreError::NotFound => super::not_found(Some(p)),
        e => store_error(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Sign in and out

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

fn login_page(email: &str, next: &str, problem: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            @if let Some(p) = problem { (error_box(p)) }
            form.card method="post" action={ (PREFIX) "/login" } {
                input type="hidden" name="next" value=(next);
                p {
                    label for="email" { "Email" }
                    input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                }
                p {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                }
                p { button.primary type="submit" { "Sign in" } }
            }
            p.muted { "No account yet? An administrator creates one with " code { "licensd user create" } "." }
        },
    )
}

pub async fn login_form(MaybePerson(p): MaybePerson, Query(q): Query<NextQuery>) -> Response {
    if p.is_some() {
        return see_other(super::safe_next(&q.next));
    }
    login_page("", &q.next, None).into_response()
}

pub async fn login(State(s): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if !super::same_origin(&parts) {
        return super::csrf_refused().into_response();
    }
    let https = super::is_https(&s, &parts);
    let ip = s.http.client_ip(&parts.headers, &parts.extensions);
    let Some(limiter) = parts.extensions.get::<Arc<SignInLimiter>>().cloned() else {
        return page_error(StatusCode::INTERNAL_SERVER_ERROR, "The sign-in limiter is missing.").into_response();
    };
    let Ok(bytes) = axum::body::to_bytes(body, super::FORM_LIMIT).await else {
        return page_error(StatusCode::PAYLOAD_TOO_LARGE, "The form was too large.").into_response();
    };
    let Ok(fields) = crate::extract::form_pairs(&bytes) else {
        return page_error(StatusCode::BAD_REQUEST, "The form was not UTF-8.").into_response();
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    let (email, password, next) = (get("email"), get("password"), get("next"));
    if !limiter.check(ip) {
        let body =
            login_page(email, next, Some("Too many sign-in attempts from this address. Wait a minute and try again."));
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "60")], body).into_response();
    }
    let ua = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match licensd_store::users::sign_in(&s.db, email, password, ua, &ip.to_string()).await {
        Err(e) => store_error(e).into_response(),
        Ok(Err(Refused::BadCredentials)) => (
            StatusCode::UNAUTHORIZED,
            login_page(email, next, Some("That email and password do not match an account.")),
        )
            .into_response(),
        Ok(Err(Refused::Locked(until))) => {
            let at = licensd_core::time::format_iso(until);
            let msg = format!(
                "Too many failed attempts: this account is locked until {} UTC. An administrator can lift the lock \
                 with `licensd user password`.",
                at.get(..16).unwrap_or(&at).replace('T', " ")
            );
            (StatusCode::TOO_MANY_REQUESTS, login_page(email, next, Some(&msg))).into_response()
        }
        Ok(Ok(session)) => {
            tracing::info!(user = session.user.id, "dashboard sign-in");
            let mut res = see_other(super::safe_next(next));
            res.headers_mut().insert(header::SET_COOKIE, super::session_cookie(Some(&session.secret), https));
            res
        }
    }
}

pub async fn logout(State(s): State<AppState>, posted: Posted) -> Response {
    if let Err(e) = licensd_store::users::end_session(&s.db, posted.person.session.session_id).await {
        return store_error(e).into_response();
    }
    let mut res = see_other(&format!("{PREFIX}/login"));
    res.headers_mut().insert(header::SET_COOKIE, super::session_cookie(None, posted.person.https));
    res
}

// ---------------------------------------------------------------------------------------------
// Home

pub async fn home(State(s): State<AppState>, p: Person) -> Page {
    let scope = p.read()?;
    let today = now_ms() / DAY_MS * DAY_MS;
    let soon = params(
        &licenses::SPEC,
        &[
            ("validity_period__gte", format_date(today)),
            ("validity_period__lte", format_date(today + 30 * DAY_MS)),
            ("order_by", "validity_period".into()),
            ("limit", "10".into()),
        ],
    )?;
    let mut recent = params(&events::SPEC, &[("order_by", "-id".into()), ("limit", "10".into())])?;
    // The latest ten, without counting every event there is.
    recent.count_cap = Some(10);
    let traffic = async {
        match scope.all_products() {
            true => licensd_store::stats::client_daily(&s.db, today - 29 * DAY_MS).await.map(Some),
            false => Ok(None),
        }
    };
    let (tally, (n_soon, expiring), traffic, (_, recent)) = tokio::try_join!(
        s.tallies.get(&s.db, &scope),
        licenses::list(&s.db, &scope, &soon),
        traffic,
        events::list(&s.db, &scope, &recent),
    )
    .map_err(store_error)?;
    let body = html! {
        section.tiles aria-label="Licenses" {
            div.tile { span.n { (tally.total) } " licenses" }
            div.tile { span.n { (tally.active) } " active on a device" }
            div.tile { span.n { (tally.disabled) } " disabled" }
            div.tile { span.n { (n_soon) } " expire in the next 30 days" }
        }
        p.muted { "Counted " (time(Some(licensd_core::time::Timestamp(tally.counted_ms)))) "; the counts are kept for "
            (super::tally::FRESH.as_secs()) " seconds." }
        section aria-labelledby="traffic" {
            h2 #traffic { "Activations and checks, last 30 days" }
            @match &traffic {
                Some(t) => (traffic_chart(t, today)),
                None => p.muted { "The client API's totals cover every product; they are shown to people who see every product." },
            }
        }
        section {
            h2 { "Expiring in the next 30 days" }
            @if expiring.is_empty() { p.muted { "None." } } @else { (license_table(&expiring)) }
        }
        section {
            h2 { "Recent activity" }
            (event_table(&recent))
        }
    };
    Ok(answer(StatusCode::OK, page(&p, "Home", body)))
}

/// Codes that are not refusals: successes of each kind.
const SUCCESSES: &[&str] = &["VALID", "ACTIVATED", "ALREADY_ACTIVE", "DEACTIVATED", "CONSUMED", "STARTED", "RESUMED"];

/// Checks and new activations per day as bars (an SVG drawn here: no script, no library), the same numbers as
/// a table, and the refusals of the 30 days by code.
fn traffic_chart(t: &[licensd_store::stats::Daily], today: i64) -> Markup {
    let days: Vec<i64> = (0..30).map(|i| today - (29 - i) * DAY_MS).collect();
    let sum = |day: i64, kind: &str, code: Option<&str>| -> i64 {
        t.iter().filter(|d| d.day == day && d.kind == kind && code.is_none_or(|c| d.code == c)).map(|d| d.n).sum()
    };
    let checks: Vec<i64> = days.iter().map(|d| sum(*d, "check", None)).collect();
    let activations: Vec<i64> = days.iter().map(|d| sum(*d, "activation", Some("ACTIVATED"))).collect();
    let max = checks.iter().chain(&activations).copied().max().unwrap_or(0).max(1);
    let mut refusals: Vec<(String, i64)> = Vec::new();
    for d in t.iter().filter(|d| !SUCCESSES.contains(&d.code.as_str())) {
        match refusals.iter_mut().find(|(c, _)| *c == d.code) {
            Some((_, n)) => *n += d.n,
            None => refusals.push((d.code.clone(), d.n)),
        }
    }
    refusals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (w, h, bar) = (600.0_f64, 160.0_f64, 600.0_f64 / 30.0);
    let height = |n: i64| (n as f64 / max as f64) * (h - 20.0);
    let label = format!(
        "Checks and new activations per day over the last 30 days: {} checks and {} activations in all",
        checks.iter().sum::<i64>(),
        activations.iter().sum::<i64>()
    );
    if checks.iter().chain(&activations).all(|n| *n == 0) && refusals.is_empty() {
        return html! { p.muted { "No client API traffic recorded in the last 30 days (totals are written every 10 seconds)." } };
    }
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(label) {
                title { (label) }
                @for (i, n) in checks.iter().enumerate() {
                    rect.checks x=(format!("{:.1}", i as f64 * bar + 1.0)) y=(format!("{:.1}", h - height(*n))) width=(format!("{:.1}", bar * 0.55)) height=(format!("{:.1}", height(*n))) {}
                }
                @for (i, n) in activations.iter().enumerate() {
                    rect.activations x=(format!("{:.1}", i as f64 * bar + 1.0 + bar * 0.55)) y=(format!("{:.1}", h - height(*n))) width=(format!("{:.1}", bar * 0.35)) height=(format!("{:.1}", height(*n))) {}
                }
            }
            figcaption { span.key.key-checks { "■" } " checks  " span.key.key-activations { "■" } " new activations; highest day " (max) }
        }
        details {
            summary { "The same as a table" }
            table {
                thead { tr { th { "Day" } th { "Checks" } th { "New activations" } } }
                tbody { @for (i, d) in days.iter().enumerate().rev() { tr { td { (format_date(*d)) } td { (checks[i]) } td { (activations[i]) } } } }
            }
        }
        h3 { "Refusals by code" }
        @if refusals.is_empty() { p.muted { "None." } } @else {
            table {
                thead { tr { th { "Code" } th { "Answers" } } }
                tbody { @for (c, n) in &refusals { tr { td { code { (c) } } td { (n) } } } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Search

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn search(State(s): State<AppState>, p: Person, Query(q): Query<SearchQuery>) -> Page {
    let scope = p.read()?;
    let text = q.q.trim().to_string();
    if text.is_empty() {
        let body =
            html! { p { "Type an email, a name, a license key, a hardware id or an invoice in the box above." } };
        return Ok(answer(StatusCode::OK, page(&p, "Search", body)));
    }
    if text.chars().count() < 3 {
        let body = error_box("Type at least 3 characters.");
        return Ok(answer(StatusCode::BAD_REQUEST, page(&p, "Search", body)));
    }
    let pairs = [("search", text.clone()), ("limit", "25".into())];
    let capped = |spec| {
        params(spec, &pairs).map(|mut p| {
            p.count_cap = Some(SEARCH_CAP);
            p
        })
    };
    let (lp, cp, dp) = (capped(&licenses::SPEC)?, capped(&customers::SPEC)?, capped(&devices::SPEC)?);
    // A whole key as a person types it (any case, without dashes) is not a substring of the stored key: look it
    // up as a key too (`license_key` folds case and dashes for the keys licensd issues).
    let exact = match text.len() <= 256 {
        true => Some(params(&licenses::SPEC, &[("license_key", text.clone()), ("limit", "1".into())])?),
        false => None,
    };
    let by_key = async {
        match &exact {
            Some(exact) => licenses::list(&s.db, &scope, exact).await,
            None => Ok((0, Vec::new())),
        }
    };
    let ((mut n_lic, mut lics), (_, found), (n_cus, cus), (n_dev, devs)) = tokio::try_join!(
        licenses::list(&s.db, &scope, &lp),
        by_key,
        customers::list(&s.db, &scope, &cp),
        devices::list(&s.db, &scope, &dp),
    )
    .map_err(store_error)?;
    for l in found {
        if !lics.iter().any(|x| x.id == l.id) {
            n_lic += 1;
            lics.insert(0, l);
        }
    }
    let body = html! {
        p { "Results for " strong { (text) } }
        section aria-labelledby="r-customers" {
            h2 #r-customers { "Customers " span.count { (matches(n_cus)) } }
            @if cus.is_empty() { p.muted { "No customer matches." } } @else {
                table {
                    thead { tr { th { "Customer" } th { "Email" } th { "Company" } } }
                    tbody { @for c in &cus { tr {
                        td { a href={ (PREFIX) "/customers/" (c.id) } { (customer_name(c)) } }
                        td { (c.email.as_deref().unwrap_or("")) }
                        td { (c.company_name) }
                    } } }
                }
            }
        }
        section aria-labelledby="r-licenses" {
            h2 #r-licenses { "Licenses " span.count { (matches(n_lic)) } }
            @if lics.is_empty() { p.muted { "No license matches." } } @else { (license_table(&lics)) }
        }
        section aria-labelledby="r-devices" {
            h2 #r-devices { "Devices " span.count { (matches(n_dev)) } }
            @if devs.is_empty() { p.muted { "No device matches." } } @else {
                (device_table(&devs))
            }
        }
    };
    Ok(answer(StatusCode::OK, page(&p, "Search", body)))
}

/// The most matches of each kind the search page counts: past it, it says "more than 100" and shows the first
/// 25. A broad term (a common first name) matches tens of thousands of rows at a million licenses; an exact
/// count of them costs far more than the page's 50 ms, and nobody reads past a few pages of a search: a longer
/// term, or the Licenses list's filters (which count exactly), narrow it.
const SEARCH_CAP: i64 = 100;

fn matches(n: i64) -> String {
    if n > SEARCH_CAP { format!("more than {SEARCH_CAP}") } else { n.to_string() }
}

pub(super) fn customer_name(c: &licensd_core::model::Customer) -> String {
    let n = format!("{} {}", c.first_name, c.last_name).trim().to_string();
    if !n.is_empty() {
        n
    } else if let Some(e) = &c.email {
        e.clone()
    } else {
        format!("Customer #{}", c.id)
    }
}

/// Devices of several licenses: each with a link to its license.
pub(super) fn device_table(devs: &[licensd_core::model::Device]) -> Markup {
    html! {
        table {
            thead { tr { th { "Hardware id" } th { "Hostname" } th { "License" } th { "Active" } th { "Last check" } } }
            tbody { @for d in devs { tr {
                td { code { (d.hardware_id) } }
                td { (d.hostname) }
                td { a href={ (PREFIX) "/licenses/" (d.license) } { "#" (d.license) } }
                td { (if d.active { "yes" } else { "no" }) }
                td { (time(d.last_check)) }
            } } }
        }
    }
}

pub(super) fn license_table(ls: &[License]) -> Markup {
    html! {
        table {
            thead { tr { th { "Key" } th { "Product" } th { "Customer" } th { "Status" } th { "Activations" } th { "Expires" } } }
            tbody { @for l in ls { tr {
                td { a href={ (PREFIX) "/licenses/" (l.id) } { code { (l.license_key.as_deref().unwrap_or("(no key)")) } } }
                td { (l.product.product_name) }
                td { @if let Some(c) = &l.customer { a href={ (PREFIX) "/customers/" (c.id) } { (customer_name(c)) } } }
                td { (status(l.status)) }
                td { (l.times_activated) " / " (limit(l.max_activations)) }
                td { @if let Some(d) = l.validity_period { (format_date(d.0)) } @else { span.muted { "never" } } }
            } } }
        }
    }
}

pub(super) fn event_table(es: &[licensd_core::model::Event]) -> Markup {
    html! {
        @if es.is_empty() { p.muted { "Nothing yet." } } @else {
            table {
                thead { tr { th { "When" } th { "What" } th { "Who" } th { "Note" } } }
                tbody { @for e in es { tr {
                    td { (time(Some(e.created_at))) }
                    td {
                        @if let Some(l) = e.license { a href={ (PREFIX) "/licenses/" (l) } { (e.action) } } @else { (e.action) }
                    }
                    td { (e.actor) }
                    td { (e.note) }
                } } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A license

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    pub(super) done: String,
}

/// What an action's redirect says on the page it returns to (fixed texts: nothing from the URL is shown).
fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "disable" => "The license is disabled: activations and checks are refused.",
        "enable" => "The license is enabled again.",
        "refund" => "The license is marked refunded.",
        "reset" => "Every activation was freed.",
        "deactivate_device" => "The device was deactivated; its activation is free.",
        "note" => "The note was saved.",
        "max_activations" => "The activation limit was changed.",
        "validity" => "The expiry was changed.",
        "metadata" => "The metadata was saved.",
        _ => return None,
    })
}

/// What a refused edit of a license had typed: the action of its form and its value, shown again in that form.
#[derive(Clone, Copy)]
struct Typed<'a> {
    action: &'a str,
    value: &'a str,
}

async fn license_page(
    s: &AppState,
    p: &Person,
    scope: &Scope,
    id: i64,
    message: Option<Markup>,
    typed: Option<Typed<'_>>,
) -> Page {
    let l = {
        let mut conn = &s.db;
        licenses::get(&mut conn, scope, id).await.map_err(|e| found(p, e))?
    };
    let dp = params(
        &devices::SPEC,
        &[("license", id.to_string()), ("order_by", "-time_activated".into()), ("limit", "100".into())],
    )?;
    let (_, devs) = devices::list(&s.db, scope, &dp).await.map_err(store_error)?;
    let key = l.license_key.clone().unwrap_or_default();
    let title = if key.is_empty() { format!("License #{id}") } else { format!("License {key}") };
    let may_disable = p.may(Action::DisableEnable);
    let body = html! {
        @if let Some(m) = message { (m) }
        section.facts aria-label="Summary" {
            dl {
                dt { "Status" } dd { (status(l.status)) @if l.refunded { " " span.badge { "refunded" } } }
                dt { "Key" } dd { code #license-key { (key) } }
                dt { "Product" } dd { (l.product.product_name) " (" code { (l.product.short_code) } ")" }
                dt { "Template" } dd { @if let Some(t) = l.license_template { "#" (t) } @else { span.muted { "none" } } }
                dt { "Customer" } dd {
                    @if let Some(c) = &l.customer { a href={ (PREFIX) "/customers/" (c.id) } { (customer_name(c)) } }
                    @else { span.muted { "none" } }
                }
                dt { "Order" } dd { (l.order_store_id.as_deref().unwrap_or("—")) }
                dt { "Type" } dd { (l.license_type.as_str()) @if l.is_trial { " (trial)" } @if l.is_floating_cloud { " (floating, " (l.floating_users) " seats)" } }
                dt { "Activations" } dd { (l.times_activated) " of " (limit(l.max_activations)) }
                dt { "Expires" } dd { @if let Some(d) = l.validity_period { (format_date(d.0)) } @else { "never" } }
                dt { "Last check" } dd { (time(l.last_check)) }
                dt { "Created" } dd { (time(Some(l.created_at))) }
                dt { "Note" } dd { (l.note.as_deref().unwrap_or("")) }
            }
        }
        section aria-labelledby="actions" {
            h2 #actions { "Actions" }
            div.actions {
                @if may_disable && l.enabled {
                    (action_form(p, id, "disable", "Disable…", "Disable this license: its devices' checks answer DISABLED.", true))
                }
                @if may_disable && !l.enabled && !l.refunded {
                    (action_form(p, id, "enable", "Enable…", "Enable this license again.", true))
                }
                @if p.may(Action::ResetActivations) {
                    (action_form(p, id, "reset", "Reset activations…", "Free every activation; each device must activate again.", true))
                }
                @if p.may(Action::Refund) && !l.refunded {
                    (action_form(p, id, "refund", "Refund…", "Mark the license refunded. This cannot be undone.", true))
                }
            }
            div.edits {
                @if p.may(Action::EditNotes) {
                    @let e = Edit::of(&l, "note", typed);
                    (edit_form(p, id, &e, "Edit the note", "Save the note", html! {
                        label for="note-text" { "Note" }
                        textarea #note-text name="value" rows="3" { (e.value) }
                    }))
                }
                @if p.may(Action::EditMetadata) {
                    @let e = Edit::of(&l, "metadata", typed);
                    (edit_form(p, id, &e, "Edit the metadata", "Save the metadata", html! {
                        label for="metadata-text" { "Metadata (a JSON object; empty: none)" }
                        textarea #metadata-text name="value" rows="4" spellcheck="false" { (e.value) }
                    }))
                }
                @if p.may(Action::Edit) {
                    @let e = Edit::of(&l, "max_activations", typed);
                    (edit_form(p, id, &e, "Change the activation limit", "Change the limit", html! {
                        label for="max-act" { "Max activations (empty: unlimited)" }
                        input #max-act type="number" min="0" name="value" value=(e.value);
                    }))
                    @let e = Edit::of(&l, "validity", typed);
                    (edit_form(p, id, &e, "Extend or change the validity", "Change the validity", html! {
                        label for="valid-until" { "Valid until (empty: never expires)" }
                        input #valid-until type="date" name="value" value=(e.value);
                    }))
                }
            }
        }
        section aria-labelledby="devices" {
            h2 #devices { "Devices" }
            @if devs.is_empty() { p.muted { "No device has activated this license." } } @else {
                table {
                    thead { tr { th { "Hardware id" } th { "Hostname" } th { "OS" } th { "App" } th { "Activated" } th { "Last check" } th { "State" } } }
                    tbody { @for d in &devs { tr {
                        td { code { (d.hardware_id) } }
                        td { (d.hostname) }
                        td { (d.os) }
                        td { (d.app_version) }
                        td { (time(Some(d.time_activated))) }
                        td { (time(d.last_check)) }
                        td {
                            @if d.active {
                                "active"
                                @if p.may(Action::DeactivateDevice) {
                                    form.inline method="post" action={ (PREFIX) "/licenses/" (id) "/act" } {
                                        (csrf(p))
                                        input type="hidden" name="action" value="deactivate_device";
                                        input type="hidden" name="device" value=(d.id);
                                        button type="submit" aria-label={ "Deactivate " (d.hardware_id) } { "Deactivate" }
                                    }
                                }
                            } @else { span.muted { "deactivated " (time(d.deactivated_at)) } }
                        }
                    } } }
                }
            }
        }
        @if !l.product_features.is_empty() {
            section aria-labelledby="features" {
                h2 #features { "Features and consumption" }
                table {
                    thead { tr { th { "Feature" } th { "Used" } th { "Limit" } } }
                    tbody { @for f in &l.product_features { tr {
                        td { code { (f.code) } }
                        td { (f.total_consumptions) }
                        td { @if f.max_consumption == 0 { "unlimited" } @else { (f.max_consumption) } }
                    } } }
                }
            }
        }
        section aria-labelledby="history" {
            h2 #history { "History" }
            @if let Some(h) = &l.history {
                @let newest: Vec<_> = h.iter().rev().cloned().collect();
                (event_table(&newest))
                @if l.history_count.unwrap_or(0) > h.len() as i64 {
                    p.muted { "The latest " (h.len()) " of " (l.history_count.unwrap_or(0)) " events." }
                }
            }
        }
    };
    Ok(answer(StatusCode::OK, page(p, &title, body)))
}

/// One value of a license an edit form changes, as the form shows it.
struct Edit<'a> {
    action: &'a str,
    /// The box's value: what was typed, when a refused save shows the form again; else the license's.
    value: String,
    /// The license's value now, as the box would show it.
    current: String,
    /// The version of the license's value ([`version_of`]), which the save sends back.
    version: String,
    /// A refused save of this form is shown.
    refused: bool,
}

impl<'a> Edit<'a> {
    /// The form of `action` (`note`, `metadata`, `max_activations`, `validity`) for the license as read.
    fn of(l: &License, action: &'a str, typed: Option<Typed<'_>>) -> Edit<'a> {
        let current = match action {
            "note" => l.note.clone().unwrap_or_default(),
            "metadata" => metadata_text(&l.metadata),
            "max_activations" => l.max_activations.map(|n| n.to_string()).unwrap_or_default(),
            _ => l.validity_period.map(|d| format_date(d.0)).unwrap_or_default(),
        };
        let typed = typed.filter(|t| t.action == action);
        let value = typed.map_or_else(|| current.clone(), |t| t.value.to_string());
        Edit { action, value, current, version: version_at(l, action), refused: typed.is_some() }
    }
}

/// A license's metadata as its box shows it: empty for none, else indented JSON.
fn metadata_text(m: &serde_json::Value) -> String {
    match m {
        serde_json::Value::Object(o) if o.is_empty() => String::new(),
        serde_json::Value::Null => String::new(),
        m => serde_json::to_string_pretty(m).unwrap_or_default(),
    }
}

/// The version of the value of a license that the edit form of `action` changes: what a save's version is
/// checked against, inside the store's transaction.
fn version_at(l: &License, action: &str) -> String {
    match action {
        "note" => version_of(&l.note),
        "metadata" => version_of(&l.metadata),
        "max_activations" => version_of(&l.max_activations),
        _ => version_of(&l.validity_period),
    }
}

/// An edit of one value of the license, behind a disclosure (open, with the value now, when a save of it was
/// refused): `fields` name their value `value`; the form carries the version of the value it shows.
fn edit_form(p: &Person, id: i64, e: &Edit, summary: &str, button: &str, fields: Markup) -> Markup {
    html! {
        details open[e.refused] {
            summary { (summary) }
            form method="post" action={ (PREFIX) "/licenses/" (id) "/act" } {
                (csrf(p))
                input type="hidden" name="action" value=(e.action);
                input type="hidden" name=(VERSION) value=(e.version);
                (fields)
                @if e.refused && same_text(&e.value) != same_text(&e.current) {
                    p.now { "Now: " @if e.current.is_empty() { "empty" } @else { code { (e.current) } } }
                }
                button type="submit" { (button) }
            }
        }
    }
}

/// A button that opens a confirmation with a note (a `<details>`: works without JavaScript, by keyboard too).
fn action_form(p: &Person, id: i64, action: &str, label: &str, explain: &str, with_note: bool) -> Markup {
    html! {
        details.confirm {
            summary { (label) }
            form method="post" action={ (PREFIX) "/licenses/" (id) "/act" } {
                (csrf(p))
                input type="hidden" name="action" value=(action);
                p { (explain) }
                @if with_note {
                    label for={ "note-" (action) } { "Note for the history (optional)" }
                    input id={ "note-" (action) } type="text" name="note" maxlength="1000";
                }
                button.danger type="submit" { "Confirm: " (label.trim_end_matches('…').to_lowercase()) }
            }
        }
    }
}

pub async fn license(State(s): State<AppState>, p: Person, Path(id): Path<String>, Query(d): Query<Done>) -> Page {
    let scope = p.read()?;
    let id = id.parse::<i64>().map_err(|_| super::not_found(Some(&p)))?;
    let message = done_text(&d.done).map(notice);
    license_page(&s, &p, &scope, id, message, None).await
}

pub async fn license_act(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let id = id.parse::<i64>().map_err(|_| super::not_found(Some(p)))?;
    let action = posted.get("action").to_string();
    let note = posted.get("note");
    if note.chars().count() > 1000 {
        return Err(page_error(StatusCode::BAD_REQUEST, "The note is longer than 1000 characters."));
    }
    let value = posted.get("value");
    let simple = match action.as_str() {
        "disable" => Some((licenses::Action::Disable, Action::DisableEnable)),
        "enable" => Some((licenses::Action::Enable, Action::DisableEnable)),
        "refund" => Some((licenses::Action::Refund, Action::Refund)),
        "reset" => Some((licenses::Action::Reset, Action::ResetActivations)),
        _ => None,
    };
    let edit = match action.as_str() {
        "note" => Some(Action::EditNotes),
        "metadata" => Some(Action::EditMetadata),
        "max_activations" | "validity" => Some(Action::Edit),
        _ => None,
    };
    let result: Result<(), NotSaved> = if let Some((act, needs)) = simple {
        let scope = p.permit(&[needs])?;
        licenses::act(&s.db, &scope, id, act, note).await.map(|_| ()).map_err(NotSaved::from)
    } else if let Some(needs) = edit {
        let scope = p.permit(&[needs])?;
        let version = posted.version()?;
        let typed = Typed { action: &action, value };
        let input = match edit_input(&action, value) {
            Ok(i) => i,
            Err(msg) => return refused(&s, p, id, StatusCode::BAD_REQUEST, &msg, Some(typed)).await,
        };
        // Applied only if the value is still the one the form showed, as the transaction reads it (row locked).
        let save = |cur: &License| {
            if version_at(cur, &action) == version { Ok(input) } else { Err(NotSaved::Stale) }
        };
        licenses::update_with(&s.db, &scope, id, save).await.map(|_| ())
    } else if action == "deactivate_device" {
        let scope = p.permit(&[Action::DeactivateDevice])?;
        let device = posted
            .get("device")
            .parse::<i64>()
            .map_err(|_| page_error(StatusCode::BAD_REQUEST, "No device was named."))?;
        // Only a device of this license (the store checks the scope; this checks the page).
        let dev = devices::get(&mut &s.db, &scope, device).await.map_err(store_error)?;
        if dev.license != id {
            return Err(page_error(StatusCode::NOT_FOUND, "That device does not belong to this license."));
        }
        devices::deactivate(&s.db, &scope, device).await.map(|_| ()).map_err(NotSaved::from)
    } else {
        return Err(page_error(StatusCode::BAD_REQUEST, "Unknown action."));
    };
    let typed = edit.map(|_| Typed { action: &action, value });
    match result {
        Ok(()) => Ok(see_other(&format!("{PREFIX}/licenses/{id}?done={action}"))),
        // Someone changed it since the form was loaded: the license as it is now, the form as typed, nothing written.
        Err(NotSaved::Stale) => refused(&s, p, id, StatusCode::CONFLICT, CHANGED, typed).await,
        // A refusal shows on the license page itself, so the person sees the license as it is.
        Err(NotSaved::Store(
            e @ (licensd_store::StoreError::State(_)
            | licensd_store::StoreError::Invalid { .. }
            | licensd_store::StoreError::Domain(_)),
        )) => {
            let msg = match &e {
                licensd_store::StoreError::Invalid { field, message } => format!("{field}: {message}"),
                e => e.to_string(),
            };
            refused(&s, p, id, StatusCode::CONFLICT, &msg, typed).await
        }
        Err(NotSaved::Store(e)) => Err(store_error(e)),
    }
}

/// The change an edit form of a license asks for, or why its value is not one.
fn edit_input(action: &str, value: &str) -> Result<LicenseInput, String> {
    let v = value.trim();
    Ok(match action {
        "note" => LicenseInput { note: Some(Some(value.to_string())), ..Default::default() },
        "metadata" => {
            let m = if v.is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                serde_json::from_str::<serde_json::Value>(v)
                    .ok()
                    .filter(serde_json::Value::is_object)
                    .ok_or("Metadata must be a JSON object, such as {} or {\"seats\": 5}.")?
            };
            LicenseInput { metadata: Some(m), ..Default::default() }
        }
        "max_activations" => {
            let n = if v.is_empty() {
                None
            } else {
                Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or("Max activations must be a whole number, 0 or more.")?,
                )
            };
            LicenseInput { max_activations: Some(n), ..Default::default() }
        }
        _ => {
            let d = if v.is_empty() { None } else { Some(Day(parse_date(v).ok_or("Give the date as YYYY-MM-DD.")?)) };
            LicenseInput { validity_period: Some(d), ..Default::default() }
        }
    })
}

/// The license page with a refusal above it (and the refused edit's form open, as typed), answering `status`.
async fn refused(s: &AppState, p: &Person, id: i64, status: StatusCode, msg: &str, typed: Option<Typed<'_>>) -> Page {
    let scope = p.read()?;
    let mut res = license_page(s, p, &scope, id, Some(error_box(msg)), typed).await?;
    *res.status_mut() = status;
    Ok(res)
}
