//! The front door through the real `licensd serve` and raw TCP: slowloris, the header timeout, the connection cap
//! under a low open-file limit, graceful shutdown with a deadline, hyper's own refusals in the error envelope,
//! body and request timeouts, `--metrics-listen`, and the rate limits `serve` applies by default.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{Server, admin_token, block_on, licensd, serve, sqlite};

/// `licensd serve` on a fresh SQLite database with these flags; `open_files` runs it under `ulimit -n`.
fn fresh_server(name: &str, flags: &[&str], open_files: Option<u32>) -> Server {
    let cmd = serve(&sqlite(name).1).args(flags);
    match open_files {
        None => cmd,
        Some(n) => cmd.shell(&format!("ulimit -n {n}")),
    }
    .start()
}

/// A raw HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Reads one answer off `s` (to EOF or its Content-Length), within `patience`.
fn read_answer(s: &mut TcpStream, patience: Duration) -> Answer {
    s.set_read_timeout(Some(patience)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
            });
            if let Some(len) = len
                && buf.len() >= end + 4 + len
            {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return Answer { status, body: buf[end + 4..end + 4 + len].to_vec(), head };
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => panic!("connection closed before a whole answer: {:?}", String::from_utf8_lossy(&buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("no answer within {patience:?}: {e}; got {:?}", String::from_utf8_lossy(&buf)),
        }
    }
}

/// Sends raw bytes on a new connection and reads the answer.
fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    // A refused head may be answered before all of it is written; the rest then fails to send, which is fine.
    let _ = s.write_all(request);
    read_answer(&mut s, Duration::from_secs(10))
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Answer {
    raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").as_bytes())
}

fn post(addr: SocketAddr, path: &str, extra: &str, body: &str) -> Answer {
    raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// How long `/healthz` takes to answer `200` on a fresh connection.
fn healthz_takes(addr: SocketAddr, patience: Duration) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let a = read_answer(&mut s, patience);
    assert_eq!(a.status, 200);
    start.elapsed()
}

/// `n` connections that send part of a request head and then nothing.
fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect()
}

/// Whether the server closed `s` within `patience` (EOF or reset, with no answer).
fn closed_within(s: &mut TcpStream, patience: Duration) -> bool {
    s.set_read_timeout(Some(patience)).unwrap();
    let mut b = [0u8; 1024];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(n) => panic!("a half-open connection got an answer: {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn slowloris_does_not_stop_healthz_and_silent_connections_are_closed_after_the_header_timeout() {
    let server = fresh_server("slowloris", &["--header-timeout", "2s"], None);
    let start = Instant::now();
    let mut idle = half_open(server.addr, 400);
    let t = healthz_takes(server.addr, Duration::from_secs(5));
    assert!(t < Duration::from_secs(1), "/healthz took {t:?} beside 400 half-open connections");
    let mut silent = TcpStream::connect(server.addr).unwrap();
    for s in idle.iter_mut().chain([&mut silent]) {
        assert!(closed_within(s, Duration::from_secs(6)), "a silent connection is closed");
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "{took:?}");

    // A keep-alive connection idle after its answer is closed after the same timeout.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut s, Duration::from_secs(5)).status, 200);
    let idle_since = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    let idle = idle_since.elapsed();
    assert!(idle >= Duration::from_millis(1900) && idle < Duration::from_secs(4), "{idle:?}");
}

#[test]
fn over_the_connection_cap_connections_wait_for_a_slot() {
    let server = fresh_server("cap", &["--max-connections", "10", "--header-timeout", "1s"], None);
    let _held = half_open(server.addr, 10);
    std::thread::sleep(Duration::from_millis(200));
    // The eleventh connection is not refused: it is served once the header timeout frees a slot.
    let t = healthz_takes(server.addr, Duration::from_secs(5));
    assert!(t >= Duration::from_millis(700) && t < Duration::from_secs(3), "{t:?}");
    assert!(healthz_takes(server.addr, Duration::from_secs(5)) < Duration::from_secs(1));
}

#[test]
fn a_low_open_file_limit_is_never_exhausted_by_idle_connections() {
    // The review's reproduction: under `ulimit -n 128`, 140 half-open connections made /healthz time out and
    // accept fail with EMFILE. The cap now stays below the limit and the header timeout frees the slots.
    let server = fresh_server("ulimit", &["--header-timeout", "1s"], Some(128));
    let _held = half_open(server.addr, 200);
    let t = healthz_takes(server.addr, Duration::from_secs(10));
    assert!(t < Duration::from_secs(8), "{t:?}");
    let log = server.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("the open-file limit is below --max-connections"), "the clamp is reported: {log}");
}

