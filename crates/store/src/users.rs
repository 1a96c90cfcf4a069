//! The web dashboard's people and their sessions.
//!
//! A user signs in with an email and a password (stored as an Argon2id PHC string). What a user may do and
//! see is exactly what an API token of the same role and products may: each user is backed by a row of
//! `api_tokens` of kind `user` (its secret is thrown away at once, so it can never be presented as a bearer
//! token), and a signed-in request acts through that token's [`Scope`], with the person as the audit log's
//! actor. One permission table (`core::access`) and one scope rule serve the API and the dashboard.
//!
//! Sign-in is guarded in the database: an attempt is counted *before* its password is checked, in a
//! transaction that holds the user's row, so parallel guesses cannot slip past the lockout; from the
//! [`FREE_ATTEMPTS`]th consecutive failure the account is locked, for a minute doubling with each further
//! failure up to an hour ([`lockout_ms`]). A success clears the count.
//!
//! An admin may also create a user without a password and hand them an invitation link
//! (`/ui/invite/<secret>`, [`create_invited`]): the database keeps the SHA-256 of its 256-bit secret; the link
//! works once, for [`INVITATION_MS`], and only while it is the user's latest. Until they set a password such a
//! user cannot sign in (their `password_hash` is empty, which no password matches).
//!
//! The `*_as` functions (and invitations) are changes made by a person in the dashboard or by the command line
//! (`licensd user`, as the actor `cli`): they record `dashboard_user.*` events with that actor, in the change's
//! transaction. The others record nothing; they are for setting up tests.

use std::sync::{Arc, LazyLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use licensd_core::model::Role;
use licensd_core::time::{Timestamp, now_ms};
use serde::Serialize;

use crate::db::{Db, Exec, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::scope::Scope;
use crate::tokens::{self, NewToken};

/// Consecutive failed sign-ins allowed before the account locks.
pub const FREE_ATTEMPTS: i64 = 5;
/// A session ends this long after sign-in, whatever happens.
pub const SESSION_MAX_MS: i64 = 7 * 24 * 3_600_000;
/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 12 * 3_600_000;
/// A session's `seen_at` is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;
/// Shortest password a user may set.
pub const PASSWORD_MIN: usize = 10;
/// How long an invitation link works.
pub const INVITATION_MS: i64 = 7 * 24 * 3_600_000;
/// The resource type of users' events.
const RESOURCE: &str = "dashboard_user";

/// How long the `n`th consecutive failure locks the account: nothing before [`FREE_ATTEMPTS`], then a
/// minute, doubling with each further failure, at most an hour.
pub fn lockout_ms(n: i64) -> Option<i64> {
    let over = n - FREE_ATTEMPTS;
    (over >= 0).then(|| (60_000i64 << over.min(6)).min(3_600_000))
}

/// A dashboard user as listed (never with a password or a session).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Short codes of the products the user is limited to (empty when `all_products`).
    pub products: Vec<String>,
    pub all_products: bool,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
    /// Locked by failed sign-ins until then.
    pub locked_until: Option<Timestamp>,
    /// Signed out everywhere and unable to sign in since then.
    pub disabled_at: Option<Timestamp>,
    /// Has set a password (an invited user has not, until they open their link).
    pub has_password: bool,
    /// Until when the user's latest unused invitation link works (in the past: it has expired).
    pub invitation_expires_at: Option<Timestamp>,
}

impl User {
    /// What the audit log records as this person: their name and email.
    pub fn actor(&self) -> String {
        actor(&self.name, &self.email)
    }
}

fn actor(name: &str, email: &str) -> String {
    if name.is_empty() { email.to_string() } else { format!("{name} <{email}>") }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Short codes; empty for every product (admin, support, read-only).
    pub products: Vec<String>,
    pub password: String,
}

/// Checks a password a person chose: long enough, not absurdly long (Argon2 hashes all of it).
pub fn check_password(p: &str) -> Result<(), StoreError> {
    let n = p.chars().count();
    if !(PASSWORD_MIN..=1000).contains(&n) {
        return Err(StoreError::invalid("password", format!("must be {PASSWORD_MIN} to 1000 characters")));
    }
    Ok(())
}

/// The Argon2id PHC string of a password, with a fresh random salt and the `argon2` crate's default cost
/// (OWASP's: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(p: &str) -> Result<String, StoreError> {
    Argon2::default()
        .hash_password(p.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Config(format!("hashing a password failed: {e}")))
}

