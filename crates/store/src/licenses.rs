//! Licenses: issue, read, change, and the vendor's actions (disable, enable, refund, reset).

use std::sync::LazyLock;

use licensd_core::model::{
    License, LicenseCustomField, LicenseCustomFieldInput, LicenseFeature, LicenseInput, LicenseTerms, ProductRef,
    ProductSummary, TemplateRef, consumptions_at,
};
use licensd_core::status::{StatusFacts, license_status};
use licensd_core::time::{Day, Timestamp, now_ms};

use crate::db::{Db, Exec, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Search, SearchScope, Spec};
use crate::scope::{Scope, push_in_list};
use crate::terms::{self, Column};
use licensd_core::time::CalendarDuration;

const COLS: &str = concat!(
    "l.*, ",
    license_last_check!(),
    " AS last_check, p.product_name, p.short_code, p.is_bundle AS product_is_bundle, o.store_id AS order_store_id, \
     (SELECT COUNT(*) FROM devices d WHERE d.license_id = l.id AND d.deactivated_at IS NULL) AS active_devices, \
     (SELECT COUNT(*) FROM devices d WHERE d.license_id = l.id AND d.deactivated_at IS NULL AND COALESCE(",
    device_last_check!(),
    ", d.time_activated) >= COALESCE(l.terms_changed_at, l.created_at)) AS up_to_date_devices, \
     (SELECT d.id FROM devices d WHERE d.license_id = l.id ORDER BY d.time_activated DESC, d.id DESC LIMIT 1) \
     AS last_activation_device, \
     COALESCE(l.order_item, (SELECT MIN(l2.id) FROM licenses l2 WHERE l2.order_id = l.order_id \
     AND l2.product_id = l.product_id)) AS order_line, \
     (SELECT tr.email FROM trials tr WHERE tr.license_id = l.id) AS trial_email"
);
const FROM: &str = "FROM licenses l JOIN products p ON p.id = l.product_id LEFT JOIN orders o ON o.id = l.order_id";

fn from_row(r: &Row, now: i64) -> Result<License, StoreError> {
    let enabled: bool = r.get("enabled")?;
    let refunded: bool = r.get("refunded")?;
    let expires_at: Option<i64> = r.get("expires_at")?;
    let times_activated: i64 = r.get("times_activated")?;
    let is_floating_cloud: bool = r.get("is_floating_cloud")?;
    let reset_consumption: bool = r.get("reset_consumption")?;
    let consumption_period = r.get_enum_opt("consumption_period")?;
    let maintenance_until: Option<i64> = r.get("maintenance_until")?;
    let maintenance_duration: Option<CalendarDuration> = Column::read(r, "maintenance_duration")?;
    let total_consumptions = consumptions_at(
        r.get("total_consumptions")?,
        r.get("consumptions_counted_at")?,
        reset_consumption,
        consumption_period,
        now,
    );
    Ok(License {
        id: r.get("id")?,
        license_key: r.get("license_key")?,
        status: license_status(StatusFacts { enabled, refunded, expires_at, times_activated }, now),
        active: times_activated > 0,
        enabled,
        refunded,
        customer: None,
        product: ProductSummary {
            id: r.get("product_id")?,
            product_name: r.get("product_name")?,
            short_code: r.get("short_code")?,
        },
        order: r.get("order_id")?,
        order_store_id: r.get("order_store_id")?,
        order_item: r.get("order_line")?,
        license_template: r.get("template_id")?,
        license_type: r.get_enum("license_type")?,
        max_activations: r.get("max_activations")?,
        times_activated,
        total_active_devices: r.get("active_devices")?,
        active_up_to_date_devices: r.get("up_to_date_devices")?,
        last_activation_device: r.get("last_activation_device")?,
        validity_period: expires_at.map(Day),
        valid_duration: Column::read(r, "valid_duration")?,
        enable_maintenance_period: maintenance_until.is_some() || maintenance_duration.is_some(),
        maintenance_period: maintenance_until.map(Day),
        maintenance_duration,
        is_trial: r.get("is_trial")?,
        trial_days: r.get("trial_days")?,
        is_floating: false,
        is_floating_cloud,
        floating_users: r.get("floating_users")?,
        floating_timeout: r.get("floating_timeout")?,
        floating_in_use_devices: 0,
        max_transfers: r.get("max_transfers")?,
        transfer_count: r.get("transfer_count")?,
        prevent_vm: r.get("prevent_vm")?,
        can_borrow: r.get("can_borrow")?,
        max_borrow_time: r.get("max_borrow_time")?,
        max_consumptions: r.get("max_consumptions")?,
        total_consumptions,
        allow_overages: r.get("allow_overages")?,
        max_overages: r.get("max_overages")?,
        reset_consumption,
        consumption_period,
        max_license_users: r.get("max_license_users")?,
        is_air_gapped: r.get("is_air_gapped")?,
        is_hardware_key_auth: r.get("is_hardware_key_auth")?,
        subscription_id: r.get("subscription_id")?,
        bundle_license: r.get("bundle_license_id")?,
        is_bundle: r.get("product_is_bundle")?,
        license_file_ttl_days: r.get("license_file_ttl_days")?,
        product_features: Vec::new(),
        product_custom_fields: Vec::new(),
        license_users: Vec::new(),
        note: r.get("note")?,
        metadata: r.json("metadata")?,
        time_activated: r.get::<Option<i64>>("time_activated")?.map(Timestamp),
        time_disabled: r.get::<Option<i64>>("time_disabled")?.map(Timestamp),
        disabled_user: if enabled { None } else { r.get("disabled_by")? },
        last_check: r.get::<Option<i64>>("last_check")?.map(Timestamp),
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
        history: None,
        history_count: None,
        history_url: None,
        trial_email: r.get("trial_email")?,
    })
}

