//! DevMate's Public API v2 vocabulary (seeds 000 and 001): the customer, license, product and history
//! objects as DevMate's clients read them, how licensd's model maps onto them, and the reading of a
//! DevMate export (`GET /v2/customers/{id}` responses) record by record.
//!
//! Mapping: license type = license template, activation key = license key, invoice = order `store_id`,
//! campaign = order campaign, identifier = a device's hardware id, activation id = a device's id,
//! status = [`LicenseStatus`]'s number. Times are UNIX seconds on the wire and milliseconds inside.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::status::LicenseStatus;

/// What DevMate shows as `activations_total` for a key with no activation limit.
pub const UNLIMITED_ACTIVATIONS: i64 = 65535;

/// The actor of history imported from DevMate, so imported history can be told from licensd's own.
pub const IMPORT_ACTOR: &str = "devmate-import";

/// A customer as `GET /v2/customers` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DevmateCustomer {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub phone: String,
    pub address: String,
    pub note: String,
    /// UNIX seconds.
    pub date_added: i64,
    /// Only on a single customer, or on a list asked for `with=licenses`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<Vec<DevmateLicense>>,
}

impl DevmateCustomer {
    /// A licensd customer as DevMate shows it (without licenses).
    pub fn from_model(c: &crate::model::Customer) -> Self {
        DevmateCustomer {
            id: c.id,
            email: c.email.clone().unwrap_or_default(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            company: c.company_name.clone(),
            phone: c.phone.clone(),
            address: c.address.clone(),
            note: c.note.clone(),
            date_added: secs(c.created_at.0),
            licenses: None,
        }
    }
}

/// A license (DevMate "activation key") in the order of seed 001's example.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DevmateLicense {
    pub license_type_name: String,
    pub license_type_id: i64,
    pub invoice: String,
    pub campaign: String,
    /// UNIX seconds (in seed 000's field table; seed 001's example leaves it out).
    pub date_created: i64,
    pub activations_used: i64,
    pub id: i64,
    /// UNIX seconds; `null` when the key does not expire.
    pub expiration_date: Option<i64>,
    pub products: Vec<DevmateProduct>,
    pub is_subscription: bool,
    /// 1 never used, 2 used, 3 expired, 4 blocked, 5 refunded.
    pub status: i64,
    /// 65535 when unlimited.
    pub activations_total: i64,
    pub activation_key: String,
    /// The latest records (at most 50 through the API; all of them in an export), oldest of them first.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<HistoryRecord>,
    /// Only when `history` leaves records out: how many there are in all (the whole history is paged at
    /// `/api/v1/events/?license=`). Not a DevMate field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DevmateProduct {
    pub id: i64,
    pub name: String,
    pub bundle_id: String,
    pub use_offline_license: bool,
}

/// One entry of a license's history: the four documented keys, then whatever else DevMate sent with it
/// (`activation_id`, `identifiers`, `deactivated`, … as its Java client knows them), kept as given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRecord {
    #[serde(rename = "type")]
    pub kind: i64,
    pub user_name: String,
    pub note: String,
    /// UNIX seconds.
    pub timestamp: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HistoryRecord {
    /// A record with only the documented keys.
    pub fn plain(kind: HistoryType, note: &str, timestamp_ms: i64) -> Self {
        HistoryRecord {
            kind: kind as i64,
            user_name: String::new(),
            note: note.to_string(),
            timestamp: secs(timestamp_ms),
            extra: Map::new(),
        }
    }

    /// `activation_id` as an integer, if present.
    pub fn activation_id(&self) -> Option<i64> {
        self.extra.get("activation_id").and_then(int_of)
    }

    /// `identifiers` (the machine id an activation record names), if present.
    pub fn identifiers(&self) -> Option<&str> {
        self.extra.get("identifiers").and_then(Value::as_str)
    }

    /// `deactivated`, which DevMate sends as 0 or 1.
    pub fn deactivated(&self) -> bool {
        match self.extra.get("deactivated") {
            Some(Value::Bool(b)) => *b,
            Some(v) => int_of(v).is_some_and(|n| n != 0),
            None => false,
        }
    }
}

/// The kinds of history record, with the licensd event action each is kept as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryType {
    Activation = 1,
    Created = 2,
    Expired = 3,
    Blocked = 4,
    Returned = 5,
    Reset = 6,
}

