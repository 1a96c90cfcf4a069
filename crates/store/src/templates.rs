//! License templates: the rules licenses are issued from.

use std::sync::LazyLock;

use licensd_core::model::{LicenseTemplate, LicenseTemplateInput, TemplateFeature};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Db, Exec, Query, Row, Tx, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::{Scope, push_in_list};
use crate::terms::{self, Column};

macro_rules! template_row {
    ($( $(#[$doc:meta])* inherited $f:ident : $t:ty = $default:expr ),* $(,)?) => {
        /// A template's columns but its id and times: its own, then the terms it gives its licenses (the
        /// `inherited` ones of [`licensd_core::for_each_license_term!`]), in the order [`bind_all`] binds them.
        const COLUMNS: &[&str] = &[
            "product_id",
            "name",
            "code",
            "key_prefix",
            "key_groups",
            "key_group_size",
            "validity_period_days",
            "maintenance_duration_days",
            "metadata",
            $(stringify!($f)),*
        ];

        /// Binds every column of [`COLUMNS`], in its order.
        fn bind_all(q: Query, i: &LicenseTemplateInput) -> Query {
            let q = q
                .bind(i.product)
                .bind(&i.name)
                .bind(&i.code)
                .bind(&i.key_prefix)
                .bind(i.key_groups)
                .bind(i.key_group_size)
                .bind(i.validity_period_days)
                .bind(i.maintenance_duration_days)
                .bind(i.metadata.to_string());
            $( let q = Column::bind(&i.$f, q); )*
            q
        }

        /// A template of a row that selected [`SELECT_COLUMNS`]; its features come after ([`attach_features`]).
        fn from_row(r: &Row) -> Result<LicenseTemplate, StoreError> {
            Ok(LicenseTemplate {
                id: r.get("id")?,
                product: r.get("product_id")?,
                name: r.get("name")?,
                code: r.get("code")?,
                key_prefix: r.get("key_prefix")?,
                key_groups: r.get("key_groups")?,
                key_group_size: r.get("key_group_size")?,
                validity_period_days: r.get("validity_period_days")?,
                maintenance_duration_days: r.get("maintenance_duration_days")?,
                $( $f: Column::read(r, stringify!($f))?, )*
                features: Vec::new(),
                metadata: r.json("metadata")?,
                created_at: Timestamp(r.get("created_at")?),
                updated_at: Timestamp(r.get("updated_at")?),
            })
        }
    };
}
licensd_core::for_each_license_term!(template_row, inherited);

/// What a template read selects (`t.`): its id, [`COLUMNS`] and its times.
static SELECT_COLUMNS: LazyLock<String> =
    LazyLock::new(|| format!("t.id, {}, t.created_at, t.updated_at", terms::select_list_of(COLUMNS, "t")));

static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO license_templates ({}, created_at, updated_at) VALUES ({})",
        COLUMNS.join(", "),
        vec!["?"; COLUMNS.len() + 2].join(", ")
    )
});

static UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!("UPDATE license_templates SET {}, updated_at = ? WHERE id = ?", terms::assignments_of(COLUMNS))
});

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
    let (n, rows) = crate::list::page(db, &SPEC, params, &SELECT_COLUMNS, &from).await?;
    let mut ts = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    attach_features(&mut &*db, &mut ts).await?;
    Ok((n, ts))
}

/// The product's trial template (its first, should it have several: the one `POST trial` and LicenseSpring's
/// `trial_key` issue from), without its features.
pub async fn trial_of(db: &Db, product_id: i64) -> Result<Option<LicenseTemplate>, StoreError> {
    let q = query(format!(
        "SELECT {} FROM license_templates t WHERE t.product_id = ? AND t.is_trial = ? ORDER BY t.id LIMIT 1",
        *SELECT_COLUMNS
    ))
    .bind(product_id)
    .bind(true);
    db.fetch_optional(q).await?.as_ref().map(from_row).transpose()
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<LicenseTemplate, StoreError> {
    let mut q = query(format!("SELECT {} FROM license_templates t WHERE t.id = ?", *SELECT_COLUMNS)).bind(id);
    scope.restrict(&mut q, "t.product_id");
    let mut t = [from_row(&e.fetch_one(q).await?)?];
    attach_features(e, &mut t).await?;
    let [t] = t;
    Ok(t)
}

pub async fn get_by_code(e: &mut impl Exec, scope: &Scope, code: &str) -> Result<LicenseTemplate, StoreError> {
    let mut q = query(format!("SELECT {} FROM license_templates t WHERE t.code = ?", *SELECT_COLUMNS)).bind(code);
    scope.restrict(&mut q, "t.product_id");
    let mut t = [from_row(&e.fetch_one(q).await?)?];
    attach_features(e, &mut t).await?;
    let [t] = t;
    Ok(t)
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
    let q = bind_all(query(INSERT.as_str()), &i).bind(now).bind(now);
    let id = tx.insert(q).await?;
    set_features(&mut tx, id, &i).await?;
    let t = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("license_template", id, None, &t).at(now)).await?;
    tx.commit().await?;
    Ok(t)
}

/// Changes a template; licenses already issued keep the terms they were issued with. `edit` makes the input from the
/// template as this transaction reads it, its row locked until the commit: a merge (PATCH) or a check that it is
/// unchanged since a form showed it sees the latest, and no concurrent change is lost.
pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&LicenseTemplate) -> Result<LicenseTemplateInput, E> + Send,
) -> Result<LicenseTemplate, E> {
    let mut tx = db.begin().await?;
    tx.lock_row("license_templates", id).await?;
    let before = get(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    if before.product != i.product {
        return Err(StoreError::invalid("product", "a template cannot move to another product").into());
    }
    let q = bind_all(query(UPDATE.as_str()), &i).bind(now_ms()).bind(id);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_binds_follow_the_column_list() {
        let i: LicenseTemplateInput = serde_json::from_str(
            r#"{"product":7,"name":"N","code":"c","license_type":"subscription","max_borrow_time":72,"metadata":{"k":1}}"#,
        )
        .unwrap();
        let q = bind_all(query(""), &i);
        assert_eq!(q.args.len(), COLUMNS.len());
        let arg = |c: &str| q.args[COLUMNS.iter().position(|x| *x == c).unwrap()].clone();
        assert_eq!(arg("product_id"), 7.into());
        assert_eq!(arg("license_type"), "subscription".into());
        assert_eq!(arg("max_borrow_time"), 72.into());
        assert_eq!(arg("metadata"), r#"{"k":1}"#.into());
        assert_eq!(INSERT.matches('?').count(), COLUMNS.len() + 2);
        assert_eq!(UPDATE.matches('?').count(), COLUMNS.len() + 2);
        assert!(SELECT_COLUMNS.starts_with("t.id, t.product_id, ") && SELECT_COLUMNS.ends_with(", t.updated_at"));
    }
}