/// A license's feature entitlements: the columns [`feature_from_row`] reads, and where they come from.
pub(crate) const FEATURE_COLS: &str = "lf.id, lf.license_id, lf.feature_id, f.code, f.name, f.feature_type, \
     lf.max_consumption, lf.total_consumptions, lf.allow_overages, lf.max_overages, lf.expires_at, \
     f.reset_consumption, f.consumption_period, f.metadata, f.is_floating_cloud, f.floating_users, f.floating_timeout";
pub(crate) const FEATURE_FROM: &str = "FROM license_features lf JOIN product_features f ON f.id = lf.feature_id";

/// One feature entitlement of a license (the management API's; the client API tells it without its ids).
pub(crate) fn feature_from_row(r: &Row) -> Result<LicenseFeature, StoreError> {
    Ok(LicenseFeature {
        id: r.get("id")?,
        product_feature: r.get("feature_id")?,
        code: r.get("code")?,
        name: r.get("name")?,
        feature_type: r.get_enum("feature_type")?,
        max_consumption: r.get("max_consumption")?,
        total_consumptions: r.get("total_consumptions")?,
        allow_overages: r.get("allow_overages")?,
        max_overages: r.get("max_overages")?,
        expiry_date: r.get::<Option<i64>>("expires_at")?.map(Day),
        reset_consumption: r.get("reset_consumption")?,
        consumption_period: r.get_enum_opt("consumption_period")?,
        metadata: r.json("metadata")?,
        is_floating_cloud: r.get("is_floating_cloud")?,
        floating_users: r.get("floating_users")?,
        floating_timeout: r.get("floating_timeout")?,
    })
}

/// Loads licenses by id with their customers and features in a fixed number of queries (no N+1),
/// in the order of `ids`.
pub async fn load(e: &mut impl Exec, ids: &[i64]) -> Result<Vec<License>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut q = query(format!("SELECT {COLS} {FROM} WHERE l.id"));
    push_in_list(&mut q, ids);
    let rows = e.fetch_all(q).await?;
    let mut ls = Vec::with_capacity(rows.len());
    let mut customer_ids: Vec<i64> = Vec::new();
    for r in &rows {
        let cid: Option<i64> = r.get("customer_id")?;
        customer_ids.extend(cid);
        ls.push((from_row(r, now)?, cid));
    }
    ls.sort_by_key(|(l, _)| ids.iter().position(|i| *i == l.id));
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let customers = crate::customers::by_ids(e, &customer_ids).await?;

    let mut fq = query(format!("SELECT {FEATURE_COLS} {FEATURE_FROM} WHERE lf.license_id"));
    push_in_list(&mut fq, ids);
    fq.push(" ORDER BY f.code");
    let features = e.fetch_all(fq).await?;
    let users = crate::license_users::of_licenses(e, ids).await?;
    let seats = seats_in_use(e, ls.iter().filter(|(l, _)| l.is_floating_cloud).map(|(l, _)| l.id), now).await?;
    let mut product_ids: Vec<i64> = ls.iter().map(|(l, _)| l.product.id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let custom = custom_fields_of(e, &product_ids, ids).await?;

    for (l, cid) in &mut ls {
        l.floating_in_use_devices = seats.iter().find(|(id, _)| *id == l.id).map_or(0, |(_, n)| *n);
        l.customer = cid.and_then(|cid| customers.iter().find(|c| c.id == cid).cloned());
        l.license_users = users.iter().filter(|(lid, _)| *lid == l.id).map(|(_, u)| u.clone()).collect();
        l.product_custom_fields = custom.of(l.id, l.product.id);
        for r in &features {
            if r.get::<i64>("license_id")? != l.id {
                continue;
            }
            l.product_features.push(feature_from_row(r)?);
        }
    }
    Ok(ls.into_iter().map(|(l, _)| l).collect())
}

/// The custom fields of some products and some licenses' own values of them.
struct CustomFields {
    /// `(product id, field)` with the default as the value, in the product's order.
    defs: Vec<(i64, LicenseCustomField)>,
    /// `(license id, field id, value)`.
    values: Vec<(i64, i64, String)>,
}

