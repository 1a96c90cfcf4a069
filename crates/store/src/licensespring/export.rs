//! What a vendor fetches from LicenseSpring before leaving: the pages of its management API's
//! `GET /api/v1/licenses/` (seed 002: `{"count", "next", "previous", "results": [license, …]}`, each license with
//! its customer, product, features, custom fields and users embedded). A file holds one page, a JSON array of
//! pages, or one page per line (JSON lines).
//!
//! Reading is strict where meaning is at stake and lenient elsewhere: a license must be an object with an integer
//! `id` and a `product` with an integer `id`, and every field licensd keeps must have LicenseSpring's type (a
//! string where it sends a string, and so on), or the whole file is refused naming the page, the license and the
//! field; fields licensd does not keep are ignored whatever they hold.

use serde::Deserialize;
use serde_json::Value;

/// How the file holds its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One page object.
    Page,
    /// A JSON array of page objects.
    Pages,
    /// One page object per line.
    JsonLines,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Page => "one page",
            Format::Pages => "a JSON array of pages",
            Format::JsonLines => "JSON lines, one page a line",
        }
    }
}

/// A product as a license embeds it (seed 002 shows `id` and `product_name`; a short code may come under either
/// name, or as the license's `product_short_code`).
#[derive(Debug, Clone, Deserialize)]
pub struct LsProduct {
    pub id: i64,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub short_code: Option<String>,
    #[serde(default)]
    pub product_short_code: Option<String>,
    #[serde(default)]
    pub authorization_method: Option<String>,
}

/// A customer label (`{"label", "color"}`).
#[derive(Debug, Clone, Deserialize)]
pub struct LsLabel {
    pub label: String,
    #[serde(default)]
    pub color: Option<String>,
}

/// The customer a license embeds.
#[derive(Debug, Clone, Deserialize)]
pub struct LsCustomer {
    pub id: i64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub postcode: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub labels: Vec<LsLabel>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// A product feature as a license's feature embeds it; some exports give only its id.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LsFeatureRef {
    Full(LsProductFeature),
    Id(i64),
}

#[derive(Debug, Clone, Deserialize)]
pub struct LsProductFeature {
    pub id: i64,
    pub code: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub feature_type: Option<String>,
    #[serde(default)]
    pub max_consumption: Option<i64>,
    #[serde(default)]
    pub allow_overages: Option<bool>,
    #[serde(default)]
    pub max_overages: Option<i64>,
    #[serde(default)]
    pub reset_consumption: Option<bool>,
    #[serde(default)]
    pub consumption_period: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    /// A floating feature (LicenseSpring's cloud floating): seats per license and their timeout (minutes).
    #[serde(default)]
    pub is_floating_cloud: Option<bool>,
    #[serde(default)]
    pub floating_users: Option<i64>,
    #[serde(default)]
    pub floating_timeout: Option<i64>,
}

/// One of a license's features: the product feature and this license's limits and counter.
#[derive(Debug, Clone, Deserialize)]
pub struct LsLicenseFeature {
    pub product_feature: LsFeatureRef,
    #[serde(default)]
    pub max_consumption: Option<i64>,
    #[serde(default)]
    pub total_consumptions: Option<i64>,
    #[serde(default)]
    pub expiry_date: Option<String>,
    #[serde(default)]
    pub allow_overages: Option<bool>,
    #[serde(default)]
    pub max_overages: Option<i64>,
}

/// A user a user-based license is assigned to.
#[derive(Debug, Clone, Deserialize)]
pub struct LsUser {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub true_email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub is_manager: Option<bool>,
}

