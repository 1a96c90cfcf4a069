//! The web dashboard over HTTP, as a browser speaks it (forms, cookies, redirects): sign-in and its cookie,
//! lockout, CSRF, the person's scope and role on every page, and actions that reach the client API. The same
//! flows in a real browser are in `crates/cli/tests/cli/browser.rs`.

use licensd_core::model::Role;
use licensd_server::AppState;
use licensd_server::front_door::HttpConfig;
use licensd_store::users::NewUser;
use reqwest::header::{HeaderMap, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::common::TestApp;

crate::backend_tests!(
    sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session,
    a_wrong_password_reads_as_an_unknown_email_and_repeated_failures_lock_the_account,
    a_form_without_its_csrf_token_or_from_another_site_is_refused_and_changes_nothing,
    disabling_a_license_in_the_dashboard_makes_check_answer_disabled_and_names_the_person,
    search_finds_customers_licenses_and_devices_by_email_key_and_hardware_id,
    a_manager_sees_only_its_products_by_url_and_by_search,
    support_may_disable_and_reset_but_not_refund,
    pages_escape_what_customers_typed,
    a_users_token_is_never_a_bearer_token_nor_listed,
    a_disabled_user_is_signed_out_everywhere,
    issuing_licenses_makes_an_order_for_the_customer_as_a_store_would,
    a_customers_details_are_edited_as_the_role_allows,
    lists_page_and_filter_on_the_server,
    the_home_page_charts_what_the_client_api_decided,
);

mod secure_cookie {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) =
            crate::common::TestApp::spawn_with(crate::common::Backend::Sqlite, super::https_public_url).await
        {
            super::behind_https_the_session_cookie_is_secure(app).await;
        }
    }
}

fn https_public_url(s: AppState) -> AppState {
    s.with_http(HttpConfig { public_url: Some("https://lic.example.com".parse().unwrap()), ..HttpConfig::default() })
}

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) async fn user(app: &TestApp, email: &str, name: &str, role: Role, products: &[&str]) {
    let u = NewUser {
        email: email.into(),
        name: name.into(),
        role,
        products: products.iter().map(|p| p.to_string()).collect(),
        password: PASSWORD.into(),
    };
    licensd_store::users::create(&app.db, &u).await.expect("user");
}

