//! `deploy/` (and the operations docs) against the real `licensd` binary, since no image is built here (no Docker
//! daemon): every `LICENSD_*` variable, every flag of a `licensd` command line and every key of the example
//! configuration is one the binary has; the compose file trusts exactly its proxy and runs `migrate` once before
//! `serve --no-migrate`; the Dockerfile copies only what its context admits and that context is a complete
//! workspace; the image's health check tells a serving licensd from none; the Grafana dashboard and the alert
//! rules name only metrics a real `/metrics` serves. Where the tools are installed, `systemd-analyze verify`,
//! `promtool` (rules, their unit tests, the Prometheus config), `caddy validate` and `nginx -t` check the files
//! too; each is skipped, and says so, when it is missing (except under `CI`: `.ci/run` installs them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{BIN, get, post, run, serve, skipped_without, sqlite, temp_dir, tool};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn deploy(file: &str) -> PathBuf {
    repo().join("deploy").join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `licensd ARGS --help`.
fn help(args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.push("--help");
    let (ok, out, err) = run(&a);
    assert!(ok, "licensd {a:?}: {err}");
    out
}

/// Tokens of `text` that start with `prefix` and go on with `[A-Za-z0-9_-]` (`--flag`, `LICENSD_X`).
fn words(text: &str, prefix: &str, tail: impl Fn(char) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + prefix.len()..];
        let n = after.find(|c: char| !tail(c)).unwrap_or(after.len());
        if n > 0 && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            out.insert(format!("{prefix}{}", &after[..n]));
        }
        rest = &after[n..];
    }
    out
}

fn flags(text: &str) -> BTreeSet<String> {
    words(text, "--", |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn variables(text: &str) -> BTreeSet<String> {
    words(text, "LICENSD_", |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The subcommands `licensd ARGS --help` lists.
fn subcommands(args: &[&str]) -> Vec<String> {
    let h = help(args);
    let Some(list) = h.split("Commands:\n").nth(1) else { return Vec::new() };
    list.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The text files of `deploy/`.
fn deploy_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("deploy"), &mut out);
    out.sort();
    assert!(out.len() >= 10, "{out:?}");
    out
}

/// A JSON array on one line after `key` (`command: [...]`, `CMD [...]`), as strings.
fn array_after(line: &str, key: &str) -> Option<Vec<String>> {
    let rest = line.trim().strip_prefix(key)?.trim();
    serde_json::from_str(rest).ok()
}

/// Checks that every flag of one `licensd` command line (the arguments after the binary) is one that
/// `licensd <subcommand> [<subcommand>] --help` lists; `where_` names the line in failures.
fn check_command(args: &[String], where_: &str, problems: &mut Vec<String>) -> bool {
    let top = subcommands(&[]);
    let mut path: Vec<&str> = Vec::new();
    let mut after_flag = false;
    for a in args {
        if a.starts_with('-') {
            after_flag = !a.contains('=');
            continue;
        }
        let candidates = if path.is_empty() { top.clone() } else { subcommands(&path) };
        let value_of_flag = std::mem::take(&mut after_flag);
        if candidates.iter().any(|c| c == a) {
            path.push(a);
        } else if value_of_flag {
            // `--config FILE serve`: the flag's value, not a command.
            continue;
        } else if path.is_empty() || !candidates.is_empty() {
            // Not a licensd command line (`licensd` the container or user name, a path), or a command this
            // binary does not have (yet): nothing to check it against.
            return false;
        } else {
            // A positional argument of a command without subcommands.
            break;
        }
    }
    if path.is_empty() {
        return false;
    }
    let known = flags(&help(&path));
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let flag = a.split('=').next().unwrap();
        if !known.contains(flag) {
            problems.push(format!("{where_}: `licensd {}` has no {flag}", path.join(" ")));
        }
    }
    true
}

/// The `licensd …` command lines written in prose or shell in `text`: from a `licensd` followed by a subcommand
/// to the end of the line or a shell separator, code quotes stripped.
fn command_lines(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("licensd ") {
            let before = rest[..i].chars().next_back();
            let after = &rest[i + "licensd ".len()..];
            rest = after;
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
                continue;
            }
            let end = after.find(['|', ';', '&', '`', ')', '#', '"', '\'']).unwrap_or(after.len());
            let args: Vec<String> = after[..end].split_whitespace().map(str::to_string).collect();
            if !args.is_empty() {
                out.push(args);
            }
        }
    }
    out
}

