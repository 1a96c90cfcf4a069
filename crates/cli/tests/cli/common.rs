//! The harness of the CLI tests: the `licensd` binary as a command line to run (`licensd`, a builder for
//! arguments, environment, standard input and a shell prefix such as `umask`), `licensd serve` as a
//! [`Server`] (waited for, its log kept, killed on every way out of a test), directories and databases that
//! never collide between the tests of this one process, one HTTP call helper, and where external tools are.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_licensd");

/// A number no other call in this process gets: the tests share one process and run on parallel threads, so
/// names made of a test's own words alone could meet.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `licensd-cli-<pid>-<n>-<what>` in the system's temporary directory. What a test leaves there stays, so a
/// failing test's files can be looked at, until the next test process starts: the first name it asks for
/// removes those of processes that are gone (as licensd_testkit does with test databases), so the disk stays
/// bounded across runs.
fn temp_path(what: &str) -> PathBuf {
    static REAP: std::sync::Once = std::sync::Once::new();
    let tmp = std::env::temp_dir();
    REAP.call_once(|| {
        let Ok(entries) = std::fs::read_dir(&tmp) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid =
                name.to_str().and_then(|n| n.strip_prefix("licensd-cli-")?.split('-').next()?.parse::<u32>().ok());
            let Some(pid) = pid else { continue };
            // This machine's `/proc` says which processes run; without it, nothing is removed.
            if pid == std::process::id()
                || !Path::new("/proc/self").exists()
                || Path::new(&format!("/proc/{pid}")).exists()
            {
                continue;
            }
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(entry.path()),
                _ => std::fs::remove_file(entry.path()),
            };
        }
    });
    tmp.join(format!("licensd-cli-{}-{}-{what}", std::process::id(), unique()))
}

/// A new empty directory of its own (see [`temp_path`] for how long it stays).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = temp_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A SQLite database not created yet, `l.db` in a new directory: its path and its URL.
pub fn sqlite(name: &str) -> (PathBuf, String) {
    let path = temp_dir(name).join("l.db");
    let url = format!("sqlite://{}", path.display());
    (path, url)
}

/// A fresh database per backend, not created yet: a SQLite file, then a new PostgreSQL database when
/// `LICENSD_TEST_POSTGRES` is set (required under CI).
pub fn fresh_databases(name: &str) -> Vec<String> {
    licensd_testkit::fresh_databases(&format!("lc_{name}"), &sqlite(name).0)
}

/// [`fresh_databases`], each created by `licensd migrate` as an operator would (other commands refuse a
/// database that does not exist).
pub fn databases(name: &str) -> Vec<String> {
    let urls = fresh_databases(name);
    for url in &urls {
        let (ok, _, stderr) = licensd(&["migrate", "--db", url]).run();
        assert!(ok, "migrate {url}: {stderr}");
    }
    urls
}

/// A new admin token named `name` on `db`, made by `licensd token create`: its secret.
pub fn admin_token(db: &str, name: &str) -> String {
    let (ok, stdout, stderr) = run(&["token", "create", "--db", db, "--name", name, "--role", "admin"]);
    assert!(ok, "token create: {stderr}");
    stdout.lines().last().expect("a token").trim().to_string()
}

/// Two tests of one case, a `fn(&str)` given a database URL: `$sqlite` on a fresh SQLite database, `$postgres`
/// on a fresh PostgreSQL one (it passes without running when `LICENSD_TEST_POSTGRES` is unset, except under
/// CI). Neither database exists yet: the case migrates it.
macro_rules! sqlite_and_postgres {
    ($case:ident: $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $case(&$crate::common::sqlite(stringify!($case)).1);
        }

        #[test]
        fn $postgres() {
            let Some(url) = licensd_testkit::fresh_postgres("lc") else { return };
            $case(&url);
        }
    };
}
pub(crate) use sqlite_and_postgres;

