//! LicenseSpring's official Python SDK (`licensespring` 4.0.0 from PyPI, the version `.ci/run` pins) against a
//! real `licensd serve`, on both backends. The vendor's side is set up as a vendor would: products, features
//! (a consumption one and a floating one), a license template and a trial template through the management API,
//! licenses issued from them, `licensd api-key create`, `licensd oauth-client create` and `licensd key show
//! --rsa`. The application's side is `crates/cli/tests/licensespring/driver.py`, configured only as the wire
//! reference says an application moving to licensd is (API domain, API key and shared key or OAuth client,
//! licensd's PEM in a `SignatureVerifier`): activations on two devices and a third refused, check, license and
//! feature consumption, product details, device variables, floating features, deactivation and the refused
//! check after it, trials, offline activation and deactivation through the SDK's own files, user-based
//! activation, OAuth, and the refusals an attacker meets (wrong shared key, stale Date, an answer altered by a
//! proxy, another public key). The driver prints one line per step; a failure shows the server's answers, and
//! every request and answer of the run is in `app/exchanges.txt` of the test's temporary directory.
//!
//! The Python is `LICENSD_LICENSESPRING_PYTHON` (`.ci/run` makes a venv with the pinned SDK). Without it the
//! test is skipped, except under `CI`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Server, admin_token, licensd, post, serve, skipped_without, sqlite_and_postgres, temp_dir};

/// The driver's steps, each of which must pass.
const STEPS: &[&str] = &[
    "server_root_answers_200",
    "activate_first_device",
    "activate_second_device",
    "third_device_refused",
    "reactivating_an_active_device_takes_no_slot",
    "check",
    "license_consumption",
    "license_consumption_over_the_limit_refused",
    "feature_consumption",
    "feature_consumption_over_the_limit_refused",
    "versions_and_installation_file",
    "product_details",
    "device_variables",
    "floating_feature",
    "floating_license_seat",
    "floating_license_borrow",
    "deactivate",
    "check_after_deactivate_refused",
    "freed_slot_activates_the_third_device",
    "trial",
    "offline_activation",
    "offline_file_altered_refused",
    "forged_offline_request_refused",
    "offline_deactivation",
    "offline_files_of_an_oauth_application",
    "user_based_activation",
    "user_based_licensing_calls",
    "oauth_client_credentials",
    "wrong_shared_key_refused",
    "stale_date_refused",
    "altered_answer_refused",
    "wrong_public_key_refused",
    "signed_bodies_are_canonical_json",
    "no_server_errors",
];

/// The driver's whole run; it normally takes a few seconds.
const DEADLINE: Duration = Duration::from_secs(45);
const TRIAL_DAYS: i64 = 14;
const MAX_CONSUMPTIONS: i64 = 100;

fn python() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("LICENSD_LICENSESPRING_PYTHON").filter(|p| !p.is_empty())?);
    p.is_file().then_some(p)
}

/// `POST path` on the management API: its status and JSON body.
fn try_api(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value, String) {
    let a = post(&format!("{}{path}", server.url)).bearer(token).json(&body).send();
    (a.status, a.json(), a.text)
}

fn api(server: &Server, token: &str, path: &str, body: Value) -> Value {
    let (status, v, text) = try_api(server, token, path, body);
    assert!(status < 300, "{path}: {status} {text}");
    v
}

