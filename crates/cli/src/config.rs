//! `--config licensd.toml` (or `LICENSD_CONFIG`): every flag and environment variable in one file. Its keys
//! are the flags' long names (`db`, `listen`, `rate-limit-client-ip`; `_` works for `-`), plus `secret`, `log`
//! and `log-format` (`LICENSD_SECRET`, `LICENSD_LOG`, `LICENSD_LOG_FORMAT`). A value from the file becomes
//! the flag's default, so a flag on the command line and a variable in the environment override it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use anyhow::Context as _;
use clap::Command;

/// Keys that are environment variables only (no flag).
const ENV_ONLY: [(&str, &str); 3] =
    [("secret", "LICENSD_SECRET"), ("log", "LICENSD_LOG"), ("log-format", "LICENSD_LOG_FORMAT")];

static FILE_VALUES: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// The file named by `--config FILE` / `--config=FILE` among the arguments, else by `LICENSD_CONFIG`.
fn path(args: &[std::ffi::OsString]) -> Option<std::path::PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(Into::into);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.into());
        }
    }
    std::env::var_os("LICENSD_CONFIG").filter(|v| !v.is_empty()).map(Into::into)
}

/// Reads the configuration file, if one is named, and makes its values the defaults of `cmd`'s arguments
/// (in every subcommand that has them). Unknown keys are refused with the valid ones listed.
pub(crate) fn apply(cmd: Command, args: &[std::ffi::OsString]) -> anyhow::Result<Command> {
    let Some(path) = path(args) else { return Ok(cmd) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read --config {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let scalar = |key: &str, v: toml::Value| -> anyhow::Result<String> {
        Ok(match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => anyhow::bail!("{}: {key}: expected a value, found {}", path.display(), other.type_str()),
        })
    };
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let text = match value {
            // Lists (`trust-proxy = ["10.0.0.0/8", "192.168.0.0/16"]`) as the flags take them: comma-separated.
            toml::Value::Array(items) => {
                items.into_iter().map(|v| scalar(&key, v)).collect::<anyhow::Result<Vec<_>>>()?.join(",")
            }
            other => scalar(&key, other)?,
        };
        values.insert(key.replace('_', "-"), text);
    }
    let mut known = Vec::new();
    collect_longs(&cmd, &mut known);
    known.extend(ENV_ONLY.iter().map(|(k, _)| (*k).to_string()));
    known.retain(|k| k != "config" && k != "help" && k != "version");
    known.sort();
    known.dedup();
    for key in values.keys() {
        anyhow::ensure!(
            known.contains(key),
            "{}: unknown key {key:?}; the keys are the flags' long names: {}",
            path.display(),
            known.join(", ")
        );
    }
    #[cfg(unix)]
    if values.contains_key("secret") {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} holds `secret` and others can read it (mode {:04o}): chmod 600 it",
                path.display(),
                mode & 0o7777
            );
        }
    }
    let cmd = with_defaults(cmd, &values);
    let _ = FILE_VALUES.set(values);
    Ok(cmd)
}

/// An environment-only setting: the variable, else the configuration file's key.
pub(crate) fn env_or_file(key: &str) -> Option<String> {
    let var = ENV_ONLY.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)?;
    std::env::var(var).ok().filter(|v| !v.is_empty()).or_else(|| FILE_VALUES.get()?.get(key).cloned())
}

fn collect_longs(cmd: &Command, out: &mut Vec<String>) {
    out.extend(cmd.get_arguments().filter_map(|a| a.get_long().map(str::to_string)));
    for sub in cmd.get_subcommands() {
        collect_longs(sub, out);
    }
}

fn with_defaults(mut cmd: Command, values: &BTreeMap<String, String>) -> Command {
    let ids: Vec<(String, String)> = cmd
        .get_arguments()
        .filter_map(|a| Some((a.get_id().to_string(), values.get(a.get_long()?)?.clone())))
        .collect();
    for (id, value) in ids {
        // Leaked once per key at start-up: clap keeps `'static` defaults.
        let value: &'static str = Box::leak(value.into_boxed_str());
        cmd = cmd.mut_arg(id, |a| a.default_value(value));
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, |s| with_defaults(s, values));
    }
    cmd
}
