//! The dashboard's Keys and access pages (admins only): an API token's secret shown once and working as a bearer
//! token until revoked, the public key applications embed and the signing key's rotation, dashboard users made
//! with a password or invited by a one-time link; every change in the audit log with the admin's name, and
//! nothing of it open to another role.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use licensd_core::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::dashboard::{Browser, PASSWORD, Page, client, licensed, user};

crate::backend_tests!(
    an_admin_makes_a_token_sees_its_secret_once_and_it_works_until_revoked,
    refused_token_forms_change_nothing_and_show_no_secret,
    support_gets_403_on_every_access_page_and_post_and_nothing_changes,
    the_public_key_shown_is_the_client_apis_and_rotation_keeps_old_answers_verifiable,
    the_rsa_pem_shown_is_the_servers_and_its_rotation_leaves_the_ed25519_key,
    an_invitation_link_sets_the_password_once_and_expires,
    an_admin_creates_and_disables_users,
);

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("{start:?} not in the page:\n{text}")) + start.len();
    let rest = &text[from..];
    &rest[..rest.find(end).unwrap()]
}

/// An admin `ana@acme.com` (Ana Lima), signed in.
async fn admin(app: &TestApp) -> Browser {
    user(app, "ana@acme.com", "Ana Lima", Role::Admin, &[]).await;
    let mut b = Browser::new(app);
    b.sign_in("ana@acme.com").await;
    b
}

