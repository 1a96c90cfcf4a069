//! License templates: the rules licenses are issued from.

use licensd_core::model::{LicenseTemplate, LicenseTemplateInput, TemplateFeature};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Db, Exec, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::{Scope, push_in_list};

const COLS: &str = "t.id, t.product_id, t.name, t.code, t.license_type, t.key_prefix, t.key_groups, t.key_group_size, \
     t.max_activations, t.validity_period_days, t.is_trial, t.trial_days, t.is_floating_cloud, t.floating_users, \
     t.floating_timeout, t.max_transfers, t.prevent_vm, t.can_borrow, t.max_borrow_time, t.maintenance_duration_days, \
     t.max_consumptions, t.allow_overages, t.max_overages, t.license_file_ttl_days, t.metadata, t.created_at, t.updated_at";

fn from_row(r: &Row) -> Result<LicenseTemplate, StoreError> {
    Ok(LicenseTemplate {
        id: r.get("id")?,
        product: r.get("product_id")?,
        name: r.get("name")?,
        code: r.get("code")?,
        license_type: r.get_enum("license_type")?,
        key_prefix: r.get("key_prefix")?,
        key_groups: r.get("key_groups")?,
        key_group_size: r.get("key_group_size")?,
        max_activations: r.get("max_activations")?,
        validity_period_days: r.get("validity_period_days")?,
        is_trial: r.get("is_trial")?,
        trial_days: r.get("trial_days")?,
        is_floating_cloud: r.get("is_floating_cloud")?,
        floating_users: r.get("floating_users")?,
        floating_timeout: r.get("floating_timeout")?,
        max_transfers: r.get("max_transfers")?,
        prevent_vm: r.get("prevent_vm")?,
        can_borrow: r.get("can_borrow")?,
        max_borrow_time: r.get("max_borrow_time")?,
        maintenance_duration_days: r.get("maintenance_duration_days")?,
        max_consumptions: r.get("max_consumptions")?,
        allow_overages: r.get("allow_overages")?,
        max_overages: r.get("max_overages")?,
        license_file_ttl_days: r.get("license_file_ttl_days")?,
        features: Vec::new(),
        metadata: r.json("metadata")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

/// Fills in the features of several templates with one query.
async fn attach_features(e: &mut impl Exec, ts: &mut [LicenseTemplate]) -> Result<(), StoreError> {
    if ts.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ts.iter().map(|t| t.id).collect();
    let mut q = query(
        "SELECT tf.template_id, f.id, f.code, f.name, tf.max_consumption, tf.allow_overages, tf.max_overages \
         FROM license_template_features tf JOIN product_features f ON f.id = tf.feature_id WHERE tf.template_id",
    );
    push_in_list(&mut q, &ids);
    q.push(" ORDER BY f.code");
    for r in e.fetch_all(q).await? {
        let tid: i64 = r.get("template_id")?;
        if let Some(t) = ts.iter_mut().find(|t| t.id == tid) {
            t.features.push(TemplateFeature {
                feature: r.get("id")?,
                code: r.get("code")?,
                name: r.get("name")?,
                max_consumption: r.get("max_consumption")?,
                allow_overages: r.get("allow_overages")?,
                max_overages: r.get("max_overages")?,
            });
        }
    }
    Ok(())
}

static FIELDS: &[Field] = &[
    Field::new("id", "t.id", Kind::Int).sortable(),
    Field::new("product", "t.product_id", Kind::Int).sortable(),
    Field::new("name", "t.name", Kind::Text).sortable(),
    Field::new("code", "t.code", Kind::Text).sortable(),
    Field::new("license_type", "t.license_type", Kind::Text),
    Field::new("is_trial", "t.is_trial", Kind::Bool),
    Field::new("is_floating_cloud", "t.is_floating_cloud", Kind::Bool),
    Field::new("created_at", "t.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "t.updated_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "t.id", search: &[] };

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<LicenseTemplate>), StoreError> {
    let mut from = query("FROM license_templates t WHERE 1 = 1");
    scope.restrict(&mut from, "t.product_id");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    let mut ts = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    attach_features(&mut &*db, &mut ts).await?;
    Ok((n, ts))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<LicenseTemplate, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM license_templates t WHERE t.id = ?")).bind(id);
    scope.restrict(&mut q, "t.product_id");
    let mut t = [from_row(&e.fetch_one(q).await?)?];
    attach_features(e, &mut t).await?;
    let [t] = t;
    Ok(t)
}

pub async fn get_by_code(e: &mut impl Exec, scope: &Scope, code: &str) -> Result<LicenseTemplate, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM license_templates t WHERE t.code = ?")).bind(code);
    scope.restrict(&mut q, "t.product_id");
    let mut t = [from_row(&e.fetch_one(q).await?)?];
    attach_features(e, &mut t).await?;
    let [t] = t;
    Ok(t)
}

fn bind_all(q: crate::db::Query, i: &LicenseTemplateInput) -> crate::db::Query {
    q.bind(i.product)
        .bind(&i.name)
        .bind(&i.code)
        .bind(i.license_type.as_str())
        .bind(&i.key_prefix)
        .bind(i.key_groups)
        .bind(i.key_group_size)
        .bind(i.max_activations)
        .bind(i.validity_period_days)
        .bind(i.is_trial)
        .bind(i.trial_days)
        .bind(i.is_floating_cloud)
        .bind(i.floating_users)
        .bind(i.floating_timeout)
        .bind(i.max_transfers)
        .bind(i.prevent_vm)
        .bind(i.can_borrow)
        .bind(i.max_borrow_time)
        .bind(i.maintenance_duration_days)
        .bind(i.max_consumptions)
        .bind(i.allow_overages)
        .bind(i.max_overages)
        .bind(i.license_file_ttl_days)
        .bind(i.metadata.to_string())
}

/// Replaces a template's features with those the input names, resolved against its product.
async fn set_features(tx: &mut Tx, id: i64, i: &LicenseTemplateInput) -> Result<(), StoreError> {
    tx.execute(query("DELETE FROM license_template_features WHERE template_id = ?").bind(id)).await?;
    for (n, f) in i.features.iter().enumerate() {
        let row = tx
            .fetch_optional(
                query("SELECT id, max_consumption, allow_overages, max_overages FROM product_features WHERE product_id = ? AND code = ?")
                    .bind(i.product)
                    .bind(&f.code),
            )
            .await?
            .ok_or_else(|| {
                StoreError::invalid(format!("features[{n}].code"), format!("the product has no feature {:?}", f.code))
            })?;
        tx.execute(
            query(
                "INSERT INTO license_template_features (template_id, feature_id, max_consumption, allow_overages, max_overages) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(row.get::<i64>("id")?)
            .bind(f.max_consumption.unwrap_or(row.get("max_consumption")?))
            .bind(f.allow_overages.unwrap_or(row.get("allow_overages")?))
            .bind(f.max_overages.unwrap_or(row.get("max_overages")?)),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => StoreError::invalid(format!("features[{n}].code"), "is named twice"),
            e => e,
        })?;
    }
    Ok(())
}

pub async fn create(db: &Db, scope: &Scope, i: LicenseTemplateInput) -> Result<LicenseTemplate, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    crate::products::require_product(&mut tx, scope, "product", i.product).await?;
    let q = bind_all(
        query(
            "INSERT INTO license_templates (product_id, name, code, license_type, key_prefix, key_groups, key_group_size, \
             max_activations, validity_period_days, is_trial, trial_days, is_floating_cloud, floating_users, floating_timeout, \
             max_transfers, prevent_vm, can_borrow, max_borrow_time, maintenance_duration_days, max_consumptions, \
             allow_overages, max_overages, license_file_ttl_days, metadata, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ),
        &i,
    )
    .bind(now)
    .bind(now);
    let id = tx.insert(q).await?;
    set_features(&mut tx, id, &i).await?;
    let t = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("license_template", id, None, &t).at(now)).await?;
    tx.commit().await?;
    Ok(t)
}

/// Changes a template; licenses already issued keep the terms they were issued with.
pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&LicenseTemplate) -> Result<LicenseTemplateInput, E> + Send,
) -> Result<LicenseTemplate, E> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    if before.product != i.product {
        return Err(StoreError::invalid("product", "a template cannot move to another product").into());
    }
    let q = bind_all(
        query(
            "UPDATE license_templates SET product_id = ?, name = ?, code = ?, license_type = ?, key_prefix = ?, key_groups = ?, \
             key_group_size = ?, max_activations = ?, validity_period_days = ?, is_trial = ?, trial_days = ?, \
             is_floating_cloud = ?, floating_users = ?, floating_timeout = ?, max_transfers = ?, prevent_vm = ?, \
             can_borrow = ?, max_borrow_time = ?, maintenance_duration_days = ?, max_consumptions = ?, allow_overages = ?, \
             max_overages = ?, license_file_ttl_days = ?, metadata = ?, updated_at = ? WHERE id = ?",
        ),
        &i,
    )
    .bind(now_ms())
    .bind(id);
    tx.execute(q).await?;
    set_features(&mut tx, id, &i).await?;
    let after = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("license_template", id, None, &before, &after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a template; its licenses keep their terms and lose only the link.
pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    tx.execute(query("DELETE FROM license_templates WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("license_template", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}