/// A license of a List Licenses page: the fields licensd keeps, with LicenseSpring's names and types.
#[derive(Debug, Clone, Deserialize)]
pub struct LsLicense {
    pub id: i64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub license_key: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub license_type: Option<String>,
    #[serde(default)]
    pub max_activations: Option<i64>,
    #[serde(default)]
    pub allow_unlimited_activations: Option<bool>,
    #[serde(default)]
    pub times_activated: Option<i64>,
    #[serde(default)]
    pub time_activated: Option<String>,
    #[serde(default)]
    pub time_disabled: Option<String>,
    #[serde(default)]
    pub last_check: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub valid_duration: Option<String>,
    #[serde(default)]
    pub validity_period: Option<String>,
    #[serde(default)]
    pub enable_maintenance_period: Option<bool>,
    #[serde(default)]
    pub maintenance_duration: Option<String>,
    #[serde(default)]
    pub maintenance_period: Option<String>,
    #[serde(default)]
    pub is_trial: Option<bool>,
    #[serde(default)]
    pub trial_days: Option<i64>,
    #[serde(default)]
    pub max_consumptions: Option<i64>,
    #[serde(default)]
    pub total_consumptions: Option<i64>,
    #[serde(default)]
    pub allow_unlimited_consumptions: Option<bool>,
    #[serde(default)]
    pub allow_overages: Option<bool>,
    #[serde(default)]
    pub max_overages: Option<i64>,
    #[serde(default)]
    pub reset_consumption: Option<bool>,
    #[serde(default)]
    pub consumption_period: Option<String>,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub prevent_vm: Option<bool>,
    #[serde(default)]
    pub is_floating: Option<bool>,
    #[serde(default)]
    pub is_floating_cloud: Option<bool>,
    #[serde(default)]
    pub floating_users: Option<i64>,
    #[serde(default)]
    pub floating_timeout: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub max_license_users: Option<i64>,
    #[serde(default)]
    pub transfer_count: Option<i64>,
    #[serde(default)]
    pub max_transfers: Option<i64>,
    #[serde(default)]
    pub is_air_gapped: Option<bool>,
    #[serde(default)]
    pub is_hardware_key_auth: Option<bool>,
    #[serde(default)]
    pub can_borrow: Option<bool>,
    #[serde(default)]
    pub max_borrow_time: Option<i64>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub order: Option<i64>,
    #[serde(default)]
    pub order_item: Option<i64>,
    #[serde(default)]
    pub order_store_id: Option<String>,
    /// Who disabled it: LicenseSpring's user (an id, an email or an object), or `null`.
    #[serde(default)]
    pub disabled_user: Option<Value>,
    #[serde(default)]
    pub customer: Option<LsCustomer>,
    pub product: LsProduct,
    #[serde(default)]
    pub product_short_code: Option<String>,
    #[serde(default)]
    pub product_features: Vec<LsLicenseFeature>,
    /// Kept as given: its entries' shape is not documented (`{name, value}`, or a `product_custom_field` object).
    #[serde(default)]
    pub product_custom_fields: Vec<Value>,
    #[serde(default)]
    pub license_users: Vec<LsUser>,
}

/// A license of the file, where it was, and its JSON as given.
#[derive(Debug, Clone)]
pub struct ExportLicense {
    /// 1-based page number (the line, for JSON lines).
    pub page: usize,
    /// Its index in the page's `results`.
    pub index: usize,
    pub license: LsLicense,
    pub raw: Value,
}

impl ExportLicense {
    /// `page 2, results[3]`: where the license is in the file.
    pub fn position(&self, format: Format) -> String {
        let page =
            if format == Format::JsonLines { format!("line {}", self.page) } else { format!("page {}", self.page) };
        format!("{page}, results[{}]", self.index)
    }
}

/// A file's pages, read and checked.
#[derive(Debug, Clone)]
pub struct Export {
    pub format: Format,
    pub pages: usize,
    /// In file order, a license found twice kept once (the first).
    pub licenses: Vec<ExportLicense>,
    /// Licenses found again on a later page: `(position, id, same content)`.
    pub repeated: Vec<(String, i64, bool)>,
    /// The largest `count` a page gave: how many licenses LicenseSpring said the listing holds.
    pub count: Option<i64>,
}

