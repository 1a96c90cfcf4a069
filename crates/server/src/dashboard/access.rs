//! Keys and access (admins: `Action::ManageTokens`): API tokens (the secret shown once, on the answer to the
//! POST that made it, never again), the public keys applications embed (Ed25519, and the RSA PEM that
//! LicenseSpring's SDKs are given) and each signing key's rotation,
//! dashboard users and their invitations; and the invitation page a new person opens to choose a password.
//!
//! Everything goes through the store functions the CLI uses (`tokens`, `keys`, `users`), in their `*_as` form,
//! which records the change in the audit log with the admin as the actor.
//!
//! License API keys (`/ui/access/api-keys`): the LicenseSpring-style API keys and OAuth clients of
//! `store::api_keys` and `store::oauth`, listed, made (the shared key or client secret shown once, as a
//! token's secret is) and revoked behind a confirmation.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use licensd_core::access::Action;
use licensd_core::model::{ApiToken, CredentialInput, Role};
use licensd_core::time::{Timestamp, now_ms, parse_date};
use licensd_store::tokens::{self, NewToken, Products, TokenChange};
use licensd_store::users::{self, LinkRefused, NewUser, User};
use licensd_store::{Scope, StoreError, api_keys, keys, oauth, products};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, error_box, notice, page, time};
use super::{PREFIX, Page, PageError, Person, Posted, html as answer, page_error, see_other, store_error};
use crate::AppState;

/// Tokens listed on a page.
const PAGE_SIZE: i64 = 50;
/// Products offered as checkboxes; beyond them, short codes are typed.
const PRODUCT_CHOICES: i64 = 100;

/// The scope of an admin (`Action::ManageTokens`), or the `403` page.
fn admin(p: &Person) -> Result<Scope, PageError> {
    p.permit(&[Action::ManageTokens])
}

/// A store refusal (bad input, a name taken, a rule) as the status of the page that shows it, with its text;
/// anything else is an error page of its own.
fn refusal(e: StoreError) -> Result<(StatusCode, String), PageError> {
    match e {
        StoreError::Invalid { field, message } => Ok((StatusCode::BAD_REQUEST, format!("{field}: {message}"))),
        StoreError::Domain(licensd_core::Error::Invalid { field, message }) => {
            Ok((StatusCode::BAD_REQUEST, format!("{field}: {message}")))
        }
        StoreError::Conflict { field, message } => Ok((StatusCode::CONFLICT, format!("{field}: {message}"))),
        StoreError::State(m) => Ok((StatusCode::CONFLICT, m)),
        e => Err(store_error(e)),
    }
}

/// The sub-navigation of the three pages.
fn tabs(current: &str) -> Markup {
    let tab = |href: &str, label: &str| {
        html! {
            @if href == current { a href=(href) aria-current="page" { strong { (label) } } }
            @else { a href=(href) { (label) } }
        }
    };
    html! {
        nav.actions aria-label="Keys and access" {
            (tab(&format!("{PREFIX}/access"), "API tokens"))
            (tab(&format!("{PREFIX}/access/keys"), "Public keys"))
            (tab(&format!("{PREFIX}/access/users"), "Dashboard users"))
            (tab(&format!("{PREFIX}/access/api-keys"), "License API keys"))
        }
    }
}

/// What a redirect after a change says on the page it returns to (fixed texts: nothing from the URL is shown).
fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "revoked" => "The token is revoked: requests with it are refused from now on.",
        "products" => "The token's products were changed.",
        "rotated" => {
            "The signing key was rotated: the new key signs from now on; what the old one signed still verifies."
        }
        "rotated-rsa" => {
            "The RSA signing key was rotated: the new key signs LicenseSpring API answers from now on; what the old \
             one signed still verifies."
        }
        "created" => "The user was created; they sign in with their email and the password you gave.",
        "disabled" => "The user is disabled: signed out everywhere, and sign-in is refused.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub struct AccessQuery {
    #[serde(default)]
    done: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    live: String,
}

/// The products a person may pick for a token or user: up to [`PRODUCT_CHOICES`] by short code, and how many
/// there are in all.
async fn product_choices(s: &AppState, scope: &Scope) -> Result<(i64, Vec<String>), PageError> {
    let pairs =
        vec![("order_by".to_string(), "short_code".to_string()), ("limit".to_string(), PRODUCT_CHOICES.to_string())];
    let lp = licensd_store::list::parse(&products::SPEC, &pairs, &[])
        .map_err(|e| page_error(StatusCode::BAD_REQUEST, &format!("{}: {}", e.param, e.message)))?;
    let (n, ps) = products::list(&s.db, scope, &lp).await.map_err(store_error)?;
    Ok((n, ps.into_iter().map(|p| p.short_code).collect()))
}

