//! The dashboard's frame and its small parts: the page layout with navigation and search, tables, badges,
//! times. maud escapes every value it writes, so no text from the database can become markup.

use licensd_core::access::Action;
use licensd_core::status::LicenseStatus;
use licensd_core::time::{Timestamp, format_iso};
use maud::{DOCTYPE, Markup, html};

use super::{PREFIX, Person};

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · licensd" }
            link rel="stylesheet" href={ (PREFIX) "/assets/dashboard.css" };
            script src={ (PREFIX) "/assets/dashboard.js" } defer {}
        }
    }
}

/// A page for a signed-in person: the header with navigation, search and sign-out, then `body`.
pub fn page(p: &Person, title: &str, body: Markup) -> Markup {
    let s = &p.session;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "licensd" }
                    nav aria-label="Main" {
                        a href="/" { "Home" }
                        a href={ (PREFIX) "/search" } { "Search" }
                        a href={ (PREFIX) "/licenses" } { "Licenses" }
                        a href={ (PREFIX) "/activity" } { "Activity" }
                        @if p.may(Action::Create) { a href={ (PREFIX) "/issue" } { "Issue licenses" } }
                        @if p.may(Action::Catalog) { a href={ (PREFIX) "/catalog" } { "Catalog" } }
                        @if p.may(Action::Catalog) { a href={ (PREFIX) "/import" } { "Import" } }
                        @if p.may(Action::ManageTokens) { a href={ (PREFIX) "/access" } { "Keys and access" } }
                    }
                    form.search role="search" method="get" action={ (PREFIX) "/search" } {
                        label.visually-hidden for="q" { "Search" }
                        input #q type="search" name="q" placeholder="Email, name, key, hardware id, invoice…" required;
                        button type="submit" { "Search" }
                    }
                    div.who {
                        span title=(s.role.as_str()) { (if s.name.is_empty() { &s.email } else { &s.name }) }
                        " " span.badge { (s.role.as_str()) }
                        form method="post" action={ (PREFIX) "/logout" } {
                            (csrf(p))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page with no person: sign-in and errors before sign-in.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main {
                    p.brand { a href="/" { "licensd" } }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden field every form carries.
pub fn csrf(p: &Person) -> Markup {
    html! { input type="hidden" name="csrf" value=(p.session.csrf); }
}

pub fn error_box(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

pub fn notice(message: &str) -> Markup {
    html! { p.notice role="status" { (message) } }
}

/// `2026-12-02T10:00:00Z` as `2026-12-02 10:00 UTC`, in a `<time>` with the exact value.
pub fn time(t: Option<Timestamp>) -> Markup {
    match t {
        None => html! { span.muted { "—" } },
        Some(t) => {
            let iso = format_iso(t.0);
            let short = iso.get(..16).map(|s| s.replace('T', " ")).unwrap_or_else(|| iso.clone());
            html! { time datetime=(iso) { (short) " UTC" } }
        }
    }
}

pub fn status(s: LicenseStatus) -> Markup {
    let text = serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    html! { span class={ "status status-" (text) } { (text) } }
}

/// `n` or, for no limit, "unlimited".
pub fn limit(n: Option<i64>) -> Markup {
    match n {
        None => html! { "unlimited" },
        Some(n) => html! { (n) },
    }
}
