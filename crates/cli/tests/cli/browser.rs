//! The dashboard in a real browser, on both backends: `crates/cli/tests/browser/dashboard.py` drives Debian's
//! Chromium with Playwright for Python against a real `licensd serve` that this test filled through the CLI,
//! the management API and the client API, as a vendor's systems would (products, licenses for customers, an
//! activation, dashboard users). The script signs in, searches by email, key and hardware id, disables a
//! license with a note and sees the client's `check` answer `DISABLED`, resets activations, checks the session
//! cookie's flags, a CSRF-less post, a phone's width, axe-core on every main page, and that a manager of
//! another product sees a customer neither by URL nor by search; and an admin makes an API token and sees its
//! secret once (`access_flow.py`) and uploads a DevMate export, following its run to the report
//! (`import_flow.py`). Screenshots of the main pages go to
//! `target/browser-screenshots/<backend>/` (or `LICENSD_SCREENSHOTS`).
//!
//! The Python is `LICENSD_PLAYWRIGHT_PYTHON` (`.ci/run` makes a venv with `playwright` and
//! `axe-playwright-python`) and the browser `/usr/bin/chromium` (or `CHROMIUM`). Without them the test is
//! skipped, except under `CI`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{admin_token, databases, licensd, post, serve, skipped_without};

const PASSWORD: &str = "correct horse battery";

fn python() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("LICENSD_PLAYWRIGHT_PYTHON").filter(|p| !p.is_empty())?);
    p.is_file().then_some(p)
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn api(url: &str, token: &str, path: &str, body: Value) -> Value {
    let a = post(&format!("{url}{path}")).bearer(token).json(&body).send();
    assert!(a.status < 300, "{path}: {} {}", a.status, a.text);
    serde_json::from_str(&a.text).unwrap()
}

fn user(db: &str, email: &str, role: &str, products: &[&str]) {
    let mut args = vec!["user", "create", "--db", db, "--email", email, "--role", role, "--password-stdin"];
    for p in products {
        args.extend(["--product", p]);
    }
    let (ok, _, stderr) = licensd(&args).stdin(&format!("{PASSWORD}\n")).run();
    assert!(ok, "user create {email}: {stderr}");
}

#[test]
fn a_support_shift_in_a_real_browser() {
    let Some(python) = python() else {
        return skipped_without("Playwright for Python (set LICENSD_PLAYWRIGHT_PYTHON to a venv's python)");
    };
    if !chromium().is_file() {
        return skipped_without("Chromium (apt-get install chromium)");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.py");
    for db in databases("browser") {
        let backend = if db.starts_with("postgres") { "postgres" } else { "sqlite" };
        let shots = std::env::var_os("LICENSD_SCREENSHOTS").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots"),
            PathBuf::from,
        );
        let shots = shots.join(backend);
        std::fs::create_dir_all(&shots).unwrap();

        let token = admin_token(&db, "setup");
        user(&db, "ana@acme.com", "admin", &[]);
        let server = serve(&db).start();
        let url = server.url.as_str();
        let app = api(url, &token, "/api/v1/products/", json!({"product_name": "Acme Notes", "short_code": "app"}));
        api(url, &token, "/api/v1/license-templates/", json!({"product": app["id"], "name": "Pro", "code": "pro"}));
        api(
            url,
            &token,
            "/api/v1/product-features/",
            json!({"product": app["id"], "code": "export-pdf", "name": "PDF export"}),
        );
        api(url, &token, "/api/v1/products/", json!({"product_name": "Other App", "short_code": "mine"}));
        user(&db, "max@acme.com", "manager", &["mine"]);
        let l = api(
            url,
            &token,
            "/api/v1/licenses/",
            json!({"product": "app", "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}}),
        );
        for n in 0..5 {
            api(
                url,
                &token,
                "/api/v1/licenses/",
                json!({"product": "app", "customer": {"email": format!("c{n}@example.org")}}),
            );
        }
        let key = l["license_key"].as_str().unwrap();
        let a = post(&format!("{url}/api/v1/client/activate"))
            .json(&json!({"license_key": key, "hardware_id": "hw-ann-1", "product": "app", "hostname": "ann-laptop"}))
            .send();
        assert_eq!(a.status, 201, "{}", a.text);

        let out = Command::new(&python)
            .arg(&script)
            .env("LICENSD_URL", url)
            .env("LICENSD_ADMIN", format!("ana@acme.com {PASSWORD}"))
            .env("LICENSD_MANAGER", format!("max@acme.com {PASSWORD}"))
            .env("LICENSD_LICENSE_KEY", key)
            .env("LICENSD_OTHER_CUSTOMER", l["customer"]["id"].to_string())
            .env("LICENSD_SHOTS", &shots)
            .env("CHROMIUM", chromium())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{backend}: the browser walk-through failed\n{stdout}\n{stderr}\nserver log:\n{}",
            server.log()
        );
        for step in [
            "search by hardware id finds the device",
            "the client's check answers DISABLED",
            "by URL nor by search",
            "a floating template with 3 seats",
            "the secret is gone",
            "its report names the record it skipped",
        ] {
            assert!(stdout.contains(step), "{backend}: {step:?} did not run:\n{stdout}");
        }
        for page in [
            "sign-in",
            "home",
            "search",
            "license",
            "customer",
            "issue",
            "license-phone",
            "catalog",
            "template-form",
            "access",
            "token-created",
            "import",
            "import-run",
        ] {
            let f = shots.join(format!("{page}.png"));
            assert!(std::fs::metadata(&f).is_ok_and(|m| m.len() > 5_000), "{backend}: no screenshot {}", f.display());
        }
        eprintln!("{backend}: screenshots in {}", shots.display());
    }
}
