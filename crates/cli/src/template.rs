//! `licensd template create|list`: license templates, the rules licenses are issued from.

use std::collections::HashMap;

use clap::{Args, Subcommand};
use licensd_core::model::{LicenseTemplate, LicenseTemplateInput, LicenseType};
use licensd_store::{Db, Scope, StoreError};
use serde_json::{Value, json};

use crate::common::{DbArg, collect, explain, json_body, open, operator, print_json, product_by_code, table};

#[derive(Subcommand)]
pub(crate) enum TemplateCmd {
    /// Create a license template of a product: the terms its licenses get (activations, validity, trial,
    /// floating seats, key format, features).
    Create {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        fields: Box<TemplateFields>,
        /// Print the template as JSON, as `POST /api/v1/license-templates` answers it.
        #[arg(long)]
        json: bool,
    },
    /// List license templates: id, product, code, name, type, activations, validity, trial, floating, features.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Only this product's templates (its short code).
        #[arg(long, value_name = "SHORT_CODE")]
        product: Option<String>,
        /// Print a JSON array of templates, each as the management API shows it.
        #[arg(long)]
        json: bool,
    },
}

/// The fields of a template `template create` sets by flag.
#[derive(Args)]
pub(crate) struct TemplateFields {
    /// The product's short code.
    #[arg(long, value_name = "SHORT_CODE")]
    product: Option<String>,
    /// The template's name, as people read it.
    #[arg(long)]
    name: Option<String>,
    /// Unique code `license issue --template` and stores name it by.
    #[arg(long)]
    code: Option<String>,
    /// perpetual (the default), time-limited (the default when --validity-days is given), subscription or
    /// consumption.
    #[arg(long, value_parser = LicenseType::NAMES)]
    license_type: Option<String>,
    /// Machines a license may be activated on at once: a number, or `unlimited` (default 1).
    #[arg(long, value_name = "N|unlimited", value_parser = parse_max_activations)]
    max_activations: Option<MaxActivations>,
    /// Days from issue until a license expires (default: never).
    #[arg(long, value_name = "DAYS")]
    validity_days: Option<i64>,
    /// Licenses of this template are trials (what `POST /api/v1/client/trial` hands out).
    #[arg(long)]
    trial: bool,
    /// A trial's length in days, from issue (implies --trial).
    #[arg(long, value_name = "DAYS")]
    trial_days: Option<i64>,
    /// Floating: this many seats shared by any number of machines, held while they check in.
    #[arg(long, value_name = "SEATS")]
    floating: Option<i64>,
    /// How long a floating seat stays held without a check: minutes, or a duration (30m, 2h); default 30.
    #[arg(long, value_name = "MINUTES", requires = "floating", value_parser = parse_minutes)]
    floating_timeout: Option<i64>,
    /// What every generated key starts with: up to 32 letters, digits or `_` (MYAPP gives MYAPP-XXXXX-…).
    #[arg(long)]
    key_prefix: Option<String>,
    /// A feature of the product licenses of this template get, by code (repeat for several).
    #[arg(long = "feature", value_name = "CODE")]
    features: Vec<String>,
    /// Any other field of `POST /api/v1/license-templates` (max_transfers, prevent_vm, can_borrow,
    /// maintenance_duration_days, license_file_ttl_days, key_groups, features with limits, metadata, …) as
    /// a JSON object in FILE, or - for stdin; the flags above win over it. `product` may be a short code.
    #[arg(long, value_name = "FILE|-")]
    json_body: Option<String>,
}

/// `--max-activations`: a number or `unlimited`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaxActivations(Option<i64>);

fn parse_max_activations(s: &str) -> Result<MaxActivations, String> {
    if s.eq_ignore_ascii_case("unlimited") {
        return Ok(MaxActivations(None));
    }
    s.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(|n| MaxActivations(Some(n)))
        .ok_or_else(|| format!("{s:?}: give a number of machines (0 or more) or `unlimited`"))
}

/// Whole minutes: a bare number, or a duration such as `30m` or `2h`.
fn parse_minutes(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let d = humantime::parse_duration(s).map_err(|_| format!("{s:?}: give minutes (30) or a duration (30m, 2h)"))?;
    if d.as_secs() % 60 != 0 || d.subsec_nanos() != 0 {
        return Err(format!("{s:?}: floating timeouts are whole minutes"));
    }
    i64::try_from(d.as_secs() / 60).map_err(|_| format!("{s:?} is too long"))
}