#[test]
fn deploy_files_and_docs_name_only_variables_and_flags_licensd_has() {
    let serve_help = help(&["serve"]);
    // Every command's variables (`serve`'s, and those of a command alone, like `key export`'s passphrase).
    let mut known_vars = BTreeSet::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        known_vars.extend(variables(&help(&args)));
        for sub in subcommands(&args) {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
    }
    for v in ["LICENSD_SECRET", "LICENSD_LOG", "LICENSD_LOG_FORMAT", "LICENSD_CONFIG", "LICENSD_DB", "LICENSD_LISTEN"] {
        assert!(variables(&serve_help).contains(v), "serve --help lists {v}: {serve_help}");
    }
    // Variables of the test suite and the benchmarks, which README names too.
    for v in [
        "LICENSD_TEST_POSTGRES",
        "LICENSD_SCHEMATHESIS",
        "LICENSD_SCHEMATHESIS_SEED",
        "LICENSD_SCHEMATHESIS_EXAMPLES",
        "LICENSD_OPENAPI_SPEC_VALIDATOR",
        "LICENSD_LICENSESPRING_PYTHON",
        "LICENSD_BIN",
        "LICENSD_SERVE_ARGS",
    ] {
        known_vars.insert(v.to_string());
    }
    let (mut problems, mut checked) = (Vec::new(), 0);
    let mut docs: Vec<PathBuf> = deploy_files();
    docs.push(repo().join("docs/operations.md"));
    docs.push(repo().join("README.md"));
    for path in &docs {
        let text = read(path);
        let name = path.strip_prefix(repo()).unwrap().display().to_string();
        for v in variables(&text) {
            if !known_vars.contains(&v) {
                problems.push(format!("{name}: {v} is not a variable of licensd (serve --help)"));
            }
        }
        for args in command_lines(&text) {
            checked += usize::from(check_command(&args, &name, &mut problems));
        }
        for (n, line) in text.lines().enumerate() {
            for key in ["command:", "CMD", "ENTRYPOINT"] {
                if let Some(mut args) = array_after(line, key) {
                    if key == "ENTRYPOINT" {
                        assert_eq!(args, ["/usr/local/bin/licensd"], "{name}:{}", n + 1);
                        continue;
                    }
                    if args.first().is_some_and(|a| a.ends_with("/licensd")) {
                        args.remove(0);
                    }
                    if args.first().is_some_and(|a| a == "postgres") {
                        continue;
                    }
                    checked += usize::from(check_command(&args, &format!("{name}:{}", n + 1), &mut problems));
                }
            }
            if let Some(exec) = line.strip_prefix("ExecStart=") {
                let args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_string).collect();
                assert!(check_command(&args, &format!("{name}:{}", n + 1), &mut problems), "{line}");
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 40, "only {checked} licensd command lines found");
}

#[test]
fn the_example_configuration_is_accepted_and_the_env_examples_name_known_variables() {
    let config = deploy("licensd.toml");
    let config = config.to_str().unwrap();
    // Unknown keys are refused at start, by every command: `--help` parses the file too.
    let (ok, _, err) = run(&["--config", config, "serve", "--help"]);
    assert!(ok, "{err}");
    let dir = temp_dir("config");
    let db = format!("sqlite://{}", dir.join("l.db").display());
    let (ok, out, err) = run(&["--config", config, "migrate", "--db", &db]);
    assert!(ok, "{err}");
    assert!(out.starts_with("applied migrations"), "{out}");
    let table: toml::Table = read(&deploy("licensd.toml")).parse().unwrap();
    assert!(!table.contains_key("secret"), "the secret belongs in the EnvironmentFile, not the config");
    // The systemd unit reads the config it names, and sets no variable that would override it.
    let unit = read(&deploy("licensd.service"));
    assert!(unit.contains("--config /etc/licensd/licensd.toml"), "{unit}");
    assert!(!unit.lines().any(|l| l.starts_with("Environment=LICENSD_")), "a variable overrides licensd.toml");
    for example in ["licensd.env.example", "postgres.env.example"] {
        for line in read(&deploy(example)).lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (key, _) = line.split_once('=').unwrap_or_else(|| panic!("{example}: {line}"));
            assert!(["LICENSD_SECRET", "PGPASSWORD", "POSTGRES_PASSWORD"].contains(&key), "{example}: {key}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The value of `key:` on the first line after `after` that has it (a shallow look into the compose file, enough
/// for the facts below).
fn yaml_value<'a>(text: &'a str, after: &str, key: &str) -> &'a str {
    let from = text.find(after).unwrap_or_else(|| panic!("no {after}"));
    text[from..]
        .lines()
        .find_map(|l| l.trim().strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key} after {after}"))
}

#[test]
fn compose_migrates_once_then_serves_two_instances_trusting_only_its_proxy() {
    let compose = read(&deploy("docker-compose.yml"));
    // The proxy's fixed address is the one trusted, inside the network's subnet.
    let proxy: std::net::Ipv4Addr =
        yaml_value(&compose, "  caddy:", "backend: {ipv4_address:").trim_end_matches('}').trim().parse().unwrap();
    let trusted = yaml_value(&compose, "licensd-1:", "LICENSD_TRUST_PROXY:");
    assert_eq!(trusted, proxy.to_string());
    let subnet: ipnet_like::Net = yaml_value(&compose, "networks:\n  backend:", "config: [{subnet:")
        .trim_end_matches("}]")
        .trim()
        .parse()
        .unwrap();
    assert!(subnet.contains(proxy), "{proxy} outside {subnet:?}");
    // migrate once, the instances after it with --no-migrate, Caddy after both are healthy.
    assert!(compose.contains("command: [\"migrate\"]"));
    assert_eq!(compose.matches("\"serve\", \"--no-migrate\"").count(), 1, "one definition shared by both");
    assert!(compose.contains("licensd-2: *instance"));
    assert!(compose.contains("migrate: {condition: service_completed_successfully}"));
    assert!(compose.contains("licensd-1: {condition: service_healthy}"));
    assert!(compose.contains("licensd-2: {condition: service_healthy}"));
    // Pool size x instances below max_connections.
    let pool: u32 = yaml_value(&compose, "x-licensd:", "LICENSD_DB_POOL_SIZE:").trim_matches('"').parse().unwrap();
    let max: u32 = compose.split("max_connections=").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!(2 * pool + 10 <= max, "2 x {pool} + migrate and psql within max_connections={max}");
    // The metrics port the instances listen on is the one Prometheus scrapes.
    let metrics_port = compose.split("\"--metrics-listen\", \"0.0.0.0:").nth(1).unwrap().split('"').next().unwrap();
    let prometheus = read(&deploy("prometheus/prometheus.yml"));
    for instance in ["licensd-1", "licensd-2"] {
        assert!(prometheus.contains(&format!("\"{instance}:{metrics_port}\"")), "{prometheus}");
    }
    // Files the compose file mounts or reads exist (env files as their .example).
    for line in compose.lines() {
        let l = line.trim().trim_start_matches("- ").trim_matches('"');
        if let Some(src) = l.strip_prefix("./") {
            let src = src.split(':').next().unwrap();
            assert!(deploy(src).is_file(), "docker-compose.yml mounts ./{src}");
        }
    }
    for env in ["licensd.env", "postgres.env"] {
        assert!(compose.contains(&format!("env_file: [{env}]")));
        assert!(deploy(&format!("{env}.example")).is_file());
    }
    assert_eq!(yaml_value(&compose, "x-licensd:", "context:"), "..");
    assert_eq!(yaml_value(&compose, "x-licensd:", "dockerfile:"), "deploy/Dockerfile");
    // The Caddyfile's default upstreams are the compose services on the instances' port.
    let caddy = read(&deploy("Caddyfile"));
    let listen = yaml_value(&compose, "licensd-1:", "LICENSD_LISTEN:");
    let port = listen.rsplit(':').next().unwrap();
    assert!(caddy.contains(&format!("{{$UPSTREAMS:licensd-1:{port} licensd-2:{port}}}")), "{caddy}");
}

/// The few `.dockerignore` rules `deploy/Dockerfile.dockerignore` uses: `*` then `!path` exceptions, and
/// `path` exclusions after them.
fn admitted(ignore: &str, path: &str) -> bool {
    let mut ok = true;
    for rule in ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (admit, pattern) = match rule.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, rule),
        };
        let pattern = pattern.trim_end_matches('/');
        let matches = pattern == "*"
            || path == pattern
            || path.starts_with(&format!("{pattern}/"))
            || pattern
                .strip_prefix("crates/**/")
                .is_some_and(|tail| path.starts_with("crates/") && path.split('/').any(|part| part == tail));
        if matches {
            ok = admit;
        }
    }
    ok
}

