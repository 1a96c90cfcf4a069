//! `licensd license` and `licensd verify`: issue, show, find and act on licenses (disable, enable, refund,
//! reset); offline activation by the vendor, offline verification of a file.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use licensd_core::model::{
    CustomerInput, CustomerRef, Device, License, LicenseInput, LicenseTemplate, OrderInput, TemplateRef,
};
use licensd_core::time::format_iso;
use licensd_server::AppState;
use licensd_store::licenses::Action;
use licensd_store::{Db, Scope, StoreError};

use crate::common::{
    DbArg, collect, explain, license, open, operator, print_found, print_json, search, secret, table, time,
};

/// The most licenses one `license issue` makes (one transaction).
const MAX_COUNT: usize = 1000;

#[derive(Subcommand)]
pub(crate) enum LicenseCmd {
    /// Issue licenses from a template and print their keys (the last lines). With --email (or --customer) it
    /// is an order as a store makes one after a sale: the customer found by email or created, the licenses
    /// theirs, all or nothing.
    Issue {
        #[command(flatten)]
        db: DbArg,
        /// The license template's code (`licensd template list` shows them).
        #[arg(long, value_name = "CODE")]
        template: String,
        /// The customer's email: found (case-insensitively) or created, with an order holding the licenses.
        #[arg(long, conflicts_with = "customer")]
        email: Option<String>,
        /// An existing customer's id, with an order holding the licenses.
        #[arg(long, value_name = "ID")]
        customer: Option<i64>,
        /// The billing system's order id (invoice) of that order.
        #[arg(long)]
        store_id: Option<String>,
        /// How many licenses to issue (at most 1000).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_COUNT as u64))]
        count: u64,
        /// A note kept on each license.
        #[arg(long)]
        note: Option<String>,
        /// Print a JSON array of the licenses, each as `POST /api/v1/licenses` answers it.
        #[arg(long)]
        json: bool,
    },
    /// Show a license: status, product, customer, activations, devices and its latest history.
    Show {
        #[command(flatten)]
        db: DbArg,
        /// The license's key, or its id (`12` or `#12`); a key wins.
        key_or_id: String,
        /// Print the license as `GET /api/v1/licenses/{id}` answers it (with its history).
        #[arg(long)]
        json: bool,
    },
    /// Find licenses by a key, an email, a name or company, a hardware id or an invoice: the management API's
    /// `?search=` (parts match, case ignored; 3 characters at least); newest first.
    Find {
        #[command(flatten)]
        db: DbArg,
        /// What to look for (3 characters at least).
        query: String,
        /// Show at most this many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        /// Print a JSON array of licenses, each as the management API shows it.
        #[arg(long)]
        json: bool,
    },
    /// Disable a license (DevMate "blocked"): activations and checks are refused until it is enabled again.
    Disable(ActionArgs),
    /// Enable a disabled license again (a refunded one cannot be).
    Enable(ActionArgs),
    /// Refund a license: refused for good.
    Refund(ActionArgs),
    /// Free every activation of a license (its devices are deactivated; they can activate again).
    Reset(ActionArgs),
    /// Turn an air-gapped machine's activation request code (in FILE, or - for stdin) into its license
    /// file, for vendors with no connected machine at hand.
    OfflineActivate {
        #[command(flatten)]
        db: DbArg,
        /// The request code the machine showed (`licensd_client::offline_request_code`), in a file; - for stdin.
        file: String,
        /// Write the license file here instead of stdout.
        #[arg(long)]
        out: Option<String>,
    },
}

