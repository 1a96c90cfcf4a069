//! README's walk-through, run literally: every `sh` block from "A walk-through with curl" up to "Coming from
//! DevMate", in order, in one bash script against the real binary. Only the build step, the binary's path and
//! the port are replaced (the test runs beside others, so not on 8080). Needs curl (CI installs it).

use std::process::Command;

use crate::common::{BIN, free_port, skipped_without, temp_dir, tool};

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("## A walk-through with curl").expect("the walk-through section");
    let end = readme[start..].find("## Coming from DevMate").map_or(readme.len(), |e| start + e);
    let mut script = String::new();
    let mut inside = false;
    for line in readme[start..end].lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && line.trim() == "```sh";
            continue;
        }
        if inside {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    if tool(None, "curl").is_none() {
        return skipped_without("curl");
    }
    let port = free_port();
    let script = walkthrough()
        .replace("cargo build --release\n", "")
        .replace("cargo install --path crates/cli\n", "")
        .replace("./target/release/licensd", BIN)
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    assert!(script.contains("serve --db sqlite://demo.db &"), "{script}");
    let dir = temp_dir("readme");
    let full = format!("set -euo pipefail\nexport LICENSD_LISTEN=127.0.0.1:{port} LICENSD_LOG=warn\n{script}");
    std::fs::write(dir.join("walkthrough.sh"), &full).unwrap();
    // `licensd` on PATH, as `cargo install` puts it (the README may also say ./target/release/licensd).
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("licensd")).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash").arg("walkthrough.sh").current_dir(&dir).env("PATH", path).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the walk-through failed:\n{stdout}\n{stderr}");
    // What each step says it does, it did.
    for expected in [
        r#""short_code":"mynewapp""#,
        r#""code":"single""#,
        r#""email":"jdoe@acme.corp""#,
        r#""store_id":"CORP150902-0339-893098""#,
        r#""license_key":"ACME-"#,
        r#""status":"disabled""#,
        r#""action":"license.disabled""#,
        r#""code":"ACTIVATED""#,
        r#""valid":true"#,
        "valid license file",
        r#""action":"license.deleted""#,
    ] {
        assert!(stdout.contains(expected), "{expected} missing from the walk-through's output:\n{stdout}\n{stderr}");
    }
    assert!(!stdout.contains(r#""errors""#), "no step answered an error:\n{stdout}");
}
