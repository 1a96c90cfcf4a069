//! `licensd key`: the signing keys of answers and license files: Ed25519 (licensd's client API, license
//! files) and RSA (LicenseSpring's API, `/api/v4`, whose SDKs verify RSA only).

use std::io::Write as _;

use anyhow::Context as _;
use clap::Subcommand;
use licensd_core::rsa::RsaKey;
use licensd_store::keys;

use crate::common::{DbArg, open, operator, parse_rsa_bits, secret};

#[derive(Subcommand)]
pub(crate) enum KeyCmd {
    /// Print the active public key (what applications embed to verify responses and license files); with
    /// --rsa, the RSA public key (PEM) that applications built on LicenseSpring's SDKs are given.
    Show {
        #[command(flatten)]
        db: DbArg,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
        /// Print only the public key (base64; with --rsa the PEM), for embedding: `PK=$(licensd key show --raw)`.
        #[arg(long, conflicts_with = "json")]
        raw: bool,
        /// The RSA key of LicenseSpring's API instead: its SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC
        /// KEY-----`), what an application gives its LicenseSpring SDK. Only reads: `licensd migrate` and
        /// `licensd serve` make the key, so what this prints is what the servers sign with.
        #[arg(long)]
        rsa: bool,
    },
    /// Make a new signing key active: the Ed25519 key (the default, or --ed25519), the RSA key (--rsa), or both
    /// (--ed25519 --rsa). Old keys stay retrievable, so what they signed still verifies. Running servers pick
    /// the new key up within 30 seconds. Says which kinds were rotated and which were not.
    Rotate {
        #[command(flatten)]
        db: DbArg,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
        /// Rotate the Ed25519 key (licensd's client API and license files); the default without --rsa.
        #[arg(long)]
        ed25519: bool,
        /// Rotate the RSA key (LicenseSpring's API); with --ed25519 too, both.
        #[arg(long)]
        rsa: bool,
        /// The new RSA key's size: 2048, 3072 or 4096 bits; the current key's size when absent.
        #[arg(long, requires = "rsa", value_parser = parse_rsa_bits)]
        rsa_bits: Option<u32>,
    },
    /// Write every signing key (active and retired, Ed25519 and RSA) to FILE, sealed under a passphrase
    /// (Argon2id + XChaCha20-Poly1305): the copy to keep apart from the database. Losing the keys breaks every
    /// application that embeds their public halves. The passphrase is read from stdin (one line) or
    /// LICENSD_KEY_PASSPHRASE.
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
    /// LICENSD_SECRET when set). Its active key of each kind becomes active if the database has none of that
    /// kind, or with --activate. Files of the format before RSA keys import too.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// A file `licensd key export` wrote.
        file: String,
        /// Make the file's active keys the signing keys (the current ones are retired; what they signed still
        /// verifies).
        #[arg(long)]
        activate: bool,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Seal every stored signing key (retired ones too, Ed25519 and RSA) under LICENSD_SECRET with Argon2id: keys
    /// stored in plaintext, or in the older SHA-256 format; and the API keys' shared keys and OAuth clients'
    /// secrets made without it. Idempotent; `serve` does the same at start.
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
    match cmd {
        KeyCmd::Show { db, json, raw, rsa: true } => key_show_rsa(&db, json, raw).await,
        KeyCmd::Show { db, json, raw, rsa: false } => key_show(&db, json, raw).await,
        KeyCmd::Rotate { db, json, ed25519, rsa, rsa_bits } => {
            // Without a flag, the Ed25519 key, as before there were two kinds.
            key_rotate(&db, json, ed25519 || !rsa, rsa, rsa_bits).await
        }
        KeyCmd::Encrypt { db, json } => key_encrypt(&db, json).await,
        KeyCmd::Export { db, out, json } => key_export(&db, &out, json).await,
        KeyCmd::Import { db, file, activate, json } => key_import(&db, &file, activate, json).await,
    }
}

/// `licensd key show`.
async fn key_show(db: &DbArg, json: bool, raw: bool) -> anyhow::Result<()> {
    let db = open(db).await?;
    let k = keys::active(&db, secret().as_deref()).await?;
    db.close().await;
    if raw {
        println!("{}", k.public_base64());
    } else if json {
        println!("{}", serde_json::json!({"alg": "ed25519", "key_id": k.key_id, "public_key": k.public_base64()}));
    } else {
        println!("key id:     {}", k.key_id);
        println!("public key: {}", k.public_base64());
    }
    Ok(())
}

/// The active RSA key, never made here.
async fn rsa_key(db: &licensd_store::Db) -> anyhow::Result<RsaKey> {
    keys::active_rsa(db, secret().as_deref()).await?.context(
        "the database has no RSA signing key yet: `licensd migrate` or `licensd serve` makes it (this command \
         never does, so that what it prints is what the servers sign with)",
    )
}

fn rsa_json(k: &RsaKey) -> serde_json::Value {
    serde_json::json!({"key_id": k.key_id, "algorithm": "rsa", "bits": k.bits(), "public_key_pem": k.public_pem()})
}

