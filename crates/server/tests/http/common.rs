//! The test harness: the real application on a random port over a fresh database, SQLite or
//! PostgreSQL (`LICENSD_TEST_POSTGRES`, a server URL; each test gets its own database).

use licensd_core::model::Role;
use licensd_server::AppState;
use licensd_store::Db;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(app: TestApp)` once per backend, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Creates a fresh database and returns its URL.
pub async fn fresh_database(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("licensd-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            Some(format!("sqlite://{}", dir.join(format!("{}.db", licensd_testkit::unique_name("http"))).display()))
        }
        Backend::Postgres => licensd_testkit::fresh_postgres("http"),
    }
}

pub struct TestApp {
    pub url: String,
    pub db_url: String,
    pub state: AppState,
    pub db: Db,
    pub admin: String,
    client: reqwest::Client,
}

/// A response: status, headers and the body as JSON (`Null` when empty or not JSON).
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        let db_url = fresh_database(backend).await?;
        let db = Db::connect(&db_url).await.expect("open test database");
        let (_, admin) = licensd_store::tokens::create(&db, "admin", Role::Admin, &[]).await.expect("admin token");
        let (url, state) = serve(db.clone()).await;
        Some(TestApp { url, db_url, state, db, admin, client: reqwest::Client::builder().build().expect("client") })
    }

    /// [`TestApp::spawn`] with the state adjusted first (rate limits, HTTP settings: `AppState::with_…`).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(AppState) -> AppState) -> Option<TestApp> {
        let db_url = fresh_database(backend).await?;
        let db = Db::connect(&db_url).await.expect("open test database");
        let (_, admin) = licensd_store::tokens::create(&db, "admin", Role::Admin, &[]).await.expect("admin token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = configure(AppState::load(db.clone(), None).await.expect("signing key"));
        let s = state.clone();
        tokio::spawn(async move {
            licensd_server::serve(s, listener, std::future::pending()).await.expect("serve");
        });
        Some(TestApp { url, db_url, state, db, admin, client: reqwest::Client::builder().build().expect("client") })
    }

    /// Another server on the same database with its own connection pool: what a second licensd instance
    /// behind a load balancer is to the database. Returns its base URL.
    pub async fn second_instance(&self) -> String {
        let db = Db::connect(&self.db_url).await.expect("open the database again");
        serve(db).await.0
    }

    /// A request with a token (or none) and a body given as JSON or raw bytes.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Body>) -> Resp {
        let mut rb = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            rb = rb.header("Authorization", format!("Bearer {t}"));
        }
        match body {
            Some(Body::Json(v)) => rb = rb.json(&v),
            Some(Body::Raw(b, ct)) => rb = rb.header("Content-Type", ct).body(b),
            None => {}
        }
        let res = rb.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text, headers }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, Some(&self.admin), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&self.admin), Some(Body::Json(body))).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&self.admin), Some(Body::Json(body))).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(&self.admin), None).await
    }

    /// Creates a token directly in the store (as `licensd token create` does).
    pub async fn token(&self, name: &str, role: Role, products: &[&str]) -> String {
        let products: Vec<String> = products.iter().map(|s| s.to_string()).collect();
        licensd_store::tokens::create(&self.db, name, role, &products).await.expect("token").1
    }

    /// Creates a product and returns its id.
    pub async fn product(&self, code: &str) -> i64 {
        let r =
            self.post("/api/v1/products", json!({"product_name": format!("Product {code}"), "short_code": code})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_i64().expect("id")
    }

    /// Creates a template for a product and returns its id.
    pub async fn template(&self, product: i64, code: &str, extra: Value) -> i64 {
        let mut body = json!({"product": product, "name": format!("Template {code}"), "code": code});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.post("/api/v1/license-templates", body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_i64().expect("id")
    }

    /// Issues a license and returns the whole object.
    pub async fn license(&self, body: Value) -> Value {
        let r = self.post("/api/v1/licenses", body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    /// Rows in a table, straight from the database (to prove that refused requests wrote nothing).
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .fetch_one(licensd_store::db::query(format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .expect("count");
        row.get("n").expect("n")
    }

    /// The `count` of a list endpoint.
    pub async fn list_count(&self, path: &str) -> i64 {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.body["count"].as_i64().expect("count")
    }
}

async fn serve(db: Db) -> (String, AppState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = AppState::load(db, None).await.expect("signing key");
    let s = state.clone();
    tokio::spawn(async move {
        licensd_server::serve(s, listener, std::future::pending()).await.expect("serve");
    });
    (format!("http://{addr}"), state)
}

pub enum Body {
    Json(Value),
    Raw(Vec<u8>, &'static str),
}

/// POSTs `bytes` to `url` as JSON, streamed ([`streamed`]), with this Authorization header: status and JSON body.
pub async fn post_streamed(url: &str, authorization: &str, bytes: Vec<u8>) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(url)
        .header("Authorization", authorization)
        .header("Content-Type", "application/json")
        .body(streamed(bytes))
        .send()
        .await
        .expect("request");
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// `bytes` as a streamed request body: sent chunked, without a Content-Length, so the server finds its size only
/// by reading it (past any check of the declared length).
pub fn streamed(bytes: Vec<u8>) -> reqwest::Body {
    struct Once(Option<Vec<u8>>);
    impl futures_core::Stream for Once {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    reqwest::Body::wrap_stream(Once(Some(bytes)))
}

/// Asserts an error envelope with this status and code, returning the error object.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    let e = &r.body["errors"][0];
    assert_eq!(e["code"], code, "{}", r.text);
    assert!(e["title"].is_string() && e["detail"].is_string(), "{}", r.text);
    e.clone()
}