impl CustomFields {
    /// Every custom field of `product`, with `license`'s own value where it has one.
    fn of(&self, license: i64, product: i64) -> Vec<LicenseCustomField> {
        self.defs
            .iter()
            .filter(|(p, _)| *p == product)
            .map(|(_, f)| {
                let own = self.values.iter().find(|(l, id, _)| *l == license && *id == f.id);
                LicenseCustomField {
                    value: own.map_or_else(|| f.default_value.clone(), |(_, _, v)| v.clone()),
                    ..f.clone()
                }
            })
            .collect()
    }
}

/// Two queries (one when the products have no custom fields).
async fn custom_fields_of(e: &mut impl Exec, products: &[i64], licenses: &[i64]) -> Result<CustomFields, StoreError> {
    let mut q = query("SELECT id, product_id, name, default_value FROM product_custom_fields WHERE product_id");
    push_in_list(&mut q, products);
    q.push(" ORDER BY product_id, id");
    let mut defs = Vec::new();
    for r in e.fetch_all(q).await? {
        let default_value: String = r.get("default_value")?;
        defs.push((
            r.get("product_id")?,
            LicenseCustomField { id: r.get("id")?, name: r.get("name")?, value: default_value.clone(), default_value },
        ));
    }
    let mut values = Vec::new();
    if !defs.is_empty() {
        let mut q = query("SELECT license_id, field_id, value FROM license_custom_fields WHERE license_id");
        push_in_list(&mut q, licenses);
        for r in e.fetch_all(q).await? {
            values.push((r.get("license_id")?, r.get("field_id")?, r.get("value")?));
        }
    }
    Ok(CustomFields { defs, values })
}

/// Sets a license's own values of its product's custom fields to `given` (by name), replacing those it had.
pub(crate) async fn set_custom_fields(
    tx: &mut Tx,
    license: i64,
    product: i64,
    given: &[LicenseCustomFieldInput],
) -> Result<(), StoreError> {
    tx.execute(query("DELETE FROM license_custom_fields WHERE license_id = ?").bind(license)).await?;
    for (n, f) in given.iter().enumerate() {
        let def = tx
            .fetch_optional(
                query("SELECT id FROM product_custom_fields WHERE product_id = ? AND name = ?")
                    .bind(product)
                    .bind(f.name.as_str()),
            )
            .await?
            .ok_or_else(|| {
                StoreError::invalid(
                    format!("product_custom_fields[{n}].name"),
                    format!("the product has no custom field {:?} (a product's custom_fields name them)", f.name),
                )
            })?;
        tx.execute(
            query("INSERT INTO license_custom_fields (license_id, field_id, value) VALUES (?, ?, ?)")
                .bind(license)
                .bind(def.get::<i64>("id")?)
                .bind(f.value.as_str()),
        )
        .await?;
    }
    Ok(())
}

/// How many seats of each floating license are held now: its active devices with a live lease or borrowing
/// (a lapsed lease still counts in `total_active_devices` until the next client request ends it).
async fn seats_in_use(
    e: &mut impl Exec,
    floating: impl Iterator<Item = i64>,
    now: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let ids: Vec<i64> = floating.collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = query(
        "SELECT d.license_id, COUNT(*) AS n FROM devices d WHERE d.deactivated_at IS NULL \
         AND (d.lease_expires_at > ? OR d.borrowed_until > ?) AND d.license_id",
    )
    .bind(now)
    .bind(now);
    push_in_list(&mut q, &ids);
    q.push(" GROUP BY d.license_id");
    e.fetch_all(q).await?.iter().map(|r| Ok((r.get("license_id")?, r.get("n")?))).collect()
}

/// How many devices hold a seat of this floating license now (a live lease or a borrowing).
pub async fn floating_in_use(db: &Db, license_id: i64) -> Result<i64, StoreError> {
    let seats = seats_in_use(&mut &*db, std::iter::once(license_id), now_ms()).await?;
    Ok(seats.first().map_or(0, |(_, n)| *n))
}

/// A license the scope may see, with its latest history (a key holder can make events without end: the
/// representation stays bounded, the whole history is paged at `history_url`).
pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<License, StoreError> {
    let mut q = query("SELECT l.id FROM licenses l WHERE l.id = ?").bind(id);
    scope.restrict(&mut q, "l.product_id");
    e.fetch_one(q).await?;
    let mut l = load(e, &[id]).await?.pop().ok_or(StoreError::NotFound)?;
    let (history, total) = events::for_license(e, id, l.product.id, events::HISTORY_LIMIT).await?;
    l.history = Some(history);
    l.history_count = Some(total);
    l.history_url = Some(format!("/api/v1/events/?license={id}&product={}", l.product.id));
    Ok(l)
}

