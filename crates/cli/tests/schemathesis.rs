//! `/openapi.json` holds against the real server: schemathesis (from PyPI, the version `.ci/run` pins) sends
//! generated requests, valid and invalid, to every operation the document lists, on a real `licensd serve`
//! over a fresh SQLite database with a little seeded data and an admin token. It fails on any server error
//! (5xx), any status the document does not list for the operation, any content type it does not list, and
//! any response body its schema refuses.
//!
//! The executable is `LICENSD_SCHEMATHESIS` (`.ci/run` installs it into a venv), else `schemathesis` on
//! `PATH`. Without one the test is skipped, except under `CI`, where it must run. `LICENSD_SCHEMATHESIS_SEED`
//! and `LICENSD_SCHEMATHESIS_EXAMPLES` change the fixed seed and the examples per operation (default 10) to
//! look further than CI does.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_licensd");

/// The whole run's deadline: CI's budget is 90 minutes for everything, and a normal run takes 2 to 3.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

fn schemathesis() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LICENSD_SCHEMATHESIS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("schemathesis")).find(|p| p.is_file())
}

fn licensd(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).env("LICENSD_LOG", "warn").output().expect("run licensd");
    assert!(out.status.success(), "licensd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ends the child on every way out of the test, a failed assertion included.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn openapi_document_holds_under_schemathesis() {
    let Some(st) = schemathesis() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set LICENSD_SCHEMATHESIS (.ci/run installs schemathesis) so the OpenAPI document is checked"
        );
        eprintln!("skipped: no schemathesis (set LICENSD_SCHEMATHESIS to its executable)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("licensd-schemathesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = format!("sqlite://{}", dir.join("l.db").display());
    licensd(&["migrate", "--db", &db]);
    let admin = licensd(&["token", "create", "--db", &db, "--name", "schemathesis", "--role", "admin"]);
    let admin = admin.lines().last().expect("a token").trim().to_string();
    // Records for generated ids to find: products, templates, customers, orders, licenses, devices, events.
    licensd(&["dev", "seed", "--db", &db, "--licenses", "50"]);

    let server =
        licensd_testkit::cli::Server::start(BIN, &["--db", &db, "--listen", "127.0.0.1:0", "--rate-limit", "off"], &[]);
    let url = server.url.as_str();

    let seed = std::env::var("LICENSD_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let examples = std::env::var("LICENSD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".into());
    let log = dir.join("schemathesis.txt");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let started = Instant::now();
    // Run in the temporary folder: schemathesis keeps state (`.hypothesis`, `.schemathesis`) in its working
    // directory, and the example database is off so every run sends the same requests for a seed.
    let mut run = Killed(
        Command::new(&st)
            .current_dir(&dir)
            .args(["run", &format!("{url}/openapi.json")])
            .args(["--header", &format!("Authorization: Bearer {admin}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--max-examples", &examples, "--seed", &seed, "--workers", "2"])
            .args(["--generation-database", "none", "--suppress-health-check", "too_slow"])
            .args(["--request-timeout", "30", "--no-color"])
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", st.display())),
    );
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("wait for schemathesis") {
            break status;
        }
        assert!(started.elapsed() < DEADLINE, "schemathesis ran over {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let summary: Vec<&str> = output.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    eprintln!("schemathesis took {:.0?}:\n{}", started.elapsed(), summary.join("\n"));
    assert!(status.success(), "schemathesis found problems (seed {seed}):\n{output}");
    assert!(output.contains(" passed"), "schemathesis ran no test:\n{output}");
    let _ = std::fs::remove_dir_all(&dir);
}
