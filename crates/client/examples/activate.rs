//! The SDK end to end: activate a license key on this machine, check it, fetch and verify a license
//! file offline, then deactivate.
//!
//! ```text
//! LICENSD_URL=http://127.0.0.1:8080 LICENSD_PUBLIC_KEY=$(licensd key show) \
//!   cargo run -p licensd-client --example activate -- LICENSE-KEY PRODUCT [HARDWARE-ID]
//! ```
//!
//! The license key, product and hardware id can also come from `LICENSD_LICENSE_KEY`,
//! `LICENSD_PRODUCT` and `LICENSD_HARDWARE_ID`. Pass `--keep` to leave the activation in place.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use licensd_client::{CheckOutcome, Client, Error, LicenseFile, LicenseRequest, RequestKind, offline_request_code};

fn setting(args: &[String], index: usize, env: &str) -> Option<String> {
    args.get(index).cloned().or_else(|| std::env::var(env).ok()).filter(|v| !v.is_empty())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: LICENSD_URL=… LICENSD_PUBLIC_KEY=… activate [--keep] LICENSE-KEY PRODUCT [HARDWARE-ID]\n\
         (or LICENSD_LICENSE_KEY, LICENSD_PRODUCT, LICENSD_HARDWARE_ID)"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let keep = args.iter().any(|a| a == "--keep");
    args.retain(|a| a != "--keep");
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return usage();
    }
    let (Some(url), Some(public_key)) = (std::env::var("LICENSD_URL").ok(), std::env::var("LICENSD_PUBLIC_KEY").ok())
    else {
        return usage();
    };
    let (Some(license_key), Some(product)) =
        (setting(&args, 0, "LICENSD_LICENSE_KEY"), setting(&args, 1, "LICENSD_PRODUCT"))
    else {
        return usage();
    };
    // A real application derives a stable fingerprint of the machine; this example takes one given.
    let hardware_id = setting(&args, 2, "LICENSD_HARDWARE_ID").unwrap_or_else(|| "example-machine".to_string());

    match run(&url, &public_key, &license_key, &product, &hardware_id, keep).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    url: &str,
    public_key: &str,
    license_key: &str,
    product: &str,
    hardware_id: &str,
    keep: bool,
) -> Result<(), Error> {
    let client = Client::builder(url, public_key)
        .timeout(Duration::from_secs(10))
        .grace_period(Duration::from_secs(24 * 3600))
        .build()?;
    let req = LicenseRequest::new(license_key, hardware_id, product)
        .os(std::env::consts::OS)
        .app_version(env!("CARGO_PKG_VERSION"));
    println!("server {url}, trusting key id(s) {:?}", client.trusted_keys().key_ids().collect::<Vec<_>>());

    // 1. Activate.
    // A refusal (TOO_MANY_ACTIVATIONS, NOT_FOUND, …) is an `Error::Refused` with the server's code.
    let activation = client.activate(&req).await?;
    let l = &activation.license;
    println!(
        "activated {} for {} on {hardware_id} ({}): status {}, type {}, {} of {} activation(s) used",
        l.license_key,
        l.product,
        if activation.created { "new activation" } else { "already active here" },
        l.status,
        l.license_type,
        l.times_activated,
        l.max_activations.map_or("unlimited".to_string(), |m| m.to_string()),
    );
    for f in &l.features {
        println!("  feature {} ({})", f.code, f.feature_type);
    }

    // 2. Check.
    match client.check(&req).await? {
        CheckOutcome::Online(r) => println!("check: valid={} code={} ({})", r.valid, r.code, r.detail),
        CheckOutcome::Grace { grace_ends_at, error, .. } => {
            println!("check: server unreachable ({error}); grace period until {grace_ends_at:?}")
        }
    }

    // 3. A license file, verified offline.
    let text = client.license_file(&req).await?;
    println!("license file ({} bytes):\n{}", text.len(), text.trim_end());
    let file = LicenseFile::verify_with(&text, client.trusted_keys(), hardware_id, product, SystemTime::now(), None)?;
    println!(
        "verified offline: {} for {}, signed by key {}, valid until {:?}",
        file.license_key,
        file.product,
        file.key_id,
        file.expires_at_time()
    );
    match LicenseFile::verify_with(&text, client.trusted_keys(), "some-other-machine", product, SystemTime::now(), None)
    {
        Err(Error::WrongDevice) => println!("as expected, the file does not verify on another machine"),
        other => println!("unexpected: the file on another machine gave {other:?}"),
    }

    // What an air-gapped machine would show its user instead.
    println!("air-gapped activation request code: {}", offline_request_code(&req, RequestKind::Activate));

    // 4. Deactivate.
    if keep {
        println!("keeping the activation (--keep)");
    } else {
        // The license file fetched above keeps this machine's slot until it expires: the server refuses
        // to free it early (LICENSE_FILE_OUTSTANDING), so a slot never moves while the file still works.
        match client.deactivate(&req).await {
            Ok(d) => println!("{}: {} activation(s) left in use", d.code, d.license.times_activated),
            Err(e) if e.code() == Some("LICENSE_FILE_OUTSTANDING") => println!("not deactivated: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