/// A browser: a cookie it keeps, redirects shown rather than followed (a clone is another tab of it).
#[derive(Clone)]
pub(crate) struct Browser {
    base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) cookie: Option<String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Page {
    /// The CSRF token of the page's forms.
    pub(crate) fn csrf(&self) -> String {
        let at =
            self.text.find(r#"name="csrf" value=""#).expect("a form with its token") + r#"name="csrf" value=""#.len();
        self.text[at..].split('"').next().unwrap().to_string()
    }

    /// The version the page's first edit form carries (the record it shows, for a save to send back).
    pub(crate) fn version(&self) -> String {
        self.version_after("")
    }

    /// The version of the first edit form after `marker` in the page (a license's edit form: its `action`'s
    /// hidden field, `name="action" value="note"`).
    pub(crate) fn version_after(&self, marker: &str) -> String {
        let from = self.text.find(marker).unwrap_or_else(|| panic!("no {marker} in the page: {}", self.text));
        let rest = &self.text[from..];
        let at = rest.find(r#"name="version" value=""#).expect("an edit form with its version")
            + r#"name="version" value=""#.len();
        rest[at..].split('"').next().unwrap().to_string()
    }

    pub(crate) fn location(&self) -> &str {
        self.headers.get(LOCATION).map_or("", |v| v.to_str().unwrap())
    }
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        let client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        Browser { base: app.url.clone(), client, cookie: None }
    }

    pub(crate) async fn send(&mut self, rb: reqwest::RequestBuilder) -> Page {
        let rb = match &self.cookie {
            Some(c) => rb.header("Cookie", format!("licensd_session={c}")),
            None => rb,
        };
        let res = rb.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE) {
            let v = set.to_str().unwrap();
            let value = v.split(';').next().unwrap().trim_start_matches("licensd_session=").to_string();
            self.cookie = (!value.is_empty()).then_some(value);
        }
        Page { status, headers, text: res.text().await.unwrap() }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let rb = self.client.get(format!("{}{path}", self.base));
        self.send(rb).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let rb = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(rb).await
    }

    async fn post_owned(&mut self, path: &str, form: &[(&str, String)]) -> Page {
        let rb = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(rb).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str) -> Page {
        let p = self.post("/ui/login", &[("email", email), ("password", PASSWORD), ("next", "/")]).await;
        assert_eq!((p.status, p.location()), (303, "/"), "{}", p.text);
        p
    }

    /// Posts a license page's action with the page's own CSRF token (and, for an edit, the version its form
    /// carries, when the page has that form).
    pub(crate) async fn act(&mut self, license: i64, fields: &[(&str, &str)]) -> Page {
        let page = self.get(&format!("/ui/licenses/{license}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let csrf = page.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        let action = fields.iter().find(|(k, _)| *k == "action").map_or("", |(_, v)| *v);
        let marker = format!(r#"name="action" value="{action}"><input type="hidden" name="version""#);
        let version = page.text.contains(&marker).then(|| page.version_after(&marker));
        if let Some(v) = &version {
            form.push(("version", v.as_str()));
        }
        form.extend_from_slice(fields);
        self.post(&format!("/ui/licenses/{license}/act"), &form).await
    }
}

/// A product `app`, a license of it for `ann@example.com` activated on `hw-ann-1`; returns (license id, key).
pub(crate) async fn licensed(app: &TestApp) -> (i64, String) {
    if app.count("products").await == 0 {
        app.product("app").await;
    }
    let l = app
        .license(json!({"product": "app", "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}}))
        .await;
    let key = l["license_key"].as_str().unwrap().to_string();
    let r = client(app, "activate", &key, "hw-ann-1").await;
    assert_eq!(r["code"], "ACTIVATED", "{r}");
    (l["id"].as_i64().unwrap(), key)
}

pub(crate) async fn client(app: &TestApp, what: &str, key: &str, hw: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/api/v1/client/{what}", app.url))
        .json(&json!({"license_key": key, "hardware_id": hw, "product": "app"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session(app: TestApp) {
    user(&app, "ana@acme.com", "Ana Lima", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    // Not signed in: every page sends the person to sign in, and back afterwards.
    let p = b.get("/ui/search?q=ann").await;
    assert_eq!((p.status, p.location()), (303, "/ui/login?next=%2Fui%2Fsearch%3Fq%3Dann"));
    let login = b.get("/ui/login").await;
    assert_eq!(login.status, 200);
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(login.headers["x-frame-options"], "DENY");

    let p =
        b.post("/ui/login", &[("email", "ANA@acme.com"), ("password", PASSWORD), ("next", "/ui/search?q=ann")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/search?q=ann"), "the email is matched whatever its case");
    let cookie = p.headers[SET_COOKIE].to_str().unwrap().to_string();
    let attrs: Vec<&str> = cookie.split("; ").collect();
    assert!(attrs[0].starts_with("licensd_session=lsd_") && attrs[0].len() > 40, "{cookie}");
    for a in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(attrs.contains(&a), "{a} missing: {cookie}");
    }
    assert!(!attrs.contains(&"Secure"), "plain http: a Secure cookie would not come back: {cookie}");
    // The session is stored as a hash only.
    let secret = attrs[0].trim_start_matches("licensd_session=");
    let stored =
        app.count(&format!("dashboard_sessions WHERE session_hash = '{}'", licensd_core::token::hash(secret))).await;
    assert_eq!(stored, 1);
    assert_eq!(app.count(&format!("dashboard_sessions WHERE session_hash = '{secret}'")).await, 0);

    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("Ana Lima") && home.headers["cache-control"] == "no-store", "{}", home.text);
    // A `next` that leaves the site is not followed.
    let mut b2 = Browser::new(&app);
    let p =
        b2.post("/ui/login", &[("email", "ana@acme.com"), ("password", PASSWORD), ("next", "//evil.example/x")]).await;
    assert_eq!(p.location(), "/");

    let csrf = home.csrf();
    let out = b.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (303, "/ui/login"));
    assert!(out.headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    // The old cookie names no session any more.
    b.cookie = Some(secret.to_string());
    assert_eq!(b.get("/").await.status, 303);
    assert_eq!(
        app.count(&format!("dashboard_sessions WHERE session_hash = '{}'", licensd_core::token::hash(secret))).await,
        0
    );
}

async fn behind_https_the_session_cookie_is_secure(app: TestApp) {
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    let p = b.sign_in("ana@acme.com").await;
    let cookie = p.headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.split("; ").any(|a| a == "Secure"), "{cookie}");
}

async fn a_wrong_password_reads_as_an_unknown_email_and_repeated_failures_lock_the_account(app: TestApp) {
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    let unknown = b.post("/ui/login", &[("email", "nobody@acme.com"), ("password", PASSWORD)]).await;
    let wrong = b.post("/ui/login", &[("email", "ana@acme.com"), ("password", "wrong password!")]).await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    let msg = |p: &Page| p.text.split("role=\"alert\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert_eq!(msg(&unknown), msg(&wrong), "the answer does not tell whether the email exists");
    assert!(b.cookie.is_none());
    for _ in 0..4 {
        let p = b.post("/ui/login", &[("email", "ana@acme.com"), ("password", "wrong password!")]).await;
        assert_eq!(p.status, 401);
    }
    // Five failures: the account is locked, and even the right password is refused without being checked.
    let locked = b.post("/ui/login", &[("email", "ana@acme.com"), ("password", PASSWORD)]).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert!(locked.text.contains("locked until"), "{}", locked.text);
    assert!(b.cookie.is_none());
    assert_eq!(app.count("dashboard_sessions").await, 0);
    // An administrator's new password lifts the lock.
    let u = licensd_store::users::by_email(&app.db, "ana@acme.com").await.unwrap().unwrap();
    assert!(u.locked_until.is_some());
    licensd_store::users::set_password(&app.db, u.id, PASSWORD).await.unwrap();
    b.sign_in("ana@acme.com").await;
}

async fn a_form_without_its_csrf_token_or_from_another_site_is_refused_and_changes_nothing(app: TestApp) {
    let (id, key) = licensed(&app).await;
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let events = app.count("events").await;
    let no_token = b.post(&format!("/ui/licenses/{id}/act"), &[("action", "disable")]).await;
    assert_eq!(no_token.status, 403, "{}", no_token.text);
    assert!(no_token.text.contains("Nothing was changed"));
    let wrong = b.post(&format!("/ui/licenses/{id}/act"), &[("action", "disable"), ("csrf", "lsd_guess")]).await;
    assert_eq!(wrong.status, 403);
    // Another session's token is not this one's.
    let mut other = Browser::new(&app);
    other.sign_in("ana@acme.com").await;
    let theirs = other.get(&format!("/ui/licenses/{id}")).await.csrf();
    let p = b.post(&format!("/ui/licenses/{id}/act"), &[("action", "disable"), ("csrf", &theirs)]).await;
    assert_eq!(p.status, 403);
    // The right token from another site's page (the browser says where the form was).
    let mine = b.get(&format!("/ui/licenses/{id}")).await.csrf();
    let rb = b
        .client
        .post(format!("{}/ui/licenses/{id}/act", app.url))
        .header(ORIGIN, "https://evil.example")
        .form(&[("action", "disable"), ("csrf", mine.as_str())]);
    assert_eq!(b.send(rb).await.status, 403);
    // Signing out needs the token too (a page elsewhere cannot sign a person out).
    assert_eq!(b.post("/ui/logout", &[]).await.status, 403);

    assert_eq!(app.count("events").await, events, "nothing was recorded");
    assert_eq!(client(&app, "check", &key, "hw-ann-1").await["code"], "VALID", "nothing was changed");
    assert_eq!(app.count(&format!("licenses WHERE id = {id} AND enabled = TRUE")).await, 1);
}

async fn disabling_a_license_in_the_dashboard_makes_check_answer_disabled_and_names_the_person(app: TestApp) {
    let (id, key) = licensed(&app).await;
    user(&app, "sam@acme.com", "Sam Support", Role::Support, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("sam@acme.com").await;
    let p = b.act(id, &[("action", "disable"), ("note", "chargeback #4411")]).await;
    assert_eq!((p.status, p.location()), (303, format!("/ui/licenses/{id}?done=disable").as_str()), "{}", p.text);
    let page = b.get(p.location()).await;
    assert!(page.text.contains("The license is disabled"), "{}", page.text);
    assert!(page.text.contains("status-disabled"), "{}", page.text);
    assert_eq!(client(&app, "check", &key, "hw-ann-1").await["code"], "DISABLED");

    // The audit log names the person and keeps the note, in the API's view too.
    let ev = app.get(&format!("/api/v1/events/?license={id}&action=license.disabled")).await;
    assert_eq!(ev.body["count"], 1, "{}", ev.text);
    assert_eq!(ev.body["results"][0]["actor"], "Sam Support <sam@acme.com>");
    assert_eq!(ev.body["results"][0]["note"], "chargeback #4411");
    assert!(page.text.contains("Sam Support &lt;sam@acme.com&gt;") && page.text.contains("chargeback #4411"));

    // Disabling again is refused on the page, which shows the license as it is.
    let again = b.act(id, &[("action", "disable")]).await;
    assert_eq!(again.status, 409);
    assert!(again.text.contains("already disabled"), "{}", again.text);

    // Enable, reset, deactivate one device, and the edits support may make.
    assert_eq!(b.act(id, &[("action", "enable")]).await.status, 303);
    assert_eq!(client(&app, "check", &key, "hw-ann-1").await["code"], "VALID");
    client(&app, "activate", &key, "hw-ann-2").await;
    let device: i64 = app.get(&format!("/api/v1/devices/?license={id}&hardware_id=hw-ann-1")).await.body["results"][0]
        ["id"]
        .as_i64()
        .unwrap();
    let p = b.act(id, &[("action", "deactivate_device"), ("device", &device.to_string())]).await;
    assert_eq!(p.status, 303, "{}", p.text);
    assert_eq!(client(&app, "check", &key, "hw-ann-1").await["code"], "NOT_ACTIVATED");
    assert_eq!(b.act(id, &[("action", "note"), ("value", "VIP, call first")]).await.status, 303);
    let l = app.get(&format!("/api/v1/licenses/{id}")).await.body;
    assert_eq!(l["note"], "VIP, call first");
    assert_eq!(b.act(id, &[("action", "reset")]).await.status, 303);
    assert_eq!(client(&app, "check", &key, "hw-ann-2").await["code"], "NOT_ACTIVATED");
    assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["times_activated"], 0);
}

async fn search_finds_customers_licenses_and_devices_by_email_key_and_hardware_id(app: TestApp) {
    let (id, key) = licensed(&app).await;
    app.license(json!({"product": "app", "customer": {"email": "bob@example.org"}})).await;
    user(&app, "ana@acme.com", "", Role::ReadOnly, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let section = |p: &Page, id: &str| {
        let from = p.text.find(&format!("id=\"{id}\"")).unwrap();
        let rest = &p.text[from..];
        rest[..rest.find("</section>").unwrap()].to_string()
    };
    let by_email = b.get("/ui/search?q=ann%40example.com").await;
    assert_eq!(by_email.status, 200);
    assert!(section(&by_email, "r-customers").contains("Ann Lee"), "{}", by_email.text);
    assert!(section(&by_email, "r-licenses").contains(&format!("/ui/licenses/{id}")));
    assert!(!by_email.text.contains("bob@example.org"));
    let by_key = b.get(&format!("/ui/search?q={}", key.to_lowercase().replace('-', ""))).await;
    assert!(section(&by_key, "r-licenses").contains(&key), "a key as typed, without dashes, in lower case");
    let by_hw = b.get("/ui/search?q=hw-ann-1").await;
    assert!(
        section(&by_hw, "r-devices").contains("hw-ann-1")
            && section(&by_hw, "r-devices").contains(&format!("/ui/licenses/{id}"))
    );
    let short = b.get("/ui/search?q=an").await;
    assert_eq!(short.status, 400);
    // A read-only person sees the license but no action on it.
    let page = b.get(&format!("/ui/licenses/{id}")).await;
    assert!(page.text.contains(&key) && !page.text.contains("Disable…") && !page.text.contains("name=\"action\""));
    let p = b.post(&format!("/ui/licenses/{id}/act"), &[("csrf", &page.csrf()), ("action", "disable")]).await;
    assert_eq!(p.status, 403, "{}", p.text);
}

async fn a_manager_sees_only_its_products_by_url_and_by_search(app: TestApp) {
    let (theirs, _) = licensed(&app).await;
    let customer = app.get(&format!("/api/v1/licenses/{theirs}")).await.body["customer"]["id"].as_i64().unwrap();
    app.product("mine").await;
    let own = app.license(json!({"product": "mine", "customer": {"email": "ann.mine@example.com"}})).await["id"]
        .as_i64()
        .unwrap();
    user(&app, "max@acme.com", "", Role::Manager, &["mine"]).await;
    let mut b = Browser::new(&app);
    b.sign_in("max@acme.com").await;
    assert_eq!(b.get(&format!("/ui/licenses/{own}")).await.status, 200);
    for path in [format!("/ui/licenses/{theirs}"), format!("/ui/customers/{customer}")] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 404, "{path}: {}", p.text);
        assert!(!p.text.contains("ann@example.com"), "{path}");
    }
    let found = b.get("/ui/search?q=ann").await;
    assert!(found.text.contains("ann.mine@example.com"), "{}", found.text);
    assert!(!found.text.contains("ann@example.com") && !found.text.contains("hw-ann-1"), "{}", found.text);
    // Its own license's page cannot be used to act on another's device.
    let device: i64 =
        app.get(&format!("/api/v1/devices/?license={theirs}")).await.body["results"][0]["id"].as_i64().unwrap();
    let p = b.act(own, &[("action", "deactivate_device"), ("device", &device.to_string())]).await;
    assert_eq!(p.status, 404);
    assert_eq!(app.count("devices WHERE deactivated_at IS NULL").await, 1);
}

async fn support_may_disable_and_reset_but_not_refund(app: TestApp) {
    let (id, _) = licensed(&app).await;
    user(&app, "sam@acme.com", "", Role::Support, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("sam@acme.com").await;
    let page = b.get(&format!("/ui/licenses/{id}")).await;
    assert!(page.text.contains("Disable…") && page.text.contains("Reset activations…"));
    assert!(!page.text.contains("Refund…") && !page.text.contains("Change the activation limit"));
    let p = b.act(id, &[("action", "refund")]).await;
    assert_eq!(p.status, 403);
    assert!(p.text.contains("support"), "{}", p.text);
    let p = b.act(id, &[("action", "max_activations"), ("value", "99")]).await;
    assert_eq!(p.status, 403);
    let l = app.get(&format!("/api/v1/licenses/{id}")).await.body;
    assert_eq!((l["refunded"].as_bool(), l["max_activations"].as_i64()), (Some(false), Some(1)));
}

async fn pages_escape_what_customers_typed(app: TestApp) {
    app.product("app").await;
    let l = app
        .license(json!({"product": "app", "note": "<img src=x onerror=alert(1)>", "customer": {"email": "x@example.com", "first_name": "<script>alert(1)</script>"}}))
        .await;
    let id = l["id"].as_i64().unwrap();
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    for path in [format!("/ui/licenses/{id}"), "/ui/search?q=x%40example.com".to_string()] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 200);
        assert!(!p.text.contains("<script>alert") && !p.text.contains("<img src=x"), "{path}: {}", p.text);
        assert!(p.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{path}: {}", p.text);
    }
}

async fn a_users_token_is_never_a_bearer_token_nor_listed(app: TestApp) {
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let tokens = licensd_store::tokens::list(&app.db).await.unwrap();
    assert!(tokens.iter().all(|t| !t.name.starts_with("user:")), "{tokens:?}");
    assert_eq!(app.count("api_tokens WHERE kind = 'user'").await, 1);
    // Nobody holds its secret; a session's secret is not a bearer token either.
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let r = app.call(reqwest::Method::GET, "/api/v1/licenses", Some(b.cookie.as_deref().unwrap()), None).await;
    assert_eq!(r.status, 401);
    // An API token cannot take a user's name.
    let t = licensd_store::tokens::create(&app.db, "user:ana@acme.com", Role::Admin, &[]).await;
    assert!(matches!(t, Err(licensd_store::StoreError::Invalid { .. })), "{t:?}");
}

async fn a_disabled_user_is_signed_out_everywhere(app: TestApp) {
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    assert_eq!(b.get("/").await.status, 200);
    let u = licensd_store::users::by_email(&app.db, "ana@acme.com").await.unwrap().unwrap();
    licensd_store::users::disable(&app.db, u.id).await.unwrap();
    assert_eq!(b.get("/").await.status, 303);
    let p = b.post("/ui/login", &[("email", "ana@acme.com"), ("password", PASSWORD)]).await;
    assert_eq!(p.status, 401);
}

async fn issuing_licenses_makes_an_order_for_the_customer_as_a_store_would(app: TestApp) {
    let product = app.product("app").await;
    let template = app.template(product, "pro", json!({"max_activations": 3})).await;
    user(&app, "ana@acme.com", "Ana Lima", Role::Admin, &[]).await;
    user(&app, "sam@acme.com", "", Role::Support, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let form = b.get("/ui/issue").await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(form.text.contains(&format!("value=\"{template}\"")), "{}", form.text);
    let csrf = form.csrf();
    let t = template.to_string();
    let issue = |email: &'static str, count: &'static str, invoice: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("email", email.into()),
            ("first_name", "Zoe".into()),
            ("template", t.clone()),
            ("count", count.into()),
            ("invoice", invoice.into()),
        ]
    };
    let p = b.post_owned("/ui/issue", &issue("zoe@example.com", "2", "INV-1")).await;
    assert_eq!(p.status, 303, "{}", p.text);
    let customer = app.get("/api/v1/customers/?email=zoe@example.com").await.body["results"][0].clone();
    assert_eq!(customer["first_name"], "Zoe");
    assert_eq!(p.location(), format!("/ui/customers/{}?done=issued", customer["id"]));
    let order = app.get("/api/v1/orders/?store_id=INV-1").await.body["results"][0].clone();
    assert_eq!(order["customer"], customer["id"]);
    assert_eq!(order["licenses"].as_array().unwrap().len(), 2);
    let l = app.get(&format!("/api/v1/licenses/{}", order["licenses"][0]["id"])).await.body;
    assert_eq!((l["license_template"].as_i64(), l["max_activations"].as_i64()), (Some(template), Some(3)));
    assert_eq!(l["history"][0]["actor"], "Ana Lima <ana@acme.com>");
    let page = b.get(p.location()).await;
    assert!(
        page.text.contains("The order and its licenses were issued") && page.text.contains("INV-1"),
        "{}",
        page.text
    );

    // The same email again is the same customer; a used invoice is refused on the form, which keeps what was typed.
    assert_eq!(b.post_owned("/ui/issue", &issue("ZOE@example.com", "1", "")).await.status, 303);
    assert_eq!(app.count("customers").await, 1);
    assert_eq!(app.count("licenses").await, 3);
    let p = b.post_owned("/ui/issue", &issue("zoe@example.com", "1", "INV-1")).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("store_id") && p.text.contains("value=\"INV-1\""), "{}", p.text);
    for count in ["0", "101", "x"] {
        assert_eq!(b.post_owned("/ui/issue", &issue("zoe@example.com", count, "")).await.status, 400, "{count}");
    }
    assert_eq!((app.count("licenses").await, app.count("orders").await), (3, 2), "refused forms wrote nothing");

    // Support may not issue.
    let mut s = Browser::new(&app);
    s.sign_in("sam@acme.com").await;
    assert_eq!(s.get("/ui/issue").await.status, 403);
    let home = s.get("/").await;
    assert!(!home.text.contains("Issue licenses"));
    let fields =
        [("csrf", home.csrf()), ("email", "x@example.com".into()), ("template", t.clone()), ("count", "1".into())];
    assert_eq!(s.post_owned("/ui/issue", &fields).await.status, 403);
    assert_eq!(app.count("licenses").await, 3);
}

async fn a_customers_details_are_edited_as_the_role_allows(app: TestApp) {
    let (id, _) = licensed(&app).await;
    let customer = app.get(&format!("/api/v1/licenses/{id}")).await.body["customer"]["id"].as_i64().unwrap();
    app.license(json!({"product": "app", "customer": {"email": "bob@example.org"}})).await;
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    user(&app, "sam@acme.com", "", Role::Support, &[]).await;
    let path = format!("/ui/customers/{customer}");
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let page = b.get(&path).await;
    assert!(page.text.contains("hw-ann-1") && page.text.contains("Edit the contact details"), "{}", page.text);
    let (csrf, version) = (page.csrf(), page.version());
    let p = b
        .post(
            &format!("{path}/edit"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("email", "ann@example.com"),
                ("company_name", "Lee & Co"),
                ("city", "Lyon"),
            ],
        )
        .await;
    assert_eq!((p.status, p.location()), (303, format!("{path}?done=saved").as_str()), "{}", p.text);
    let c = app.get(&format!("/api/v1/customers/{customer}")).await.body;
    assert_eq!(
        (c["company_name"].as_str(), c["city"].as_str(), c["first_name"].as_str()),
        (Some("Lee & Co"), Some("Lyon"), Some("Ann"))
    );
    // Another customer's email: refused on the page, which keeps what was typed; nothing changed.
    let version = b.get(&path).await.version();
    let p = b
        .post(
            &format!("{path}/edit"),
            &[("csrf", &csrf), ("version", &version), ("email", "bob@example.org"), ("company_name", "Changed")],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("email") && p.text.contains("value=\"Changed\""), "{}", p.text);
    assert_eq!(app.get(&format!("/api/v1/customers/{customer}")).await.body["company_name"], "Lee & Co");

    // Support: the note, nothing else.
    let mut s = Browser::new(&app);
    s.sign_in("sam@acme.com").await;
    let page = s.get(&path).await;
    assert!(page.text.contains("Edit the note") && !page.text.contains("name=\"company_name\""), "{}", page.text);
    let (csrf, version) = (page.csrf(), page.version());
    let note = [("csrf", csrf.as_str()), ("version", &version), ("note", "called 2 Dec")];
    assert_eq!(s.post(&format!("{path}/edit"), &note).await.status, 303);
    let p = s.post(&format!("{path}/edit"), &[("csrf", &csrf), ("company_name", "Support Co")]).await;
    assert_eq!(p.status, 403);
    let c = app.get(&format!("/api/v1/customers/{customer}")).await.body;
    assert_eq!((c["note"].as_str(), c["company_name"].as_str()), (Some("called 2 Dec"), Some("Lee & Co")));
}

async fn lists_page_and_filter_on_the_server(app: TestApp) {
    app.product("app").await;
    app.product("other").await;
    for _ in 0..3 {
        app.license(json!({"product": "other"})).await;
    }
    let bodies: Vec<Value> = (0..57).map(|_| json!({"product": "app"})).collect();
    let r = app.post("/api/v1/licenses/bulk", json!(bodies)).await;
    if r.status != 201 {
        for b in bodies {
            app.license(b).await;
        }
    }
    assert_eq!(app.count("licenses").await, 60);
    let one = app.get("/api/v1/licenses/?product__short_code=other").await.body["results"][0]["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/licenses/{one}/disable"), json!({"note": "fraud"})).await;
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    user(&app, "max@acme.com", "", Role::Manager, &["other"]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let first = b.get("/ui/licenses").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.text.contains("1–50 of 60"), "{}", first.text);
    assert_eq!(first.text.matches("href=\"/ui/licenses/").count(), 50);
    let next =
        first.text.split("rel=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(next.contains("offset=50"), "{next}");
    let second = b.get(&next).await;
    assert!(second.text.contains("51–60 of 60") && second.text.contains("rel=\"prev\""), "{}", second.text);
    let other = b.get("/ui/licenses?product__short_code=other&enabled=false").await;
    assert!(other.text.contains("1–1 of 1") && other.text.contains(&format!("/ui/licenses/{one}")), "{}", other.text);
    assert!(other.text.contains("value=\"other\""), "the form keeps the filter: {}", other.text);
    for bad in ["/ui/licenses?order_by=note", "/ui/licenses?offset=-1", "/ui/licenses?validity_period__date__gte=soon"]
    {
        assert_eq!(b.get(bad).await.status, 400, "{bad}");
    }
    // The audit log, filtered.
    let act = b.get("/ui/activity?action=license.disabled").await;
    assert_eq!(act.status, 200);
    assert!(act.text.contains("1–1 of 1") && act.text.contains("fraud"), "{}", act.text);
    let all = b.get("/ui/activity").await;
    assert!(all.text.contains("1–50 of 63"), "60 licenses, 2 products, 1 disable: {}", all.text);
    // A manager's lists hold its products only.
    let mut m = Browser::new(&app);
    m.sign_in("max@acme.com").await;
    assert!(m.get("/ui/licenses").await.text.contains("1–3 of 3"));
    assert!(m.get("/ui/activity").await.text.contains("of 4"), "its 3 licenses' creation and the disable");
}

async fn the_home_page_charts_what_the_client_api_decided(app: TestApp) {
    let (_, key) = licensed(&app).await;
    for _ in 0..3 {
        assert_eq!(client(&app, "check", &key, "hw-ann-1").await["code"], "VALID");
    }
    assert_eq!(client(&app, "check", &key, "hw-other").await["code"], "NOT_ACTIVATED");
    assert_eq!(
        client(&app, "activate", &key, "hw-other").await["code"],
        "TOO_MANY_ACTIVATIONS",
        "one activation allowed"
    );
    app.state.write_daily().await;
    app.state.write_daily().await;
    let totals = licensd_store::stats::client_daily(&app.db, 0).await.unwrap();
    let n =
        |kind: &str, code: &str| totals.iter().filter(|d| d.kind == kind && d.code == code).map(|d| d.n).sum::<i64>();
    assert_eq!(
        (
            n("check", "VALID"),
            n("check", "NOT_ACTIVATED"),
            n("activation", "ACTIVATED"),
            n("activation", "TOO_MANY_ACTIVATIONS")
        ),
        (3, 1, 1, 1),
        "written once: {totals:?}"
    );
    // Another instance adds its own counts to the same rows.
    licensd_store::stats::add_client_daily(&app.db, licensd_core::time::now_ms(), &[("check", "VALID", 1)])
        .await
        .unwrap();
    let totals = licensd_store::stats::client_daily(&app.db, 0).await.unwrap();
    assert_eq!(totals.iter().filter(|d| d.kind == "check" && d.code == "VALID").map(|d| d.n).sum::<i64>(), 4);

    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    user(&app, "max@acme.com", "", Role::Manager, &["app"]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let home = b.get("/").await;
    assert!(home.text.contains("5 checks and 1 activations in all"), "{}", home.text);
    assert!(
        home.text.contains("<code>TOO_MANY_ACTIVATIONS</code></td><td>1</td>")
            && home.text.contains("<code>NOT_ACTIVATED</code></td><td>1</td>"),
        "{}",
        home.text
    );
    let mut m = Browser::new(&app);
    m.sign_in("max@acme.com").await;
    let home = m.get("/").await;
    assert!(
        home.text.contains("shown to people who see every product") && !home.text.contains("TOO_MANY_ACTIVATIONS"),
        "{}",
        home.text
    );
}
