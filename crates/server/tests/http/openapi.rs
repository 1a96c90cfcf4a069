//! `/openapi.json` lists, for every operation, the statuses the shared extractors can answer: the checks
//! schemathesis makes in CI (`crates/cli/tests/schemathesis.rs`), by rule, without it.

use serde_json::Value;

use crate::common::{Backend, TestApp};

/// The operations of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_the_statuses_its_extractors_answer() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let doc = app.get("/openapi.json").await.body;
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "{} operations", ops.len());
    let mut missing = Vec::new();
    for (method, path, op) in &ops {
        let responses = op["responses"].as_object().expect("responses");
        let mut need: Vec<&str> = Vec::new();
        // A token: 401 without one; and every operation but /metrics reads the database: 503 when it is gone.
        if op.get("security").is_some() {
            need.push("401");
        }
        if path != "/metrics" {
            need.push("503");
        }
        // A body: 400 (not JSON, not an object, a wrong field, a NUL), 413 over 1 MiB, 415 not JSON.
        if op.get("requestBody").is_some() {
            need.extend(["400", "413", "415"]);
        }
        // Query parameters (lists, DevMate's filters): 400 naming a bad one.
        if op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "query")) {
            need.push("400");
        }
        // A write of the management APIs: 403 when the token's role may not make it (`core::access`).
        if method != "get" && op.get("security").is_some() && !path.starts_with("/api/v1/client/") {
            need.push("403");
        }
        // An id in an `/api/v1` path: 404 when it names nothing the token may see.
        if path.starts_with("/api/v1/") && path.contains("{id}") {
            need.push("404");
        }
        for status in need {
            if !responses.contains_key(status) {
                missing.push(format!("{} {path}: {status}", method.to_uppercase()));
            }
        }
        for (status, r) in responses {
            if r["description"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("{} {path}: {status} has no description", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}