/// `licensd key show --rsa`: the PEM alone, so `licensd key show --rsa > licensd_public.pem` is the file an
/// application reads.
async fn key_show_rsa(db: &DbArg, json: bool, _raw: bool) -> anyhow::Result<()> {
    let db = open(db).await?;
    let k = rsa_key(&db).await;
    db.close().await;
    let k = k?;
    if json {
        println!("{}", rsa_json(&k));
    } else {
        print!("{}", k.public_pem());
    }
    Ok(())
}

/// `licensd key rotate`: the kinds asked for, each in a transaction of its own, recorded as
/// `signing_key.rotated` by the command line's operator.
async fn key_rotate(db: &DbArg, json: bool, ed25519: bool, rsa: bool, rsa_bits: Option<u32>) -> anyhow::Result<()> {
    let db = open(db).await?;
    let secret = secret();
    let by = operator();
    let ed = if ed25519 {
        keys::rotate_as(&db, secret.as_deref(), &by).await?
    } else {
        keys::active(&db, secret.as_deref()).await?
    };
    let old_rsa = keys::active_rsa(&db, secret.as_deref()).await?;
    let new_rsa = if rsa {
        let bits = rsa_bits.or(old_rsa.as_ref().map(RsaKey::bits)).unwrap_or(licensd_core::rsa::DEFAULT_RSA_BITS);
        Some(keys::rotate_rsa_as(&db, secret.as_deref(), bits, &by).await?)
    } else {
        None
    };
    db.close().await;
    if secret.is_none() {
        eprintln!(
            "warning: the new key is stored unencrypted; set LICENSD_SECRET and run `licensd key encrypt` to seal it"
        );
    }
    let rsa_now = new_rsa.as_ref().or(old_rsa.as_ref());
    let kinds = [("ed25519", ed25519), ("rsa", rsa)];
    let rotated: Vec<&str> = kinds.iter().filter(|(_, r)| *r).map(|(k, _)| *k).collect();
    let not_rotated: Vec<&str> = kinds.iter().filter(|(_, r)| !*r).map(|(k, _)| *k).collect();
    if json {
        let mut out = serde_json::json!({
            "alg": "ed25519", "key_id": ed.key_id, "public_key": ed.public_base64(),
            "rotated": rotated, "not_rotated": not_rotated,
        });
        if let Some(k) = rsa_now {
            out["rsa"] = rsa_json(k);
        }
        println!("{out}");
        return Ok(());
    }
    if ed25519 {
        println!("rotated: key {} now signs; running servers switch within 30 seconds", ed.key_id);
    }
    if let Some(k) = &new_rsa {
        println!(
            "rotated: RSA key {} ({} bits) now signs LicenseSpring API answers; running servers switch within 30 \
             seconds; applications built on LicenseSpring's SDKs need its PEM (`licensd key show --rsa`)",
            k.key_id,
            k.bits()
        );
    }
    if !ed25519 {
        println!("not rotated: the Ed25519 key {} (rotate it with --ed25519)", ed.key_id);
    }
    if !rsa {
        match &old_rsa {
            Some(k) => println!("not rotated: the RSA key {} (rotate it with --rsa)", k.key_id),
            None => println!("not rotated: the RSA key (there is none yet; --rsa makes one)"),
        }
    }
    if ed25519 {
        println!("key id:     {}", ed.key_id);
        println!("public key: {}", ed.public_base64());
    }
    if let Some(k) = &new_rsa {
        println!("RSA key id: {}", k.key_id);
        print!("{}", k.public_pem());
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
            serde_json::json!({"out": out, "keys": export.keys.iter().map(|k| serde_json::json!({"key_id": k.key_id, "active": k.active, "algorithm": k.algorithm})).collect::<Vec<_>>()})
        );
    } else {
        let rsa = export.keys.iter().filter(|k| k.algorithm == keys::SigningAlgorithm::Rsa).count();
        println!(
            "exported {} signing keys ({} Ed25519, {rsa} RSA) to {out} (sealed under the passphrase; keep both, apart)",
            export.keys.len(),
            export.keys.len() - rsa
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
    for k in &done.not_activated {
        eprintln!(
            "warning: the file's active {} key {} was added retired, because the database has an active {} key of \
             its own; import again with --activate to make the file's key sign (`licensd migrate` makes an RSA key)",
            k.algorithm.as_str(),
            k.key_id,
            k.algorithm.as_str()
        );
    }
    if json {
        println!("{}", serde_json::to_string(&done)?);
    } else {
        println!(
            "imported {} keys ({} already here){}",
            done.added.len(),
            done.present.len(),
            done.activated.as_ref().map(|k| format!("; key {k} signs now")).unwrap_or_default()
                + &done.activated_rsa.as_ref().map(|k| format!("; RSA key {k} signs now")).unwrap_or_default()
        );
    }
    Ok(())
}