impl HistoryType {
    pub fn from_code(n: i64) -> Option<Self> {
        Some(match n {
            1 => HistoryType::Activation,
            2 => HistoryType::Created,
            3 => HistoryType::Expired,
            4 => HistoryType::Blocked,
            5 => HistoryType::Returned,
            6 => HistoryType::Reset,
            _ => return None,
        })
    }

    /// The event action an imported record of this kind is stored as.
    pub fn action(self) -> &'static str {
        match self {
            HistoryType::Activation => "license.activated",
            HistoryType::Created => "license.created",
            HistoryType::Expired => "license.expired",
            HistoryType::Blocked => "license.disabled",
            HistoryType::Returned => "license.refunded",
            HistoryType::Reset => "license.reset",
        }
    }

    /// The kind a licensd event shows as in DevMate's history; `None` for events DevMate has no kind for.
    pub fn of_action(action: &str) -> Option<Self> {
        Some(match action {
            "license.activated" => HistoryType::Activation,
            "license.created" => HistoryType::Created,
            "license.expired" => HistoryType::Expired,
            "license.disabled" => HistoryType::Blocked,
            "license.refunded" => HistoryType::Returned,
            "license.reset" | "license.reset_first_activation" => HistoryType::Reset,
            _ => return None,
        })
    }

    /// Every action [`HistoryType::of_action`] knows, for SQL `IN` lists.
    pub const ACTIONS: &'static [&'static str] = &[
        "license.activated",
        "license.created",
        "license.expired",
        "license.disabled",
        "license.refunded",
        "license.reset",
        "license.reset_first_activation",
    ];
}

/// Milliseconds to DevMate's UNIX seconds.
pub fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// `activations_total` for a stored limit (`None`: unlimited).
pub fn activations_total(max_activations: Option<i64>) -> i64 {
    max_activations.unwrap_or(UNLIMITED_ACTIVATIONS)
}

/// The stored limit for DevMate's `activations_total`.
pub fn max_activations(activations_total: i64) -> Option<i64> {
    (activations_total != UNLIMITED_ACTIVATIONS).then_some(activations_total)
}

/// DevMate's status number of a licensd status (1 never used, 2 used, 3 expired, 4 blocked, 5 refunded:
/// [`LicenseStatus`]'s discriminants).
pub fn status_code(s: LicenseStatus) -> i64 {
    s as i64
}

/// The licensd status of DevMate's status number; `None` outside 1–5.
pub fn status_of_code(n: i64) -> Option<LicenseStatus> {
    LicenseStatus::ALL.into_iter().find(|s| status_code(*s) == n)
}

// ---------------------------------------------------------------------------------------------
// Reading an export

/// Why one record of an export cannot be imported: the field at fault (a path such as
/// `licenses[0].status`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> RecordError {
    RecordError { field: field.into(), message: message.into() }
}

/// An integer, or a string of one (DevMate's clients accept both for times).
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn get_int(o: &Map<String, Value>, path: &str, key: &str) -> Result<Option<i64>, RecordError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_of(v).map(Some).ok_or_else(|| err(join(path, key), format!("must be an integer, not {v}"))),
    }
}

fn need_int(o: &Map<String, Value>, path: &str, key: &str) -> Result<i64, RecordError> {
    get_int(o, path, key)?.ok_or_else(|| err(join(path, key), "is required"))
}

fn get_str(o: &Map<String, Value>, path: &str, key: &str) -> Result<String, RecordError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(err(join(path, key), format!("must be a string, not {v}"))),
    }
}

fn get_bool(o: &Map<String, Value>, path: &str, key: &str) -> Result<bool, RecordError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => match int_of(v) {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(err(join(path, key), format!("must be true or false, not {v}"))),
        },
    }
}

fn get_array<'a>(o: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a [Value], RecordError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(err(join(path, key), format!("must be an array, not {v}"))),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, RecordError> {
    v.as_object().ok_or_else(|| err(path, "must be a JSON object"))
}

fn positive(path: String, n: i64) -> Result<i64, RecordError> {
    if n > 0 { Ok(n) } else { Err(err(path, format!("must be a positive integer, not {n}"))) }
}