#[test]
fn shutdown_exits_within_its_deadline_despite_stuck_and_idle_connections() {
    let mut server = fresh_server(
        "shutdown",
        &["--shutdown-timeout", "1s", "--header-timeout", "60s", "--body-timeout", "60s", "--request-timeout", "60s"],
        None,
    );
    // Idle keep-alive, half-open, and one request in flight whose body never comes.
    let mut keep_alive = TcpStream::connect(server.addr).unwrap();
    keep_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut keep_alive, Duration::from_secs(5)).status, 200);
    let _half = half_open(server.addr, 3);
    let mut stuck = TcpStream::connect(server.addr).unwrap();
    stuck.write_all(b"POST /api/v1/client/check HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"license").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (took, clean) = server.terminate(Duration::from_secs(10));
    assert!(clean, "SIGTERM ends licensd cleanly");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "exited after {took:?}");
    assert!(closed_within(&mut keep_alive, Duration::from_millis(100)), "the idle connection was closed");
}

#[test]
fn requests_hyper_refuses_answer_the_error_envelope() {
    let server = fresh_server("refusals", &[], None);
    let a = server.addr;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70 * 1024)).into_bytes(), 414, "URI_TOO_LONG"),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..150).map(|i| format!("X-{i}: a\r\n")).collect::<String>()
            )
            .into_bytes(),
            431,
            "HEADERS_TOO_LARGE",
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200 * 1024)).into_bytes(),
            431,
            "HEADERS_TOO_LARGE",
        ),
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "MALFORMED_REQUEST"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(), 400, "MALFORMED_REQUEST"),
        (b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "MALFORMED_REQUEST"),
    ];
    for (request, status, code) in cases {
        let r = raw(a, &request);
        let what = String::from_utf8_lossy(&request[..40.min(request.len())]).into_owned();
        assert_eq!(r.status, status, "{what}: {}", r.head);
        assert_eq!(r.header("content-type").as_deref(), Some("application/json"), "{what}");
        assert_eq!(r.header("connection").as_deref(), Some("close"), "{what}");
        let body = r.json();
        assert_eq!(body["errors"][0]["code"], code, "{what}: {body}");
        assert!(body["errors"][0]["title"].is_string() && body["errors"][0]["detail"].is_string(), "{body}");
    }
    // The server is unharmed.
    assert!(healthz_takes(a, Duration::from_secs(5)) < Duration::from_secs(1));
}

#[test]
fn stalled_bodies_and_slow_requests_answer_in_the_envelope() {
    let server = fresh_server("timeouts", &["--body-timeout", "1s", "--request-timeout", "3s"], None);
    // A body that stops: 408 after the body timeout, signed like every client answer.
    let start = Instant::now();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"POST /api/v1/client/check HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"license").unwrap();
    let r = read_answer(&mut s, Duration::from_secs(5));
    let t = start.elapsed();
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (408, Some("REQUEST_TIMEOUT")), "{}", r.head);
    assert!(r.json()["errors"][0]["detail"].as_str().unwrap().contains("stalled"), "{:?}", r.json());
    assert!(r.header("licensd-signature").is_some(), "{}", r.head);
    assert!(t >= Duration::from_millis(900) && t < Duration::from_secs(3), "{t:?}");

    // A body that trickles (each byte within the body timeout) is cut at the request timeout: 408 too.
    let start = Instant::now();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"POST /api/v1/client/activate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n").unwrap();
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..12 {
                std::thread::sleep(Duration::from_millis(400));
                if w.write_all(b" ").is_err() {
                    break;
                }
            }
        })
    };
    let r = read_answer(&mut s, Duration::from_secs(8));
    let t = start.elapsed();
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (408, Some("REQUEST_TIMEOUT")), "{}", r.head);
    assert!(r.json()["errors"][0]["detail"].as_str().unwrap().contains("not complete within 3 s"), "{:?}", r.json());
    assert!(r.header("licensd-signature").is_some(), "{}", r.head);
    assert!(t >= Duration::from_millis(2900) && t < Duration::from_secs(5), "{t:?}");
    writer.join().unwrap();
}

#[test]
fn a_request_not_answered_within_the_request_timeout_is_503() {
    let (_, db) = sqlite("slow-handler");
    let server = serve(&db).args(&["--request-timeout", "2s"]).start();
    let token = admin_token(&db, "t");
    // Another process holds SQLite's write lock, so the server's write waits (it would for 10 s) past the timeout.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let other = rt.block_on(licensd_store::Db::connect(&db)).unwrap();
    let held = rt.block_on(other.begin()).unwrap();
    let start = Instant::now();
    let r = post(
        server.addr,
        "/api/v1/products",
        &format!("Authorization: Bearer {token}\r\n"),
        r#"{"product_name": "Slow", "short_code": "slow"}"#,
    );
    let t = start.elapsed();
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (503, Some("TIMEOUT")), "{}", r.head);
    assert!(t >= Duration::from_millis(1900) && t < Duration::from_secs(4), "{t:?}");
    drop(held);
    // Nothing was written, and the server goes on.
    let r = get(server.addr, "/api/v1/products", &format!("Authorization: Bearer {token}\r\n"));
    assert_eq!((r.status, r.json()["count"].as_i64()), (200, Some(0)), "{:?}", r.json());
}

