//! Dashboard invitations (`store::users`): a link's secret is kept hashed and works once, even when it is
//! used twice at the same moment; a new link, a password set another way, or a disable ends the open ones; the
//! person who invited and the one who accepted are the events' actors. SQLite always; PostgreSQL when
//! `LICENSD_TEST_POSTGRES` names a server.

use licensd_core::model::Role;
use licensd_store::db::{Db, query};
use licensd_store::users::{self, LinkRefused, NewUser};
use licensd_store::{Scope, StoreError};

async fn sqlite(name: &str) -> Db {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Db::connect(&format!("sqlite://{}", path.display())).await.unwrap()
}

async fn postgres(name: &str) -> Option<Db> {
    Some(Db::connect(&licensd_testkit::fresh_postgres(name)?).await.unwrap())
}

fn admin() -> Scope {
    Scope { actor: "Ana Lima <ana@acme.com>".into(), ..Scope::system() }
}

fn invitee(email: &str) -> NewUser {
    NewUser { email: email.into(), name: String::new(), role: Role::Support, products: vec![], password: String::new() }
}

async fn actors(db: &Db, action: &str) -> Vec<String> {
    let rows = db.fetch_all(query("SELECT actor FROM events WHERE action = ? ORDER BY id").bind(action)).await.unwrap();
    rows.iter().map(|r| r.get("actor").unwrap()).collect()
}

