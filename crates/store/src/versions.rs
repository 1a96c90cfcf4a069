//! Product versions (LicenseSpring's): released versions with their installation files, managed in the
//! catalog (`/api/v1/product-versions`, admins) and answered by the License API's `versions` and
//! `installation_file`.

use licensd_core::model::{ProductVersion, ProductVersionInput};
use licensd_core::time::{Day, Timestamp, now_ms};

use crate::db::{Columns, Db, Exec, Row, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::Scope;

const COLS: &str = "v.id, v.product_id, v.version, v.environment, v.channel, v.release_date, v.installation_file, \
     v.hash_md5, v.size, v.eula_link, v.release_notes_link, v.requires_version, v.created_at, v.updated_at";

fn from_row(r: &Row) -> Result<ProductVersion, StoreError> {
    Ok(ProductVersion {
        id: r.get("id")?,
        product: r.get("product_id")?,
        version: r.get("version")?,
        environment: r.get("environment")?,
        channel: r.get("channel")?,
        release_date: r.get::<Option<i64>>("release_date")?.map(Day),
        installation_file: r.get("installation_file")?,
        hash_md5: r.get("hash_md5")?,
        size: r.get("size")?,
        eula_link: r.get("eula_link")?,
        release_notes_link: r.get("release_notes_link")?,
        requires_version: r.get("requires_version")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

static FIELDS: &[Field] = &[
    Field::new("id", "v.id", Kind::Int).sortable(),
    Field::new("product", "v.product_id", Kind::Int).sortable(),
    Field::new("version", "v.version", Kind::Text).sortable(),
    Field::new("environment", "v.environment", Kind::Text),
    Field::new("channel", "v.channel", Kind::Text),
    Field::new("release_date", "v.release_date", Kind::Time).sortable(),
    Field::new("created_at", "v.created_at", Kind::Time).sortable(),
];
/// What a page of versions may be filtered and sorted by.
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "v.id", search: &[] };

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<ProductVersion>), StoreError> {
    let mut from = query("FROM product_versions v WHERE 1 = 1");
    scope.restrict(&mut from, "v.product_id");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    Ok((n, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<ProductVersion, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM product_versions v WHERE v.id = ?")).bind(id);
    scope.restrict(&mut q, "v.product_id");
    from_row(&e.fetch_one(q).await?)
}

fn columns(i: &ProductVersionInput) -> Columns {
    Columns::new()
        .set("version", &i.version)
        .set("environment", &i.environment)
        .set("channel", &i.channel)
        .set("release_date", i.release_date.map(|d| d.0))
        .set("installation_file", &i.installation_file)
        .set("hash_md5", &i.hash_md5)
        .set("size", i.size)
        .set("eula_link", &i.eula_link)
        .set("release_notes_link", &i.release_notes_link)
        .set("requires_version", &i.requires_version)
}

pub async fn create(db: &Db, scope: &Scope, i: ProductVersionInput) -> Result<ProductVersion, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    crate::products::require_product(&mut tx, scope, "product", i.product).await?;
    let row = columns(&i).set("product_id", i.product).set("created_at", now).set("updated_at", now);
    let id = tx.insert(row.insert_into("product_versions")).await?;
    let v = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("product_version", id, None, &v).at(now)).await?;
    tx.commit().await?;
    Ok(v)
}

/// Changes a version (`edit` makes the input from it as this transaction reads it, its row locked).
pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&ProductVersion) -> Result<ProductVersionInput, E> + Send,
) -> Result<ProductVersion, E> {
    let mut tx = db.begin().await?;
    tx.lock_row("product_versions", id).await?;
    let before = get(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    if before.product != i.product {
        return Err(StoreError::invalid("product", "a version cannot move to another product").into());
    }
    tx.execute(columns(&i).set("updated_at", now_ms()).update("product_versions", id)).await?;
    let after = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("product_version", id, None, &before, &after)).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    tx.execute(query("DELETE FROM product_versions WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("product_version", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}

/// The versions of a product for an environment and a channel (a version with an empty environment or
/// channel is for every one), newest first (by release date, then id); at most 1,000.
pub async fn of_product(
    db: &Db,
    product_id: i64,
    environment: Option<&str>,
    channel: Option<&str>,
) -> Result<Vec<ProductVersion>, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM product_versions v WHERE v.product_id = ?")).bind(product_id);
    if let Some(env) = environment {
        q.push(" AND (v.environment = '' OR v.environment = ");
        q.push_bind(env.to_string());
        q.push(")");
    }
    if let Some(ch) = channel {
        q.push(" AND (v.channel = '' OR v.channel = ");
        q.push_bind(ch.to_string());
        q.push(")");
    }
    q.push(" ORDER BY COALESCE(v.release_date, 0) DESC, v.id DESC LIMIT 1000");
    db.fetch_all(q).await?.iter().map(from_row).collect()
}