/// The license a typed key names (as the client API matches it), if the scope may see it.
pub async fn id_by_key(e: &mut impl Exec, scope: &Scope, key: &str) -> Result<i64, StoreError> {
    for exact in [true, false] {
        let mut q = query("SELECT l.id FROM licenses l WHERE ");
        crate::list::push_key_pass(&mut q, e.dialect(), "l.license_key", key, exact);
        scope.restrict(&mut q, "l.product_id");
        q.push(" ORDER BY l.id LIMIT 1");
        if let Some(r) = e.fetch_optional(q).await? {
            return r.get("id");
        }
    }
    Err(StoreError::NotFound)
}

// Related rows filter as semi-joins (`key IN (SELECT …)`): "any related row matches", each license once, and
// a selective condition drives the plan from its own index instead of probing every license.
const DEVICES: &str = "l.id IN (SELECT d.license_id FROM devices d WHERE {})";
const CUSTOMER: &str = "l.customer_id IN (SELECT c.id FROM customers c WHERE {})";
const CUSTOMER_ACCOUNT: &str = "l.customer_id IN (SELECT c.id FROM customers c JOIN customer_accounts ca ON ca.id = c.customer_account_id \
     WHERE {})";
const CUSTOMER_LABEL: &str = "l.customer_id IN (SELECT clb.customer_id FROM customer_labels clb JOIN labels lb ON lb.id = clb.label_id \
     WHERE {})";
const ORDER: &str = "l.order_id IN (SELECT o2.id FROM orders o2 WHERE {})";
const ORDER_ACCOUNT: &str = "l.order_id IN (SELECT o2.id FROM orders o2 JOIN customer_accounts oa ON oa.id = o2.customer_account_id \
     WHERE {})";
const PRODUCT: &str = "l.product_id IN (SELECT p2.id FROM products p2 WHERE {})";
const TEMPLATE: &str = "l.template_id IN (SELECT t.id FROM license_templates t WHERE {})";
const FEATURES: &str = "l.id IN (SELECT lf.license_id FROM license_features lf WHERE {})";
const TRIAL: &str = "l.id IN (SELECT tr.license_id FROM trials tr WHERE {})";
const USERS: &str = "l.id IN (SELECT llu.license_id FROM license_license_users llu JOIN license_users lu ON lu.id = llu.license_user_id \
     WHERE {})";