/// Whether `p` is the password `phc` was made from (constant time in the hash).
pub(crate) fn password_matches(phc: &str, p: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(p.as_bytes(), &h).is_ok())
}

/// A hash nobody's password matches, verified when no user has the email given, so that a sign-in takes as
/// long for an unknown email as for a wrong password.
pub(crate) static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&licensd_core::token::generate()).unwrap_or_default());

fn email_norm(email: &str) -> Result<(String, String), StoreError> {
    let e = licensd_core::model::normalize_email("email", email)?
        .ok_or_else(|| StoreError::invalid("email", "is required"))?;
    let norm = e.to_lowercase();
    Ok((e, norm))
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.chars().count() > 200 || name.chars().any(char::is_control) || name.trim() != name {
        return Err(StoreError::invalid("name", "must be at most 200 characters, without spaces around it"));
    }
    Ok(())
}

const COLUMNS: &str = "u.id, u.email, u.name, u.token_id, u.created_at, u.last_login_at, u.locked_until, \
     u.disabled_at, t.role, t.all_products, (u.password_hash <> '') AS has_password, \
     (SELECT MAX(i.expires_at) FROM dashboard_invitations i WHERE i.user_id = u.id AND i.used_at IS NULL) \
     AS invitation_expires_at";

fn from_row(r: &Row, products: Vec<String>) -> Result<User, StoreError> {
    Ok(User {
        id: r.get("id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        role: r.get_enum("role")?,
        products,
        all_products: r.get("all_products")?,
        created_at: Timestamp(r.get("created_at")?),
        last_login_at: r.get::<Option<i64>>("last_login_at")?.map(Timestamp),
        locked_until: r.get::<Option<i64>>("locked_until")?.map(Timestamp),
        disabled_at: r.get::<Option<i64>>("disabled_at")?.map(Timestamp),
        has_password: r.get("has_password")?,
        invitation_expires_at: r.get::<Option<i64>>("invitation_expires_at")?.map(Timestamp),
    })
}

/// Creates a user and the token that carries its role and products.
pub async fn create(db: &Db, u: &NewUser) -> Result<User, StoreError> {
    create_recorded(db, u, None).await
}

/// [`create`], by a person: recorded as `dashboard_user.created` with `by` as the actor.
pub async fn create_as(db: &Db, by: &Scope, u: &NewUser) -> Result<User, StoreError> {
    create_recorded(db, u, Some(by)).await
}

async fn create_recorded(db: &Db, u: &NewUser, by: Option<&Scope>) -> Result<User, StoreError> {
    check_password(&u.password)?;
    let hash = hash_password(&u.password)?;
    let mut tx = db.begin().await?;
    let user = insert(&mut tx, u, &hash).await?;
    if let Some(by) = by {
        events::record(&mut tx, by, NewEvent::created(RESOURCE, user.id, None, &user).at(user.created_at.0)).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// A user just invited: who, and the link's secret (shown to whoever invited them once; stored hashed).
#[derive(Debug, Clone)]
pub struct Invitation {
    pub user: User,
    pub secret: String,
    pub expires_at: Timestamp,
}

/// Creates a user without a password (`u.password` must be empty) and an invitation to set one, by a
/// person: recorded as `dashboard_user.created` and `dashboard_user.invited` with `by` as the actor.
pub async fn create_invited(db: &Db, by: &Scope, u: &NewUser) -> Result<Invitation, StoreError> {
    if !u.password.is_empty() {
        return Err(StoreError::invalid("password", "an invited user sets their own password: give none"));
    }
    let mut tx = db.begin().await?;
    let user = insert(&mut tx, u, "").await?;
    events::record(&mut tx, by, NewEvent::created(RESOURCE, user.id, None, &user).at(user.created_at.0)).await?;
    let (secret, expires_at) = add_invitation(&mut tx, by, user.id).await?;
    let user = get(&mut tx, user.id).await?;
    tx.commit().await?;
    Ok(Invitation { user, secret, expires_at })
}

/// A new invitation link for a user who is not disabled (one whose link expired, or who lost their password),
/// by a person: the user's earlier unused links stop working. Recorded as `dashboard_user.invited`.
pub async fn invite(db: &Db, by: &Scope, id: i64) -> Result<Invitation, StoreError> {
    let mut tx = db.begin().await?;
    let user = get(&mut tx, id).await?;
    if user.disabled_at.is_some() {
        return Err(StoreError::State(format!("{} is disabled; a disabled user is not invited again", user.email)));
    }
    let (secret, expires_at) = add_invitation(&mut tx, by, id).await?;
    let user = get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Invitation { user, secret, expires_at })
}

/// Ends the user's unused invitation links (a new one replaces them; a password set or a disable makes them moot).
async fn end_invitations(tx: &mut Tx, user_id: i64, now: i64) -> Result<(), StoreError> {
    tx.execute(
        query(
            "UPDATE dashboard_invitations SET expires_at = ? WHERE user_id = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(now)
        .bind(user_id)
        .bind(now),
    )
    .await?;
    Ok(())
}

async fn add_invitation(tx: &mut Tx, by: &Scope, user_id: i64) -> Result<(String, Timestamp), StoreError> {
    let now = now_ms();
    end_invitations(tx, user_id, now).await?;
    let secret = licensd_core::token::generate();
    let expires_at = now + INVITATION_MS;
    let id = tx
        .insert(
            query(
                "INSERT INTO dashboard_invitations (user_id, secret_hash, created_by, created_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(user_id)
            .bind(licensd_core::token::hash(&secret))
            .bind(by.actor.as_str())
            .bind(now)
            .bind(expires_at),
        )
        .await?;
    let after = serde_json::json!({"invitation": id, "expires_at": Timestamp(expires_at)});
    let e = NewEvent::changed(RESOURCE, "invited", user_id, None, after).at(now);
    events::record(tx, by, e).await?;
    Ok((secret, Timestamp(expires_at)))
}

/// Inserts a user (with this password hash; empty: none yet) and the token that carries its role and products.
async fn insert(tx: &mut Tx, u: &NewUser, hash: &str) -> Result<User, StoreError> {
    let (email, norm) = email_norm(&u.email)?;
    check_name(&u.name)?;
    // Uniqueness is the database's: the user's token name (unique among live tokens) and the email (unique) are
    // both the email, so either index refusing means that email has a user, even under concurrent creates.
    let taken = |e: StoreError| match e {
        StoreError::Conflict { field, .. } if field == "name" || field == "email" => StoreError::Conflict {
            field: "email".into(),
            message: format!("a dashboard user with the email {email} exists"),
        },
        e => e,
    };
    let token = NewToken {
        name: format!("{}{norm}", tokens::USER_TOKEN_PREFIX),
        role: u.role,
        products: u.products.clone(),
        description: format!("the dashboard user {email}"),
        expires_at: None,
    };
    let (token_id, _secret) = tokens::insert(tx, &token, tokens::Kind::User).await.map_err(taken)?;
    let now = now_ms();
    let id = tx
        .insert(
            query(
                "INSERT INTO dashboard_users (email, email_norm, name, password_hash, token_id, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(email.as_str())
            .bind(norm.as_str())
            .bind(u.name.as_str())
            .bind(hash)
            .bind(token_id)
            .bind(now)
            .bind(now),
        )
        .await
        .map_err(taken)?;
    get(tx, id).await
}

/// Why an invitation link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// No invitation has this secret.
    Unknown,
    /// It was used already (a link works once).
    Used,
    /// Its time ran out, a newer link replaced it, or its user was disabled.
    Expired,
}

/// What an invitation link is, and for whom (to show the page it opens). Changes nothing.
pub async fn invitation(db: &Db, secret: &str) -> Result<Result<User, LinkRefused>, StoreError> {
    let row = db
        .fetch_optional(
            query(
                "SELECT i.user_id, i.expires_at, i.used_at, u.disabled_at FROM dashboard_invitations i \
                 JOIN dashboard_users u ON u.id = i.user_id WHERE i.secret_hash = ?",
            )
            .bind(licensd_core::token::hash(secret)),
        )
        .await?;
    let Some(row) = row else { return Ok(Err(LinkRefused::Unknown)) };
    if let Some(refused) = link_refused(&row, now_ms())? {
        return Ok(Err(refused));
    }
    Ok(Ok(get(&mut &*db, row.get("user_id")?).await?))
}

fn link_refused(row: &Row, now: i64) -> Result<Option<LinkRefused>, StoreError> {
    Ok(if row.get::<Option<i64>>("used_at")?.is_some() {
        Some(LinkRefused::Used)
    } else if row.get::<i64>("expires_at")? <= now || row.get::<Option<i64>>("disabled_at")?.is_some() {
        Some(LinkRefused::Expired)
    } else {
        None
    })
}

/// Sets the password of the user an invitation link names, once: the link is used up, the user's other links
/// end, and any session of theirs ends. Recorded as `dashboard_user.invitation_accepted` by the user.
pub async fn accept_invitation(db: &Db, secret: &str, password: &str) -> Result<Result<User, LinkRefused>, StoreError> {
    check_password(password)?;
    let hash = hash_password(password)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let mut q = query(
        "SELECT i.id, i.user_id, i.expires_at, i.used_at, u.disabled_at FROM dashboard_invitations i \
         JOIN dashboard_users u ON u.id = i.user_id WHERE i.secret_hash = ?",
    )
    .bind(licensd_core::token::hash(secret));
    q.push(&tx.dialect().for_update_of("i"));
    let Some(row) = tx.fetch_optional(q).await? else { return Ok(Err(LinkRefused::Unknown)) };
    if let Some(refused) = link_refused(&row, now)? {
        return Ok(Err(refused));
    }
    let (id, user_id): (i64, i64) = (row.get("id")?, row.get("user_id")?);
    // Only the first of two concurrent uses finds it unused.
    let n = tx
        .execute(
            query("UPDATE dashboard_invitations SET used_at = ? WHERE id = ? AND used_at IS NULL").bind(now).bind(id),
        )
        .await?;
    if n != 1 {
        return Ok(Err(LinkRefused::Used));
    }
    tx.execute(
        query(
            "UPDATE dashboard_users SET password_hash = ?, failed_logins = 0, locked_until = NULL, updated_at = ? \
             WHERE id = ?",
        )
        .bind(hash)
        .bind(now)
        .bind(user_id),
    )
    .await?;
    tx.execute(query("DELETE FROM dashboard_sessions WHERE user_id = ?").bind(user_id)).await?;
    end_invitations(&mut tx, user_id, now).await?;
    let user = get(&mut tx, user_id).await?;
    let me = Scope { actor: user.actor(), token_id: None, products: None, role: user.role };
    let e = NewEvent::changed(RESOURCE, "invitation_accepted", user_id, None, serde_json::json!({"invitation": id}));
    events::record(&mut tx, &me, e).await?;
    tx.commit().await?;
    Ok(Ok(user))
}

/// The user with this id.
pub async fn get(e: &mut impl Exec, id: i64) -> Result<User, StoreError> {
    let row = e
        .fetch_one(
            query(format!(
                "SELECT {COLUMNS} FROM dashboard_users u JOIN api_tokens t ON t.id = u.token_id WHERE u.id = ?"
            ))
            .bind(id),
        )
        .await?;
    let products = tokens::products_of(e, row.get("token_id")?).await?;
    from_row(&row, products)
}

/// Every user, by email.
pub async fn list(db: &Db) -> Result<Vec<User>, StoreError> {
    let rows = db
        .fetch_all(query(format!(
            "SELECT {COLUMNS} FROM dashboard_users u JOIN api_tokens t ON t.id = u.token_id ORDER BY u.email_norm"
        )))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let products = tokens::products_of(&mut &*db, r.get("token_id")?).await?;
        out.push(from_row(r, products)?);
    }
    Ok(out)
}

/// Sets a user's password (and ends their sessions, so a stolen session does not outlive the change).
pub async fn set_password(db: &Db, id: i64, password: &str) -> Result<(), StoreError> {
    set_password_recorded(db, id, password, None).await
}

/// [`set_password`], by a person or the command line: recorded as `dashboard_user.password_set` with `by` as
/// the actor (whether the user had a password and a lockout before, never the password or its hash).
pub async fn set_password_as(db: &Db, by: &Scope, id: i64, password: &str) -> Result<(), StoreError> {
    set_password_recorded(db, id, password, Some(by)).await
}

async fn set_password_recorded(db: &Db, id: i64, password: &str, by: Option<&Scope>) -> Result<(), StoreError> {
    check_password(password)?;
    let hash = hash_password(password)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let before = get(&mut tx, id).await?;
    tx.execute(
        query(
            "UPDATE dashboard_users SET password_hash = ?, failed_logins = 0, locked_until = NULL, updated_at = ? \
             WHERE id = ?",
        )
        .bind(hash)
        .bind(now)
        .bind(id),
    )
    .await?;
    tx.execute(query("DELETE FROM dashboard_sessions WHERE user_id = ?").bind(id)).await?;
    end_invitations(&mut tx, id, now).await?;
    if let Some(by) = by {
        let e = NewEvent::changed(
            RESOURCE,
            "password_set",
            id,
            Some(serde_json::json!({"has_password": before.has_password, "locked_until": before.locked_until})),
            serde_json::json!({"has_password": true, "locked_until": null}),
        )
        .at(now);
        events::record(&mut tx, by, e).await?;
    }
    tx.commit().await
}

/// Disables a user: their sessions end and they cannot sign in; their token is revoked.
pub async fn disable(db: &Db, id: i64) -> Result<User, StoreError> {
    disable_recorded(db, id, None).await
}

/// [`disable`], by a person: recorded as `dashboard_user.disabled` with `by` as the actor (nothing when the user
/// was disabled already).
pub async fn disable_as(db: &Db, by: &Scope, id: i64) -> Result<User, StoreError> {
    disable_recorded(db, id, Some(by)).await
}

async fn disable_recorded(db: &Db, id: i64, by: Option<&Scope>) -> Result<User, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            query("UPDATE dashboard_users SET disabled_at = ?, updated_at = ? WHERE id = ? AND disabled_at IS NULL")
                .bind(now)
                .bind(now)
                .bind(id),
        )
        .await?;
    tx.execute(
        query("UPDATE api_tokens SET revoked_at = ? WHERE id = (SELECT token_id FROM dashboard_users WHERE id = ?) AND revoked_at IS NULL")
            .bind(now)
            .bind(id),
    )
    .await?;
    tx.execute(query("DELETE FROM dashboard_sessions WHERE user_id = ?").bind(id)).await?;
    end_invitations(&mut tx, id, now).await?;
    let u = get(&mut tx, id).await?;
    if let Some(by) = by
        && n == 1
    {
        let e = NewEvent::changed(
            RESOURCE,
            "disabled",
            id,
            Some(serde_json::json!({"disabled_at": null})),
            serde_json::json!({"disabled_at": u.disabled_at}),
        );
        events::record(&mut tx, by, e).await?;
    }
    tx.commit().await?;
    Ok(u)
}

/// The user an email names, if any.
pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, StoreError> {
    let norm = email.trim().to_lowercase();
    let Some(r) = db.fetch_optional(query("SELECT id FROM dashboard_users WHERE email_norm = ?").bind(norm)).await?
    else {
        return Ok(None);
    };
    Ok(Some(get(&mut &*db, r.get("id")?).await?))
}

/// Why a sign-in was refused. The words a person sees do not tell an unknown email from a wrong password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No such user, a wrong password, or a disabled user.
    BadCredentials,
    /// Too many failed attempts: locked until then.
    Locked(i64),
}