async fn an_invitation_works_once(db: &Db) {
    let inv = users::create_invited(db, &admin(), &invitee("nia@acme.com")).await.unwrap();
    assert!(!inv.user.has_password);
    assert_eq!(inv.user.invitation_expires_at, Some(inv.expires_at));
    let stored = db.fetch_one(query("SELECT secret_hash, created_by FROM dashboard_invitations")).await.unwrap();
    assert_eq!(stored.get::<String>("secret_hash").unwrap(), licensd_core::token::hash(&inv.secret));
    assert_eq!(stored.get::<String>("created_by").unwrap(), "Ana Lima <ana@acme.com>");
    // No password matches an invited user's empty one.
    assert_eq!(
        users::sign_in(db, "nia@acme.com", "", "", "").await.unwrap().unwrap_err(),
        users::Refused::BadCredentials
    );
    let e =
        users::create_invited(db, &admin(), &NewUser { password: "a long password".into(), ..invitee("x@acme.com") })
            .await
            .unwrap_err();
    assert!(matches!(e, StoreError::Invalid { .. }), "{e}");

    // Two uses at once: exactly one sets the password.
    let (a, b) = tokio::join!(
        users::accept_invitation(db, &inv.secret, "first long password"),
        users::accept_invitation(db, &inv.secret, "second long password"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    assert_eq!(a.as_ref().err().or(b.as_ref().err()), Some(&LinkRefused::Used));
    let won = if a.is_ok() { "first long password" } else { "second long password" };
    let lost = if a.is_ok() { "second long password" } else { "first long password" };
    assert!(users::sign_in(db, "nia@acme.com", won, "", "").await.unwrap().is_ok());
    assert!(users::sign_in(db, "nia@acme.com", lost, "", "").await.unwrap().is_err());
    assert_eq!(users::invitation(db, &inv.secret).await.unwrap().unwrap_err(), LinkRefused::Used);
    assert_eq!(users::invitation(db, "lsd_unknown").await.unwrap().unwrap_err(), LinkRefused::Unknown);
    assert_eq!(actors(db, "dashboard_user.invitation_accepted").await, ["nia@acme.com"]);
    assert_eq!(actors(db, "dashboard_user.invited").await, ["Ana Lima <ana@acme.com>"]);
}

async fn newer_links_passwords_and_disables_end_open_ones(db: &Db) {
    let first = users::create_invited(db, &admin(), &invitee("olu@acme.com")).await.unwrap();
    let second = users::invite(db, &admin(), first.user.id).await.unwrap();
    assert_eq!(users::invitation(db, &first.secret).await.unwrap().unwrap_err(), LinkRefused::Expired);
    assert!(users::invitation(db, &second.secret).await.unwrap().is_ok());
    let r = users::accept_invitation(db, &first.secret, "a long password").await.unwrap();
    assert_eq!(r.unwrap_err(), LinkRefused::Expired);
    // A password set by `licensd user password` makes the link moot.
    users::set_password(db, first.user.id, "set by the operator").await.unwrap();
    assert_eq!(users::invitation(db, &second.secret).await.unwrap().unwrap_err(), LinkRefused::Expired);
    // A disabled user's link stops working, and they are not invited again.
    let third = users::invite(db, &admin(), first.user.id).await.unwrap();
    users::disable_as(db, &admin(), first.user.id).await.unwrap();
    assert_eq!(users::invitation(db, &third.secret).await.unwrap().unwrap_err(), LinkRefused::Expired);
    assert!(matches!(users::invite(db, &admin(), first.user.id).await, Err(StoreError::State(_))));
    // Disabling again records nothing more.
    users::disable_as(db, &admin(), first.user.id).await.unwrap();
    assert_eq!(actors(db, "dashboard_user.disabled").await, ["Ana Lima <ana@acme.com>"]);
    // A bad password is refused before anything is written.
    let fourth = users::create_invited(db, &admin(), &invitee("pat@acme.com")).await.unwrap();
    assert!(matches!(users::accept_invitation(db, &fourth.secret, "short").await, Err(StoreError::Invalid { .. })));
    assert!(users::invitation(db, &fourth.secret).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_invitation_works_once() {
    an_invitation_works_once(&sqlite("invitations-once").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_invitation_works_once() {
    let Some(db) = postgres("invitations_once").await else { return };
    an_invitation_works_once(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_newer_links_passwords_and_disables_end_open_ones() {
    newer_links_passwords_and_disables_end_open_ones(&sqlite("invitations-end").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_newer_links_passwords_and_disables_end_open_ones() {
    let Some(db) = postgres("invitations_end").await else { return };
    newer_links_passwords_and_disables_end_open_ones(&db).await;
}

/// An email has one user whatever its case, even when eight creates race (the indexes decide, not a read first).
async fn an_email_has_one_user_even_under_concurrent_creates(db: &Db) {
    let user = |email: &str| NewUser { password: "a long password".into(), ..invitee(email) };
    let creates: Vec<_> = (0..8)
        .map(|i| {
            let db = db.clone();
            let u = user(if i % 2 == 0 { "Sam@acme.com" } else { "sam@ACME.com" });
            tokio::spawn(async move { users::create(&db, &u).await })
        })
        .collect();
    let mut ok = 0;
    for c in creates {
        match c.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict { field, message }) => {
                assert_eq!(field, "email");
                assert!(
                    message.starts_with("a dashboard user with the email ") && message.ends_with(" exists"),
                    "{message}"
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(users::list(db).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_email_has_one_user_even_under_concurrent_creates() {
    an_email_has_one_user_even_under_concurrent_creates(&sqlite("users-one-email").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_email_has_one_user_even_under_concurrent_creates() {
    let Some(db) = postgres("users_one_email").await else { return };
    an_email_has_one_user_even_under_concurrent_creates(&db).await;
}

/// Ended sessions are refused, and the sweep `serve` runs hourly deletes them and only them.
async fn ended_sessions_are_swept(db: &Db) {
    let u = NewUser { password: "a long password".into(), ..invitee("sid@acme.com") };
    users::create(db, &u).await.unwrap();
    let open = |db: &Db| {
        let db = db.clone();
        async move { users::sign_in(&db, "sid@acme.com", "a long password", "", "").await.unwrap().unwrap() }
    };
    let (ended, live) = (open(db).await, open(db).await);
    db.execute(
        query("UPDATE dashboard_sessions SET idle_until = 1 WHERE session_hash = ?")
            .bind(licensd_core::token::hash(&ended.secret)),
    )
    .await
    .unwrap();
    assert!(users::session(db, &ended.secret).await.unwrap().is_none());
    assert_eq!(users::sweep_sessions(db).await.unwrap(), 1);
    assert!(users::session(db, &live.secret).await.unwrap().is_some());
    assert_eq!(users::sweep_sessions(db).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ended_sessions_are_swept() {
    ended_sessions_are_swept(&sqlite("users-sweep").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ended_sessions_are_swept() {
    let Some(db) = postgres("users_sweep").await else { return };
    ended_sessions_are_swept(&db).await;
}