/// Every filter of seed 002 (LicenseSpring's `GET /api/v1/licenses/`), plus a few more fields.
static FIELDS: &[Field] = &[
    Field::new("id", "l.id", Kind::Int).sortable(),
    Field::new("license_key", "l.license_key", Kind::Text)
        .sortable()
        .trigram("licenses_fts", "license_key", "l.id")
        .key(),
    Field::new("active", "(l.times_activated > 0)", Kind::Bool)
        .predicate("l.times_activated > 0", "l.times_activated <= 0"),
    Field::new("enabled", "l.enabled", Kind::Bool),
    Field::new("is_trial", "l.is_trial", Kind::Bool),
    Field::new("is_floating_cloud", "l.is_floating_cloud", Kind::Bool),
    // LicenseSpring's on-premises floating server, which licensd has none of (its floating is `is_floating_cloud`).
    Field::new("is_floating", "(1 = 0)", Kind::Bool).predicate("1 = 0", "1 = 1"),
    Field::new("is_any_floating", "l.is_floating_cloud", Kind::Bool),
    Field::new("is_air_gapped", "l.is_air_gapped", Kind::Bool),
    Field::new("is_hardware_key_auth", "l.is_hardware_key_auth", Kind::Bool),
    Field::new("has_max_consumptions", "(l.max_consumptions > 0)", Kind::Bool)
        .predicate("l.max_consumptions > 0", "l.max_consumptions <= 0"),
    Field::new("is_bundle", "p2.is_bundle", Kind::Bool).related(PRODUCT),
    Field::new("bundle_license", "l.bundle_license_id", Kind::Int),
    Field::new("license_type", "l.license_type", Kind::Text),
    Field::new("subscription_id", "l.subscription_id", Kind::Text),
    Field::new("note", "l.note", Kind::Text).trigram("licenses_fts", "note", "l.id"),
    Field::new("max_activations", "l.max_activations", Kind::Int).sortable(),
    Field::new("times_activated", "l.times_activated", Kind::Int).sortable(),
    Field::new("order", "l.order_id", Kind::Int),
    Field::new("order__id", "l.order_id", Kind::Int),
    Field::new("order__store_id", "o2.store_id", Kind::Text)
        .related(ORDER)
        .trigram("orders_fts", "store_id", "o2.id")
        .trigram_key("l.order_id"),
    Field::new("order__customer_account", "o2.customer_account_id", Kind::Int).related(ORDER),
    Field::new("order__customer_account__name", "oa.name", Kind::Text).related(ORDER_ACCOUNT),
    Field::new("order__customer_account__code", "oa.code", Kind::Text).related(ORDER_ACCOUNT),
    Field::new("customer", "l.customer_id", Kind::Int),
    Field::new("customer__id", "l.customer_id", Kind::Int),
    Field::new("customer__email", "c.email", Kind::Text)
        .related(CUSTOMER)
        .trigram("customers_fts", "email", "c.id")
        .trigram_key("l.customer_id")
        .email("c.email_norm"),
    Field::new("customer__first_name", "c.first_name", Kind::Text).related(CUSTOMER),
    Field::new("customer__last_name", "c.last_name", Kind::Text).related(CUSTOMER),
    Field::new("customer__name", "(c.first_name || ' ' || c.last_name)", Kind::Text)
        .related(CUSTOMER)
        .trigram("customers_fts", "name", "c.id")
        .trigram_key("l.customer_id"),
    Field::new("customer__company_name", "c.company_name", Kind::Text)
        .related(CUSTOMER)
        .trigram("customers_fts", "company_name", "c.id")
        .trigram_key("l.customer_id"),
    Field::new("customer__reference", "c.reference", Kind::Text)
        .related(CUSTOMER)
        .trigram("customers_fts", "reference", "c.id")
        .trigram_key("l.customer_id"),
    Field::new("customer__label", "lb.label", Kind::Text).related(CUSTOMER_LABEL),
    Field::new("customer__customer_account", "c.customer_account_id", Kind::Int).related(CUSTOMER),
    Field::new("customer_account", "c.customer_account_id", Kind::Int).related(CUSTOMER),
    Field::new("customer__customer_account__name", "ca.name", Kind::Text).related(CUSTOMER_ACCOUNT),
    Field::new("customer__customer_account__code", "ca.code", Kind::Text).related(CUSTOMER_ACCOUNT),
    Field::new("customer__customer_account__description", "ca.description", Kind::Text).related(CUSTOMER_ACCOUNT),
    Field::new("customer__customer_account__phone", "ca.phone", Kind::Text).related(CUSTOMER_ACCOUNT),
    Field::new("customer__customer_account__address", "ca.address", Kind::Text).related(CUSTOMER_ACCOUNT),
    Field::new("customer__customer_account__email", "ca.email", Kind::Text).related(CUSTOMER_ACCOUNT).email_lower(),
    Field::new("customer__customer_account__reference", "ca.reference", Kind::Text).related(CUSTOMER_ACCOUNT),
    Field::new("product", "l.product_id", Kind::Int),
    Field::new("product__id", "l.product_id", Kind::Int),
    Field::new("product__short_code", "p2.short_code", Kind::Text).related(PRODUCT),
    Field::new("product__product_name", "p2.product_name", Kind::Text).related(PRODUCT),
    Field::new("product__authorization_method", "p2.authorization_method", Kind::Text).related(PRODUCT),
    Field::new("product_features__id", "lf.feature_id", Kind::Int).related(FEATURES),
    Field::new("license_users__id", "lu.id", Kind::Int).related(USERS),
    Field::new("license_users__true_email", "lu.true_email", Kind::Text).related(USERS).email("lu.email_norm"),
    Field::new("license_user_group", "llu.user_group", Kind::Text).related(USERS),
    Field::new("devices__hostname", "d.hostname", Kind::Text).related(DEVICES).trigram(
        "devices_fts",
        "hostname",
        "d.id",
    ),
    Field::new("devices__hardware_id", "d.hardware_id", Kind::Text).related(DEVICES).trigram(
        "devices_fts",
        "hardware_id",
        "d.id",
    ),
    Field::new("devices__os", "d.os", Kind::Text).related(DEVICES).trigram("devices_fts", "os", "d.id"),
    Field::new("trial_email", "tr.email", Kind::Text).related(TRIAL).email_lower(),
    Field::new("license_template", "l.template_id", Kind::Int),
    Field::new("license_template__id", "l.template_id", Kind::Int),
    Field::new("license_template__code", "t.code", Kind::Text).related(TEMPLATE),
    Field::new("validity_period", "l.expires_at", Kind::Time).sortable(),
    Field::new("time_activated", "l.time_activated", Kind::Time).sortable(),
    Field::new("last_check", license_last_check!(), Kind::Time).sortable(),
    Field::new("created_at", "l.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "l.updated_at", Kind::Time).sortable(),
];
/// The licenses whose customer matches a `?search=` branch.
const LICENSE_CUSTOMER: &str = "SELECT l.id FROM licenses l JOIN customers c ON c.id = l.customer_id WHERE {}";

/// `?search=`: the license's key, its customer's email and names, its devices' hardware ids and its order's
/// invoice (the list is scoped by the license's product, so every branch is).
static SEARCH: &[Search] = &[
    Search {
        doc: "license_key",
        select: "SELECT l.id FROM licenses l WHERE {}",
        expr: "l.license_key",
        trigram: ("licenses_fts", "license_key", "l.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the customer's email",
        select: LICENSE_CUSTOMER,
        expr: "c.email",
        trigram: ("customers_fts", "email", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the customer's name (`first_name last_name`)",
        select: LICENSE_CUSTOMER,
        expr: "(c.first_name || ' ' || c.last_name)",
        trigram: ("customers_fts", "name", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the customer's company_name",
        select: LICENSE_CUSTOMER,
        expr: "c.company_name",
        trigram: ("customers_fts", "company_name", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the hardware_id of one of its devices",
        select: "SELECT d.license_id FROM devices d WHERE {}",
        expr: "d.hardware_id",
        trigram: ("devices_fts", "hardware_id", "d.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the store_id (invoice) of its order",
        select: "SELECT l.id FROM licenses l JOIN orders o ON o.id = l.order_id WHERE {}",
        expr: "o.store_id",
        trigram: ("orders_fts", "store_id", "o.id"),
        scope: SearchScope::Listed,
    },
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "l.id", search: SEARCH };

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<License>), StoreError> {
    let mut from = query("FROM licenses l WHERE 1 = 1");
    scope.restrict(&mut from, "l.product_id");
    params.push_search(&mut from, db.dialect(), &SPEC, scope);
    let (n, rows) = crate::list::page(db, &SPEC, params, "l.id", &from).await?;
    let ids = rows.iter().map(|r| r.get("id")).collect::<Result<Vec<i64>, _>>()?;
    Ok((n, load(&mut &*db, &ids).await?))
}

/// How many licenses in the scope match the filters (`params`' page, order and search aside).
pub async fn count(db: &Db, scope: &Scope, params: &ListParams) -> Result<i64, StoreError> {
    let mut from = query("FROM licenses l WHERE 1 = 1");
    scope.restrict(&mut from, "l.product_id");
    crate::list::count(db, params, &from).await
}

/// Issues a license inside a transaction: resolves product, template, customer and order, applies the
/// template's terms and the input's overrides, generates the key, copies the template's features.
pub async fn create_in(
    tx: &mut Tx,
    scope: &Scope,
    i: &LicenseInput,
    order_id: Option<i64>,
    customer_id: Option<i64>,
) -> Result<i64, StoreError> {
    i.validate()?;
    let now = now_ms();
    let template = match &i.license_template {
        None => None,
        Some(r) => {
            let t = match r {
                TemplateRef::Id(id) => crate::templates::get(tx, scope, *id).await,
                TemplateRef::Code(code) => crate::templates::get_by_code(tx, scope, code).await,
            };
            Some(match t {
                Err(StoreError::NotFound) => {
                    return Err(StoreError::invalid("license_template", "no such license template"));
                }
                other => other?,
            })
        }
    };
    let product = match (&i.product, &template) {
        (None, None) => {
            return Err(StoreError::invalid("product", "is required when no license_template is given"));
        }
        (None, Some(t)) => crate::products::require_product(tx, scope, "license_template", t.product).await?,
        (Some(r), _) => {
            let p = match r {
                ProductRef::Id(id) => crate::products::get(tx, scope, *id).await,
                ProductRef::ShortCode(c) => crate::products::get_by_short_code(tx, scope, c).await,
            };
            match p {
                Err(StoreError::NotFound) => {
                    return Err(StoreError::invalid("product", "no such product"));
                }
                other => other?,
            }
        }
    };
    if let Some(t) = &template
        && t.product != product.id
    {
        return Err(StoreError::invalid("license_template", "belongs to another product"));
    }
    let customer_id = match (customer_id, &i.customer) {
        (Some(c), _) => Some(c),
        (None, Some(Some(r))) => Some(crate::customers::resolve_in(tx, scope, "customer", r).await?.id),
        (None, _) => None,
    };
    let order_id = match (order_id, i.order) {
        (Some(o), _) => Some(o),
        (None, Some(Some(o))) => {
            crate::orders::require(tx, scope, o).await?;
            Some(o)
        }
        (None, _) => None,
    };
    let bundle = i.bundle_license.flatten();
    if let Some(b) = bundle {
        require_bundle(tx, scope, b).await?;
    }
    let mut terms = LicenseTerms::from_template(template.as_ref(), now);
    terms.apply(i, None)?;
    let key = match &i.license_key {
        Some(k) => k.clone(),
        None => template.as_ref().map(|t| t.key_format()).unwrap_or_default().generate(),
    };
    static INSERT: LazyLock<String> = LazyLock::new(|| {
        let placeholders = vec!["?"; 12 + terms::COLUMNS.len()].join(", ");
        format!(
            "INSERT INTO licenses (license_key, product_id, template_id, customer_id, order_id, bundle_license_id, {}, \
             time_disabled, disabled_by, created_by, created_at, updated_at, terms_changed_at) VALUES ({placeholders})",
            terms::select_list("")
        )
    });
    let q = terms::bind(
        query(INSERT.as_str())
            .bind(key)
            .bind(product.id)
            .bind(template.as_ref().map(|t| t.id))
            .bind(customer_id)
            .bind(order_id)
            .bind(bundle),
        &terms,
    )
    .bind(if terms.enabled { None } else { Some(now) })
    .bind(if terms.enabled { None } else { Some(scope.actor.as_str()) })
    .bind(scope.token_id)
    .bind(now)
    .bind(now)
    .bind(now);
    let id = tx.insert(q).await?;
    // A key the caller chose may be guessable (issue 11, L1): tell the operator, never the key itself.
    if let Some(k) = i.license_key.as_deref().filter(|k| licensd_core::keys::is_weak(k)) {
        tracing::warn!(
            license = id,
            bits = licensd_core::keys::entropy_bits(k).round(),
            "license #{id} was created with a given license_key of under 60 bits of entropy: it can be guessed; \
             leave license_key out to have licensd generate one"
        );
    }
    if let Some(fields) = &i.product_custom_fields {
        set_custom_fields(tx, id, product.id, fields).await?;
    }
    if let Some(t) = &template {
        for f in &t.features {
            tx.execute(
                query(
                    "INSERT INTO license_features (license_id, feature_id, max_consumption, allow_overages, max_overages) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(id)
                .bind(f.feature)
                .bind(f.max_consumption)
                .bind(f.allow_overages)
                .bind(f.max_overages),
            )
            .await?;
        }
    }
    let after = load(tx, &[id]).await?;
    events::record(tx, scope, NewEvent::created("license", id, Some(id), &after.first()).at(now)).await?;
    Ok(id)
}

/// Checks that a bundle license exists and is visible.
async fn require_bundle(tx: &mut Tx, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut q = query("SELECT l.id FROM licenses l WHERE l.id = ?").bind(id);
    scope.restrict(&mut q, "l.product_id");
    if tx.fetch_optional(q).await?.is_none() {
        return Err(StoreError::invalid("bundle_license", format!("no license with id {id}")));
    }
    Ok(())
}

pub async fn create(db: &Db, scope: &Scope, i: &LicenseInput) -> Result<License, StoreError> {
    let mut tx = db.begin().await?;
    let id = create_in(&mut tx, scope, i, None, None).await?;
    let l = get(&mut tx, scope, id).await?;
    tx.commit().await?;
    Ok(l)
}

/// Issues several licenses in one transaction, all or none (the command line's `license issue --count`).
pub async fn create_all(db: &Db, scope: &Scope, inputs: &[LicenseInput]) -> Result<Vec<License>, StoreError> {
    let mut tx = db.begin().await?;
    let mut out = Vec::with_capacity(inputs.len());
    for i in inputs {
        let id = create_in(&mut tx, scope, i, None, None).await?;
        out.push(get(&mut tx, scope, id).await?);
    }
    tx.commit().await?;
    Ok(out)
}

/// Locks a license row for the rest of the transaction (PostgreSQL; SQLite holds the write lock already)
/// and checks the scope.
pub(crate) async fn lock(tx: &mut Tx, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut q = query("SELECT l.id FROM licenses l WHERE l.id = ?").bind(id);
    scope.restrict(&mut q, "l.product_id");
    q.push(tx.for_update());
    tx.fetch_one(q).await?;
    Ok(())
}

/// Changes a license's terms, key, customer or order. Product and template are fixed at issue.
pub async fn update(db: &Db, scope: &Scope, id: i64, i: &LicenseInput) -> Result<License, StoreError> {
    check_update(i)?;
    update_with(db, scope, id, |_| Ok::<_, StoreError>(i.clone())).await
}

/// What an update may not be given, whatever the license.
fn check_update(i: &LicenseInput) -> Result<(), StoreError> {
    i.validate()?;
    if i.product.is_some() {
        return Err(StoreError::invalid("product", "cannot be changed after issue; issue a new license"));
    }
    if i.license_template.is_some() {
        return Err(StoreError::invalid("license_template", "cannot be changed after issue; issue a new license"));
    }
    Ok(())
}

/// [`update`] with the change made by `edit` from the license as this transaction reads it, its row locked until
/// the commit (so `edit` may refuse a license changed since a form showed it, and no concurrent change is lost).
pub async fn update_with<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&License) -> Result<LicenseInput, E> + Send,
) -> Result<License, E> {
    let mut tx = db.begin().await?;
    lock(&mut tx, scope, id).await?;
    let before = get(&mut tx, scope, id).await?;
    let i = &edit(&before)?;
    check_update(i)?;
    // The stored terms, from the license this transaction read (no second read of the row).
    let mut terms = LicenseTerms::of(&before);
    terms.apply(i, before.time_activated.map(|t| t.0)).map_err(StoreError::from)?;
    let mut customer_id = before.customer.as_ref().map(|c| c.id);
    if let Some(c) = &i.customer {
        customer_id = match c {
            Some(r) => Some(crate::customers::resolve_in(&mut tx, scope, "customer", r).await?.id),
            None => None,
        };
    }
    let mut order_id = before.order;
    if let Some(o) = i.order {
        if let Some(o) = o {
            crate::orders::require(&mut tx, scope, o).await?;
        }
        order_id = o;
    }
    let mut bundle = before.bundle_license;
    if let Some(b) = i.bundle_license {
        if let Some(b) = b {
            if b == id {
                return Err(StoreError::invalid("bundle_license", "a license cannot be its own bundle").into());
            }
            require_bundle(&mut tx, scope, b).await?;
        }
        bundle = b;
    }
    let now = now_ms();
    let (time_disabled, disabled_by) = match (before.enabled, terms.enabled) {
        (true, false) => (Some(now), Some(scope.actor.clone())),
        (false, false) => (before.time_disabled.map(|t| t.0), before.disabled_user.clone()),
        _ => (None, None),
    };
    let key = i.license_key.clone().or(before.license_key.clone());
    static UPDATE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE licenses SET {}, time_disabled = ?, disabled_by = ?, license_key = ?, customer_id = ?, \
             order_id = ?, bundle_license_id = ?, updated_at = ?, terms_changed_at = ? WHERE id = ?",
            terms::assignments()
        )
    });
    let q = terms::bind(query(UPDATE.as_str()), &terms)
        .bind(time_disabled)
        .bind(disabled_by)
        .bind(key)
        .bind(customer_id)
        .bind(order_id)
        .bind(bundle)
        .bind(now)
        .bind(now)
        .bind(id);
    tx.execute(q).await?;
    if let Some(fields) = &i.product_custom_fields {
        set_custom_fields(&mut tx, id, before.product.id, fields).await?;
    }
    let after = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("license", id, Some(id), &strip(&before), &strip(&after))).await?;
    tx.commit().await?;
    Ok(after)
}