#[test]
fn metrics_can_be_served_on_their_own_address() {
    let server = serve(&sqlite("metrics").1).metrics_listen().start();
    assert_eq!(get(server.addr, "/healthz", "").status, 200);
    let main = get(server.addr, "/metrics", "");
    assert_eq!((main.status, main.json()["errors"][0]["code"].as_str()), (404, Some("NOT_FOUND")));
    let ops = server.metrics.unwrap();
    let m = get(ops, "/metrics", "");
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.body).unwrap();
    assert!(text.contains(r#"licensd_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert_eq!(get(ops, "/healthz", "").status, 200);
    assert_eq!(get(ops, "/api/v1/products", "").status, 404, "the metrics address serves nothing else");
}

fn check_body(key: &str) -> String {
    format!(r#"{{"license_key": "{key}", "hardware_id": "hw", "product": "app", "nonce": "n-1"}}"#)
}

#[test]
fn serve_limits_the_client_api_by_default() {
    let server = fresh_server("limits-default", &[], None);
    // One address, many keys: the per-address limit (20/s, burst 200) answers 429 soon after the burst.
    let (mut ok, mut limited) = (0, None);
    for i in 0..400 {
        let r = post(server.addr, "/api/v1/client/check", "", &check_body(&format!("KEY-{i}")));
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
        ok += 1;
    }
    let r = limited.expect("a 429 within 400 checks from one address");
    assert!((200..300).contains(&ok), "{ok} checks passed");
    assert_eq!(r.json()["code"], "RATE_LIMITED");
    assert_eq!(r.json()["nonce"], "n-1");
    assert!(r.header("retry-after").is_some() && r.header("licensd-signature").is_some(), "{}", r.head);
    // Trials are the strictest: ten, then 429 (the product does not even exist: the limit comes first).
    let trial = r#"{"product": "app", "hardware_id": "hw"}"#;
    let statuses: Vec<u16> = (0..11).map(|_| post(server.addr, "/api/v1/client/trial", "", trial).status).collect();
    assert_eq!(statuses, [[404; 10].as_slice(), &[429]].concat());
}

#[test]
fn rate_limits_are_configurable_and_forwarded_addresses_count_only_from_trusted_proxies() {
    let off = fresh_server("limits-off", &["--rate-limit", "off"], None);
    for i in 0..300 {
        assert_eq!(post(off.addr, "/api/v1/client/check", "", &check_body(&format!("K{}", i % 2))).status, 200);
    }
    let direct = fresh_server("limits-direct", &["--rate-limit-client-ip", "3/h"], None);
    let trusting =
        fresh_server("limits-proxy", &["--rate-limit-client-ip", "3/h", "--trust-proxy", "127.0.0.0/8"], None);
    for (server, trusted) in [(&direct, false), (&trusting, true)] {
        let from = |ip: &str| {
            post(server.addr, "/api/v1/client/check", &format!("X-Forwarded-For: {ip}\r\n"), &check_body("K")).status
        };
        assert_eq!([from("192.0.2.1"), from("192.0.2.1"), from("192.0.2.1"), from("192.0.2.1")], [200, 200, 200, 429]);
        // Behind a trusted proxy another client is counted apart; otherwise the header is the client's own claim.
        assert_eq!(from("192.0.2.2"), if trusted { 200 } else { 429 }, "trusted: {trusted}");
    }
    let (ok, _, stderr) = licensd(&["serve", "--rate-limit-client-ip", "lots"]).run();
    assert!(!ok);
    assert!(stderr.contains("is not a rate"), "{stderr}");
}

#[test]
fn postgres_statements_are_cancelled_after_the_statement_timeout() {
    let Some(url) = licensd_testkit::fresh_postgres("lf") else { return };
    let params = url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    use licensd_store::db::query;
    block_on(async {
        // What `licensd serve --statement-timeout 300ms` opens: migrations run (they lift the timeout), queries are cut.
        let db = licensd_store::Db::connect_with_statement_timeout(&url, Duration::from_millis(300)).await.unwrap();
        let row = db.fetch_one(query("SELECT current_setting('statement_timeout') AS t")).await.unwrap();
        assert_eq!(row.get::<String>("t").unwrap(), "300ms");
        let slow = db.fetch_one(query("SELECT pg_sleep(2)::text AS x")).await;
        let err = slow.err().expect("a statement over the timeout is cancelled").to_string();
        assert!(err.contains("statement timeout"), "{err}");
        assert!(db.fetch_one(query("SELECT 1 AS x")).await.is_ok(), "the pool goes on");
        db.close().await;
        // A statement_timeout in the URL is the operator's and wins.
        let sep = if params.is_empty() { "?" } else { "&" };
        let own = format!("{url}{sep}options[statement_timeout]=5s");
        let db = licensd_store::Db::connect_with_statement_timeout(&own, Duration::from_millis(300)).await.unwrap();
        let row = db.fetch_one(query("SELECT current_setting('statement_timeout') AS t")).await.unwrap();
        assert_eq!(row.get::<String>("t").unwrap(), "5s");
        db.close().await;
    });
}
