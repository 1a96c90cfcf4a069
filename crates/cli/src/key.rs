//! `licensd key`: the signing key of answers and license files.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Subcommand;

use crate::common::{DbArg, open, operator, secret};

#[derive(Subcommand)]
pub(crate) enum KeyCmd {
    /// Print the active public key (what applications embed to verify responses and license files).
    Show {
        #[command(flatten)]
        db: DbArg,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
        /// Print only the public key (base64), for embedding: `PK=$(licensd key show --raw)`.
        #[arg(long, conflicts_with = "json")]
        raw: bool,
    },
    /// Make a new signing key active; old keys stay retrievable, so what they signed still verifies.
    /// Running servers pick the new key up within 30 seconds.
    Rotate {
        #[command(flatten)]
        db: DbArg,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write every signing key (active and retired) to FILE, sealed under a passphrase (Argon2id +
    /// XChaCha20-Poly1305): the copy to keep apart from the database. Losing the keys breaks every application
    /// that embeds their public halves. The passphrase is read from stdin (one line) or LICENSD_KEY_PASSPHRASE.
    Export {
        #[command(flatten)]
        db: DbArg,
        /// The file to write (created 0600; never over an existing one).
        #[arg(long)]
        out: String,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add the keys of a `licensd key export` FILE that the database lacks (stored sealed under
    /// LICENSD_SECRET when set). Its active key becomes active if the database has none, or with --activate.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// A file `licensd key export` wrote.
        file: String,
        /// Make the file's active key the signing key (the current one is retired; what it signed still verifies).
        #[arg(long)]
        activate: bool,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Seal every stored signing key (retired ones too) under LICENSD_SECRET with Argon2id: keys stored in
    /// plaintext, or in the older SHA-256 format; and the API keys' shared keys and OAuth clients' secrets made
    /// without it. Idempotent; `serve` does the same at start.
    Encrypt {
        #[command(flatten)]
        db: DbArg,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// `licensd key encrypt`.
pub(crate) async fn key_encrypt(db: &DbArg, json: bool) -> anyhow::Result<()> {
    let secret = secret().context(
        "LICENSD_SECRET is not set: set it to a long random value (e.g. `openssl rand -base64 32`) to seal the \
         signing keys under it, and keep it: the keys cannot be read without it",
    )?;
    let db = open(db).await?;
    let done = licensd_store::keys::encrypt_all(&db, &secret).await?;
    // The API keys' shared keys and OAuth clients' secrets, sealed the same way (labelled `api_key:<api key>`,
    // `oauth_client:<client id>`).
    let creds = licensd_store::credentials::seal_all(&db, &secret).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "resealed": done.resealed.iter().map(|(k, was)| serde_json::json!({"key_id": k, "was": was})).collect::<Vec<_>>(),
                "unchanged": done.unchanged,
                "failed": done.failed.iter().map(|(k, why)| serde_json::json!({"key_id": k, "error": why})).collect::<Vec<_>>(),
                "credentials": {
                    "resealed": creds.resealed.iter().map(|(k, was)| serde_json::json!({"credential": k, "was": was})).collect::<Vec<_>>(),
                    "unchanged": creds.unchanged,
                    "failed": creds.failed.iter().map(|(k, why)| serde_json::json!({"credential": k, "error": why})).collect::<Vec<_>>(),
                },
            })
        );
    } else {
        for (k, was) in &done.resealed {
            let was = if *was == licensd_store::keys::Kdf::None { "plaintext" } else { "SHA-256, no salt" };
            println!("sealed key {k} with Argon2id (was {was})");
        }
        for (k, why) in &done.failed {
            eprintln!("key {k}: {why}");
        }
        println!(
            "{} keys sealed now, {} sealed with Argon2id already{}",
            done.resealed.len(),
            done.unchanged.len(),
            if done.failed.is_empty() { String::new() } else { format!(", {} could not be opened", done.failed.len()) }
        );
        for (c, _) in &creds.resealed {
            println!("sealed the secret of {c} with Argon2id (was plaintext)");
        }
        for (c, why) in &creds.failed {
            eprintln!("{c}: {why}");
        }
        if !creds.resealed.is_empty() || !creds.unchanged.is_empty() || !creds.failed.is_empty() {
            println!(
                "{} API key and OAuth client secrets sealed now, {} sealed with Argon2id already{}",
                creds.resealed.len(),
                creds.unchanged.len(),
                if creds.failed.is_empty() {
                    String::new()
                } else {
                    format!(", {} could not be opened", creds.failed.len())
                }
            );
        }
    }
    db.close().await;
    anyhow::ensure!(
        done.failed.is_empty() && creds.failed.is_empty(),
        "{} keys and {} API key or OAuth client secrets were left as they were: LICENSD_SECRET does not open them",
        done.failed.len(),
        creds.failed.len()
    );
    Ok(())
}

pub(crate) async fn key(cmd: KeyCmd) -> anyhow::Result<()> {
    let (db, json, rotate, raw) = match cmd {
        KeyCmd::Show { db, json, raw } => (db, json, false, raw),
        KeyCmd::Rotate { db, json } => (db, json, true, false),
        KeyCmd::Encrypt { db, json } => return key_encrypt(&db, json).await,
        KeyCmd::Export { db, out, json } => return key_export(&db, &out, json).await,
        KeyCmd::Import { db, file, activate, json } => return key_import(&db, &file, activate, json).await,
    };
    let db = open(&db).await?;
    let k = if rotate {
        licensd_store::keys::rotate_as(&db, secret().as_deref(), &operator()).await?
    } else {
        licensd_store::keys::active(&db, secret().as_deref()).await?
    };
    if rotate && secret().is_none() {
        eprintln!(
            "warning: the new key is stored unencrypted; set LICENSD_SECRET and run `licensd key encrypt` to seal it"
        );
    }
    if raw {
        println!("{}", k.public_base64());
    } else if json {
        println!("{}", serde_json::json!({"alg": "ed25519", "key_id": k.key_id, "public_key": k.public_base64()}));
    } else {
        if rotate {
            println!("rotated: key {} now signs; running servers switch within 30 seconds", k.key_id);
        }
        println!("key id:     {}", k.key_id);
        println!("public key: {}", k.public_base64());
    }
    Ok(())
}

/// The export passphrase: `LICENSD_KEY_PASSPHRASE`, else one line of standard input.
fn passphrase() -> anyhow::Result<String> {
    let p = match std::env::var("LICENSD_KEY_PASSPHRASE") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("cannot read the passphrase from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    anyhow::ensure!(
        p.chars().count() >= 12,
        "the passphrase is shorter than 12 characters: whoever finds the file could guess it; use a long one \
         (`openssl rand -base64 24`)"
    );
    Ok(p)
}

/// `licensd key export`.
async fn key_export(db: &DbArg, out: &str, json: bool) -> anyhow::Result<()> {
    let pass = passphrase()?;
    let db = open(db).await?;
    let export = licensd_store::keys::export(&db, secret().as_deref(), &pass).await?;
    db.close().await;
    anyhow::ensure!(
        !export.keys.is_empty(),
        "the database has no signing key yet (`licensd serve` or `key show` makes one)"
    );
    crate::devmate::create_private(out)?
        .write_all(serde_json::to_string_pretty(&export)?.as_bytes())
        .with_context(|| format!("cannot write {out}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"out": out, "keys": export.keys.iter().map(|k| serde_json::json!({"key_id": k.key_id, "active": k.active})).collect::<Vec<_>>()})
        );
    } else {
        println!(
            "exported {} signing keys to {out} (sealed under the passphrase; keep both, apart)",
            export.keys.len()
        );
    }
    Ok(())
}

/// `licensd key import`.
async fn key_import(db: &DbArg, file: &str, activate: bool, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let export: licensd_store::keys::Export =
        serde_json::from_str(&text).with_context(|| format!("{file} is not a `licensd key export` file"))?;
    let pass = passphrase()?;
    let db = open(db).await?;
    let done = licensd_store::keys::import(&db, &export, &pass, secret().as_deref(), activate).await?;
    db.close().await;
    if json {
        println!("{}", serde_json::to_string(&done)?);
    } else {
        println!(
            "imported {} keys ({} already here){}",
            done.added.len(),
            done.present.len(),
            done.activated.as_ref().map(|k| format!("; key {k} signs now")).unwrap_or_default()
        );
    }
    Ok(())
}