/// The largest id a license may have: the largest integer JavaScript reads exactly (LicenseSpring's SDKs send it
/// back as `license_id`).
const MAX_SAFE_ID: i64 = (1 << 53) - 1;

/// The path (`customer.email`) of the first string or key in `v` that holds a NUL.
fn nul_in(v: &Value, at: String) -> Option<String> {
    let join = |k: &str| if at.is_empty() { k.to_string() } else { format!("{at}.{k}") };
    match v {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() { "a value".into() } else { at }),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| nul_in(x, format!("{at}[{i}]"))),
        Value::Object(m) => {
            m.iter().find_map(|(k, x)| if k.contains('\0') { Some(join("a key")) } else { nul_in(x, join(k)) })
        }
        _ => None,
    }
}

const PAGE_SHAPE: &str =
    "a page of LicenseSpring's GET /api/v1/licenses/: {\"count\", \"next\", \"previous\", \"results\": [...]}";

/// Reads a file's pages: one page object, a JSON array of pages, or JSON lines of pages. Any error refuses the
/// whole file, naming where.
pub fn read(text: &str) -> Result<Export, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err("the file is empty; it should hold pages of LicenseSpring's GET /api/v1/licenses/".into());
    }
    let (format, pages): (Format, Vec<(usize, Value)>) = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            if items.is_empty() {
                return Err("the file is an empty JSON array: no pages".into());
            }
            (Format::Pages, items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect())
        }
        Ok(v @ Value::Object(_)) => (Format::Page, vec![(1, v)]),
        Ok(_) => return Err(format!("the file is JSON, but not {PAGE_SHAPE}, nor an array of such pages")),
        Err(whole) => {
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
            if serde_json::from_str::<Value>(first).is_err()
                || text.lines().filter(|l| !l.trim().is_empty()).count() < 2
            {
                return Err(format!("the file is not JSON: {whole}"));
            }
            let mut pages = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v = serde_json::from_str::<Value>(line).map_err(|e| {
                    format!("line {}: not JSON (the file reads as JSON lines, one page a line): {e}", n + 1)
                })?;
                pages.push((n + 1, v));
            }
            (Format::JsonLines, pages)
        }
    };
    let mut out = Export { format, pages: pages.len(), licenses: Vec::new(), repeated: Vec::new(), count: None };
    let mut seen: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for (page, v) in pages {
        let at = if format == Format::JsonLines { format!("line {page}") } else { format!("page {page}") };
        let Value::Object(mut obj) = v else {
            return Err(format!("{at}: not a page object ({PAGE_SHAPE})"));
        };
        let results = match obj.remove("results") {
            Some(Value::Array(r)) => r,
            Some(_) => return Err(format!("{at}: \"results\" is not an array ({PAGE_SHAPE})")),
            None if obj.contains_key("license_key") || obj.contains_key("product") => {
                return Err(format!(
                    "{at}: this is a license, not a page: the file should hold whole pages as LicenseSpring answers them ({PAGE_SHAPE})"
                ));
            }
            None => return Err(format!("{at}: no \"results\" ({PAGE_SHAPE})")),
        };
        match obj.get("count") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => {
                out.count = out.count.max(n.as_i64());
            }
            Some(other) => return Err(format!("{at}: \"count\" is not a whole number: {other}")),
        }
        for (index, raw) in results.into_iter().enumerate() {
            let here = format!("{at}, results[{index}]");
            if !raw.is_object() {
                return Err(format!("{here}: not a license object"));
            }
            if let Some(path) = nul_in(&raw, String::new()) {
                return Err(format!(
                    "{here}: {path} holds a NUL character (\\u0000), which licensd's databases cannot store"
                ));
            }
            let license: LsLicense = serde_path_to_error::deserialize(&raw).map_err(|e| {
                let id = raw.get("id").map(|v| format!(" (license {v})")).unwrap_or_default();
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { format!("{path}: ") };
                format!("{here}{id}: {path}{}", e.inner())
            })?;
            if !(1..=MAX_SAFE_ID).contains(&license.id) {
                return Err(format!("{here}: id {} is not a license id (1 to {MAX_SAFE_ID})", license.id));
            }
            if let Some(&first) = seen.get(&license.id) {
                let same = out.licenses[first].raw == raw;
                out.repeated.push((here, license.id, same));
                continue;
            }
            seen.insert(license.id, out.licenses.len());
            out.licenses.push(ExportLicense { page, index, license, raw });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(results: &str) -> String {
        format!(r#"{{"count": 2, "next": null, "previous": null, "results": [{results}]}}"#)
    }

    const A: &str = r#"{"id": 1, "license_key": "A", "product": {"id": 7, "product_name": "MCH"}}"#;
    const B: &str = r#"{"id": 2, "license_key": "B", "product": {"id": 7, "product_name": "MCH"}, "customer": null}"#;

    #[test]
    fn one_page_an_array_of_pages_and_json_lines_are_read_alike() {
        let one = read(&page(&format!("{A}, {B}"))).unwrap();
        assert_eq!((one.format, one.pages, one.licenses.len(), one.count), (Format::Page, 1, 2, Some(2)));
        let arr = read(&format!("[{}, {}]", page(A), page(B))).unwrap();
        assert_eq!((arr.format, arr.pages, arr.licenses.len()), (Format::Pages, 2, 2));
        assert_eq!(arr.licenses[1].position(arr.format), "page 2, results[0]");
        let lines = read(&format!("{}\n\n{}\n", page(A), page(B))).unwrap();
        assert_eq!((lines.format, lines.pages, lines.licenses.len()), (Format::JsonLines, 2, 2));
        assert_eq!(lines.licenses[1].position(lines.format), "line 3, results[0]");
        // A license on two pages is kept once.
        let twice = read(&format!("[{}, {}]", page(A), page(A))).unwrap();
        assert_eq!((twice.licenses.len(), twice.repeated.len(), twice.repeated[0].2), (1, 1, true));
    }

    #[test]
    fn a_malformed_file_is_refused_naming_where() {
        let err = |t: &str| read(t).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(err("[]").contains("no pages"));
        assert!(err("{\"results\": [").contains("not JSON"), "{}", err("{\"results\": ["));
        assert!(err("42").contains("not a page"));
        assert!(err(A).contains("this is a license, not a page"), "{}", err(A));
        assert!(err(&format!("[{A}]")).contains("page 1: this is a license"));
        assert!(err("{\"results\": {}}").contains("\"results\" is not an array"));
        assert!(err(&format!("{}\n{{oops", page(A))).contains("line 2: not JSON"));
        let e = err(&page(r#"{"id": 5, "product": {"id": 7}, "max_activations": "six"}"#));
        assert!(e.starts_with("page 1, results[0] (license 5): max_activations: invalid type"), "{e}");
        let e = err(&page(r#"{"id": 5, "product": {"id": 7}, "customer": {"id": 1, "email": 3}}"#));
        assert!(e.contains("customer.email: invalid type"), "{e}");
        let e = err(&page(r#"{"id": "x", "product": {"id": 7}}"#));
        assert!(e.contains("id: invalid type"), "{e}");
        let e = err(&page(r#"{"id": 5}"#));
        assert!(e.contains("missing field `product`"), "{e}");
        assert!(err(&page("3")).contains("results[0]: not a license object"));
        let e =
            err(&page(r#"{"id": 5, "product": {"id": 7}, "customer": {"id": 1, "labels": [{"label": "a\u0000"}]}}"#));
        assert!(e.contains("results[0]: customer.labels[0].label holds a NUL character"), "{e}");
        assert!(err(&page(r#"{"id": 0, "product": {"id": 7}}"#)).contains("id 0 is not a license id"));
    }
}
