//! `/openapi.json` is a valid OpenAPI document by a real validator: `openapi-spec-validator` (from PyPI, the
//! version `.ci/run` pins, in the same venv as schemathesis) checks the document a real `licensd serve` serves,
//! with the default `servers` (`/`) and behind `--public-url`. Code generators accept what it accepts.
//!
//! The executable is `LICENSD_OPENAPI_SPEC_VALIDATOR` (`.ci/run` sets it), else `openapi-spec-validator` on
//! `PATH`. Without one the test is skipped, except under `CI`, where it must run.

use std::process::Command;

use crate::common::{serve, skipped_without, temp_dir, tool};

/// The document a fresh `licensd serve` with these flags serves.
async fn served_document(dir: &std::path::Path, flags: &[&str]) -> serde_json::Value {
    let db = format!("sqlite://{}", dir.join(format!("l{}.db", flags.len())).display());
    let server = serve(&db).args(flags).start();
    let url = &server.url;
    let r = reqwest::get(format!("{url}/openapi.json")).await.expect("GET /openapi.json");
    assert_eq!(r.status(), 200);
    r.json().await.expect("a JSON document")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_openapi_document_passes_openapi_spec_validator() {
    let Some(validator) = tool(Some("LICENSD_OPENAPI_SPEC_VALIDATOR"), "openapi-spec-validator") else {
        return skipped_without("openapi-spec-validator (set LICENSD_OPENAPI_SPEC_VALIDATOR to its executable)");
    };
    let dir = temp_dir("openapi-validator");
    for (flags, server) in [
        (&[][..], "/"),
        (&["--public-url", "https://licensing.example.com/lic"][..], "https://licensing.example.com/lic"),
    ] {
        let doc = served_document(&dir, flags).await;
        assert_eq!(doc["servers"][0]["url"], server, "{flags:?}");
        let file = dir.join("openapi.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("JSON")).expect("write the document");
        let out = Command::new(&validator)
            .args(["--validation-errors", "all"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", validator.display()));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "openapi-spec-validator refused the document served with {flags:?}:\n{text}");
        assert!(text.contains(": OK"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