/// Runs a future to its end on a runtime of its own: the tests are synchronous, the store and reqwest not.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A port nothing listens on just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `licensd ARGS`, to configure and then [`run`](Licensd::run), [`start`](Licensd::start) or
/// [`spawn`](Licensd::spawn).
pub fn licensd(args: &[&str]) -> Licensd {
    Licensd { args: args.iter().map(OsString::from).collect(), ..Licensd::default() }
}

/// `licensd ARGS` run to its end, as [`Licensd::run`].
pub fn run(args: &[&str]) -> (bool, String, String) {
    licensd(args).run()
}

/// `licensd serve --db DB --listen 127.0.0.1:0`, to add flags and environment to and [`start`](Licensd::start).
pub fn serve(db: &str) -> Licensd {
    licensd(&["serve", "--db", db, "--listen", "127.0.0.1:0"])
}

/// A `licensd` command line: its arguments, environment (`LICENSD_LOG=warn` unless set here), standard
/// input, working directory, and a shell prefix to run it under.
#[derive(Default)]
pub struct Licensd {
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    dir: Option<PathBuf>,
    shell: Option<String>,
    metrics: Option<SocketAddr>,
}

/// What a finished command did.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Licensd {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.into(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |cmd, (k, v)| cmd.env(k, v))
    }

    /// Runs it without `key`, whether the test's environment or an earlier `env` set it.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.push((key.into(), None));
        self
    }

    /// `LICENSD_LOG`: the log filter (`warn` unless set).
    pub fn log(self, filter: &str) -> Self {
        self.env("LICENSD_LOG", filter)
    }

    /// Text for its standard input (otherwise it reads end of file at once).
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.as_bytes().to_vec());
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// Runs it as `sh -c 'PREFIX && exec licensd ARGS'`: under `umask 022`, `ulimit -n 128`, ….
    pub fn shell(mut self, prefix: &str) -> Self {
        self.shell = Some(prefix.to_string());
        self
    }

    /// For `serve`: `--metrics-listen` on a free port, which the [`Server`] reports as `metrics`.
    pub fn metrics_listen(mut self) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        self.metrics = Some(addr);
        self.arg("--metrics-listen").arg(addr.to_string())
    }

    fn command(&self) -> Command {
        let mut cmd = match &self.shell {
            None => Command::new(BIN),
            Some(prefix) => {
                let mut sh = Command::new("sh");
                sh.arg("-c").arg(format!("{prefix} && exec \"$0\" \"$@\"")).arg(BIN);
                sh
            }
        };
        cmd.args(&self.args).env("LICENSD_LOG", "warn");
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs it to its end.
    pub fn output(self) -> Output {
        let mut cmd = self.command();
        let stdin = if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
        let mut child = cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run licensd");
        if let Some(text) = &self.stdin {
            child.stdin.take().unwrap().write_all(text).expect("write licensd's standard input");
        }
        let out = child.wait_with_output().expect("wait for licensd");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs it to its end: whether it succeeded, its standard output and its standard error.
    pub fn run(self) -> (bool, String, String) {
        let out = self.output();
        (out.code == Some(0), out.stdout, out.stderr)
    }

    /// Starts it, standard output and error piped, and waits for nothing.
    pub fn spawn(self) -> Child {
        self.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run licensd")
    }

    /// Starts `licensd serve …` and waits for its one stdout line, `licensd listening on URL`; its standard
    /// error goes to a log file ([`Server::log`]).
    pub fn start(self) -> Server {
        let log = temp_path("serve.log");
        let stderr = std::fs::File::create(&log).expect("create the log file");
        let child = self.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).spawn();
        let mut server = Server {
            child: child.expect("spawn licensd serve"),
            url: String::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            metrics: self.metrics,
            log,
        };
        let mut line = String::new();
        BufReader::new(server.child.stdout.take().unwrap()).read_line(&mut line).expect("read stdout");
        let Some(url) = line.trim().strip_prefix("licensd listening on ") else {
            panic!("unexpected first line {line:?}: {}", server.log())
        };
        // Every server of the suite listens on the loopback address, and says so.
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        server.addr = url.strip_prefix("http://").and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("{url}"));
        server.url = url.to_string();
        server
    }
}

