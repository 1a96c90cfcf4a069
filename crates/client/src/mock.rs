//! Tests only: a tiny HTTP/1.1 server that answers like licensd would, to test the client's
//! verification without the real server (the lead's integration tests run against that).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::client::{KEY_ID_HEADER, SIGNATURE_HEADER};
use crate::keys::tests::TestKey;

/// One canned response.
pub(crate) struct Reply {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    /// Bind the JSON body to the request (as licensd does) and sign it with this key when served.
    bind_with: Option<Arc<TestKey>>,
}

impl Reply {
    pub(crate) fn new(status: u16, body: &str, headers: &[(&str, &str)]) -> Reply {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Reply { status, body: body.to_string(), headers, bind_with: None }
    }

    /// A JSON answer as licensd sends it: bound to the request it answers (`status`, `request_sha256`
    /// of the exact body received, `request`) and signed by `key`.
    pub(crate) fn bound(key: &Arc<TestKey>, status: u16, body: Value) -> Reply {
        Reply { status, body: body.to_string(), headers: Vec::new(), bind_with: Some(key.clone()) }
    }

    /// A response signed by `key` over its exact body, as licensd signs.
    pub(crate) fn signed(key: &TestKey, status: u16, body: &str) -> Reply {
        Reply::new(status, body, &[(SIGNATURE_HEADER, &key.sign(body.as_bytes())), (KEY_ID_HEADER, &key.id)])
    }
}

type Handler = Arc<dyn Fn(&str, &Value) -> Reply + Send + Sync>;
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A running mock server; stops when dropped.
pub(crate) struct Mock {
    pub url: String,
    calls: Calls,
    task: JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mock {
    /// Serves `handler(path without query, JSON body)` on a local port (within a tokio runtime).
    pub(crate) fn start(handler: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> Mock {
        Mock::start_with(Duration::ZERO, Arc::new(handler))
    }

    /// A server that waits `delay` before answering an empty `200`.
    pub(crate) fn start_slow(delay: Duration) -> Mock {
        Mock::start_with(delay, Arc::new(|_, _| Reply::new(200, "{}", &[])))
    }

    fn start_with(delay: Duration, handler: Handler) -> Mock {
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", std.local_addr().expect("addr"));
        let listener = TcpListener::from_std(std).expect("listener");
        let calls: Calls = Arc::default();
        let c = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, handler.clone(), c.clone(), delay));
            }
        });
        Mock { url, calls, task }
    }

    /// The requests served so far: (path with query, JSON body or null).
    pub(crate) fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("calls").clone()
    }
}

async fn serve(mut sock: TcpStream, handler: Handler, calls: Calls, delay: Duration) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
    let len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let raw = &buf[head_end..head_end + len];
    let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    calls.lock().expect("calls").push((path.clone(), body.clone()));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let route = path.split('?').next().unwrap_or_default();
    let mut reply = handler(route, &body);
    if let Some(key) = reply.bind_with.take() {
        let mut v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            let sha = crate::client::sha256_hex(raw);
            o.insert("status".into(), Value::from(reply.status));
            o.insert("request_sha256".into(), Value::String(sha));
            let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
            o.insert(
                "request".into(),
                serde_json::json!({"license_key": field("license_key"), "product": field("product"), "hardware_id": field("hardware_id")}),
            );
        }
        let status = reply.status;
        reply = Reply::signed(&key, status, &v.to_string());
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        if reply.body.starts_with('{') { "application/json" } else { "text/plain; charset=utf-8" },
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let _ = sock.write_all(out.as_bytes()).await;
    let _ = sock.shutdown().await;
}