/// A new session: the cookie's secret (shown to the browser once, stored hashed) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub csrf: String,
    pub user: User,
}

/// Checks an email and password and, when they hold, opens a session (see the module's notes on lockout).
pub async fn sign_in(
    db: &Db,
    email: &str,
    password: &str,
    user_agent: &str,
    ip: &str,
) -> Result<Result<NewSession, Refused>, StoreError> {
    let norm = email.trim().to_lowercase();
    let now = now_ms();
    // The attempt is counted before the password is checked, holding the row, so concurrent guesses queue.
    let mut tx = db.begin().await?;
    let mut q = query(
        "SELECT u.id, u.password_hash, u.failed_logins, u.locked_until, u.disabled_at, t.revoked_at \
         FROM dashboard_users u JOIN api_tokens t ON t.id = u.token_id WHERE u.email_norm = ?",
    )
    .bind(norm.as_str());
    q.push(&tx.dialect().for_update_of("u"));
    let Some(row) = tx.fetch_optional(q).await? else {
        drop(tx);
        let _ = password_matches(&DUMMY_HASH, password);
        return Ok(Err(Refused::BadCredentials));
    };
    let id: i64 = row.get("id")?;
    if let Some(until) = row.get::<Option<i64>>("locked_until")?.filter(|u| *u > now) {
        return Ok(Err(Refused::Locked(until)));
    }
    let n = row.get::<i64>("failed_logins")? + 1;
    tx.execute(
        query("UPDATE dashboard_users SET failed_logins = ?, locked_until = ? WHERE id = ?")
            .bind(n)
            .bind(lockout_ms(n).map(|d| now + d))
            .bind(id),
    )
    .await?;
    tx.commit().await?;

    let phc: String = row.get("password_hash")?;
    let live = row.get::<Option<i64>>("disabled_at")?.is_none() && row.get::<Option<i64>>("revoked_at")?.is_none();
    // An invited user with no password yet takes as long to refuse as anyone else.
    let phc = if phc.is_empty() { DUMMY_HASH.as_str() } else { phc.as_str() };
    if !password_matches(phc, password) || !live {
        return Ok(Err(Refused::BadCredentials));
    }
    let secret = licensd_core::token::generate();
    let csrf = licensd_core::token::generate();
    let mut tx = db.begin().await?;
    tx.execute(
        query("UPDATE dashboard_users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?")
            .bind(now)
            .bind(id),
    )
    .await?;
    tx.execute(
        query(
            "INSERT INTO dashboard_sessions (user_id, session_hash, csrf_token, created_at, seen_at, idle_until, \
             expires_at, user_agent, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(licensd_core::token::hash(&secret))
        .bind(csrf.as_str())
        .bind(now)
        .bind(now)
        .bind(now + SESSION_IDLE_MS)
        .bind(now + SESSION_MAX_MS)
        .bind(user_agent.chars().take(300).collect::<String>())
        .bind(ip),
    )
    .await?;
    let user = get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Ok(NewSession { secret, csrf, user }))
}