/// A running `licensd serve`, killed when dropped (on every way out of a test, a failed assertion included).
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from its listening line.
    pub url: String,
    pub addr: SocketAddr,
    /// Where it serves `/metrics`, when started with [`Licensd::metrics_listen`].
    pub metrics: Option<SocketAddr>,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl Server {
    /// What it wrote to its standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 10 s) for its log to hold `needle`, and returns the log.
    pub fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) || start.elapsed() > Duration::from_secs(10) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM; returns how long it took to exit and whether it exited cleanly.
    pub fn terminate(&mut self, patience: Duration) -> (Duration, bool) {
        let start = Instant::now();
        assert!(Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success());
        while start.elapsed() < patience {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (start.elapsed(), status.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("licensd did not exit within {patience:?} of SIGTERM");
    }

    /// Stops it with SIGTERM, which must end it cleanly within 5 s, and returns what it logged.
    pub fn stop(mut self) -> String {
        let (_, clean) = self.terminate(Duration::from_secs(5));
        assert!(clean, "SIGTERM ends licensd cleanly");
        self.log()
    }
}

/// `method url`, to add headers and a body to and [`send`](Request::send).
pub fn request(method: &str, url: &str) -> Request {
    Request {
        method: reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
    }
}

pub fn get(url: &str) -> Request {
    request("GET", url)
}

pub fn post(url: &str) -> Request {
    request("POST", url)
}

/// One HTTP request to a server under test.
pub struct Request {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// The whole answer to a [`Request`].
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Request {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: SCHEME TOKEN`.
    pub fn auth(self, scheme: &str, token: &str) -> Self {
        self.header("Authorization", &format!("{scheme} {token}"))
    }

    pub fn bearer(self, token: &str) -> Self {
        self.auth("Bearer", token)
    }

    /// `body` as the JSON body.
    pub fn json(self, body: &Value) -> Self {
        self.json_text(&body.to_string())
    }

    /// `text` as the body, labelled JSON whatever it holds.
    pub fn json_text(mut self, text: &str) -> Self {
        self.body = Some(text.to_string());
        self.header("content-type", "application/json")
    }

    /// Sends it and reads the whole answer (on a runtime of its own).
    pub fn send(self) -> Answer {
        block_on(async {
            let mut rb = reqwest::Client::new().request(self.method, &self.url);
            for (name, value) in &self.headers {
                rb = rb.header(name, value);
            }
            if let Some(body) = self.body {
                rb = rb.body(body);
            }
            let r = rb.send().await.unwrap_or_else(|e| panic!("{}: {e}", self.url));
            let (status, headers) = (r.status().as_u16(), r.headers().clone());
            Answer { status, headers, text: r.text().await.expect("read the body") }
        })
    }
}

impl Answer {
    /// The body as JSON; `Null` when it is none.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The value of the header `name`, empty when it has none.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

/// An external tool: the executable the variable `var` names when it is set, else `name` on `PATH` (or in the
/// `sbin` beside a `PATH` entry, where Debian puts nginx).
pub fn tool(var: Option<&str>, name: &str) -> Option<PathBuf> {
    if let Some(p) = var.and_then(std::env::var_os).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|d| [d.join(name), d.join("../sbin").join(name)]).find(|p| p.is_file())
}

/// For a test that cannot run without `what`: under `CI` a failure (`.ci/run` provides every tool the suite
/// needs), elsewhere a note that the test is skipped.
#[track_caller]
pub fn skipped_without(what: &str) {
    assert!(std::env::var("CI").is_err(), "CI must provide {what}: .ci/run installs it");
    eprintln!("skipped: no {what}");
}