/// What every action on one license takes.
#[derive(Args)]
pub(crate) struct ActionArgs {
    #[command(flatten)]
    db: DbArg,
    /// The license's key, or its id (`12` or `#12`); a key wins.
    key_or_id: String,
    /// A note recorded with the action in the license's history.
    #[arg(long, default_value = "")]
    note: String,
    /// Print the license afterwards, as the management API's action answers it.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn license_cmd(cmd: LicenseCmd) -> anyhow::Result<()> {
    match cmd {
        LicenseCmd::Issue { db, template, email, customer, store_id, count, note, json } => {
            let db = open(&db).await?;
            let count = usize::try_from(count).unwrap_or(1);
            issue(&db, &template, email, customer, store_id, count, note, json).await?;
        }
        LicenseCmd::Show { db, key_or_id, json } => {
            let db = open(&db).await?;
            let scope = operator();
            let l = license(&db, &scope, &key_or_id).await?;
            if json {
                print_json(&l)?;
            } else {
                let devices = devices_of(&db, &scope, l.id).await?;
                let template = match l.license_template {
                    Some(id) => match licensd_store::templates::get(&mut &db, &scope, id).await {
                        Ok(t) => format!("{} (id {id})", t.code),
                        Err(StoreError::NotFound) => format!("id {id}"),
                        Err(e) => return Err(e.into()),
                    },
                    None => "-".into(),
                };
                print!("{}", describe(&l, &template, &devices));
            }
        }
        LicenseCmd::Find { db, query, limit, json } => {
            let db = open(&db).await?;
            let scope = operator();
            let limit = usize::try_from(limit).unwrap_or(20);
            let found = search(&licensd_store::licenses::SPEC, &query, limit, |p| {
                let (db, scope) = (&db, &scope);
                async move { licensd_store::licenses::list(db, scope, &p).await }
            })
            .await?;
            print_found("license", &query, found, limit, json, licenses_table)?;
        }
        LicenseCmd::Disable(a) => act(a, Action::Disable).await?,
        LicenseCmd::Enable(a) => act(a, Action::Enable).await?,
        LicenseCmd::Refund(a) => act(a, Action::Refund).await?,
        LicenseCmd::Reset(a) => act(a, Action::Reset).await?,
        LicenseCmd::OfflineActivate { db, file, out } => {
            let code = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
            };
            let db = open(&db).await?;
            let req = licensd_server::client_api::decode_request_code(code.trim(), "activate")
                .map_err(|e| anyhow::anyhow!("{}", e.error.detail))?;
            let outcome = match licensd_store::client_api::offline_activate(&db, &req).await {
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

/// A template by code; an unknown one is refused naming every template there is.
async fn template_by_code(db: &Db, scope: &Scope, code: &str) -> anyhow::Result<LicenseTemplate> {
    match licensd_store::templates::get_by_code(&mut &*db, scope, code).await {
        Err(StoreError::NotFound) => {
            let (_, all) =
                collect(&licensd_store::templates::SPEC, &[("order_by", "code".into())], None, |p| async move {
                    licensd_store::templates::list(db, scope, &p).await
                })
                .await?;
            if all.is_empty() {
                anyhow::bail!(
                    "no license template with code {code:?}: there are no templates yet (licensd template create \
                     --product SHORT_CODE --name N --code C)"
                );
            }
            let codes: Vec<&str> = all.iter().map(|t| t.code.as_str()).collect();
            anyhow::bail!("no license template with code {code:?}; templates are: {}", codes.join(", "))
        }
        other => Ok(other?),
    }
}

/// `license issue`.
#[allow(clippy::too_many_arguments)]
async fn issue(
    db: &Db,
    template: &str,
    email: Option<String>,
    customer: Option<i64>,
    store_id: Option<String>,
    count: usize,
    note: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let scope = operator();
    let t = template_by_code(db, &scope, template).await?;
    let one =
        LicenseInput { license_template: Some(TemplateRef::Id(t.id)), note: note.map(Some), ..LicenseInput::default() };
    let inputs = vec![one; count];
    let customer_ref = match (email, customer) {
        (Some(e), _) => {
            let mut c = CustomerInput { email: Some(e.clone()), ..CustomerInput::default() };
            c.validate().map_err(|err| match err {
                licensd_core::Error::Invalid { message, .. } => anyhow::anyhow!("--email {e:?}: {message}"),
            })?;
            Some(CustomerRef::New(Box::new(c)))
        }
        (None, Some(id)) => Some(CustomerRef::Id(id)),
        (None, None) => None,
    };
    let (licenses, order) = if customer_ref.is_some() || store_id.is_some() {
        let order = OrderInput {
            store_id,
            customer: customer_ref,
            customer_account: None,
            campaign: String::new(),
            reference: String::new(),
            is_test: false,
            metadata: serde_json::json!({}),
            licenses: inputs,
        };
        let o = match licensd_store::orders::create(db, &scope, order).await {
            Err(StoreError::Invalid { field, message }) if field == "customer" => {
                anyhow::bail!("--customer: {message}")
            }
            Err(StoreError::Conflict { field, .. }) if field == "store_id" => {
                anyhow::bail!("--store-id: an order with this store id exists already")
            }
            other => other.map_err(explain)?,
        };
        let mut ls = Vec::with_capacity(o.licenses.len());
        for l in &o.licenses {
            ls.push(licensd_store::licenses::get(&mut &*db, &scope, l.id).await?);
        }
        (ls, Some(o))
    } else {
        (licensd_store::licenses::create_all(db, &scope, &inputs).await.map_err(explain)?, None)
    };
    if json {
        return print_json(&licenses);
    }
    let n = licenses.len();
    let product = licenses.first().map(|l| l.product.short_code.as_str()).unwrap_or_default();
    let mut what =
        format!("issued {n} license{} of template {} (product {product})", if n == 1 { "" } else { "s" }, t.code);
    if let Some(c) = licenses.first().and_then(|l| l.customer.as_ref()) {
        what.push_str(&format!(" for {} (customer {})", c.email.as_deref().unwrap_or("?"), c.id));
    }
    if let Some(o) = &order {
        what.push_str(&format!(", order {}", o.id));
        if let Some(s) = &o.store_id {
            what.push_str(&format!(" ({s})"));
        }
    }
    println!("{what}:");
    for l in &licenses {
        println!("{}", l.license_key.as_deref().unwrap_or_default());
    }
    Ok(())
}

/// `license disable|enable|refund|reset`. Asking for the state a license is in already changes nothing and
/// says so (exit status 0, as `token revoke` twice); a refusal of another kind (enabling a refunded license)
/// is an error.
async fn act(a: ActionArgs, action: Action) -> anyhow::Result<()> {
    let db = open(&a.db).await?;
    let scope = operator();
    let before = license(&db, &scope, &a.key_or_id).await?;
    let name = format!("license {} ({})", before.id, before.license_key.as_deref().unwrap_or("no key"));
    let after = match licensd_store::licenses::act(&db, &scope, before.id, action, &a.note).await {
        Ok(l) => l,
        Err(StoreError::State(message)) => {
            let already = match action {
                Action::Disable => !before.enabled,
                Action::Enable => before.enabled && !before.refunded,
                Action::Refund => before.refunded,
                Action::Reset => false,
            };
            if !already {
                anyhow::bail!("{name}: {message}");
            }
            if a.json {
                return print_json(&before);
            }
            println!("{name}: {message}; nothing changed");
            return Ok(());
        }
        Err(e) => return Err(explain(e)),
    };
    if a.json {
        return print_json(&after);
    }
    match action {
        Action::Reset => {
            let n = before.times_activated;
            println!("reset {name}: freed {n} activation{}", if n == 1 { "" } else { "s" });
        }
        _ => {
            let verb = match action {
                Action::Disable => "disabled",
                Action::Enable => "enabled",
                _ => "refunded",
            };
            println!("{verb} {name}; its status is now {}", after.status.as_str());
        }
    }
    Ok(())
}

/// Every device that holds or held an activation of the license, oldest first.
async fn devices_of(db: &Db, scope: &Scope, license_id: i64) -> anyhow::Result<Vec<Device>> {
    let (_, devices) =
        collect(&licensd_store::devices::SPEC, &[("license", license_id.to_string())], None, |p| async move {
            licensd_store::devices::list(db, scope, &p).await
        })
        .await?;
    Ok(devices)
}

fn activations(l: &License) -> String {
    match l.max_activations {
        Some(max) => format!("{} of {max}", l.times_activated),
        None => format!("{} (unlimited)", l.times_activated),
    }
}

fn expires(l: &License) -> String {
    l.validity_period.map_or_else(|| "never".into(), |d| licensd_core::time::format_date(d.0))
}

/// `license show` in words: the license, its devices, its latest history.
fn describe(l: &License, template: &str, devices: &[Device]) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("license", format!("{} (id {})", l.license_key.as_deref().unwrap_or("-"), l.id)),
        ("status", l.status.as_str().to_string()),
        ("product", format!("{} ({})", l.product.short_code, l.product.product_name)),
        ("template", template.to_string()),
        ("type", format!("{}{}", l.license_type.as_str(), if l.is_trial { ", trial" } else { "" })),
        (
            "customer",
            l.customer.as_ref().map_or_else(
                || "-".into(),
                |c| {
                    let name = format!("{} {}", c.first_name, c.last_name).trim().to_string();
                    let email = c.email.clone().unwrap_or_else(|| "no email".into());
                    if name.is_empty() {
                        format!("{email} (id {})", c.id)
                    } else {
                        format!("{email}, {name} (id {})", c.id)
                    }
                },
            ),
        ),
        (
            "order",
            l.order.map_or_else(
                || "-".into(),
                |o| match &l.order_store_id {
                    Some(s) => format!("id {o}, store id {s}"),
                    None => format!("id {o}"),
                },
            ),
        ),
        ("activations", activations(l)),
        ("expires", expires(l)),
        ("last check", time(l.last_check)),
        ("created", format_iso(l.created_at.0)),
    ];
    if l.is_floating_cloud {
        lines.push(("floating", format!("{} seats, {} min timeout", l.floating_users, l.floating_timeout)));
    }
    if let Some(t) = l.time_disabled {
        lines.push(("disabled at", format_iso(t.0)));
    }
    if let Some(n) = l.note.as_deref().filter(|n| !n.is_empty()) {
        lines.push(("note", n.replace('\n', " ")));
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in &lines {
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    if devices.is_empty() {
        out.push_str("\ndevices: none\n");
    } else {
        out.push_str("\ndevices:\n");
        let rows: Vec<Vec<String>> = devices
            .iter()
            .map(|d| {
                vec![
                    d.id.to_string(),
                    d.hardware_id.clone(),
                    d.hostname.clone(),
                    d.os.clone(),
                    if d.active { "yes".into() } else { "no".into() },
                    format_iso(d.time_activated.0),
                    time(d.last_check),
                    time(d.deactivated_at),
                ]
            })
            .collect();
        out.push_str(&table(
            &["ID", "HARDWARE ID", "HOSTNAME", "OS", "ACTIVE", "ACTIVATED", "LAST CHECK", "DEACTIVATED"],
            &rows,
        ));
    }
    if let Some(history) = &l.history {
        let shown: Vec<_> = history.iter().rev().take(10).rev().collect();
        out.push_str(&format!(
            "\nhistory (latest {} of {}; licensd events --license {} for more):\n",
            shown.len(),
            l.history_count.unwrap_or(0),
            l.id
        ));
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|e| vec![format_iso(e.created_at.0), e.actor.clone(), e.action.clone(), e.note.clone()])
            .collect();
        out.push_str(&table(&["TIME", "ACTOR", "ACTION", "NOTE"], &rows));
    }
    out
}

/// `license find` as a table.
fn licenses_table(licenses: &[License]) -> String {
    let rows: Vec<Vec<String>> = licenses
        .iter()
        .map(|l| {
            vec![
                l.id.to_string(),
                l.license_key.clone().unwrap_or_default(),
                l.status.as_str().to_string(),
                l.product.short_code.clone(),
                l.customer.as_ref().and_then(|c| c.email.clone()).or_else(|| l.trial_email.clone()).unwrap_or_default(),
                activations(l),
                expires(l),
                format_iso(l.created_at.0),
            ]
        })
        .collect();
    table(&["ID", "KEY", "STATUS", "PRODUCT", "CUSTOMER", "ACTIVATIONS", "EXPIRES", "CREATED"], &rows)
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