/// A signed-in request's person: who, their scope's parts and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub session_id: i64,
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub token_id: i64,
    /// `None`: every product.
    pub products: Option<Arc<[i64]>>,
    pub csrf: String,
}

impl Session {
    /// The scope this person acts in: their token's, with them as the actor.
    pub fn scope(&self) -> Scope {
        Scope {
            actor: actor(&self.name, &self.email),
            token_id: Some(self.token_id),
            products: self.products.clone(),
            role: self.role,
        }
    }
}

/// The live session a cookie's secret names (and its person), or `None`: unknown, ended, or its user disabled.
/// Pushes the idle end forward at most once a minute.
pub async fn session(db: &Db, secret: &str) -> Result<Option<Session>, StoreError> {
    let now = now_ms();
    let rows = db
        .fetch_all(
            query(
                "SELECT s.id AS session_id, s.csrf_token, s.seen_at, u.id AS user_id, u.email, u.name, u.token_id, t.role, \
                 t.all_products, tp.product_id FROM dashboard_sessions s JOIN dashboard_users u ON u.id = s.user_id \
                 JOIN api_tokens t ON t.id = u.token_id LEFT JOIN api_token_products tp ON tp.token_id = t.id \
                 WHERE s.session_hash = ? AND s.expires_at > ? AND s.idle_until > ? AND u.disabled_at IS NULL \
                 AND t.revoked_at IS NULL",
            )
            .bind(licensd_core::token::hash(secret))
            .bind(now)
            .bind(now),
        )
        .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let mut products = Vec::new();
    for r in &rows {
        products.extend(r.get::<Option<i64>>("product_id")?);
    }
    let s = Session {
        session_id: first.get("session_id")?,
        user_id: first.get("user_id")?,
        email: first.get("email")?,
        name: first.get("name")?,
        role: first.get_enum("role")?,
        token_id: first.get("token_id")?,
        products: if first.get("all_products")? { None } else { Some(Arc::from(products)) },
        csrf: first.get("csrf_token")?,
    };
    if now - first.get::<i64>("seen_at")? > TOUCH_EVERY_MS {
        db.execute(
            query("UPDATE dashboard_sessions SET seen_at = ?, idle_until = ? WHERE id = ?")
                .bind(now)
                .bind(now + SESSION_IDLE_MS)
                .bind(s.session_id),
        )
        .await?;
    }
    Ok(Some(s))
}

