//! `licensd license` and `licensd verify`: offline activation by the vendor, offline verification of a file.

use anyhow::Context as _;
use clap::Subcommand;
use licensd_server::AppState;

use crate::common::{DbArg, open, secret};

#[derive(Subcommand)]
pub(crate) enum LicenseCmd {
    /// Turn an air-gapped machine's activation request code (in FILE, or - for stdin) into its license
    /// file, for vendors with no connected machine at hand.
    OfflineActivate {
        #[command(flatten)]
        db: DbArg,
        file: String,
        /// Write the license file here instead of stdout.
        #[arg(long)]
        out: Option<String>,
    },
}

pub(crate) async fn license(cmd: LicenseCmd) -> anyhow::Result<()> {
    match cmd {
        LicenseCmd::OfflineActivate { db, file, out } => {
            let code = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
            };
            let db = open(&db).await?;
            let req = licensd_server::client_api::decode_request_code(code.trim(), "activate")
                .map_err(|e| anyhow::anyhow!("{}", e.error.detail))?;
            let outcome = match licensd_store::client::offline_activate(&db, &req).await {
                Err(licensd_store::StoreError::Refused(r)) => anyhow::bail!("refused: {} ({})", r.detail(), r.code()),
                other => other?,
            };
            let state = AppState::load(db, secret()).await?;
            let text = state.license_file(&outcome);
            match out {
                Some(path) => {
                    std::fs::write(&path, &text).with_context(|| format!("cannot write {path}"))?;
                    eprintln!("license file for {} written to {path}", req.hardware_id);
                }
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}

pub(crate) fn verify(
    file: &str,
    public_key: &str,
    hardware_id: Option<&str>,
    product: Option<&str>,
    refuse_trial: bool,
    json: bool,
) -> anyhow::Result<()> {
    use licensd_client::{KeySet, LicenseFile};
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let keys = KeySet::from_public_key(public_key).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    let mut verifier = LicenseFile::verifier(&keys);
    if let Some(hw) = hardware_id {
        verifier = verifier.hardware_id(hw);
    }
    if let Some(p) = product {
        verifier = verifier.product(p);
    }
    if refuse_trial {
        verifier = verifier.refuse_trial();
    }
    let f = verifier.verify(&text).map_err(|e| anyhow::anyhow!("the license file does not verify: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"valid": true, "license_key": f.license_key, "product": f.product, "hardware_id": f.hardware_id,
                "is_trial": f.is_trial, "issued_at": f.issued_at, "expires_at": f.expires_at, "key_id": f.key_id})
        );
    } else {
        println!("valid license file");
        println!("license key: {}", f.license_key);
        println!("product:     {}", f.product);
        println!("device:      {}", f.hardware_id);
        println!("trial:       {}", if f.is_trial { "yes" } else { "no" });
        let when = |secs: i64| licensd_core::time::format_iso(secs.saturating_mul(1000));
        println!("issued at:   {} ({} UNIX seconds)", when(f.issued_at), f.issued_at);
        println!("expires at:  {} ({} UNIX seconds)", when(f.expires_at), f.expires_at);
        println!("signed by:   key {}", f.key_id);
    }
    Ok(())
}