/// The products named in a form: the checked boxes (`product`) and the typed short codes (`products_other`).
fn posted_products(posted: &Posted) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let typed = posted.get("products_other").split([',', ' ', '\n', '\r', '\t']).map(str::to_string);
    let checked = posted.fields.iter().filter(|(k, _)| k == "product").map(|(_, v)| v.trim().to_string());
    for code in checked.chain(typed) {
        if !code.is_empty() && !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

/// The product checkboxes of a form (`prefix` keeps ids apart when a page has two such forms).
fn product_fields(prefix: &str, legend: &str, choices: &(i64, Vec<String>), chosen: &[String]) -> Markup {
    let (n, codes) = choices;
    let other: Vec<&String> = chosen.iter().filter(|c| !codes.contains(c)).collect();
    html! {
        fieldset {
            legend { (legend) }
            @if codes.is_empty() { p.muted { "There are no products yet." } }
            @for c in codes {
                label for={ (prefix) "-product-" (c) } {
                    input id={ (prefix) "-product-" (c) } type="checkbox" name="product" value=(c) checked[chosen.contains(c)];
                    " " code { (c) }
                }
            }
            @if *n > codes.len() as i64 || !other.is_empty() {
                label for={ (prefix) "-products-other" } { "Other products (short codes, separated by commas)" }
                input id={ (prefix) "-products-other" } type="text" name="products_other"
                    value=(other.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
            }
        }
    }
}

fn role_select(id: &str, chosen: &str) -> Markup {
    html! {
        label for=(id) { "Role" }
        select id=(id) name="role" required {
            @for r in Role::NAMES {
                option value=(r) selected[r == chosen] { (r) }
            }
        }
    }
}

fn parse_role(text: &str) -> Result<Role, (StatusCode, String)> {
    Role::parse(text)
        .ok_or_else(|| (StatusCode::BAD_REQUEST, format!("role: must be one of {}", Role::NAMES.join(", "))))
}

/// `all` or the short codes, as `token list` shows them.
fn products_text(all: bool, products: &[String]) -> String {
    if all { "all".into() } else { products.join(", ") }
}

// ---------------------------------------------------------------------------------------------
// API tokens

/// What was typed in the token form (kept when the form is refused, so nothing has to be typed again).
#[derive(Default)]
struct TokenDraft {
    name: String,
    role: String,
    products: Vec<String>,
    description: String,
    expires_on: String,
}

async fn tokens_page(
    s: &AppState,
    p: &Person,
    scope: &Scope,
    q: &AccessQuery,
    message: Option<Markup>,
    draft: &TokenDraft,
) -> Result<Markup, PageError> {
    let offset = if q.offset.is_empty() {
        0
    } else {
        q.offset
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| page_error(StatusCode::BAD_REQUEST, "offset: must be a whole number, 0 or more."))?
    };
    let live = q.live == "1";
    let mut pairs = vec![
        ("order_by".to_string(), "-id".to_string()),
        ("limit".to_string(), PAGE_SIZE.to_string()),
        ("offset".to_string(), offset.to_string()),
    ];
    if live {
        pairs.push(("revoked_at__isnull".into(), "true".into()));
    }
    let lp = licensd_store::list::parse(&tokens::SPEC, &pairs, &[])
        .map_err(|e| page_error(StatusCode::BAD_REQUEST, &format!("{}: {}", e.param, e.message)))?;
    let (n, list) = tokens::page(&s.db, &lp).await.map_err(store_error)?;
    let choices = product_choices(s, scope).await?;
    let now = now_ms();
    let here = |offset: i64| {
        let mut u = format!("{PREFIX}/access?offset={offset}");
        if live {
            u.push_str("&live=1");
        }
        u
    };
    let role = if draft.role.is_empty() { "read-only" } else { draft.role.as_str() };
    Ok(page(
        p,
        "Keys and access",
        html! {
            (tabs(&format!("{PREFIX}/access")))
            @if let Some(m) = message { (m) }
            section aria-labelledby="tokens" {
                h2 #tokens { "API tokens " span.count { (n) } }
                p.muted {
                    "Tokens authenticate programs on the management APIs (" code { "/api/v1" } ", " code { "/v2" } ") as "
                    code { "Authorization: Bearer …" } ". Their secrets are never stored, so they are shown once, when made."
                }
                p {
                    @if live { a href={ (PREFIX) "/access" } { "Show revoked tokens too" } }
                    @else { a href={ (PREFIX) "/access?live=1" } { "Hide revoked tokens" } }
                }
                @if list.is_empty() { p.muted { "No tokens." } } @else {
                    table {
                        thead { tr {
                            th { "ID" } th { "Name" } th { "Role" } th { "Products" } th { "Description" }
                            th { "Created" } th { "Expires" } th { "Last used" } th { "Revoked" }
                        } }
                        tbody { @for t in &list { tr {
                            td { (t.id) }
                            td { a href={ (PREFIX) "/access/tokens/" (t.id) } { (t.name) } }
                            td { (t.role.as_str()) }
                            td { (products_text(t.all_products, &t.products)) }
                            td { (t.description) }
                            td { (time(Some(t.created_at))) }
                            td { (time(t.expires_at)) @if t.expires_at.is_some_and(|e| e.0 <= now) { " " span.badge { "expired" } } }
                            td { (time(t.last_used_at)) }
                            td { (time(t.revoked_at)) }
                        } } }
                    }
                    p.actions {
                        @if offset > 0 { a href=(here((offset - PAGE_SIZE).max(0))) { "Newer" } }
                        @if offset + PAGE_SIZE < n { a href=(here(offset + PAGE_SIZE)) { "Older" } }
                    }
                }
            }
            section aria-labelledby="new-token" {
                h2 #new-token { "Create a token" }
                form.card method="post" action={ (PREFIX) "/access" } {
                    (csrf(p))
                    p {
                        label for="token-name" { "Name (unique among tokens not revoked; the audit log records it)" }
                        input #token-name type="text" name="name" value=(draft.name) maxlength="200" required;
                    }
                    p { (role_select("token-role", role)) }
                    p.muted {
                        "admin: everything; manager: the records of its products (at least one); support: read, disable "
                        "and enable licenses, reset activations, deactivate devices, edit notes and metadata; read-only: read."
                    }
                    (product_fields("token", "Products (none: every product; an admin takes none, a manager needs one)", &choices, &draft.products))
                    p {
                        label for="token-description" { "Description (optional)" }
                        input #token-description type="text" name="description" value=(draft.description) maxlength="1000";
                    }
                    p {
                        label for="token-expires" { "Expires on (optional; empty: never)" }
                        input #token-expires type="date" name="expires_on" value=(draft.expires_on);
                    }
                    p { button.primary type="submit" { "Create the token" } }
                }
            }
        },
    ))
}

pub async fn tokens_list(State(s): State<AppState>, p: Person, Query(q): Query<AccessQuery>) -> Page {
    let scope = admin(&p)?;
    let message = done_text(&q.done).map(notice);
    let body = tokens_page(&s, &p, &scope, &q, message, &TokenDraft::default()).await?;
    Ok(answer(StatusCode::OK, body))
}

pub async fn create_token(State(s): State<AppState>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let draft = TokenDraft {
        name: posted.get("name").trim().to_string(),
        role: posted.get("role").to_string(),
        products: posted_products(&posted),
        description: posted.get("description").trim().to_string(),
        expires_on: posted.get("expires_on").trim().to_string(),
    };
    let made = match new_token(&draft) {
        Err(r) => Err(r),
        Ok(t) => match tokens::create_token_as(&s.db, &scope, &t).await {
            Ok(made) => Ok(made),
            Err(e) => Err(refusal(e)?),
        },
    };
    let (token, secret) = match made {
        Ok(made) => made,
        Err((status, message)) => {
            let body = tokens_page(&s, p, &scope, &AccessQuery::default(), Some(error_box(&message)), &draft).await?;
            return Ok(answer(status, body));
        }
    };
    tracing::info!(token = token.id, "token created in the dashboard");
    // The secret is in this answer only: not in a redirect's URL, not in the database, not on any later page.
    Ok(answer(StatusCode::CREATED, secret_page(p, &token, &secret)))
}

fn new_token(d: &TokenDraft) -> Result<NewToken, (StatusCode, String)> {
    let role = parse_role(&d.role)?;
    let expires_at = if d.expires_on.is_empty() {
        None
    } else {
        Some(parse_date(&d.expires_on).ok_or((StatusCode::BAD_REQUEST, "expires_on: give a date, YYYY-MM-DD".into()))?)
    };
    Ok(NewToken {
        name: d.name.clone(),
        role,
        products: d.products.clone(),
        description: d.description.clone(),
        expires_at,
    })
}

fn secret_page(p: &Person, t: &ApiToken, secret: &str) -> Markup {
    page(
        p,
        "Token created",
        html! {
            (tabs(""))
            section.card aria-labelledby="secret" {
                h2 #secret { "The secret of " (t.name) }
                p { strong { "Copy it now: it is not shown again." } " licensd keeps only its hash; if it is lost, revoke the token and make another." }
                p { code #token-secret { (secret) } " " button type="button" data-copy="token-secret" { "Copy" } }
                p.muted { "Use it as " code { "Authorization: Bearer <secret>" } " on " code { "/api/v1" } " and " code { "/v2" } "." }
            }
            h2 { "The token" }
            (token_facts(t))
            p { a href={ (PREFIX) "/access" } { "Back to API tokens" } }
        },
    )
}

fn token_facts(t: &ApiToken) -> Markup {
    html! {
        section.facts aria-label="Token" {
            dl {
                dt { "ID" } dd { (t.id) }
                dt { "Name" } dd { (t.name) }
                dt { "Role" } dd { (t.role.as_str()) }
                dt { "Products" } dd { (products_text(t.all_products, &t.products)) }
                dt { "Description" } dd { (t.description) }
                dt { "Created" } dd { (time(Some(t.created_at))) }
                dt { "Expires" } dd { @if t.expires_at.is_some() { (time(t.expires_at)) } @else { "never" } }
                dt { "Last used" } dd { (time(t.last_used_at)) }
                dt { "Revoked" } dd { @if t.revoked_at.is_some() { (time(t.revoked_at)) } @else { "no" } }
            }
        }
    }
}

async fn token_page(s: &AppState, p: &Person, scope: &Scope, id: i64, message: Option<Markup>) -> Page {
    let t = tokens::get_api(&s.db, id).await.map_err(|e| match e {
        StoreError::NotFound => super::not_found(Some(p)),
        e => store_error(e),
    })?;
    let choices = product_choices(s, scope).await?;
    let action = format!("{PREFIX}/access/tokens/{id}");
    let body = html! {
        (tabs(""))
        @if let Some(m) = message { (m) }
        (token_facts(&t))
        @if t.revoked_at.is_none() {
            section aria-labelledby="token-actions" {
                h2 #token-actions { "Change" }
                div.edits {
                    @if t.role != Role::Admin {
                        details {
                            summary { "Change its products" }
                            form method="post" action=(action) {
                                (csrf(p))
                                input type="hidden" name="action" value="products";
                                @let chosen = if t.all_products { Vec::new() } else { t.products.clone() };
                                (product_fields("change", "Products (none: every product; a manager needs one)", &choices, &chosen))
                                button type="submit" { "Save the products" }
                            }
                        }
                    }
                    details.confirm {
                        summary { "Revoke…" }
                        form method="post" action=(action) {
                            (csrf(p))
                            input type="hidden" name="action" value="revoke";
                            p { "Revoke " strong { (t.name) } ": every request with it is refused (401) from now on. This cannot be undone; a new token has a new secret." }
                            button.danger type="submit" { "Confirm: revoke" }
                        }
                    }
                }
            }
        }
        p { a href={ (PREFIX) "/access" } { "Back to API tokens" } }
    };
    Ok(answer(StatusCode::OK, page(p, &format!("Token {}", t.name), body)))
}

fn path_id(p: &Person, id: &str) -> Result<i64, PageError> {
    id.parse::<i64>().map_err(|_| super::not_found(Some(p)))
}

pub async fn token(State(s): State<AppState>, p: Person, Path(id): Path<String>, Query(q): Query<AccessQuery>) -> Page {
    let scope = admin(&p)?;
    let id = path_id(&p, &id)?;
    token_page(&s, &p, &scope, id, done_text(&q.done).map(notice)).await
}

pub async fn token_act(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let id = path_id(p, &id)?;
    let action = posted.get("action");
    let result = match action {
        "revoke" => tokens::revoke_as(&s.db, &scope, id).await.map(|_| ()),
        "products" => {
            let codes = posted_products(&posted);
            let products = if codes.is_empty() { Products::All } else { Products::Only(codes) };
            let change = TokenChange { products: Some(products), ..TokenChange::default() };
            tokens::update_as(&s.db, &scope, id, &change).await.map(|_| ())
        }
        _ => return Err(page_error(StatusCode::BAD_REQUEST, "Unknown action.")),
    };
    match result {
        Ok(()) => Ok(see_other(&format!(
            "{PREFIX}/access/tokens/{id}?done={}",
            if action == "revoke" { "revoked" } else { "products" }
        ))),
        Err(StoreError::NotFound) => Err(super::not_found(Some(p))),
        Err(e) => {
            let (status, message) = refusal(e)?;
            let mut res = token_page(&s, p, &scope, id, Some(error_box(&message))).await?;
            *res.status_mut() = status;
            Ok(res)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Public keys

pub async fn keys_page(State(s): State<AppState>, p: Person, Query(q): Query<AccessQuery>) -> Page {
    admin(&p)?;
    let all = keys::public_keys(&s.db).await.map_err(store_error)?;
    let rsa_all = keys::public_keys_of(&s.db, keys::SigningAlgorithm::Rsa).await.map_err(store_error)?;
    let stored = keys::stored(&s.db).await.map_err(store_error)?;
    let active = all.iter().find(|k| k.active);
    let older: Vec<_> = all.iter().filter(|k| !k.active).collect();
    let rsa_active = rsa_all.iter().find(|k| k.active);
    let rsa_older: Vec<_> = rsa_all.iter().filter(|k| !k.active).collect();
    let signing = s.key();
    let rsa_signing = s.rsa_key();
    let unsealed = stored.iter().any(|k| !k.kdf.is_sealed());
    let bits_now = rsa_active.and_then(|k| k.bits).unwrap_or(s.rsa_bits);
    let body = html! {
        (tabs(&format!("{PREFIX}/access/keys")))
        @if let Some(m) = done_text(&q.done) { (notice(m)) }
        section aria-labelledby="active-key" {
            h2 #active-key { "The public key to embed" }
            p {
                "Applications embed this Ed25519 public key to verify every client API answer and license file "
                "(as " code { "licensd key show" } " prints it; also served at " code { "GET /api/v1/client/public-key" } ")."
            }
            @if let Some(k) = active {
                section.facts aria-label="Active key" {
                    dl {
                        dt { "Algorithm" } dd { "ed25519" }
                        dt { "Key id" } dd { code #key-id { (k.key_id) } " " button type="button" data-copy="key-id" { "Copy" } }
                        dt { "Public key" } dd { code #public-key { (k.public_key) } " " button type="button" data-copy="public-key" { "Copy" } }
                        dt { "Created" } dd { (time(Some(Timestamp(k.created_at)))) }
                    }
                }
                @if signing.key_id != k.key_id {
                    p.muted { "This server still signs with " code { (signing.key_id) } "; it switches within 30 seconds." }
                }
            } @else {
                p.muted { "No signing key yet." }
            }
            @if unsealed {
                p.error role="note" {
                    "Some signing keys are stored unencrypted: set " code { "LICENSD_SECRET" } " and run "
                    code { "licensd key encrypt" } " to seal them."
                }
            }
        }
        section aria-labelledby="older-keys" {
            h2 #older-keys { "Older keys, still verifying " span.count { (older.len()) } }
            @if older.is_empty() { p.muted { "None: the key has never been rotated." } } @else {
                p.muted { "Retired keys sign nothing more, but what they signed still verifies with them: keep them in applications that hold older answers or license files." }
                table {
                    thead { tr { th { "Key id" } th { "Public key" } th { "Created" } } }
                    tbody { @for k in &older { tr {
                        td { code { (k.key_id) } }
                        td { code { (k.public_key) } }
                        td { (time(Some(Timestamp(k.created_at)))) }
                    } } }
                }
            }
        }
        section aria-labelledby="rsa-key" {
            h2 #rsa-key { "The RSA public key for LicenseSpring's SDKs" }
            p {
                "Applications built on LicenseSpring's SDKs verify answers of the LicenseSpring API ("
                code { "/api/v4" } ") with this RSA public key (PKCS#1 v1.5, SHA-256), given to the SDK in place of "
                "LicenseSpring's (as " code { "licensd key show --rsa" } " prints it; see docs/operations.md, "
                "\"The RSA key\")."
            }
            @if let Some(k) = rsa_active {
                section.facts aria-label="Active RSA key" {
                    dl {
                        dt { "Algorithm" } dd { "RSA, " (k.bits.unwrap_or_default()) " bits" }
                        dt { "Key id" } dd { code #rsa-key-id { (k.key_id) } " " button type="button" data-copy="rsa-key-id" { "Copy" } }
                        dt { "Public key (PEM)" } dd {
                            pre { code #rsa-public-key-pem { (k.pem().unwrap_or_default()) } }
                            button type="button" data-copy="rsa-public-key-pem" { "Copy" }
                        }
                        dt { "Created" } dd { (time(Some(Timestamp(k.created_at)))) }
                    }
                }
                @if rsa_signing.key_id != k.key_id {
                    p.muted { "This server still signs with " code { (rsa_signing.key_id) } "; it switches within 30 seconds." }
                }
            } @else {
                p.muted { "No RSA signing key yet." }
            }
            h3 #older-rsa-keys { "Older RSA keys, still verifying " span.count { (rsa_older.len()) } }
            @if rsa_older.is_empty() { p.muted { "None: the RSA key has never been rotated." } } @else {
                table {
                    thead { tr { th { "Key id" } th { "Bits" } th { "Public key (PEM)" } th { "Created" } } }
                    tbody { @for k in &rsa_older { tr {
                        td { code { (k.key_id) } }
                        td { (k.bits.unwrap_or_default()) }
                        td { details { summary { "Show" } pre { code { (k.pem().unwrap_or_default()) } } } }
                        td { (time(Some(Timestamp(k.created_at)))) }
                    } } }
                }
            }
        }
        section aria-labelledby="rotate" {
            h2 #rotate { "Rotation" }
            details.confirm {
                summary { "Rotate the signing key…" }
                form method="post" action={ (PREFIX) "/access/keys" } {
                    (csrf(&p))
                    input type="hidden" name="algorithm" value="ed25519";
                    p {
                        "A new key pair is made and signs every answer and license file from now on (every licensd "
                        "instance switches within 30 seconds). The current key is retired, not deleted: what it signed "
                        "still verifies with it, and it stays listed here and at "
                        code { "/api/v1/client/public-key?key_id=…" } "."
                    }
                    p {
                        strong { "Applications trust only the keys they were built with:" }
                        " until an update gives them the new public key, they refuse every answer it signs (and count "
                        "the server as unreachable, so their grace period runs). Rotate when the key is compromised, or "
                        "when you are ready to ship that update; see docs/operations.md, \"Rotate the signing key\"."
                    }
                    button.danger type="submit" { "Confirm: rotate the signing key" }
                }
            }
            details.confirm {
                summary { "Rotate the RSA signing key…" }
                form method="post" action={ (PREFIX) "/access/keys" } {
                    (csrf(&p))
                    input type="hidden" name="algorithm" value="rsa";
                    p {
                        "A new RSA key pair is made and signs every LicenseSpring API answer from now on (every "
                        "licensd instance switches within 30 seconds). The current RSA key is retired, not deleted. "
                        "The Ed25519 key is not changed."
                    }
                    p {
                        strong { "Applications built on LicenseSpring's SDKs trust only the public key they were given:" }
                        " until an update gives them the new PEM, they refuse every answer it signs. Rotate when the "
                        "key is compromised, or when you are ready to ship that update."
                    }
                    label for="rsa-bits" { "Key size" }
                    select #rsa-bits name="bits" {
                        @for b in licensd_core::rsa::RSA_BITS {
                            option value=(b) selected[b == bits_now] { (b) " bits" @if b == licensd_core::rsa::DEFAULT_RSA_BITS { " (default; fastest to sign)" } }
                        }
                    }
                    button.danger type="submit" { "Confirm: rotate the RSA signing key" }
                }
            }
        }
    };
    Ok(answer(StatusCode::OK, page(&p, "Keys and access", body)))
}

/// Rotates the key the form names (`algorithm`: `ed25519`, the default, or `rsa` with `bits`).
pub async fn rotate(State(s): State<AppState>, posted: Posted) -> Page {
    let scope = admin(&posted.person)?;
    let done = match posted.get("algorithm") {
        "" | "ed25519" => {
            let key = keys::rotate_as(&s.db, s.secret.as_deref(), &scope).await.map_err(store_error)?;
            tracing::info!(key_id = %key.key_id, "signing key rotated in the dashboard");
            "rotated"
        }
        "rsa" => {
            let bits = match posted.get("bits") {
                "" => s.rsa_key().bits(),
                b => b.parse().ok().filter(|b| licensd_core::rsa::RSA_BITS.contains(b)).ok_or_else(|| {
                    page_error(StatusCode::BAD_REQUEST, "bits: the RSA key size is 2048, 3072 or 4096 bits")
                })?,
            };
            let key = keys::rotate_rsa_as(&s.db, s.secret.as_deref(), bits, &scope).await.map_err(store_error)?;
            tracing::info!(key_id = %key.key_id, bits, "RSA signing key rotated in the dashboard");
            "rotated-rsa"
        }
        _ => return Err(page_error(StatusCode::BAD_REQUEST, "algorithm: ed25519 or rsa")),
    };
    // This instance signs with the new key at once; the others re-read it within 30 s.
    s.refresh_key().await.map_err(store_error)?;
    Ok(see_other(&format!("{PREFIX}/access/keys?done={done}")))
}

// ---------------------------------------------------------------------------------------------
// Dashboard users

/// What was typed in a user form (kept when the form is refused).
#[derive(Default)]
struct UserDraft {
    how: String,
    email: String,
    name: String,
    role: String,
    products: Vec<String>,
}

fn user_state(u: &User, now: i64) -> Markup {
    html! {
        @if u.disabled_at.is_some() { "disabled " (time(u.disabled_at)) }
        @else if !u.has_password {
            @match u.invitation_expires_at {
                Some(t) if t.0 > now => { "invited; the link works until " (time(Some(t))) }
                _ => { "invited; the link has expired" }
            }
        }
        @else if u.locked_until.is_some_and(|t| t.0 > now) { "locked until " (time(u.locked_until)) }
        @else { "active" }
    }
}

fn user_fields(prefix: &str, d: &UserDraft, choices: &(i64, Vec<String>)) -> Markup {
    let chosen = if d.how == prefix { d } else { &UserDraft::default() };
    let role = if chosen.role.is_empty() { "support" } else { chosen.role.as_str() };
    html! {
        p {
            label for={ (prefix) "-email" } { "Email" }
            input id={ (prefix) "-email" } type="email" name="email" value=(chosen.email) required autocomplete="off";
        }
        p {
            label for={ (prefix) "-name" } { "Name (optional; the audit log shows it)" }
            input id={ (prefix) "-name" } type="text" name="name" value=(chosen.name) maxlength="200";
        }
        p { (role_select(&format!("{prefix}-role"), role)) }
        (product_fields(prefix, "Products (none: every product; an admin takes none, a manager needs one)", choices, &chosen.products))
    }
}

async fn users_page(
    s: &AppState,
    p: &Person,
    scope: &Scope,
    message: Option<Markup>,
    draft: &UserDraft,
) -> Result<Markup, PageError> {
    let list = users::list(&s.db).await.map_err(store_error)?;
    let choices = product_choices(s, scope).await?;
    let now = now_ms();
    Ok(page(
        p,
        "Keys and access",
        html! {
            (tabs(&format!("{PREFIX}/access/users")))
            @if let Some(m) = message { (m) }
            section aria-labelledby="users" {
                h2 #users { "Dashboard users " span.count { (list.len()) } }
                table {
                    thead { tr { th { "Email" } th { "Name" } th { "Role" } th { "Products" } th { "Last sign-in" } th { "State" } th { "Actions" } } }
                    tbody { @for u in &list { tr {
                        td { (u.email) }
                        td { (u.name) }
                        td { (u.role.as_str()) }
                        td { (products_text(u.all_products, &u.products)) }
                        td { (time(u.last_login_at)) }
                        td { (user_state(u, now)) }
                        td {
                            @if u.disabled_at.is_none() && u.id != p.session.user_id {
                                details.confirm {
                                    summary { "Disable…" }
                                    form method="post" action={ (PREFIX) "/access/users/" (u.id) } {
                                        (csrf(p))
                                        input type="hidden" name="action" value="disable";
                                        p { (u.email) " is signed out everywhere and can no longer sign in. The audit log keeps their name." }
                                        button.danger type="submit" { "Confirm: disable " (u.email) }
                                    }
                                }
                            }
                            @if u.disabled_at.is_none() && !u.has_password {
                                form.inline method="post" action={ (PREFIX) "/access/users/" (u.id) } {
                                    (csrf(p))
                                    input type="hidden" name="action" value="invite";
                                    button type="submit" aria-label={ "A new invitation link for " (u.email) } { "New invitation link" }
                                }
                            }
                        }
                    } } }
                }
            }
            section aria-labelledby="invite-user" {
                h2 #invite-user { "Invite a user" }
                form.card method="post" action={ (PREFIX) "/access/users" } {
                    (csrf(p))
                    input type="hidden" name="how" value="invite";
                    p.muted { "You get a link to send them; they choose their own password. It works once, for 7 days." }
                    (user_fields("invite", draft, &choices))
                    p { button.primary type="submit" { "Invite" } }
                }
            }
            section aria-labelledby="create-user" {
                h2 #create-user { "Create a user with a password" }
                form.card method="post" action={ (PREFIX) "/access/users" } {
                    (csrf(p))
                    input type="hidden" name="how" value="create";
                    (user_fields("create", draft, &choices))
                    p {
                        label for="create-password" { "Initial password (at least 10 characters; tell it to them in person)" }
                        input #create-password type="password" name="password" minlength="10" maxlength="1000" required autocomplete="new-password";
                    }
                    p { button.primary type="submit" { "Create the user" } }
                }
            }
        },
    ))
}

pub async fn users_list(State(s): State<AppState>, p: Person, Query(q): Query<AccessQuery>) -> Page {
    let scope = admin(&p)?;
    let body = users_page(&s, &p, &scope, done_text(&q.done).map(notice), &UserDraft::default()).await?;
    Ok(answer(StatusCode::OK, body))
}

/// The origin links are written with (the public URL, or what the browser reached), for the invitation link.
pub struct LinkOrigin(String);

impl FromRequestParts<AppState> for LinkOrigin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, PageError> {
        s.http
            .link_origin(parts)
            .map(LinkOrigin)
            .map_err(|_| page_error(StatusCode::BAD_REQUEST, "The request's Host header is not a host name."))
    }
}

pub async fn create_user(State(s): State<AppState>, LinkOrigin(origin): LinkOrigin, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let draft = UserDraft {
        how: posted.get("how").to_string(),
        email: posted.get("email").trim().to_string(),
        name: posted.get("name").trim().to_string(),
        role: posted.get("role").to_string(),
        products: posted_products(&posted),
    };
    let role = match parse_role(&draft.role) {
        Ok(r) => r,
        Err(r) => return user_refused(&s, p, &scope, r, &draft).await,
    };
    let new = NewUser {
        email: draft.email.clone(),
        name: draft.name.clone(),
        role,
        products: draft.products.clone(),
        password: String::new(),
    };
    match draft.how.as_str() {
        "create" => {
            let new = NewUser { password: posted.get("password").to_string(), ..new };
            match users::create_as(&s.db, &scope, &new).await {
                Ok(_) => Ok(see_other(&format!("{PREFIX}/access/users?done=created"))),
                Err(e) => user_refused(&s, p, &scope, refusal(e)?, &draft).await,
            }
        }
        "invite" => match users::create_invited(&s.db, &scope, &new).await {
            Ok(inv) => Ok(answer(StatusCode::CREATED, invitation_page(p, &origin, &inv))),
            Err(e) => user_refused(&s, p, &scope, refusal(e)?, &draft).await,
        },
        _ => Err(page_error(StatusCode::BAD_REQUEST, "Unknown action.")),
    }
}

/// The users page again, with why the form was refused and what was typed in it.
async fn user_refused(s: &AppState, p: &Person, scope: &Scope, r: (StatusCode, String), d: &UserDraft) -> Page {
    let body = users_page(s, p, scope, Some(error_box(&r.1)), d).await?;
    Ok(answer(r.0, body))
}

fn invitation_page(p: &Person, origin: &str, inv: &users::Invitation) -> Markup {
    let link = format!("{origin}{PREFIX}/invite/{}", inv.secret);
    page(
        p,
        "Invitation",
        html! {
            (tabs(""))
            section.card aria-labelledby="invitation" {
                h2 #invitation { "The invitation link for " (inv.user.email) }
                p { strong { "Copy it now: it is not shown again." } " Send it to them yourself (licensd sends no email)." }
                p { code #invite-link { (link) } " " button type="button" data-copy="invite-link" { "Copy" } }
                p.muted {
                    "It works once, until " (time(Some(inv.expires_at))) ": they choose a password there and then sign in. "
                    "If it is lost or expires, make a new one from the list of users."
                }
            }
            p { a href={ (PREFIX) "/access/users" } { "Back to dashboard users" } }
        },
    )
}

pub async fn user_act(
    State(s): State<AppState>,
    LinkOrigin(origin): LinkOrigin,
    Path(id): Path<String>,
    posted: Posted,
) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let id = path_id(p, &id)?;
    let result = match posted.get("action") {
        "disable" if id == p.session.user_id => Err(StoreError::State(
            "You cannot disable yourself: another admin can, or `licensd user disable` can.".into(),
        )),
        "disable" => users::disable_as(&s.db, &scope, id).await.map(|_| None),
        "invite" => users::invite(&s.db, &scope, id).await.map(Some),
        _ => return Err(page_error(StatusCode::BAD_REQUEST, "Unknown action.")),
    };
    match result {
        Ok(None) => Ok(see_other(&format!("{PREFIX}/access/users?done=disabled"))),
        Ok(Some(inv)) => Ok(answer(StatusCode::CREATED, invitation_page(p, &origin, &inv))),
        Err(StoreError::NotFound) => Err(super::not_found(Some(p))),
        Err(e) => {
            let (status, message) = refusal(e)?;
            let body = users_page(&s, p, &scope, Some(error_box(&message)), &UserDraft::default()).await?;
            Ok(answer(status, body))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The invitation page (no session: the link's secret is the invitee's proof)

fn link_refused(r: LinkRefused) -> Response {
    let (status, text) = match r {
        LinkRefused::Unknown => {
            (StatusCode::NOT_FOUND, "This invitation link is not valid. Check that it was copied whole.")
        }
        LinkRefused::Used => (
            StatusCode::GONE,
            "This invitation link was used already: sign in with the password chosen then, or ask an administrator for a new link.",
        ),
        LinkRefused::Expired => {
            (StatusCode::GONE, "This invitation link has expired. Ask an administrator for a new one.")
        }
    };
    let body = html! {
        (error_box(text))
        p { a href={ (PREFIX) "/login" } { "Sign in" } }
    };
    (status, layout::bare("Invitation", body)).into_response()
}

fn invite_form(secret: &str, u: &User, problem: Option<&str>) -> Markup {
    layout::bare(
        "Choose your password",
        html! {
            @if let Some(m) = problem { (error_box(m)) }
            p { "Welcome" @if !u.name.is_empty() { ", " (u.name) } ". You were invited to the licensd dashboard as " strong { (u.role.as_str()) } "." }
            form.card method="post" action={ (PREFIX) "/invite/" (secret) } {
                p {
                    label for="email" { "Email" }
                    input #email type="email" name="email" value=(u.email) autocomplete="username" readonly;
                }
                p {
                    label for="password" { "Password (at least 10 characters)" }
                    input #password type="password" name="password" minlength="10" maxlength="1000" required autocomplete="new-password" autofocus;
                }
                p {
                    label for="confirm" { "The same password again" }
                    input #confirm type="password" name="confirm" minlength="10" maxlength="1000" required autocomplete="new-password";
                }
                p { button.primary type="submit" { "Set my password" } }
            }
        },
    )
}

pub async fn invitation(State(s): State<AppState>, Path(secret): Path<String>) -> Response {
    match users::invitation(&s.db, &secret).await {
        Err(e) => store_error(e).into_response(),
        Ok(Err(r)) => link_refused(r),
        Ok(Ok(u)) => invite_form(&secret, &u, None).into_response(),
    }
}

pub async fn accept_invitation(
    State(s): State<AppState>,
    Path(secret): Path<String>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    if !super::same_origin(&parts) {
        return super::csrf_refused().into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, super::FORM_LIMIT).await else {
        return page_error(StatusCode::PAYLOAD_TOO_LARGE, "The form was too large.").into_response();
    };
    let Ok(fields) = crate::extract::form_pairs(&bytes) else {
        return page_error(StatusCode::BAD_REQUEST, "The form was not UTF-8.").into_response();
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    let (password, confirm) = (get("password"), get("confirm"));
    // What the link is, before anything is checked, so a refusal re-shows the right form.
    let u = match users::invitation(&s.db, &secret).await {
        Err(e) => return store_error(e).into_response(),
        Ok(Err(r)) => return link_refused(r),
        Ok(Ok(u)) => u,
    };
    if password != confirm {
        let body = invite_form(&secret, &u, Some("The two passwords differ. Type the same one twice."));
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    match users::accept_invitation(&s.db, &secret, password).await {
        Ok(Ok(u)) => {
            tracing::info!(user = u.id, "invitation accepted");
            let body = html! {
                (notice("Your password is set."))
                p { "Sign in with " strong { (u.email) } " and the password you chose." }
                p { a href={ (PREFIX) "/login" } { "Sign in" } }
            };
            layout::bare("Welcome", body).into_response()
        }
        Ok(Err(r)) => link_refused(r),
        Err(StoreError::Invalid { message, .. }) => {
            let body = invite_form(&secret, &u, Some(&format!("The password {message}.")));
            (StatusCode::BAD_REQUEST, body).into_response()
        }
        Err(e) => store_error(e).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// License API credentials: LicenseSpring-style API keys and OAuth clients

/// Live (or, with `?revoked=1`, all) credentials listed per table, newest first.
const CREDENTIALS_SHOWN: i64 = 100;

/// Which kind of credential a form or action is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CredKind {
    ApiKey,
    OauthClient,
}

/// What was typed in a credential form (kept when the form is refused).
#[derive(Default)]
struct CredDraft {
    name: String,
    products: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct CredentialsQuery {
    #[serde(default)]
    done: String,
    #[serde(default)]
    revoked: String,
}

fn credential_done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "key-revoked" => "The API key is revoked: License API requests with it are refused from now on.",
        "client-revoked" => {
            "The OAuth client is revoked: its access tokens and its token requests are refused from now on."
        }
        _ => return None,
    })
}

/// Up to [`CREDENTIALS_SHOWN`] of a kind, newest first, live ones only unless `all`, and how many there are.
fn credential_params(
    spec: &'static licensd_store::list::Spec,
    all: bool,
) -> Result<licensd_store::ListParams, PageError> {
    let mut pairs =
        vec![("order_by".to_string(), "-id".to_string()), ("limit".to_string(), CREDENTIALS_SHOWN.to_string())];
    if !all {
        pairs.push(("revoked_at__isnull".into(), "true".into()));
    }
    licensd_store::list::parse(spec, &pairs, &[])
        .map_err(|e| page_error(StatusCode::BAD_REQUEST, &format!("{}: {}", e.param, e.message)))
}

/// A row's revoke action, behind a confirmation (or when it was revoked).
fn revoke_cell(p: &Person, action: &str, label: &str, what: &str, revoked: Option<Timestamp>) -> Markup {
    html! {
        @if revoked.is_some() { "revoked " (time(revoked)) } @else {
            details.confirm {
                summary { "Revoke…" }
                form method="post" action=(action) {
                    (csrf(p))
                    input type="hidden" name="action" value="revoke";
                    p { (what) }
                    button.danger type="submit" { "Confirm: revoke " (label) }
                }
            }
        }
    }
}

async fn credentials_page(
    s: &AppState,
    p: &Person,
    scope: &Scope,
    q: &CredentialsQuery,
    message: Option<Markup>,
    draft: (CredKind, &CredDraft),
) -> Result<Markup, PageError> {
    let all = q.revoked == "1";
    let (nk, keys) = api_keys::page(&s.db, &credential_params(&api_keys::SPEC, all)?).await.map_err(store_error)?;
    let (nc, clients) = oauth::page(&s.db, &credential_params(&oauth::SPEC, all)?).await.map_err(store_error)?;
    let choices = product_choices(s, scope).await?;
    let empty = CredDraft::default();
    let key_draft = if draft.0 == CredKind::ApiKey { draft.1 } else { &empty };
    let client_draft = if draft.0 == CredKind::OauthClient { draft.1 } else { &empty };
    let here = format!("{PREFIX}/access/api-keys");
    let more = |n: i64| n > CREDENTIALS_SHOWN;
    Ok(page(
        p,
        "Keys and access",
        html! {
            (tabs(&here))
            @if let Some(m) = message { (m) }
            p.muted {
                "Applications built on LicenseSpring's SDKs authenticate to the License API with an API key and its "
                "shared key (each request is signed with it), or with an OAuth client's id and secret. The shared key "
                "and the client secret are shown once, when made; licensd keeps them sealed under "
                code { "LICENSD_SECRET" } ", because it signs with them too. A key or client made or revoked here "
                "counts at once, on every instance."
            }
            @if s.secret.is_none() {
                p.error role="note" {
                    code { "LICENSD_SECRET" } " is not set: new shared keys and client secrets are stored unencrypted. "
                    "Set it and run " code { "licensd key encrypt" } " to seal them."
                }
            }
            p {
                @if all { a href=(here) { "Hide revoked ones" } }
                @else { a href={ (here) "?revoked=1" } { "Show revoked ones too" } }
            }
            section aria-labelledby="api-keys" {
                h2 #api-keys { "API keys " span.count { (nk) } }
                @if keys.is_empty() { p.muted { "No API keys." } } @else {
                    table {
                        thead { tr { th { "ID" } th { "Name" } th { "API key" } th { "Products" } th { "Created" } th { "Revoke" } } }
                        tbody { @for k in &keys { tr {
                            td { (k.id) }
                            td { (k.name) }
                            td { code { (k.api_key) } }
                            td { (products_text(k.all_products, &k.products)) }
                            td { (time(Some(k.created_at))) }
                            td { (revoke_cell(p, &format!("{PREFIX}/access/api-keys/{}", k.id), &k.name,
                                &format!("Revoke {}: every License API request with it is refused from now on. This cannot be undone; a new key has a new shared key.", k.name),
                                k.revoked_at)) }
                        } } }
                    }
                    @if more(nk) { p.muted { "The " (CREDENTIALS_SHOWN) " newest are shown; " code { "licensd api-key list" } " lists every one." } }
                }
            }
            section aria-labelledby="new-api-key" {
                h2 #new-api-key { "Create an API key" }
                form.card method="post" action={ (PREFIX) "/access/api-keys" } {
                    (csrf(p))
                    p {
                        label for="api-key-name" { "Name (what it is for; unique among keys not revoked)" }
                        input #api-key-name type="text" name="name" value=(key_draft.name) maxlength="200" required;
                    }
                    (product_fields("api-key", "Products it answers for (none: every product)", &choices, &key_draft.products))
                    p { button.primary type="submit" { "Create the API key" } }
                }
            }
            section aria-labelledby="oauth-clients" {
                h2 #oauth-clients { "OAuth clients " span.count { (nc) } }
                @if clients.is_empty() { p.muted { "No OAuth clients." } } @else {
                    table {
                        thead { tr { th { "ID" } th { "Name" } th { "Client id" } th { "Products" } th { "Created" } th { "Revoke" } } }
                        tbody { @for c in &clients { tr {
                            td { (c.id) }
                            td { (c.name) }
                            td { code { (c.client_id) } }
                            td { (products_text(c.all_products, &c.products)) }
                            td { (time(Some(c.created_at))) }
                            td { (revoke_cell(p, &format!("{PREFIX}/access/oauth-clients/{}", c.id), &c.name,
                                &format!("Revoke {}: its access tokens and its token requests are refused from now on. This cannot be undone.", c.name),
                                c.revoked_at)) }
                        } } }
                    }
                    @if more(nc) { p.muted { "The " (CREDENTIALS_SHOWN) " newest are shown; " code { "licensd oauth-client list" } " lists every one." } }
                }
            }
            section aria-labelledby="new-oauth-client" {
                h2 #new-oauth-client { "Create an OAuth client" }
                form.card method="post" action={ (PREFIX) "/access/oauth-clients" } {
                    (csrf(p))
                    p {
                        label for="oauth-client-name" { "Name (what it is for; unique among clients not revoked)" }
                        input #oauth-client-name type="text" name="name" value=(client_draft.name) maxlength="200" required;
                    }
                    (product_fields("oauth-client", "Products it answers for (none: every product)", &choices, &client_draft.products))
                    p { button.primary type="submit" { "Create the OAuth client" } }
                }
            }
        },
    ))
}

pub async fn credentials(State(s): State<AppState>, p: Person, Query(q): Query<CredentialsQuery>) -> Page {
    let scope = admin(&p)?;
    let message = credential_done_text(&q.done).map(notice);
    let body = credentials_page(&s, &p, &scope, &q, message, (CredKind::ApiKey, &CredDraft::default())).await?;
    Ok(answer(StatusCode::OK, body))
}

/// The page again, with why the form was refused and what was typed in it.
async fn credential_refused(
    s: &AppState,
    p: &Person,
    scope: &Scope,
    e: StoreError,
    draft: (CredKind, &CredDraft),
) -> Page {
    let (status, message) = refusal(e)?;
    let body = credentials_page(s, p, scope, &CredentialsQuery::default(), Some(error_box(&message)), draft).await?;
    Ok(answer(status, body))
}

fn cred_draft(posted: &Posted) -> CredDraft {
    CredDraft { name: posted.get("name").trim().to_string(), products: posted_products(posted) }
}

/// A secret shown once: a labelled value with a copy button.
fn shown_once(id: &str, label: &str, value: &str) -> Markup {
    html! {
        dt { (label) } dd { code id=(id) { (value) } " " button type="button" data-copy=(id) { "Copy" } }
    }
}

pub async fn create_api_key(State(s): State<AppState>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let draft = cred_draft(&posted);
    let input = CredentialInput { name: draft.name.clone(), products: draft.products.clone() };
    let made = match api_keys::create_as(&s.db, &scope, &input, s.secret.as_deref()).await {
        Ok(made) => made,
        Err(e) => return credential_refused(&s, p, &scope, e, (CredKind::ApiKey, &draft)).await,
    };
    let k = &made.key;
    tracing::info!(api_key = k.id, "API key created in the dashboard");
    // The shared key is in this answer only: not in a redirect's URL, not on any later page.
    let body = html! {
        (tabs(""))
        section.card aria-labelledby="secret" {
            h2 #secret { "The API key " (k.name) }
            p { strong { "Copy the shared key now: it is not shown again." } " If it is lost, revoke the key and make another." }
            section.facts aria-label="API key and shared key" {
                dl {
                    (shown_once("api-key-value", "API key", &k.api_key))
                    (shown_once("shared-key-value", "Shared key", &made.shared_key))
                    dt { "Products" } dd { (products_text(k.all_products, &k.products)) }
                }
            }
            p.muted {
                "Give both to the application's LicenseSpring SDK configuration (" code { "api_key" } ", "
                code { "shared_key" } ")."
            }
        }
        p { a href={ (PREFIX) "/access/api-keys" } { "Back to License API keys" } }
    };
    Ok(answer(StatusCode::CREATED, page(p, "API key created", body)))
}

pub async fn create_oauth_client(State(s): State<AppState>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let draft = cred_draft(&posted);
    let input = CredentialInput { name: draft.name.clone(), products: draft.products.clone() };
    let made = match oauth::create_as(&s.db, &scope, &input, s.secret.as_deref()).await {
        Ok(made) => made,
        Err(e) => return credential_refused(&s, p, &scope, e, (CredKind::OauthClient, &draft)).await,
    };
    let c = &made.client;
    tracing::info!(oauth_client = c.id, "OAuth client created in the dashboard");
    let body = html! {
        (tabs(""))
        section.card aria-labelledby="secret" {
            h2 #secret { "The OAuth client " (c.name) }
            p { strong { "Copy the client secret now: it is not shown again." } " If it is lost, revoke the client and make another." }
            section.facts aria-label="Client id and secret" {
                dl {
                    (shown_once("client-id-value", "Client id", &c.client_id))
                    (shown_once("client-secret-value", "Client secret", &made.client_secret))
                    dt { "Products" } dd { (products_text(c.all_products, &c.products)) }
                }
            }
            p.muted {
                "Give both to the application's LicenseSpring SDK configuration (" code { "client_id" } ", "
                code { "client_secret" } ")."
            }
        }
        p { a href={ (PREFIX) "/access/api-keys#oauth-clients" } { "Back to License API keys" } }
    };
    Ok(answer(StatusCode::CREATED, page(p, "OAuth client created", body)))
}

async fn credential_act(s: &AppState, posted: &Posted, kind: CredKind, id: &str) -> Page {
    let p = &posted.person;
    let scope = admin(p)?;
    let id = path_id(p, id)?;
    if posted.get("action") != "revoke" {
        return Err(page_error(StatusCode::BAD_REQUEST, "Unknown action."));
    }
    let done = match kind {
        CredKind::ApiKey => api_keys::revoke_as(&s.db, &scope, id).await.map(|_| "key-revoked"),
        CredKind::OauthClient => oauth::revoke_as(&s.db, &scope, id).await.map(|_| "client-revoked"),
    };
    match done {
        Ok(code) => Ok(see_other(&format!("{PREFIX}/access/api-keys?done={code}"))),
        Err(StoreError::NotFound) => Err(super::not_found(Some(p))),
        Err(e) => credential_refused(s, p, &scope, e, (kind, &CredDraft::default())).await,
    }
}

pub async fn api_key_act(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    credential_act(&s, &posted, CredKind::ApiKey, &id).await
}

pub async fn oauth_client_act(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    credential_act(&s, &posted, CredKind::OauthClient, &id).await
}
