//! `licensd key`: the signing key of answers and license files.

use anyhow::Context as _;
use clap::Subcommand;

use crate::common::{DbArg, open, secret};

#[derive(Subcommand)]
pub(crate) enum KeyCmd {
    /// Print the active public key (what applications embed to verify responses and license files).
    Show {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
    /// Make a new signing key active; old keys stay retrievable, so what they signed still verifies.
    /// Running servers pick the new key up within 30 seconds.
    Rotate {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
    /// Seal every stored signing key (retired ones too) under LICENSD_SECRET with Argon2id: keys stored in
    /// plaintext, or in the older SHA-256 format. Idempotent; `serve` does the same at start.
    Encrypt {
        #[command(flatten)]
        db: DbArg,
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
    if json {
        println!(
            "{}",
            serde_json::json!({
                "resealed": done.resealed.iter().map(|(k, was)| serde_json::json!({"key_id": k, "was": was})).collect::<Vec<_>>(),
                "unchanged": done.unchanged,
                "failed": done.failed.iter().map(|(k, why)| serde_json::json!({"key_id": k, "error": why})).collect::<Vec<_>>(),
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
    }
    db.close().await;
    anyhow::ensure!(
        done.failed.is_empty(),
        "{} keys were left as they were: LICENSD_SECRET does not open them",
        done.failed.len()
    );
    Ok(())
}

pub(crate) async fn key(cmd: KeyCmd) -> anyhow::Result<()> {
    let (db, json, rotate) = match cmd {
        KeyCmd::Show { db, json } => (db, json, false),
        KeyCmd::Rotate { db, json } => (db, json, true),
        KeyCmd::Encrypt { db, json } => return key_encrypt(&db, json).await,
    };
    let db = open(&db).await?;
    let k = if rotate {
        licensd_store::keys::rotate(&db, secret().as_deref()).await?
    } else {
        licensd_store::keys::active(&db, secret().as_deref()).await?
    };
    if rotate && secret().is_none() {
        eprintln!(
            "warning: the new key is stored unencrypted; set LICENSD_SECRET and run `licensd key encrypt` to seal it"
        );
    }
    if json {
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