/// Seconds that fit licensd's milliseconds (year 1970 to 9999).
fn seconds(path: String, n: i64) -> Result<i64, RecordError> {
    if (0..=253_402_300_799).contains(&n) {
        Ok(n)
    } else {
        Err(err(path, format!("{n} is not a UNIX time in seconds")))
    }
}

/// The customer inside one export record: a `{"data": customer}` response, or the bare customer object.
pub fn unwrap_record(v: &Value) -> Result<&Value, RecordError> {
    let o = object(v, "")?;
    match o.get("data") {
        Some(d) if d.is_object() => Ok(d),
        Some(_) => Err(err("data", "must be a customer object")),
        None if o.contains_key("errors") => Err(err("", "this is an error response, not a customer")),
        None => Ok(v),
    }
}

/// Reads and checks one customer of an export, with its licenses, their products and history. Only
/// what licensd can keep is accepted; anything else is named with its path.
pub fn parse_customer(v: &Value) -> Result<DevmateCustomer, RecordError> {
    let o = object(v, "")?;
    let id = positive("id".into(), need_int(o, "", "id")?)?;
    let email = get_str(o, "", "email")?;
    let c = DevmateCustomer {
        id,
        email: email.trim().to_string(),
        first_name: get_str(o, "", "first_name")?,
        last_name: get_str(o, "", "last_name")?,
        company: get_str(o, "", "company")?,
        phone: get_str(o, "", "phone")?,
        address: get_str(o, "", "address")?,
        note: get_str(o, "", "note")?,
        date_added: match get_int(o, "", "date_added")? {
            Some(n) => seconds("date_added".into(), n)?,
            None => return Err(err("date_added", "is required")),
        },
        licenses: Some(
            get_array(o, "", "licenses")?
                .iter()
                .enumerate()
                .map(|(i, l)| parse_license(l, &format!("licenses[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
    };
    check_customer(&c)?;
    let mut seen = std::collections::HashSet::new();
    for (i, l) in c.licenses.iter().flatten().enumerate() {
        if !seen.insert(l.id) {
            return Err(err(format!("licenses[{i}].id"), format!("license #{} appears twice", l.id)));
        }
    }
    Ok(c)
}

/// The same rules as the management API's customers (`CustomerInput::validate`), named as DevMate names them.
fn check_customer(c: &DevmateCustomer) -> Result<(), RecordError> {
    let mut i = crate::model::CustomerInput {
        email: Some(c.email.clone()),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        company_name: c.company.clone(),
        phone: c.phone.clone(),
        address: c.address.clone(),
        note: c.note.clone(),
        ..Default::default()
    };
    i.validate().map_err(|crate::Error::Invalid { field, message }| {
        err(if field == "company_name" { "company".to_string() } else { field }, message)
    })
}

fn parse_license(v: &Value, path: &str) -> Result<DevmateLicense, RecordError> {
    let o = object(v, path)?;
    let status = need_int(o, path, "status")?;
    if status_of_code(status).is_none() {
        return Err(err(join(path, "status"), format!("must be 1 to 5, not {status}")));
    }
    let activations_used = need_int(o, path, "activations_used")?;
    let activations_total = need_int(o, path, "activations_total")?;
    for (k, n) in [("activations_used", activations_used), ("activations_total", activations_total)] {
        if !(0..=1_000_000_000).contains(&n) {
            return Err(err(join(path, k), format!("must be between 0 and 1000000000, not {n}")));
        }
    }
    let key = get_str(o, path, "activation_key")?;
    if !key.is_empty() {
        crate::keys::validate_key(&key)
            .map_err(|crate::Error::Invalid { message, .. }| err(join(path, "activation_key"), message))?;
    }
    let license_type_id = get_int(o, path, "license_type_id")?.unwrap_or(0);
    if license_type_id < 0 {
        return Err(err(join(path, "license_type_id"), "must not be negative"));
    }
    let products = get_array(o, path, "products")?
        .iter()
        .enumerate()
        .map(|(i, p)| parse_product(p, &format!("{path}.products[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if products.is_empty() {
        return Err(err(join(path, "products"), "a license needs at least one product"));
    }
    let history = get_array(o, path, "history")?
        .iter()
        .enumerate()
        .map(|(i, h)| parse_history(h, &format!("{path}.history[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let created = history.iter().find(|h| h.kind == HistoryType::Created as i64).map(|h| h.timestamp);
    let license_type_name = get_str(o, path, "license_type_name")?;
    let invoice = get_str(o, path, "invoice")?;
    let campaign = get_str(o, path, "campaign")?;
    for (k, s, max) in
        [("license_type_name", &license_type_name, 200), ("invoice", &invoice, 255), ("campaign", &campaign, 255)]
    {
        if s.chars().count() > max || s.chars().any(|c| c.is_control()) {
            return Err(err(join(path, k), format!("must be at most {max} characters, without control characters")));
        }
    }
    Ok(DevmateLicense {
        license_type_name,
        license_type_id,
        invoice,
        campaign,
        // Seed 001's example has no date_created: the "created" history record says when.
        date_created: match get_int(o, path, "date_created")?.or(created) {
            Some(n) => seconds(join(path, "date_created"), n)?,
            None => return Err(err(join(path, "date_created"), "is required (or a history record of type 2)")),
        },
        activations_used,
        id: positive(join(path, "id"), need_int(o, path, "id")?)?,
        expiration_date: get_int(o, path, "expiration_date")?
            .map(|n| seconds(join(path, "expiration_date"), n))
            .transpose()?,
        products,
        is_subscription: get_bool(o, path, "is_subscription")?,
        status,
        activations_total,
        activation_key: key,
        history,
        history_count: None,
    })
}

fn parse_product(v: &Value, path: &str) -> Result<DevmateProduct, RecordError> {
    let o = object(v, path)?;
    let p = DevmateProduct {
        id: positive(join(path, "id"), need_int(o, path, "id")?)?,
        name: get_str(o, path, "name")?,
        bundle_id: get_str(o, path, "bundle_id")?,
        use_offline_license: get_bool(o, path, "use_offline_license")?,
    };
    for (k, s) in [("name", &p.name), ("bundle_id", &p.bundle_id)] {
        if s.chars().count() > 255 || s.chars().any(|c| c.is_control()) {
            return Err(err(join(path, k), "must be at most 255 characters, without control characters"));
        }
    }
    Ok(p)
}

/// Reads a history record kept as JSON (an imported record, as stored with its event).
pub fn stored_history(v: &Value) -> Result<HistoryRecord, RecordError> {
    parse_history(v, "")
}

fn parse_history(v: &Value, path: &str) -> Result<HistoryRecord, RecordError> {
    let o = object(v, path)?;
    let kind = need_int(o, path, "type")?;
    if HistoryType::from_code(kind).is_none() {
        return Err(err(join(path, "type"), format!("must be 1 to 6, not {kind}")));
    }
    let timestamp = seconds(join(path, "timestamp"), need_int(o, path, "timestamp")?)?;
    let mut extra = o.clone();
    for k in ["type", "user_name", "note", "timestamp"] {
        extra.remove(k);
    }
    let r = HistoryRecord {
        kind,
        user_name: get_str(o, path, "user_name")?,
        note: get_str(o, path, "note")?,
        timestamp,
        extra,
    };
    if r.note.chars().count() > 10_000 {
        return Err(err(join(path, "note"), "must be at most 10000 characters"));
    }
    if kind == HistoryType::Activation as i64 {
        if let Some(a) = o.get("activation_id").filter(|a| !a.is_null()) {
            let n =
                int_of(a).ok_or_else(|| err(join(path, "activation_id"), format!("must be an integer, not {a}")))?;
            positive(join(path, "activation_id"), n)?;
        }
        if let Some(i) = o.get("identifiers").filter(|i| !i.is_null())
            && !i.is_string()
        {
            return Err(err(join(path, "identifiers"), format!("must be a string, not {i}")));
        }
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// An export file

/// A file that is not an export at all (not JSON, or not one of the shapes [`export_records`] reads): nothing of
/// it can be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadExport(pub String);

/// One record of an export file: where it is, and its text.
#[derive(Debug, Clone, Copy)]
pub struct ExportRecord<'a> {
    /// 1-based.
    pub number: usize,
    /// The line it starts on, 1-based.
    pub line: usize,
    raw: &'a RawValue,
}

impl ExportRecord<'_> {
    /// `record 2 (line 3)`: how messages about it name it.
    pub fn position(&self) -> String {
        format!("record {} (line {})", self.number, self.line)
    }

    /// The customer the record holds, checked ([`parse_customer`]); the error names the customer's id when the
    /// record has one.
    pub fn parse(&self) -> Result<DevmateCustomer, String> {
        let v: Value = serde_json::from_str(self.raw.get()).map_err(|e| e.to_string())?;
        let customer = unwrap_record(&v).map_err(|e| e.to_string())?;
        parse_customer(customer).map_err(|e| {
            let id = customer.get("id").map(|i| format!("customer #{i}: ")).unwrap_or_default();
            format!("{id}{e}")
        })
    }

    /// The record's customer id as far as it can be read, also from a record [`parse`](Self::parse) refuses
    /// (for reports).
    pub fn customer_id(&self) -> Option<i64> {
        let v: Value = serde_json::from_str(self.raw.get()).ok()?;
        unwrap_record(&v).ok()?.get("id").and_then(int_of)
    }
}

string_enum! {
    /// Where an import run uploaded in the dashboard stands. `Interrupted` is never stored: it is a run still
    /// marked running whose instance stopped writing its progress (it stopped or crashed).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub enum ImportState {
        Running => "running",
        /// Every record was applied or reported.
        Done => "done",
        /// The run stopped before the end (the database failed); what it applied stays.
        Failed => "failed",
        Interrupted => "interrupted",
    }
}

string_enum! {
    /// What an import did with one record of the file.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub enum RecordOutcome {
        /// A new customer (with its licenses).
        Created => "created",
        /// A customer already there, with licenses it did not have yet.
        Updated => "updated",
        /// Everything of it was there already (a re-import).
        Unchanged => "unchanged",
        /// Invalid, or refused because it collides with other records: nothing of it was written.
        Failed => "failed",
    }
}

/// Splits an export into its records. Accepted: a JSON array of `{"data": customer}` responses (what
/// `licensd export devmate` writes) or of bare customers; one list response `{"data": [...]}`; or one
/// response or customer per line (JSON Lines). Records are only split here, not checked: each is read by
/// [`ExportRecord::parse`], so one bad record does not refuse the others.
pub fn export_records(text: &str) -> Result<Vec<ExportRecord<'_>>, BadExport> {
    let trimmed = text.trim_start();
    let raws: Vec<&RawValue> = if trimmed.starts_with('[') {
        serde_json::from_str(text).map_err(|e| BadExport(format!("the file is not a valid JSON array: {e}")))?
    } else {
        let values = serde_json::Deserializer::from_str(text)
            .into_iter::<&RawValue>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BadExport(format!("the file is not valid JSON: {e}")))?;
        let list = match values.as_slice() {
            [one] => serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(one.get())
                .ok()
                .and_then(|m| m.get("data").copied())
                .and_then(|d| serde_json::from_str::<Vec<&RawValue>>(d.get()).ok()),
            _ => None,
        };
        list.unwrap_or(values)
    };
    let base = text.as_ptr() as usize;
    let mut line = 1;
    let mut seen = 0;
    let mut out = Vec::with_capacity(raws.len());
    for (i, raw) in raws.into_iter().enumerate() {
        let offset = (raw.get().as_ptr() as usize).saturating_sub(base).min(text.len());
        line += text.as_bytes()[seen.min(offset)..offset].iter().filter(|b| **b == b'\n').count();
        seen = seen.max(offset);
        out.push(ExportRecord { number: i + 1, line, raw });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_license() -> Value {
        json!({"license_type_name": "MyNewApp Single User License", "license_type_id": 26, "invoice": "", "campaign": "",
               "activations_used": 0, "id": 1185, "expiration_date": null,
               "products": [{"id": 1, "name": "MyNewApp", "bundle_id": "com.acme.MyNewApp", "use_offline_license": false}],
               "is_subscription": false, "status": 1, "activations_total": 65535, "activation_key": "id593311373237odr",
               "history": [{"type": 2, "user_name": "", "note": "", "timestamp": 1446563864}]})
    }

    #[test]
    fn seed_license_reads_and_serializes_back() {
        let c = json!({"data": {"id": 45, "email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe",
            "company": "MacPaw", "phone": "5553423322", "address": "Madison Ave. 11", "note": "", "date_added": "1443185520",
            "licenses": [seed_license()]}});
        let parsed = parse_customer(unwrap_record(&c).unwrap()).unwrap();
        assert_eq!(parsed.date_added, 1_443_185_520);
        let l = &parsed.licenses.as_ref().unwrap()[0];
        assert_eq!(l.date_created, 1_446_563_864, "taken from the created record");
        assert_eq!(max_activations(l.activations_total), None);
        let mut back = serde_json::to_value(l).unwrap();
        back.as_object_mut().unwrap().remove("date_created");
        assert_eq!(back, seed_license());
    }

    #[test]
    fn bad_fields_are_named_with_their_path() {
        let mut l = seed_license();
        l["status"] = json!(9);
        let c = json!({"id": 1, "email": "a@b.c", "date_added": 1, "licenses": [l]});
        assert_eq!(parse_customer(&c).unwrap_err().to_string(), "licenses[0].status: must be 1 to 5, not 9");
        let c = json!({"id": 1, "email": "nope", "date_added": 1});
        assert_eq!(parse_customer(&c).unwrap_err().field, "email");
        let c = json!({"id": "x", "email": "a@b.c", "date_added": 1});
        assert_eq!(parse_customer(&c).unwrap_err().field, "id");
        let mut l = seed_license();
        l["history"][0]["type"] = json!(7);
        let c = json!({"id": 1, "email": "a@b.c", "date_added": 1, "licenses": [l]});
        assert_eq!(parse_customer(&c).unwrap_err().field, "licenses[0].history[0].type");
        assert!(unwrap_record(&json!({"errors": [{"title": "Unauthorized"}]})).is_err());
    }

    #[test]
    fn history_keeps_unknown_keys_and_reads_activation_fields() {
        let h = parse_history(
            &json!({"type": 1, "timestamp": 1471478400, "user_name": "", "note": "", "id": 1, "activation_id": 7,
                    "identifiers": "aa:aa:aa:aa:aa:aa", "deactivated": 1}),
            "h",
        )
        .unwrap();
        assert_eq!(h.activation_id(), Some(7));
        assert_eq!(h.identifiers(), Some("aa:aa:aa:aa:aa:aa"));
        assert!(h.deactivated());
        assert_eq!(serde_json::to_value(&h).unwrap()["id"], 1);
        assert_eq!(HistoryType::of_action(HistoryType::Blocked.action()), Some(HistoryType::Blocked));
    }

    #[test]
    fn status_numbers_are_devmates() {
        let named: Vec<(i64, LicenseStatus)> = (0..=6).filter_map(|n| Some((n, status_of_code(n)?))).collect();
        use LicenseStatus::*;
        assert_eq!(named, [(1, Inactive), (2, Active), (3, Expired), (4, Disabled), (5, Refunded)]);
        assert!(LicenseStatus::ALL.into_iter().all(|s| status_of_code(status_code(s)) == Some(s)));
    }

    #[test]
    fn export_records_are_split_in_every_shape_with_their_lines() {
        let c = |id: i64| json!({"id": id, "email": format!("c{id}@example.com")});
        let array = format!("[\n{},\n{}\n]\n", json!({"data": c(1)}), json!({"data": c(2)}));
        let lines = format!("{}\n\n{}\n", c(1), json!({"data": c(2)}));
        let list = json!({"data": [c(1), c(2)], "meta": {"total": 2}}).to_string();
        for text in [array.as_str(), lines.as_str(), list.as_str()] {
            let r = export_records(text).unwrap();
            assert_eq!(r.iter().map(|r| r.customer_id()).collect::<Vec<_>>(), [Some(1), Some(2)], "{text}");
            assert_eq!(r[1].number, 2);
        }
        assert_eq!(export_records(&array).unwrap()[1].position(), "record 2 (line 3)");
        assert_eq!(export_records(&lines).unwrap()[1].line, 3);
        let bad = export_records("[{\"data\": {\"id\": 1,").unwrap_err();
        assert!(bad.0.starts_with("the file is not a valid JSON array"), "{bad}");
        assert!(export_records("hello").unwrap_err().0.starts_with("the file is not valid JSON"));
        let text = format!("[{}]", json!({"data": {"id": 7, "email": 3}}));
        let refused = export_records(&text).unwrap();
        assert_eq!(refused[0].customer_id(), Some(7), "read from a record parse refuses");
        assert!(refused[0].parse().unwrap_err().starts_with("customer #7: "));
    }
}