/// `licensd ARGS --db DB --json`: its one JSON document.
fn cli_json(db: &str, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = licensd(args).args(&["--db", db, "--json"]).run();
    assert!(ok, "licensd {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("licensd {args:?}: not JSON ({e}): {stdout}"))
}

/// What the vendor sets up; returns the driver's configuration (without the server's address).
fn vendor_setup(db: &str, server: &Server, token: &str) -> Value {
    let product =
        api(server, token, "/api/v1/products/", json!({"product_name": "SDK Notes", "short_code": "sdknotes"}));
    let pid = &product["id"];
    api(
        server,
        token,
        "/api/v1/product-features/",
        json!({"product": pid, "code": "credits", "name": "Credits", "feature_type": "consumption", "max_consumption": 50}),
    );
    api(server, token, "/api/v1/product-features/", json!({"product": pid, "code": "export", "name": "Export"}));
    // A floating feature: one seat, LicenseSpring's field names.
    let (status, _, text) = try_api(
        server,
        token,
        "/api/v1/product-features/",
        json!({"product": pid, "code": "seat", "name": "Seat", "is_floating_cloud": true, "floating_users": 1,
               "floating_timeout": 10}),
    );
    let floating = (status < 300).then_some("seat");
    let floating_missing = format!("POST /api/v1/product-features/ with is_floating_cloud answered {status}: {text}");
    let mut features = vec![json!({"code": "credits"}), json!({"code": "export"})];
    if floating.is_some() {
        features.push(json!({"code": "seat"}));
    }
    api(
        server,
        token,
        "/api/v1/license-templates/",
        json!({"product": pid, "name": "Standard", "code": "sdk-standard", "license_type": "consumption",
               "max_activations": 2, "max_consumptions": MAX_CONSUMPTIONS, "features": features}),
    );
    api(
        server,
        token,
        "/api/v1/license-templates/",
        json!({"product": pid, "name": "Trial", "code": "sdk-trial", "is_trial": true, "trial_days": TRIAL_DAYS,
               "max_activations": 1}),
    );
    api(
        server,
        token,
        "/api/v1/license-templates/",
        json!({"product": pid, "name": "Floating", "code": "sdk-floating", "is_floating_cloud": true,
               "floating_users": 1, "floating_timeout": 10, "can_borrow": true, "max_borrow_time": 24}),
    );
    // Two releases, the newer one second; the SDK's versions list them newest first.
    let versions = [
        json!({"version": "2.1.0", "installation_file": "https://downloads.example.com/sdknotes-2.1.0.tar.gz",
               "hash_md5": "0cc175b9c0f1b6a831c399e269772661", "size": 20480}),
        json!({"version": "2.0.3", "installation_file": "https://downloads.example.com/sdknotes-2.0.3.tar.gz",
               "hash_md5": "92eb5ffee6ae2fec3ad71c777531578f", "size": 19456}),
    ];
    for (v, day) in versions.iter().rev().zip(["2026-01-10", "2026-03-02"]) {
        let mut body = v.clone();
        body["product"] = pid.clone();
        body["release_date"] = json!(day);
        api(server, token, "/api/v1/product-versions/", body);
    }
    let main = api(server, token, "/api/v1/licenses/", json!({"license_template": "sdk-standard"}));
    let floating_license = api(server, token, "/api/v1/licenses/", json!({"license_template": "sdk-floating"}));
    let offline =
        api(server, token, "/api/v1/licenses/", json!({"license_template": "sdk-standard", "max_activations": 1}));

    // A user-based product: a license assigned to a user with a password.
    api(
        server,
        token,
        "/api/v1/products/",
        json!({"product_name": "SDK Team", "short_code": "sdkteam", "authorization_method": "user"}),
    );
    let buyer = "it@team.example.com";
    let team = api(
        server,
        token,
        "/api/v1/licenses/",
        json!({"product": "sdkteam", "max_activations": 3, "customer": {"email": buyer}}),
    );
    // LicenseSpring's assign_user takes the user's password, or answers a `new_password` it made.
    let (username, password) = ("ann.lee@example.com", "correct horse battery staple");
    let assign = format!("/api/v1/licenses/{}/assign_user/", team["id"]);
    let (status, _, text) = try_api(
        server,
        token,
        &assign,
        json!({"email": username, "password": password, "first_name": "Ann", "last_name": "Lee"}),
    );
    let user = if status < 300 {
        json!({"product": "sdkteam", "username": username, "password": password, "customer": buyer})
    } else {
        let (again, answer, _) =
            try_api(server, token, &assign, json!({"email": username, "first_name": "Ann", "last_name": "Lee"}));
        match answer["new_password"].as_str() {
            Some(made) if again < 300 => {
                json!({"product": "sdkteam", "username": username, "password": made, "customer": buyer})
            }
            _ => json!({"missing": format!(
                "POST /api/v1/licenses/{{id}}/assign_user/ with a password answered {status}: {text}; without one, \
                 {again} and no new_password: {answer}"
            )}),
        }
    };

    let key = cli_json(db, &["api-key", "create", "--name", "sdk"]);
    let client = cli_json(db, &["oauth-client", "create", "--name", "sdk"]);
    let rsa = cli_json(db, &["key", "show", "--rsa"]);
    json!({
        "api_key": key["api_key"], "shared_key": key["shared_key"],
        "client_id": client["client_id"], "client_secret": client["client_secret"],
        "public_key_pem": rsa["public_key_pem"],
        "product": "sdknotes", "product_name": "SDK Notes", "trial_days": TRIAL_DAYS,
        "max_consumptions": MAX_CONSUMPTIONS,
        "license_key": main["license_key"], "offline_license_key": offline["license_key"],
        "floating_license_key": floating_license["license_key"], "versions": versions,
        "consumption_feature": "credits", "floating_feature": floating, "floating_feature_missing": floating_missing,
        "user": user,
    })
}

/// Runs the driver to its end or to [`DEADLINE`]: whether it passed, and everything it printed.
fn run_driver(python: &Path, config: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/licensespring/driver.py");
    let dir = config.parent().unwrap();
    let log = dir.join("driver.txt");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(python)
        .arg(&script)
        .arg(config)
        // The SDK keeps license files under HOME unless told otherwise; the driver tells it, but make sure.
        .env("HOME", dir)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    std::fs::File::open(&log).unwrap().read_to_string(&mut text).unwrap();
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("{text}\nthe driver was killed after {DEADLINE:?}")),
    }
}

fn the_python_sdk_against_a_real_server(db: &str) {
    let Some(python) = python() else {
        return skipped_without(
            "LicenseSpring's Python SDK (set LICENSD_LICENSESPRING_PYTHON to a venv's python with licensespring==4.0.0)",
        );
    };
    let backend = if db.starts_with("postgres") { "postgres" } else { "sqlite" };
    let (ok, _, stderr) = licensd(&["migrate", "--db", db]).run();
    assert!(ok, "migrate: {stderr}");
    let token = admin_token(db, "vendor");
    let server = serve(db).start();
    let mut config = vendor_setup(db, &server, &token);
    let dir = temp_dir("licensespring-sdk");
    config["protocol"] = json!("http");
    config["domain"] = json!(server.addr.to_string());
    config["workdir"] = json!(dir.join("app"));
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let (passed, output) = run_driver(&python, &path);
    let exchanges = dir.join("app/exchanges.txt");
    assert!(
        passed,
        "{backend}: the SDK's scenario failed (every request and answer: {})\n{output}\nserver log:\n{}",
        exchanges.display(),
        server.log()
    );
    // Every step ran and passed.
    for step in STEPS {
        assert!(output.contains(&format!("PASS {step} (")), "{backend}: step {step} did not pass:\n{output}");
    }
    eprintln!("{backend}:\n{output}");
}

sqlite_and_postgres!(the_python_sdk_against_a_real_server: python_sdk_on_sqlite, python_sdk_on_postgres);