pub(crate) async fn template(cmd: TemplateCmd) -> anyhow::Result<()> {
    match cmd {
        TemplateCmd::Create { db, fields, json } => {
            let TemplateFields {
                product,
                name,
                code,
                license_type,
                max_activations,
                validity_days,
                trial,
                trial_days,
                floating,
                floating_timeout,
                key_prefix,
                features,
                json_body: body,
            } = *fields;
            let mut f = match &body {
                Some(path) => json_body(path)?,
                None => serde_json::Map::new(),
            };
            let mut set = |key: &str, v: Option<Value>| {
                if let Some(v) = v {
                    f.insert(key.into(), v);
                }
            };
            set("name", name.map(Value::from));
            set("code", code.map(Value::from));
            set("license_type", license_type.map(Value::from));
            set("max_activations", max_activations.map(|m| json!(m.0)));
            set("validity_period_days", validity_days.map(Value::from));
            set("is_trial", (trial || trial_days.is_some()).then_some(Value::Bool(true)));
            set("trial_days", trial_days.map(Value::from));
            set("is_floating_cloud", floating.map(|_| Value::Bool(true)));
            set("floating_users", floating.map(Value::from));
            set("floating_timeout", floating_timeout.map(Value::from));
            set("key_prefix", key_prefix.map(Value::from));
            if !features.is_empty() {
                set("features", Some(features.iter().map(|c| json!({"code": c})).collect()));
            }
            if validity_days.is_some() && !f.contains_key("license_type") {
                f.insert("license_type".into(), "time-limited".into());
            }
            for (key, flag) in [("name", "--name"), ("code", "--code")] {
                if !f.contains_key(key) {
                    anyhow::bail!("give {flag} (or {key} in --json-body)");
                }
            }
            let db = open(&db).await?;
            let scope = operator();
            let product = match (product, f.get("product")) {
                (Some(code), _) => product_by_code(&db, &scope, &code).await?.id,
                (None, Some(Value::String(code))) => product_by_code(&db, &scope, code).await?.id,
                (None, Some(Value::Number(n))) => {
                    n.as_i64().ok_or_else(|| anyhow::anyhow!("--json-body: product: not a product id"))?
                }
                (None, Some(_)) => anyhow::bail!("--json-body: product: give a short code or an id"),
                (None, None) => anyhow::bail!("give --product SHORT_CODE"),
            };
            f.insert("product".into(), product.into());
            let input: LicenseTemplateInput = serde_path_to_error::deserialize(Value::Object(f))
                .map_err(|e| anyhow::anyhow!("--json-body: {}: {}", e.path(), e.inner()))?;
            let t = match licensd_store::templates::create(&db, &scope, input).await {
                Err(StoreError::Conflict { field, .. }) if field == "code" => {
                    anyhow::bail!("--code: a license template with this code exists already (licensd template list)")
                }
                Err(StoreError::Invalid { field, message }) => anyhow::bail!("{}: {message}", flag_for(&field)),
                Err(StoreError::Domain(licensd_core::Error::Invalid { field, message })) => {
                    anyhow::bail!("{}: {message}", flag_for(&field))
                }
                other => other.map_err(explain)?,
            };
            if json {
                print_json(&t)?;
            } else {
                let codes = product_codes(&db, &scope).await?;
                let p = codes.get(&t.product).map_or("?", String::as_str);
                println!("created template {} (id {}) of product {p}: {}", t.code, t.id, terms(&t));
            }
        }
        TemplateCmd::List { db, product, json } => {
            let db = open(&db).await?;
            let scope = operator();
            let mut filters = Vec::new();
            if let Some(code) = product {
                filters.push(("product", product_by_code(&db, &scope, &code).await?.id.to_string()));
            }
            let (_, templates) = collect(&licensd_store::templates::SPEC, &filters, None, |p| {
                let (db, scope) = (&db, &scope);
                async move { licensd_store::templates::list(db, scope, &p).await }
            })
            .await?;
            if json {
                print_json(&templates)?;
            } else {
                let codes = product_codes(&db, &scope).await?;
                print!("{}", templates_table(&templates, &codes));
            }
        }
    }
    Ok(())
}

/// The flag that sets a template field, for messages (`--json-body: field` for the others).
fn flag_for(field: &str) -> String {
    let flag = match field {
        "name" => "--name",
        "code" => "--code",
        "license_type" => "--license-type",
        "max_activations" => "--max-activations",
        "validity_period_days" => "--validity-days",
        "trial_days" => "--trial-days",
        "floating_users" => "--floating",
        "floating_timeout" => "--floating-timeout",
        "key_prefix" => "--key-prefix",
        f if f.starts_with("features[") => "--feature",
        f => return format!("--json-body: {f}"),
    };
    flag.to_string()
}

/// Every product's short code by id.
async fn product_codes(db: &Db, scope: &Scope) -> anyhow::Result<HashMap<i64, String>> {
    let (_, products) = collect(&licensd_store::products::SPEC, &[], None, |p| async move {
        licensd_store::products::list(db, scope, &p).await
    })
    .await?;
    Ok(products.into_iter().map(|p| (p.id, p.short_code)).collect())
}

fn activations(t: &LicenseTemplate) -> String {
    t.max_activations.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

fn validity(t: &LicenseTemplate) -> String {
    t.validity_period_days.map_or_else(|| "never expires".into(), |d| format!("{d} days"))
}

/// A template's terms in a few words: `perpetual, 3 activations, never expires`.
fn terms(t: &LicenseTemplate) -> String {
    let mut parts = vec![t.license_type.as_str().to_string()];
    if t.is_floating_cloud {
        parts.push(format!("{} floating seats ({} min timeout)", t.floating_users, t.floating_timeout));
    } else {
        parts.push(format!("{} activations", activations(t)));
    }
    if t.is_trial {
        parts.push(format!("trial of {} days", t.trial_days));
    } else {
        parts.push(validity(t));
    }
    parts.join(", ")
}

fn templates_table(templates: &[LicenseTemplate], codes: &HashMap<i64, String>) -> String {
    let rows: Vec<Vec<String>> = templates
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                codes.get(&t.product).cloned().unwrap_or_else(|| t.product.to_string()),
                t.code.clone(),
                t.name.clone(),
                t.license_type.as_str().to_string(),
                activations(t),
                t.validity_period_days.map(|d| format!("{d}d")).unwrap_or_default(),
                if t.is_trial { format!("{}d", t.trial_days) } else { String::new() },
                if t.is_floating_cloud { format!("{} seats", t.floating_users) } else { String::new() },
                t.features.iter().map(|f| f.code.as_str()).collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    table(&["ID", "PRODUCT", "CODE", "NAME", "TYPE", "ACTIVATIONS", "VALIDITY", "TRIAL", "FLOATING", "FEATURES"], &rows)
}