#[test]
fn the_dockerfile_copies_what_its_context_admits_and_that_context_is_a_whole_workspace() {
    let dockerfile = read(&deploy("Dockerfile"));
    let ignore = read(&deploy("Dockerfile.dockerignore"));
    let root = repo();
    let mut sources = Vec::new();
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for src in &parts[..parts.len() - 1] {
            assert!(root.join(src).exists(), "COPY {src}: not in the repository");
            assert!(admitted(&ignore, src.trim_end_matches('/')), "COPY {src}: excluded by the .dockerignore");
            sources.push(src.trim_end_matches('/').to_string());
        }
    }
    assert!(sources.contains(&"crates".to_string()) && sources.contains(&"Cargo.lock".to_string()), "{sources:?}");
    assert!(!admitted(&ignore, "target") && !admitted(&ignore, ".git") && !admitted(&ignore, "crates/cli/target"));
    // The package it builds is the licensd binary's, at the path the runtime stage copies.
    let cli: toml::Table = read(&root.join("crates/cli/Cargo.toml")).parse().unwrap();
    assert_eq!(cli["package"]["name"].as_str(), Some("licensd"));
    assert!(dockerfile.contains("cargo build --release --locked -p licensd"));
    assert!(dockerfile.contains("install -m 0755 target/release/licensd /usr/local/bin/licensd"));
    assert!(dockerfile.contains("COPY --from=build /usr/local/bin/licensd /usr/local/bin/licensd"));
    // The toolchain it pins is the one the workspace asks for.
    let ws: toml::Table = read(&root.join("Cargo.toml")).parse().unwrap();
    let rust = ws["workspace"]["package"]["rust-version"].as_str().unwrap();
    assert!(dockerfile.contains(&format!("ARG RUST_VERSION={rust}")), "rust-version {rust}");
    // Non-root, a volume for the SQLite file, 0.0.0.0:8080, a health check that is copied in and executable.
    for needle in [
        "USER licensd:licensd",
        "VOLUME [\"/var/lib/licensd\"]",
        "LICENSD_DB=sqlite:///var/lib/licensd/licensd.db",
        "LICENSD_LISTEN=0.0.0.0:8080",
        "COPY deploy/healthcheck.sh /usr/local/bin/licensd-healthcheck",
        "CMD [\"/usr/local/bin/licensd-healthcheck\"]",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert!(std::fs::metadata(deploy("healthcheck.sh")).unwrap().permissions().mode() & 0o111 != 0);
    }
    // The context as the builder sees it: a complete workspace whose lock file needs no change (--locked).
    let ctx = temp_dir("context");
    for src in &sources {
        copy_tree(&root.join(src), &ctx.join(src));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(ctx.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata on the image's context: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bins: Vec<&str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["kind"][0] == "bin")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins, ["licensd"]);
    let _ = std::fs::remove_dir_all(ctx);
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        if from.file_name().is_some_and(|n| n == "target") {
            return;
        }
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn the_image_health_check_tells_a_serving_licensd_from_none() {
    let (db, url) = sqlite("health");
    let server = serve(&url).start();
    let check = |listen: &str| {
        Command::new(deploy("healthcheck.sh")).env("LICENSD_LISTEN", listen).status().expect("run the health check")
    };
    let port = server.addr.port();
    assert!(check(&format!("0.0.0.0:{port}")).success(), "licensd is serving on {}", server.addr);
    drop(server);
    assert!(!check(&format!("0.0.0.0:{port}")).success(), "nothing listens any more");
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

/// The metric names (`licensd_…`, `process_…`) in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let tail = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = words(text, "licensd_", tail);
    names.extend(words(text, "process_", tail));
    names
}

#[test]
fn the_dashboard_and_the_alerts_use_only_metrics_licensd_serves() {
    let (db, url) = sqlite("metrics");
    let server = serve(&url).metrics_listen().start();
    // A request of each kind, so that the families made on first use have series.
    assert_eq!(get(&format!("{}/api/v1/products", server.url)).send().status, 401);
    assert_eq!(post(&format!("{}/api/v1/client/check", server.url)).json_text("{}").send().status, 400);
    let metrics = get(&format!("http://{}/metrics", server.metrics.unwrap())).send();
    assert_eq!(metrics.status, 200);
    let scrape = metrics.text;
    let served: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();

    let dashboard: serde_json::Value = serde_json::from_str(&read(&deploy("grafana/licensd.json"))).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut exprs = String::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "panel ids are unique");
        for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
            assert_eq!(t["datasource"]["uid"], "${datasource}");
        }
    }
    assert!(panels.len() >= 20, "{} panels", panels.len());
    let mut missing = Vec::new();
    for (file, text) in [
        ("grafana/licensd.json", exprs),
        ("prometheus/alerts.yml", read(&deploy("prometheus/alerts.yml"))),
        ("prometheus/alerts.test.yml", read(&deploy("prometheus/alerts.test.yml"))),
        // The metrics table of the operations docs.
        (
            "docs/operations.md",
            read(&repo().join("docs/operations.md"))
                .lines()
                .filter(|l| l.starts_with("| `"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ] {
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{file}: {names:?}");
        for name in names {
            // A histogram is named by its family in the docs, served as _bucket, _sum and _count.
            if !served.contains(&name) && !served.contains(&format!("{name}_bucket")) {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in a real /metrics:\n{}\n\n{scrape}", missing.join("\n"));
    drop(server);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[track_caller]
fn succeeds(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn installed_tools_accept_the_deploy_files() {
    let dir = temp_dir("tools");
    let mut skipped = Vec::new();
    if let Some(analyze) = tool(None, "systemd-analyze") {
        // The unit as installed, with ExecStart naming a binary that exists here.
        let unit = read(&deploy("licensd.service")).replace("/usr/local/bin/licensd", BIN);
        let path = dir.join("licensd.service");
        std::fs::write(&path, unit).unwrap();
        succeeds(Command::new(analyze).arg("verify").arg(&path));
    } else {
        skipped.push("systemd-analyze");
    }
    if let Some(promtool) = tool(None, "promtool") {
        succeeds(Command::new(&promtool).args(["check", "rules"]).arg(deploy("prometheus/alerts.yml")));
        succeeds(Command::new(&promtool).args(["test", "rules", "alerts.test.yml"]).current_dir(deploy("prometheus")));
        let config = read(&deploy("prometheus/prometheus.yml"))
            .replace("/etc/prometheus/alerts.yml", deploy("prometheus/alerts.yml").to_str().unwrap());
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        succeeds(Command::new(&promtool).args(["check", "config"]).arg(dir.join("prometheus.yml")));
    } else {
        skipped.push("promtool");
    }
    if let Some(caddy) = tool(None, "caddy") {
        succeeds(
            Command::new(caddy)
                .args(["validate", "--adapter", "caddyfile", "--config"])
                .arg(deploy("Caddyfile"))
                .env("XDG_DATA_HOME", &dir)
                .env("XDG_CONFIG_HOME", &dir),
        );
    } else {
        skipped.push("caddy");
    }
    match (tool(None, "nginx"), tool(None, "openssl")) {
        (Some(nginx), Some(openssl)) => {
            // The server blocks inside a minimal http {} with a throwaway certificate where the example names
            // Let's Encrypt's.
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            succeeds(
                Command::new(openssl)
                    .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=licensing"])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            );
            let site = read(&deploy("nginx.conf"))
                .replace("/etc/letsencrypt/live/licensing.example.com/fullchain.pem", cert.to_str().unwrap())
                .replace("/etc/letsencrypt/live/licensing.example.com/privkey.pem", key.to_str().unwrap());
            std::fs::write(dir.join("site.conf"), site).unwrap();
            let d = dir.display();
            std::fs::write(
                dir.join("nginx.conf"),
                format!(
                    "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
                     client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  include {d}/site.conf;\n}}\n"
                ),
            )
            .unwrap();
            succeeds(Command::new(nginx).arg("-t").arg("-q").arg("-c").arg(dir.join("nginx.conf")));
        }
        _ => skipped.push("nginx"),
    }
    if !skipped.is_empty() {
        skipped_without(&skipped.join(", "));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// An IPv4 network, enough to check the compose file's subnet (ipnet is not a dependency of this crate).
mod ipnet_like {
    #[derive(Debug)]
    pub struct Net {
        base: u32,
        mask: u32,
    }

    impl std::str::FromStr for Net {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            let (ip, bits) = s.split_once('/').ok_or("no /")?;
            let ip: std::net::Ipv4Addr = ip.parse().map_err(|e| format!("{e}"))?;
            let bits: u32 = bits.parse().map_err(|e| format!("{e}"))?;
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            Ok(Net { base: u32::from(ip) & mask, mask })
        }
    }

    impl Net {
        pub fn contains(&self, ip: std::net::Ipv4Addr) -> bool {
            u32::from(ip) & self.mask == self.base
        }
    }
}