/// A license without its history, for event snapshots (history inside history would grow without end).
fn strip(l: &License) -> License {
    License { history: None, history_count: None, history_url: None, ..l.clone() }
}

/// Deletes a license with its devices and features; its events stay in the audit log.
pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    lock(&mut tx, scope, id).await?;
    let before = get(&mut tx, scope, id).await?;
    // Recorded first, while the license row still names the product the event belongs to.
    events::record(&mut tx, scope, NewEvent::deleted("license", id, Some(id), &strip(&before))).await?;
    tx.execute(query("DELETE FROM licenses WHERE id = ?").bind(id)).await?;
    tx.commit().await?;
    Ok(())
}

/// The vendor's actions on a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// DevMate "blocked": refuses activations and checks until enabled again.
    Disable,
    Enable,
    /// Refuses the license for good (DevMate status 5).
    Refund,
    /// Frees every activation.
    Reset,
}

impl Action {
    fn event(self) -> &'static str {
        match self {
            Action::Disable => "license.disabled",
            Action::Enable => "license.enabled",
            Action::Refund => "license.refunded",
            Action::Reset => "license.reset",
        }
    }
}

/// Applies an action in one transaction, with an event carrying the optional note.
pub async fn act(db: &Db, scope: &Scope, id: i64, action: Action, note: &str) -> Result<License, StoreError> {
    let mut tx = db.begin().await?;
    lock(&mut tx, scope, id).await?;
    let before = get(&mut tx, scope, id).await?;
    let now = now_ms();
    match action {
        Action::Disable => {
            if !before.enabled {
                return Err(StoreError::State("the license is already disabled".into()));
            }
            tx.execute(
                query(
                    "UPDATE licenses SET enabled = ?, time_disabled = ?, disabled_by = ?, updated_at = ? WHERE id = ?",
                )
                .bind(false)
                .bind(now)
                .bind(scope.actor.as_str())
                .bind(now)
                .bind(id),
            )
            .await?;
        }
        Action::Enable => {
            if before.refunded {
                return Err(StoreError::State("a refunded license cannot be enabled again".into()));
            }
            if before.enabled {
                return Err(StoreError::State("the license is already enabled".into()));
            }
            tx.execute(
                query("UPDATE licenses SET enabled = ?, time_disabled = NULL, disabled_by = NULL, updated_at = ? WHERE id = ?")
                    .bind(true)
                    .bind(now)
                    .bind(id),
            )
            .await?;
        }
        Action::Refund => {
            if before.refunded {
                return Err(StoreError::State("the license is already refunded".into()));
            }
            tx.execute(
                query("UPDATE licenses SET refunded = ?, updated_at = ? WHERE id = ?").bind(true).bind(now).bind(id),
            )
            .await?;
        }
        Action::Reset => {
            tx.execute(
                query("UPDATE devices SET deactivated_at = ? WHERE license_id = ? AND deactivated_at IS NULL")
                    .bind(now)
                    .bind(id),
            )
            .await?;
            tx.execute(
                query("UPDATE licenses SET times_activated = 0, updated_at = ? WHERE id = ?").bind(now).bind(id),
            )
            .await?;
        }
    }
    tx.execute(query("UPDATE licenses SET terms_changed_at = ? WHERE id = ?").bind(now).bind(id)).await?;
    let after = get(&mut tx, scope, id).await?;
    let (old, new) = events::diff(&strip(&before), &strip(&after));
    events::record(
        &mut tx,
        scope,
        NewEvent {
            action: action.event().to_string(),
            resource_type: "license",
            resource_id: id,
            license_id: Some(id),
            note,
            before: old,
            after: new,
            at: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}
