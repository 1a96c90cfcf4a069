//! Products and their features.

use licensd_core::model::{Feature, FeatureInput, Product, ProductInput};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Columns, Db, Exec, Row, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::Scope;

const COLS: &str = "p.id, p.product_name, p.short_code, p.bundle_id, p.use_offline_license, p.authorization_method, \
     p.is_bundle, p.metadata, p.created_at, p.updated_at";

fn from_row(r: &Row) -> Result<Product, StoreError> {
    Ok(Product {
        id: r.get("id")?,
        product_name: r.get("product_name")?,
        short_code: r.get("short_code")?,
        bundle_id: r.get("bundle_id")?,
        use_offline_license: r.get("use_offline_license")?,
        authorization_method: r.get_enum("authorization_method")?,
        is_bundle: r.get("is_bundle")?,
        metadata: r.json("metadata")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

static FIELDS: &[Field] = &[
    Field::new("id", "p.id", Kind::Int).sortable(),
    Field::new("product_name", "p.product_name", Kind::Text).sortable(),
    Field::new("short_code", "p.short_code", Kind::Text).sortable(),
    Field::new("bundle_id", "p.bundle_id", Kind::Text),
    Field::new("use_offline_license", "p.use_offline_license", Kind::Bool),
    Field::new("authorization_method", "p.authorization_method", Kind::Text),
    Field::new("is_bundle", "p.is_bundle", Kind::Bool),
    Field::new("created_at", "p.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "p.updated_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "p.id", search: &[] };

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<Product>), StoreError> {
    let mut from = query("FROM products p WHERE 1 = 1");
    scope.restrict(&mut from, "p.id");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    Ok((n, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

/// A product the scope may see; `NotFound` otherwise (its existence is not revealed).
pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<Product, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM products p WHERE p.id = ?")).bind(id);
    scope.restrict(&mut q, "p.id");
    from_row(&e.fetch_one(q).await?)
}

pub async fn get_by_short_code(e: &mut impl Exec, scope: &Scope, code: &str) -> Result<Product, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM products p WHERE p.short_code = ?")).bind(code);
    scope.restrict(&mut q, "p.id");
    from_row(&e.fetch_one(q).await?)
}

/// What a product's create and update both write, each column next to its value (`created_at` and
/// `updated_at` are theirs).
fn columns(i: &ProductInput) -> Columns {
    Columns::new()
        .set("product_name", &i.product_name)
        .set("short_code", &i.short_code)
        .set("bundle_id", &i.bundle_id)
        .set("use_offline_license", i.use_offline_license)
        .set("authorization_method", i.authorization_method.as_str())
        .set("is_bundle", i.is_bundle)
        .set("metadata", i.metadata.to_string())
}

pub async fn create(db: &Db, scope: &Scope, i: ProductInput) -> Result<Product, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id = tx.insert(columns(&i).set("created_at", now).set("updated_at", now).insert_into("products")).await?;
    let p = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("product", id, None, &p).at(now)).await?;
    tx.commit().await?;
    Ok(p)
}

/// Changes a product. `edit` makes the input from the product as this transaction reads it, its row locked until the
/// commit: a merge (PATCH) or a check that it is unchanged since a form showed it sees the latest, and no concurrent
/// change is lost.
pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&Product) -> Result<ProductInput, E> + Send,
) -> Result<Product, E> {
    let mut tx = db.begin().await?;
    tx.lock_row("products", id).await?;
    let before = get(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    tx.execute(columns(&i).set("updated_at", now_ms()).update("products", id)).await?;
    let after = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("product", id, None, &before, &after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a product that no license or template refers to.
pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    let why = "the product still has licenses or license templates; delete those first";
    tx.refuse_if_used(id, &[("licenses", "product_id"), ("license_templates", "product_id")], why).await?;
    tx.execute(query("DELETE FROM products WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("product", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Features

const FEATURE_COLS: &str = "f.id, f.product_id, f.code, f.name, f.feature_type, f.max_consumption, f.allow_overages, \
     f.max_overages, f.reset_consumption, f.consumption_period, f.is_floating_cloud, f.floating_users, f.floating_timeout, \
     f.metadata, f.created_at, f.updated_at";

pub(crate) fn feature_from_row(r: &Row) -> Result<Feature, StoreError> {
    Ok(Feature {
        id: r.get("id")?,
        product: r.get("product_id")?,
        code: r.get("code")?,
        name: r.get("name")?,
        feature_type: r.get_enum("feature_type")?,
        max_consumption: r.get("max_consumption")?,
        allow_overages: r.get("allow_overages")?,
        max_overages: r.get("max_overages")?,
        reset_consumption: r.get("reset_consumption")?,
        consumption_period: r.get_enum_opt("consumption_period")?,
        is_floating_cloud: r.get("is_floating_cloud")?,
        floating_users: r.get("floating_users")?,
        floating_timeout: r.get("floating_timeout")?,
        metadata: r.json("metadata")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

static FEATURE_FIELDS: &[Field] = &[
    Field::new("id", "f.id", Kind::Int).sortable(),
    Field::new("product", "f.product_id", Kind::Int).sortable(),
    Field::new("code", "f.code", Kind::Text).sortable(),
    Field::new("name", "f.name", Kind::Text).sortable(),
    Field::new("feature_type", "f.feature_type", Kind::Text),
    Field::new("created_at", "f.created_at", Kind::Time).sortable(),
];
pub static FEATURE_SPEC: Spec = Spec { fields: FEATURE_FIELDS, id_expr: "f.id", search: &[] };

pub async fn list_features(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<Feature>), StoreError> {
    let mut from = query("FROM product_features f WHERE 1 = 1");
    scope.restrict(&mut from, "f.product_id");
    let (n, rows) = crate::list::page(db, &FEATURE_SPEC, params, FEATURE_COLS, &from).await?;
    Ok((n, rows.iter().map(feature_from_row).collect::<Result<_, _>>()?))
}

pub async fn get_feature(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<Feature, StoreError> {
    let mut q = query(format!("SELECT {FEATURE_COLS} FROM product_features f WHERE f.id = ?")).bind(id);
    scope.restrict(&mut q, "f.product_id");
    feature_from_row(&e.fetch_one(q).await?)
}

/// Checks that a referenced product exists and is visible, naming the body field when not.
pub(crate) async fn require_product(
    e: &mut impl Exec,
    scope: &Scope,
    field: &str,
    id: i64,
) -> Result<Product, StoreError> {
    match get(e, scope, id).await {
        Err(StoreError::NotFound) => Err(StoreError::invalid(field, format!("no product with id {id}"))),
        other => other,
    }
}

/// What a feature's create and update both write, each column next to its value (`product_id`, which never
/// changes, and `created_at` and `updated_at` are theirs).
fn feature_columns(i: &FeatureInput) -> Columns {
    Columns::new()
        .set("code", &i.code)
        .set("name", &i.name)
        .set("feature_type", i.feature_type.as_str())
        .set("max_consumption", i.max_consumption)
        .set("allow_overages", i.allow_overages)
        .set("max_overages", i.max_overages)
        .set("reset_consumption", i.reset_consumption)
        .set("consumption_period", i.consumption_period.map(|p| p.as_str()))
        .set("is_floating_cloud", i.is_floating_cloud)
        .set("floating_users", i.floating_users)
        .set("floating_timeout", i.floating_timeout)
        .set("metadata", i.metadata.to_string())
}

pub async fn create_feature(db: &Db, scope: &Scope, i: FeatureInput) -> Result<Feature, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    require_product(&mut tx, scope, "product", i.product).await?;
    let row = feature_columns(&i).set("product_id", i.product).set("created_at", now).set("updated_at", now);
    let id = tx.insert(row.insert_into("product_features")).await?;
    let f = get_feature(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("product_feature", id, None, &f).at(now)).await?;
    tx.commit().await?;
    Ok(f)
}

/// Changes a feature. `edit` makes the input from the feature as this transaction reads it, its row locked until the
/// commit: a merge (PATCH) or a check that it is unchanged since a form showed it sees the latest, and no concurrent
/// change is lost.
pub async fn update_feature<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&Feature) -> Result<FeatureInput, E> + Send,
) -> Result<Feature, E> {
    let mut tx = db.begin().await?;
    tx.lock_row("product_features", id).await?;
    let before = get_feature(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    if before.product != i.product {
        return Err(StoreError::invalid("product", "a feature cannot move to another product").into());
    }
    tx.execute(feature_columns(&i).set("updated_at", now_ms()).update("product_features", id)).await?;
    let after = get_feature(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("product_feature", id, None, &before, &after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a feature, and with it the entitlements licenses and templates had to it.
pub async fn delete_feature(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get_feature(&mut tx, scope, id).await?;
    tx.execute(query("DELETE FROM product_features WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("product_feature", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}