/// Ends a session (sign out).
pub async fn end_session(db: &Db, session_id: i64) -> Result<(), StoreError> {
    db.execute(query("DELETE FROM dashboard_sessions WHERE id = ?").bind(session_id)).await?;
    Ok(())
}

/// Deletes sessions that have ended (`serve` runs it hourly; an ended session is refused whether or not it is
/// kept, so this only keeps the table small).
pub async fn sweep_sessions(db: &Db) -> Result<u64, StoreError> {
    let now = now_ms();
    db.execute(query("DELETE FROM dashboard_sessions WHERE expires_at <= ? OR idle_until <= ?").bind(now).bind(now))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_starts_at_the_fifth_failure_and_doubles_to_an_hour() {
        assert_eq!(lockout_ms(4), None);
        assert_eq!(lockout_ms(5), Some(60_000));
        assert_eq!(lockout_ms(6), Some(120_000));
        assert_eq!(lockout_ms(10), Some(1_920_000));
        assert_eq!(lockout_ms(11), Some(3_600_000));
        assert_eq!(lockout_ms(1000), Some(3_600_000));
    }

    #[test]
    fn passwords_hash_to_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(password_matches(&h, "correct horse battery"));
        assert!(!password_matches(&h, "correct horse batterz"));
        assert!(!password_matches("not a phc string", "x"));
        assert_ne!(hash_password("correct horse battery").unwrap(), h, "a fresh salt each time");
    }
}
