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

// ---------------------------------------------------------------------------------------------
// License API keys: LicenseSpring-style API keys and OAuth clients

crate::backend_tests!(
    an_admin_makes_an_api_key_sees_its_shared_key_once_and_revokes_it,
    an_admin_makes_an_oauth_client_sees_its_secret_once_and_revokes_it,
    support_and_managers_get_403_on_the_license_api_keys_page_and_nothing_changes,
);

/// The `(action, actor)` of every event of a resource type, oldest first.
async fn actions_of(app: &TestApp, resource: &str) -> Vec<(String, String)> {
    let ev = app.get(&format!("/api/v1/events/?resource_type={resource}&order_by=id")).await;
    ev.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["actor"].as_str().unwrap().to_string()))
        .collect()
}

async fn an_admin_makes_an_api_key_sees_its_shared_key_once_and_revokes_it(app: TestApp) {
    app.product("app").await;
    app.product("tool").await;
    let mut b = admin(&app).await;
    let tokens = b.get("/ui/access").await;
    assert!(tokens.text.contains(r#"href="/ui/access/api-keys">License API keys</a>"#), "{}", tokens.text);
    let page = b.get("/ui/access/api-keys").await;
    assert_eq!(page.status, 200, "{}", page.text);
    for text in ["Create an API key", "Create an OAuth client", "No API keys.", "No OAuth clients.", "is not set"] {
        assert!(page.text.contains(text), "{text}: {}", page.text);
    }

    let form = [("name", "Windows app"), ("product", "app"), ("products_other", "tool")];
    let made = submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys", &form).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.headers["cache-control"], "no-store");
    let api_key = between(&made.text, r#"id="api-key-value">"#, "<").to_string();
    let shared = between(&made.text, r#"id="shared-key-value">"#, "<").to_string();
    assert!(made.text.contains(r#"data-copy="shared-key-value""#) && made.text.contains("not shown again"));
    assert_eq!((api_key.len(), shared.len()), (36, 43), "{}", made.text);

    // What the License API's lookup finds at once: the shared key shown, the products chosen.
    let (k, secret) = licensd_store::api_keys::lookup(&app.db, &api_key, None).await.unwrap().expect("live");
    assert_eq!(
        (secret.expose(), k.name.as_str(), k.products.clone()),
        (shared.as_bytes(), "Windows app", vec!["app".into(), "tool".into()])
    );

    // Never again: the list and a reload show the key, never its shared key; the audit log names Ana.
    for path in ["/ui/access/api-keys", "/ui/access/api-keys?revoked=1", "/ui/access/oauth-clients"] {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(
            p.text.contains(&api_key) && p.text.contains("app, tool") && !p.text.contains(&shared),
            "{path}: {}",
            p.text
        );
        assert!(!p.text.contains("shared-key-value"), "{path}");
    }
    assert_eq!(actions_of(&app, "api_key").await, [("api_key.created".to_string(), ANA.to_string())]);
    assert_eq!(app.count(&format!("events WHERE after_json LIKE '%{shared}%'")).await, 0);

    // Refused forms keep what was typed and make nothing; the same form again is a taken name.
    let keys = app.count("api_keys").await;
    let again = submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys", &form).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.text.contains("an API key named") && !again.text.contains("shared-key-value"), "{}", again.text);
    let p =
        submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys", &[("name", "typed"), ("products_other", "nope")])
            .await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("no product with short_code") && p.text.contains(r#"value="typed""#), "{}", p.text);
    let p = submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys", &[("name", "")]).await;
    assert!(p.status == 400 && p.text.contains("name: must not be empty"), "{}", p.text);
    let long = "n".repeat(201);
    let p = submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys", &[("name", long.as_str())]).await;
    assert!(p.status == 400 && p.text.contains("at most 200 characters"), "{}", p.text);
    assert_eq!(app.count("api_keys").await, keys);

    // Revoked behind a confirmation: refused by the next lookup, hidden unless asked for.
    let page = b.get("/ui/access/api-keys").await;
    assert!(page.text.contains("Revoke…") && page.text.contains("Confirm: revoke Windows app"), "{}", page.text);
    let action = format!("/ui/access/api-keys/{}", k.id);
    let p = submit(&mut b, "/ui/access/api-keys", &action, &[("action", "revoke")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/access/api-keys?done=key-revoked"), "{}", p.text);
    assert!(b.get(p.location()).await.text.contains("The API key is revoked"));
    assert!(licensd_store::api_keys::lookup(&app.db, &api_key, None).await.unwrap().is_none());
    assert_eq!(actions_of(&app, "api_key").await.last().unwrap(), &("api_key.revoked".to_string(), ANA.to_string()));
    assert!(!b.get("/ui/access/api-keys").await.text.contains(&api_key), "revoked keys hidden by default");
    let all = b.get("/ui/access/api-keys?revoked=1").await;
    assert!(all.text.contains(&api_key) && all.text.contains("revoked "), "{}", all.text);
    // Again, unknown ids and actions.
    assert_eq!(submit(&mut b, "/ui/access/api-keys", &action, &[("action", "revoke")]).await.status, 303);
    assert_eq!(actions_of(&app, "api_key").await.len(), 2, "revoking twice records once");
    assert_eq!(
        submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys/999999", &[("action", "revoke")]).await.status,
        404
    );
    assert_eq!(
        submit(&mut b, "/ui/access/api-keys", "/ui/access/api-keys/abc", &[("action", "revoke")]).await.status,
        404
    );
    assert_eq!(submit(&mut b, "/ui/access/api-keys", &action, &[("action", "rename")]).await.status, 400);
    // Without the form's CSRF token, nothing.
    let p = b.post("/ui/access/api-keys", &[("name", "forged")]).await;
    assert_eq!(p.status, 403, "{}", p.text);
    assert_eq!(app.count("api_keys").await, keys);
}

async fn an_admin_makes_an_oauth_client_sees_its_secret_once_and_revokes_it(app: TestApp) {
    app.product("app").await;
    let mut b = admin(&app).await;
    let made =
        submit(&mut b, "/ui/access/api-keys", "/ui/access/oauth-clients", &[("name", "backend"), ("product", "app")])
            .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let client_id = between(&made.text, r#"id="client-id-value">"#, "<").to_string();
    let secret = between(&made.text, r#"id="client-secret-value">"#, "<").to_string();
    let c = licensd_store::oauth::authenticate(&app.db, &client_id, &secret, None).await.unwrap().expect("works");
    assert_eq!((c.name.as_str(), c.products.clone()), ("backend", vec!["app".to_string()]));
    let page = b.get("/ui/access/api-keys").await;
    assert!(page.text.contains(&client_id) && !page.text.contains(&secret), "{}", page.text);
    let again = submit(&mut b, "/ui/access/api-keys", "/ui/access/oauth-clients", &[("name", "backend")]).await;
    assert!(again.status == 409 && again.text.contains("an OAuth client named"), "{}", again.text);
    assert!(again.text.contains(r#"id="oauth-client-name" type="text" name="name" value="backend""#), "{}", again.text);

    let action = format!("/ui/access/oauth-clients/{}", c.id);
    let p = submit(&mut b, "/ui/access/api-keys", &action, &[("action", "revoke")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/access/api-keys?done=client-revoked"), "{}", p.text);
    assert!(b.get(p.location()).await.text.contains("The OAuth client is revoked"));
    assert!(licensd_store::oauth::authenticate(&app.db, &client_id, &secret, None).await.unwrap().is_none());
    let log = actions_of(&app, "oauth_client").await;
    assert_eq!(
        log,
        [("oauth_client.created".to_string(), ANA.to_string()), ("oauth_client.revoked".to_string(), ANA.to_string())]
    );
}

async fn support_and_managers_get_403_on_the_license_api_keys_page_and_nothing_changes(app: TestApp) {
    app.product("app").await;
    user(&app, "sam@acme.com", "Sam Support", Role::Support, &[]).await;
    user(&app, "max@acme.com", "Max Manager", Role::Manager, &["app"]).await;
    let key = app.post("/api/v1/api-keys", json!({"name": "sdk"})).await.body["id"].as_i64().unwrap();
    let client = app.post("/api/v1/oauth-clients", json!({"name": "sdk"})).await.body["id"].as_i64().unwrap();
    let tables = ["api_keys", "api_key_products", "oauth_clients", "oauth_client_products", "events"];
    let mut before = Vec::new();
    for t in tables {
        before.push(app.count(t).await);
    }
    for email in ["sam@acme.com", "max@acme.com"] {
        let mut b = Browser::new(&app);
        b.sign_in(email).await;
        let csrf = b.get("/").await.csrf();
        for path in ["/ui/access/api-keys", "/ui/access/oauth-clients", "/ui/access/api-keys?revoked=1"] {
            let p = b.get(path).await;
            assert_eq!(p.status, 403, "{email} {path}: {}", p.text);
            assert!(!p.text.contains("Create an API key"), "{path}");
        }
        let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/ui/access/api-keys".into(), vec![("name", "mine")]),
            ("/ui/access/oauth-clients".into(), vec![("name", "mine")]),
            (format!("/ui/access/api-keys/{key}"), vec![("action", "revoke")]),
            (format!("/ui/access/oauth-clients/{client}"), vec![("action", "revoke")]),
        ];
        for (path, fields) in &posts {
            let mut form = vec![("csrf", csrf.as_str())];
            form.extend(fields.iter().copied());
            let p = b.post(path, &form).await;
            assert_eq!(p.status, 403, "{email} {path}: {}", p.text);
        }
    }
    let mut after = Vec::new();
    for t in tables {
        after.push(app.count(t).await);
    }
    assert_eq!(after, before, "nothing changed in {tables:?}");
}