/// Posts `fields` to `path` with the CSRF token of the page at `from`.
async fn submit(b: &mut Browser, from: &str, path: &str, fields: &[(&str, &str)]) -> Page {
    let page = b.get(from).await;
    assert_eq!(page.status, 200, "{from}: {}", page.text);
    let csrf = page.csrf();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

/// The one event of this action: its actor.
async fn actor_of(app: &TestApp, action: &str) -> Value {
    let ev = app.get(&format!("/api/v1/events/?action={action}")).await;
    assert_eq!(ev.body["count"], 1, "{action}: {}", ev.text);
    ev.body["results"][0]["actor"].clone()
}

const ANA: &str = "Ana Lima <ana@acme.com>";

async fn an_admin_makes_a_token_sees_its_secret_once_and_it_works_until_revoked(app: TestApp) {
    app.product("app").await;
    app.product("mine").await;
    let mut b = admin(&app).await;
    let home = b.get("/").await;
    assert!(home.text.contains(r#"href="/ui/access">Keys and access</a>"#), "the admin's navigation: {}", home.text);
    let list = b.get("/ui/access").await;
    assert!(list.text.contains("Create a token") && list.text.contains(r#"value="app""#), "{}", list.text);

    let form = [
        ("name", "ci deploy"),
        ("role", "read-only"),
        ("product", "app"),
        ("description", "the CI's deploy job"),
        ("expires_on", "2999-01-01"),
    ];
    let made = submit(&mut b, "/ui/access", "/ui/access", &form).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.headers["cache-control"], "no-store");
    let secret = between(&made.text, r#"id="token-secret">"#, "<").to_string();
    assert!(secret.starts_with("lsd_") && secret.len() > 40, "{secret}");
    assert!(made.text.contains(r#"data-copy="token-secret""#), "a copy button");
    assert!(made.text.contains("not shown again"));

    // The secret is a bearer token of the role and products chosen.
    let r = app.call(Method::GET, "/api/v1/licenses/", Some(&secret), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .call(
            Method::POST,
            "/api/v1/products/",
            Some(&secret),
            Some(crate::common::Body::Json(json!({"product_name": "X", "short_code": "x"}))),
        )
        .await;
    assert_eq!(r.status, 403, "read-only: {}", r.text);
    let id: i64 = between(&made.text, "<dt>ID</dt><dd>", "<").parse().unwrap();
    let t = licensd_store::tokens::get_api(&app.db, id).await.unwrap();
    assert_eq!((t.name.as_str(), t.role, t.products.clone()), ("ci deploy", Role::ReadOnly, vec!["app".to_string()]));
    assert_eq!(t.description, "the CI's deploy job");
    assert_eq!(t.expires_at.map(|e| licensd_core::time::format_iso(e.0)).as_deref(), Some("2999-01-01T00:00:00Z"));

    // Never again: not on the list, not on the token's page, not in the database or the audit log.
    for path in ["/ui/access".to_string(), format!("/ui/access/tokens/{id}"), "/ui/access?live=1".to_string()] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(p.text.contains("ci deploy") && !p.text.contains(&secret), "{path}: {}", p.text);
        assert!(!p.text.contains("token-secret"), "{path}");
    }
    let hash = licensd_core::token::hash(&secret);
    assert_eq!(app.count(&format!("api_tokens WHERE token_hash = '{hash}'")).await, 1);
    assert_eq!(app.count(&format!("events WHERE after_json LIKE '%{secret}%'")).await, 0);
    assert_eq!(actor_of(&app, "api_token.created").await, ANA);

    // The same form again (a reload of the answer re-posts it): the name is taken, no second secret.
    let tokens = app.count("api_tokens").await;
    let again = submit(&mut b, "/ui/access", "/ui/access", &form).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.text.contains("a token named") && !again.text.contains("token-secret"), "{}", again.text);
    assert_eq!(app.count("api_tokens").await, tokens);

    // Its products change.
    let page = format!("/ui/access/tokens/{id}");
    let p = submit(&mut b, &page, &page, &[("action", "products"), ("product", "mine")]).await;
    assert_eq!((p.status, p.location()), (303, format!("{page}?done=products").as_str()), "{}", p.text);
    assert_eq!(licensd_store::tokens::get_api(&app.db, id).await.unwrap().products, ["mine"]);
    assert_eq!(actor_of(&app, "api_token.updated").await, ANA);
    let p = submit(&mut b, &page, &page, &[("action", "products")]).await;
    assert_eq!(p.status, 303, "none checked: every product");
    assert!(licensd_store::tokens::get_api(&app.db, id).await.unwrap().all_products);

    // Revoked: refused at once.
    let shown = b.get(&page).await;
    assert!(shown.text.contains("Revoke…") && shown.text.contains("Confirm: revoke"), "{}", shown.text);
    let p = submit(&mut b, &page, &page, &[("action", "revoke")]).await;
    assert_eq!((p.status, p.location()), (303, format!("{page}?done=revoked").as_str()), "{}", p.text);
    assert!(b.get(p.location()).await.text.contains("The token is revoked"));
    let r = app.call(Method::GET, "/api/v1/licenses/", Some(&secret), None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(actor_of(&app, "api_token.revoked").await, ANA);
    let live = b.get("/ui/access?live=1").await;
    assert!(!live.text.contains("ci deploy"), "a revoked token is hidden on request: {}", live.text);
    // A revoked token's name is free again.
    let p = submit(&mut b, "/ui/access", "/ui/access", &[("name", "ci deploy"), ("role", "admin")]).await;
    assert_eq!(p.status, 201, "{}", p.text);
}

/// A form's fields.
type Form<'a> = &'a [(&'a str, &'a str)];

async fn refused_token_forms_change_nothing_and_show_no_secret(app: TestApp) {
    app.product("app").await;
    let mut b = admin(&app).await;
    let (tokens, events) = (app.count("api_tokens").await, app.count("events").await);
    let cases: &[(Form, u16, &str)] = &[
        (&[("name", "x"), ("role", "root")], 400, "role: must be one of"),
        (&[("name", "x"), ("role", "manager")], 400, "a manager token needs at least one"),
        (&[("name", "x"), ("role", "admin"), ("product", "app")], 400, "an admin token sees every product"),
        (&[("name", "x"), ("role", "support"), ("product", "nope")], 400, "no product with short_code"),
        (&[("name", "x"), ("role", "support"), ("expires_on", "2001-01-01")], 400, "is not in the future"),
        (&[("name", "x"), ("role", "support"), ("expires_on", "soon")], 400, "YYYY-MM-DD"),
        (&[("name", ""), ("role", "support")], 400, "name: must be 1 to 200 characters"),
        (&[("name", "cli"), ("role", "support")], 400, "what the audit log records"),
        (&[("name", "user:ana@acme.com"), ("role", "support")], 400, "dashboard users"),
        (&[("name", "admin"), ("role", "support")], 409, "a token named"),
    ];
    for (form, status, says) in cases {
        let p = submit(&mut b, "/ui/access", "/ui/access", form).await;
        assert_eq!(p.status, *status, "{form:?}: {}", p.text);
        assert!(p.text.contains(says) && !p.text.contains("token-secret"), "{form:?}: {}", p.text);
        // What was typed is kept.
        assert!(p.text.contains("Create a token"), "{form:?}");
    }
    assert_eq!((app.count("api_tokens").await, app.count("events").await), (tokens, events));
    // Unknown tokens and actions, a user's own token.
    let ana_token: i64 = app
        .db
        .fetch_one(licensd_store::db::query("SELECT id FROM api_tokens WHERE kind = 'user'"))
        .await
        .unwrap()
        .get("id")
        .unwrap();
    for path in ["/ui/access/tokens/99999", "/ui/access/tokens/abc", &format!("/ui/access/tokens/{ana_token}")] {
        assert_eq!(b.get(path).await.status, 404, "{path}");
        let p = submit(&mut b, "/ui/access", path, &[("action", "revoke")]).await;
        assert_eq!(p.status, 404, "{path}: {}", p.text);
    }
    assert_eq!(app.count("api_tokens WHERE revoked_at IS NOT NULL").await, 0);
    assert_eq!(b.get("/ui/access?offset=-1").await.status, 400);
}

async fn support_gets_403_on_every_access_page_and_post_and_nothing_changes(app: TestApp) {
    app.product("app").await;
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    user(&app, "sam@acme.com", "Sam Support", Role::Support, &[]).await;
    let secret = app.token("ci", Role::ReadOnly, &[]).await;
    let token = licensd_store::tokens::list(&app.db).await.unwrap().into_iter().find(|t| t.name == "ci").unwrap().id;
    let ana = licensd_store::users::by_email(&app.db, "ana@acme.com").await.unwrap().unwrap().id;
    let key = app.state.key().key_id.clone();
    let tables =
        ["api_tokens", "api_token_products", "dashboard_users", "dashboard_invitations", "signing_keys", "events"];
    let mut before = Vec::new();
    for t in tables {
        before.push(app.count(t).await);
    }

    let mut b = Browser::new(&app);
    b.sign_in("sam@acme.com").await;
    let home = b.get("/").await;
    assert!(!home.text.contains("Keys and access"), "no link to what support may not open");
    let csrf = home.csrf();
    for path in [
        "/ui/access".to_string(),
        "/ui/access/keys".into(),
        "/ui/access/users".into(),
        format!("/ui/access/tokens/{token}"),
        "/ui/access?live=1".into(),
    ] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 403, "{path}: {}", p.text);
        assert!(!p.text.contains("Create a token") && !p.text.contains(&key), "{path}");
    }
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/ui/access".into(), vec![("name", "mine"), ("role", "admin")]),
        (format!("/ui/access/tokens/{token}"), vec![("action", "revoke")]),
        (format!("/ui/access/tokens/{token}"), vec![("action", "products"), ("product", "app")]),
        ("/ui/access/keys".into(), vec![]),
        ("/ui/access/keys".into(), vec![("algorithm", "rsa"), ("bits", "2048")]),
        (
            "/ui/access/users".into(),
            vec![("how", "create"), ("email", "x@acme.com"), ("role", "admin"), ("password", "long enough password")],
        ),
        ("/ui/access/users".into(), vec![("how", "invite"), ("email", "y@acme.com"), ("role", "admin")]),
        (format!("/ui/access/users/{ana}"), vec![("action", "disable")]),
        (format!("/ui/access/users/{ana}"), vec![("action", "invite")]),
    ];
    for (path, fields) in &posts {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields.iter().copied());
        let p = b.post(path, &form).await;
        assert_eq!(p.status, 403, "{path} {fields:?}: {}", p.text);
        assert!(p.text.contains("support"), "the refusal names the role: {}", p.text);
    }
    let mut after = Vec::new();
    for t in tables {
        after.push(app.count(t).await);
    }
    assert_eq!(after, before, "nothing changed in {tables:?}");
    assert_eq!(app.call(Method::GET, "/api/v1/licenses/", Some(&secret), None).await.status, 200);
    let k: Value = reqwest::get(format!("{}/api/v1/client/public-key", app.url)).await.unwrap().json().await.unwrap();
    assert_eq!(k["key_id"], key.as_str());
}

/// A client API answer as it came: body bytes, signature, key id.
async fn signed_check(app: &TestApp, key: &str) -> (Vec<u8>, Signature, String) {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/client/check", app.url))
        .json(&json!({"license_key": key, "hardware_id": "hw-ann-1", "product": "app"}))
        .send()
        .await
        .unwrap();
    let sig = res.headers()["licensd-signature"].to_str().unwrap().to_string();
    let kid = res.headers()["licensd-key-id"].to_str().unwrap().to_string();
    let bytes = res.bytes().await.unwrap().to_vec();
    (bytes, Signature::from_slice(&STANDARD.decode(sig).unwrap()).unwrap(), kid)
}

fn verifying_key(base64: &str) -> VerifyingKey {
    VerifyingKey::from_bytes(&STANDARD.decode(base64).unwrap().try_into().unwrap()).unwrap()
}

async fn the_public_key_shown_is_the_client_apis_and_rotation_keeps_old_answers_verifiable(app: TestApp) {
    let (_, license_key) = licensed(&app).await;
    let mut b = admin(&app).await;
    let served = |app: &TestApp| {
        let url = format!("{}/api/v1/client/public-key", app.url);
        async move { reqwest::get(url).await.unwrap().json::<Value>().await.unwrap() }
    };
    let old = served(&app).await;
    let page = b.get("/ui/access/keys").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let shown_key = between(&page.text, r#"id="public-key">"#, "<").to_string();
    let shown_id = between(&page.text, r#"id="key-id">"#, "<").to_string();
    assert_eq!(
        (shown_id.as_str(), shown_key.as_str()),
        (old["key_id"].as_str().unwrap(), old["public_key"].as_str().unwrap())
    );
    assert!(page.text.contains(r#"data-copy="public-key""#) && page.text.contains(r#"data-copy="key-id""#));
    assert!(page.text.contains("never been rotated"));

    let (bytes, sig, kid) = signed_check(&app, &license_key).await;
    assert_eq!(kid, shown_id);
    let shown = page.text.find("Rotate the signing key…").is_some() && page.text.contains("still verifies");
    assert!(shown, "the confirmation says what rotation means: {}", page.text);
    let p = submit(&mut b, "/ui/access/keys", "/ui/access/keys", &[]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/access/keys?done=rotated"), "{}", p.text);

    // This server signs with the new key at once, and serves it.
    let new = served(&app).await;
    assert_ne!(new["key_id"], old["key_id"]);
    let (bytes2, sig2, kid2) = signed_check(&app, &license_key).await;
    assert_eq!(kid2, new["key_id"].as_str().unwrap());
    verifying_key(new["public_key"].as_str().unwrap()).verify(&bytes2, &sig2).expect("the new key signs");
    let page = b.get("/ui/access/keys?done=rotated").await;
    assert!(page.text.contains("The signing key was rotated"));
    assert_eq!(between(&page.text, r#"id="key-id">"#, "<"), new["key_id"].as_str().unwrap());
    // The old key is listed among those still verifying, and what it signed before verifies with it.
    let older = between(&page.text, r#"id="older-keys""#, "</table>");
    assert!(older.contains(&shown_id) && older.contains(&shown_key), "{older}");
    verifying_key(&shown_key).verify(&bytes, &sig).expect("an answer signed before the rotation still verifies");
    assert!(verifying_key(new["public_key"].as_str().unwrap()).verify(&bytes, &sig).is_err());
    assert_eq!(actor_of(&app, "signing_key.rotated").await, ANA);
    // The RSA key is not rotated with it.
    assert_eq!(between(&page.text, r#"id="rsa-key-id">"#, "<"), app.state.rsa_key().key_id);
    assert!(page.text.contains("never been rotated"), "the RSA key's older list is empty");
    // No private material on the page.
    let rows = app.db.fetch_all(licensd_store::db::query("SELECT secret FROM signing_keys")).await.unwrap();
    assert_eq!(rows.len(), 3, "two Ed25519 keys and the RSA key");
    for r in rows {
        let seed: String = r.get("secret").unwrap();
        assert!(!page.text.contains(&seed), "a stored seed is on the page");
    }
}

/// The PEM on the page as it is copied: its text, HTML entities undone (maud escapes none in a PEM but `+`/`/`
/// pass as they are).
fn shown_pem(page: &str) -> String {
    between(page, r#"id="rsa-public-key-pem">"#, "</code>").to_string()
}

async fn the_rsa_pem_shown_is_the_servers_and_its_rotation_leaves_the_ed25519_key(app: TestApp) {
    let mut b = admin(&app).await;
    let page = b.get("/ui/access/keys").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let rsa = app.state.rsa_key();
    assert_eq!(shown_pem(&page.text), rsa.public_pem());
    assert_eq!(between(&page.text, r#"id="rsa-key-id">"#, "<"), rsa.key_id);
    assert!(page.text.contains(r#"data-copy="rsa-public-key-pem""#) && page.text.contains(r#"data-copy="rsa-key-id""#));
    assert!(page.text.contains("RSA, 2048 bits") && page.text.contains("licensd key show --rsa"));
    assert!(page.text.contains("Rotate the RSA signing key…"));
    // The API lists the same PEM.
    let listed = app.get("/api/v1/signing-keys").await;
    assert_eq!(listed.body["rsa"][0]["public_key_pem"], rsa.public_pem());

    let ed = app.state.key().key_id.clone();
    for bad in ["1024", "big", "8192"] {
        let p = submit(&mut b, "/ui/access/keys", "/ui/access/keys", &[("algorithm", "rsa"), ("bits", bad)]).await;
        assert_eq!(p.status, 400, "{bad}: {}", p.text);
        assert!(p.text.contains("2048, 3072 or 4096"), "{}", p.text);
    }
    let p = submit(&mut b, "/ui/access/keys", "/ui/access/keys", &[("algorithm", "dsa")]).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert_eq!(app.count("signing_keys").await, 2, "refused forms change nothing");

    let p = submit(&mut b, "/ui/access/keys", "/ui/access/keys", &[("algorithm", "rsa"), ("bits", "3072")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/access/keys?done=rotated-rsa"), "{}", p.text);
    let new = app.state.rsa_key();
    assert_ne!(new.key_id, rsa.key_id, "this server signs with the new RSA key at once");
    assert_eq!(new.bits(), 3072);
    assert_eq!(app.state.key().key_id, ed, "the Ed25519 key is untouched");
    let page = b.get("/ui/access/keys?done=rotated-rsa").await;
    assert!(page.text.contains("The RSA signing key was rotated"), "{}", page.text);
    assert_eq!(shown_pem(&page.text), new.public_pem());
    assert!(page.text.contains("RSA, 3072 bits"));
    let older = between(&page.text, r#"id="older-rsa-keys""#, "</table>");
    assert!(older.contains(&rsa.key_id) && older.contains(rsa.public_pem().lines().nth(1).unwrap()), "{older}");
    assert!(page.text.contains("None: the key has never been rotated."), "the Ed25519 key's older list is empty");
    assert_eq!(actor_of(&app, "signing_key.rotated").await, ANA);
    let ev = app.get("/api/v1/events/?action=signing_key.rotated").await;
    assert_eq!(ev.body["results"][0]["after"]["algorithm"], "rsa", "{}", ev.text);
    assert_eq!(ev.body["results"][0]["after"]["bits"], 3072, "{}", ev.text);
    // No private material on the page: neither key's sealed secret.
    let rows = app.db.fetch_all(licensd_store::db::query("SELECT secret FROM signing_keys")).await.unwrap();
    for r in rows {
        let secret: String = r.get("secret").unwrap();
        assert!(!page.text.contains(&secret), "a stored secret is on the page");
    }
}

async fn an_invitation_link_sets_the_password_once_and_expires(app: TestApp) {
    app.product("app").await;
    let mut b = admin(&app).await;
    let form =
        [("how", "invite"), ("email", "nia@acme.com"), ("name", "Nia New"), ("role", "support"), ("product", "app")];
    let made = submit(&mut b, "/ui/access/users", "/ui/access/users", &form).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let link = between(&made.text, r#"id="invite-link">"#, "<").to_string();
    let prefix = format!("{}/ui/invite/", app.url);
    assert!(link.starts_with(&prefix), "{link}");
    let secret = link.trim_start_matches(&prefix).to_string();
    assert!(made.text.contains(r#"data-copy="invite-link""#));
    // Stored hashed; the list says the user is invited, and does not show the link.
    assert_eq!(
        app.count(&format!("dashboard_invitations WHERE secret_hash = '{}'", licensd_core::token::hash(&secret))).await,
        1
    );
    assert_eq!(app.count(&format!("dashboard_invitations WHERE secret_hash = '{secret}'")).await, 0);
    let users = b.get("/ui/access/users").await;
    assert!(
        users.text.contains("nia@acme.com") && users.text.contains("invited; the link works until"),
        "{}",
        users.text
    );
    assert!(!users.text.contains(&secret));
    assert_eq!(actor_of(&app, "dashboard_user.created").await, ANA);
    assert_eq!(actor_of(&app, "dashboard_user.invited").await, ANA);
    // Before the password is set, nothing signs in as the invited user.
    let mut nia = Browser::new(&app);
    assert_eq!(nia.post("/ui/login", &[("email", "nia@acme.com"), ("password", "")]).await.status, 401);

    let path = format!("/ui/invite/{secret}");
    let open = nia.get(&path).await;
    assert_eq!(open.status, 200, "{}", open.text);
    assert!(open.text.contains("Choose your password") && open.text.contains("Nia New"), "{}", open.text);
    let differ = nia.post(&path, &[("password", "a long password 1"), ("confirm", "a long password 2")]).await;
    assert_eq!(differ.status, 400);
    assert!(differ.text.contains("differ"));
    let short = nia.post(&path, &[("password", "short"), ("confirm", "short")]).await;
    assert_eq!(short.status, 400, "{}", short.text);
    let other_site = nia
        .send(
            nia.client
                .post(format!("{}{path}", app.url))
                .header("Origin", "https://evil.example")
                .form(&[("password", PASSWORD), ("confirm", PASSWORD)]),
        )
        .await;
    assert_eq!(other_site.status, 403);
    assert_eq!(app.count("dashboard_users WHERE password_hash = ''").await, 1, "nothing set yet");

    let set = nia.post(&path, &[("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert!(set.text.contains("Your password is set"), "{}", set.text);
    nia.sign_in("nia@acme.com").await;
    assert_eq!(nia.get("/").await.status, 200);
    assert_eq!(actor_of(&app, "dashboard_user.invitation_accepted").await, "Nia New <nia@acme.com>");

    // Used once: refused afterwards, and the password stays.
    let mut again = Browser::new(&app);
    assert_eq!(again.get(&path).await.status, 410);
    let p = again.post(&path, &[("password", "another long one"), ("confirm", "another long one")]).await;
    assert_eq!(p.status, 410, "{}", p.text);
    assert!(p.text.contains("used already"));
    again.sign_in("nia@acme.com").await;
    assert_eq!(again.get("/ui/invite/lsd_nosuchlink").await.status, 404);

    // An expired link is refused and sets nothing; a new link replaces it.
    let form = [("how", "invite"), ("email", "olu@acme.com"), ("role", "read-only")];
    let made = submit(&mut b, "/ui/access/users", "/ui/access/users", &form).await;
    let old = between(&made.text, r#"id="invite-link">"#, "<").trim_start_matches(&prefix).to_string();
    // Seven days pass (the store keeps the time; there is no clock to move).
    app.db
        .execute(
            licensd_store::db::query("UPDATE dashboard_invitations SET expires_at = ? WHERE secret_hash = ?")
                .bind(licensd_core::time::now_ms() - 1)
                .bind(licensd_core::token::hash(&old)),
        )
        .await
        .unwrap();
    let mut olu = Browser::new(&app);
    let p = olu.get(&format!("/ui/invite/{old}")).await;
    assert_eq!(p.status, 410);
    assert!(p.text.contains("expired"));
    let p = olu.post(&format!("/ui/invite/{old}"), &[("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(p.status, 410);
    assert_eq!(app.count("dashboard_users WHERE email = 'olu@acme.com' AND password_hash = ''").await, 1);
    let users = b.get("/ui/access/users").await;
    assert!(users.text.contains("invited; the link has expired"), "{}", users.text);
    let olu_id = licensd_store::users::by_email(&app.db, "olu@acme.com").await.unwrap().unwrap().id;
    let renewed =
        submit(&mut b, "/ui/access/users", &format!("/ui/access/users/{olu_id}"), &[("action", "invite")]).await;
    assert_eq!(renewed.status, 201, "{}", renewed.text);
    let fresh = between(&renewed.text, r#"id="invite-link">"#, "<").trim_start_matches(&prefix).to_string();
    assert_ne!(fresh, old);
    let p = olu.post(&format!("/ui/invite/{fresh}"), &[("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(p.status, 200, "{}", p.text);
    olu.sign_in("olu@acme.com").await;
}

async fn an_admin_creates_and_disables_users(app: TestApp) {
    let (license, _) = licensed(&app).await;
    let mut b = admin(&app).await;
    let users = app.count("dashboard_users").await;
    for (form, says) in [
        (
            vec![("how", "create"), ("email", "max@acme.com"), ("role", "support"), ("password", "short")],
            "password: must be 10",
        ),
        (
            vec![("how", "create"), ("email", "max@acme.com"), ("role", "manager"), ("password", PASSWORD)],
            "at least one",
        ),
        (vec![("how", "create"), ("email", "not an email"), ("role", "support"), ("password", PASSWORD)], "email"),
        (vec![("how", "create"), ("email", "ANA@acme.com"), ("role", "support"), ("password", PASSWORD)], "exists"),
        (vec![("how", "invite"), ("email", "max@acme.com"), ("role", "boss")], "role: must be one of"),
    ] {
        let p = submit(&mut b, "/ui/access/users", "/ui/access/users", &form).await;
        assert!(p.status == 400 || p.status == 409, "{form:?}: {} {}", p.status, p.text);
        assert!(p.text.contains(says), "{form:?}: {}", p.text);
    }
    assert_eq!(app.count("dashboard_users").await, users, "nothing was created");

    let form = [
        ("how", "create"),
        ("email", "max@acme.com"),
        ("name", "Max"),
        ("role", "manager"),
        ("product", "app"),
        ("password", PASSWORD),
    ];
    let p = submit(&mut b, "/ui/access/users", "/ui/access/users", &form).await;
    assert_eq!((p.status, p.location()), (303, "/ui/access/users?done=created"), "{}", p.text);
    assert_eq!(actor_of(&app, "dashboard_user.created").await, ANA);
    let mut max = Browser::new(&app);
    max.sign_in("max@acme.com").await;
    assert_eq!(max.get(&format!("/ui/licenses/{license}")).await.status, 200, "a manager of app");
    assert_eq!(max.get("/ui/access").await.status, 403);

    let id = licensd_store::users::by_email(&app.db, "max@acme.com").await.unwrap().unwrap().id;
    let p = submit(&mut b, "/ui/access/users", &format!("/ui/access/users/{id}"), &[("action", "disable")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/access/users?done=disabled"), "{}", p.text);
    assert_eq!(max.get("/").await.status, 303, "signed out everywhere");
    assert_eq!(actor_of(&app, "dashboard_user.disabled").await, ANA);
    let list = b.get("/ui/access/users?done=disabled").await;
    assert!(list.text.contains("The user is disabled") && list.text.contains("disabled <time"), "{}", list.text);
    // Nobody disables themselves (the last admin could lock everyone out).
    let me = licensd_store::users::by_email(&app.db, "ana@acme.com").await.unwrap().unwrap().id;
    let p = submit(&mut b, "/ui/access/users", &format!("/ui/access/users/{me}"), &[("action", "disable")]).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert_eq!(b.get("/").await.status, 200);
    // The client API is untouched by all this.
    assert_eq!(
        client(
            &app,
            "check",
            &licensd_store::licenses::get(&mut &app.db, &licensd_store::Scope::system(), license)
                .await
                .unwrap()
                .license_key
                .unwrap(),
            "hw-ann-1"
        )
        .await["code"],
        "VALID"
    );
}
