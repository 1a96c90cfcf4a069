//! License users: people user-based licenses are assigned to.

use licensd_core::model::{AssignUserInput, LicenseUser};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Db, Exec, Row, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::{Scope, push_in_list};

const COLS: &str =
    "u.id, u.true_email, u.first_name, u.last_name, u.phone_number, u.is_active, u.created_at, u.updated_at";

fn from_row(r: &Row, on_license: bool) -> Result<LicenseUser, StoreError> {
    let email: String = r.get("true_email")?;
    Ok(LicenseUser {
        id: r.get("id")?,
        email: email.clone(),
        true_email: email,
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        phone_number: r.get("phone_number")?,
        is_active: r.get("is_active")?,
        is_manager: if on_license { Some(r.get("is_manager")?) } else { None },
        user_group: if on_license { Some(r.get("user_group")?) } else { None },
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

/// The users of several licenses, with one query: `(license id, user)`.
pub(crate) async fn of_licenses(e: &mut impl Exec, ids: &[i64]) -> Result<Vec<(i64, LicenseUser)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = query(format!(
        "SELECT llu.license_id, llu.is_manager, llu.user_group, {COLS} FROM license_license_users llu \
         JOIN license_users u ON u.id = llu.license_user_id WHERE llu.license_id"
    ));
    push_in_list(&mut q, ids);
    q.push(" ORDER BY llu.id");
    e.fetch_all(q).await?.iter().map(|r| Ok((r.get("license_id")?, from_row(r, true)?))).collect()
}

static FIELDS: &[Field] = &[
    Field::new("id", "u.id", Kind::Int).sortable(),
    Field::new("true_email", "u.true_email", Kind::Text).sortable().email("u.email_norm"),
    Field::new("first_name", "u.first_name", Kind::Text).sortable(),
    Field::new("last_name", "u.last_name", Kind::Text).sortable(),
    Field::new("is_active", "u.is_active", Kind::Bool),
    Field::new("license", "llu.license_id", Kind::Int)
        .related("EXISTS (SELECT 1 FROM license_license_users llu WHERE llu.license_user_id = u.id AND {})"),
    Field::new("created_at", "u.created_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "u.id", search: &[] };

/// [`FIELDS`] for a manager: `license` matches only assignments to licenses of the manager's products, so a
/// user the manager sees (through one of its licenses) does not tell which other products' licenses they hold.
/// Filter SQL is static, so the products come in as one bound text (`,1,2,`) of the one-row `sc` that
/// [`list`] joins for a manager.
static MANAGER_FIELDS: &[Field] = &[
    Field::new("id", "u.id", Kind::Int).sortable(),
    Field::new("true_email", "u.true_email", Kind::Text).sortable().email("u.email_norm"),
    Field::new("first_name", "u.first_name", Kind::Text).sortable(),
    Field::new("last_name", "u.last_name", Kind::Text).sortable(),
    Field::new("is_active", "u.is_active", Kind::Bool),
    Field::new("license", "llu.license_id", Kind::Int).related(
        "EXISTS (SELECT 1 FROM license_license_users llu JOIN licenses sll ON sll.id = llu.license_id \
         WHERE llu.license_user_id = u.id AND sc.products LIKE '%,' || CAST(sll.product_id AS TEXT) || ',%' AND {})",
    ),
    Field::new("created_at", "u.created_at", Kind::Time).sortable(),
];
static MANAGER_SPEC: Spec = Spec { fields: MANAGER_FIELDS, id_expr: "u.id", search: &[] };

/// The allow-list a list request of this scope is parsed with (same names for everyone).
pub fn spec_for(scope: &Scope) -> &'static Spec {
    if scope.all_products() { &SPEC } else { &MANAGER_SPEC }
}

/// Appends the condition under which a license user (`u`) is visible to a manager: assigned to a license
/// of its products.
fn scoped(scope: &Scope, q: &mut crate::db::Query) {
    if scope.products.is_some() {
        q.push(" AND EXISTS (SELECT 1 FROM license_license_users sllu JOIN licenses sl ON sl.id = sllu.license_id WHERE sllu.license_user_id = u.id");
        scope.restrict(q, "sl.product_id");
        q.push(")");
    }
}

/// Lists license users; `params` must come from [`spec_for`] this scope.
pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<LicenseUser>), StoreError> {
    let mut from = match &scope.products {
        None => query("FROM license_users u WHERE 1 = 1"),
        Some(products) => {
            let list: String = products.iter().map(|p| format!("{p},")).collect();
            query("FROM license_users u JOIN (SELECT CAST(? AS TEXT) AS products) sc ON 1 = 1 WHERE 1 = 1")
                .bind(format!(",{list}"))
        }
    };
    scoped(scope, &mut from);
    let (n, rows) = crate::list::page(db, spec_for(scope), params, COLS, &from).await?;
    Ok((n, rows.iter().map(|r| from_row(r, false)).collect::<Result<_, _>>()?))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<LicenseUser, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM license_users u WHERE u.id = ?")).bind(id);
    scoped(scope, &mut q);
    from_row(&e.fetch_one(q).await?, false)
}

/// Assigns a license to a user (created on first assignment, found by email after), recording the event.
pub async fn assign(db: &Db, scope: &Scope, license_id: i64, i: &AssignUserInput) -> Result<LicenseUser, StoreError> {
    i.validate()?;
    let email = i.email.trim().to_string();
    let norm = email.to_lowercase();
    let now = now_ms();
    let mut tx = db.begin().await?;
    // Locked: two assignments at once must not both find the last free place under `max_license_users`.
    crate::licenses::lock(&mut tx, scope, license_id).await?;
    let license = crate::licenses::get(&mut tx, scope, license_id).await?;
    // Only a user the scope may see is reused. Another product's user with this email is not a match: the
    // insert below then answers the email's unique violation (409 `email`), and nothing of theirs is read.
    let mut q = query("SELECT u.id FROM license_users u WHERE u.email_norm = ?").bind(norm.as_str());
    scoped(scope, &mut q);
    let existing = tx.fetch_optional(q).await?;
    let user_id: i64 = match existing {
        Some(r) => r.get("id")?,
        None => {
            tx.insert(
                query(
                    "INSERT INTO license_users (true_email, email_norm, first_name, last_name, phone_number, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(email.as_str())
                .bind(norm.as_str())
                .bind(&i.first_name)
                .bind(&i.last_name)
                .bind(&i.phone_number)
                .bind(now)
                .bind(now),
            )
            .await?
        }
    };
    if let Some(p) = &i.password {
        tx.execute(
            query("UPDATE license_users SET password_hash = ?, is_initial_password = ?, updated_at = ? WHERE id = ?")
                .bind(crate::users::hash_password(p)?)
                .bind(true)
                .bind(now)
                .bind(user_id),
        )
        .await?;
    }
    let taken = tx
        .fetch_optional(
            query("SELECT id FROM license_license_users WHERE license_id = ? AND license_user_id = ?")
                .bind(license_id)
                .bind(user_id),
        )
        .await?;
    if taken.is_some() {
        return Err(StoreError::State("the license is already assigned to this user".into()));
    }
    let max = license.max_license_users;
    if max > 0 && i64::try_from(license.license_users.len()).unwrap_or(i64::MAX) >= max {
        return Err(StoreError::State(format!(
            "the license is assigned to its max_license_users ({max}) users already; unassign one or raise max_license_users"
        )));
    }
    tx.execute(
        query(
            "INSERT INTO license_license_users (license_id, license_user_id, is_manager, max_activations, user_group, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(license_id)
        .bind(user_id)
        .bind(i.is_manager)
        .bind(i.max_activations)
        .bind(&i.user_group)
        .bind(now),
    )
    .await?;
    tx.execute(query("UPDATE licenses SET updated_at = ? WHERE id = ?").bind(now).bind(license_id)).await?;
    let user = of_licenses(&mut tx, &[license_id])
        .await?
        .into_iter()
        .map(|(_, u)| u)
        .find(|u| u.id == user_id)
        .ok_or(StoreError::NotFound)?;
    let mut e = NewEvent::created("license_user", user_id, Some(license_id), &user);
    e.action = "license.user_assigned".into();
    events::record(&mut tx, scope, e).await?;
    tx.commit().await?;
    Ok(user)
}

/// Takes a user off a license.
pub async fn unassign(
    db: &Db,
    scope: &Scope,
    license_id: i64,
    user_id: Option<i64>,
    email: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    crate::licenses::get(&mut tx, scope, license_id).await?;
    let user_id = match (user_id, email) {
        (Some(id), _) => id,
        (None, Some(e)) => {
            // A user the scope may not see answers as an unknown email does.
            let mut q = query("SELECT u.id FROM license_users u WHERE u.email_norm = ?").bind(e.trim().to_lowercase());
            scoped(scope, &mut q);
            tx.fetch_optional(q)
                .await?
                .ok_or_else(|| StoreError::invalid("license_user_email", "no license user has this email"))?
                .get("id")?
        }
        (None, None) => {
            return Err(StoreError::invalid("license_user_id", "give license_user_id or license_user_email"));
        }
    };
    let n = tx
        .execute(
            query("DELETE FROM license_license_users WHERE license_id = ? AND license_user_id = ?")
                .bind(license_id)
                .bind(user_id),
        )
        .await?;
    if n == 0 {
        return Err(StoreError::State("the license is not assigned to this user".into()));
    }
    let mut e =
        NewEvent::deleted("license_user", user_id, Some(license_id), &serde_json::json!({"license_user": user_id}));
    e.action = "license.user_unassigned".into();
    events::record(&mut tx, scope, e).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `p` is the password of this hash (Argon2id, off the async worker as other blocking work is); a user
/// without one (or no user) is checked against a dummy hash, so that every refusal takes as long.
fn password_matches(hash: Option<&str>, p: &str) -> bool {
    let hash = hash.unwrap_or(crate::users::DUMMY_HASH.as_str());
    crate::writer::off_worker(|| crate::users::password_matches(hash, p))
}

/// A license user as the License API signs them in: who, and the license of a product they are assigned to.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: LicenseUser,
    pub license_id: i64,
    pub license_key: String,
    pub is_initial_password: bool,
    /// The user's own activation limit on this license (`None`: the license's).
    pub max_activations: Option<i64>,
}

/// The active user with this email and the first license of this product they are assigned to; with
/// `password`, only when it is theirs (checked in constant time, an unknown email costing as long). `None`: no
/// such user or license, or a wrong password.
pub async fn login(db: &Db, product: &str, email: &str, password: Option<&str>) -> Result<Option<Login>, StoreError> {
    let norm = email.trim().to_lowercase();
    let q = query(format!(
        "SELECT {COLS}, u.password_hash, u.is_initial_password, l.id AS license_id, l.license_key, llu.max_activations \
         FROM license_users u JOIN license_license_users llu ON llu.license_user_id = u.id \
         JOIN licenses l ON l.id = llu.license_id JOIN products p ON p.id = l.product_id \
         WHERE u.email_norm = ? AND p.short_code = ? AND u.is_active = ? ORDER BY l.id LIMIT 1"
    ))
    .bind(norm.as_str())
    .bind(product)
    .bind(true);
    let row = db.fetch_optional(q).await?;
    if let Some(p) = password {
        let hash = match &row {
            Some(r) => r.get::<Option<String>>("password_hash")?,
            None => None,
        };
        if !password_matches(hash.as_deref(), p) {
            return Ok(None);
        }
    }
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Login {
        user: from_row(&r, false)?,
        license_id: r.get("license_id")?,
        license_key: r.get::<Option<String>>("license_key")?.unwrap_or_default(),
        is_initial_password: r.get("is_initial_password")?,
        max_activations: r.get("max_activations")?,
    }))
}

/// Changes a license user's password from `old` to `new` (8 to 256 characters); `false` when `old` is not
/// theirs (nothing changes). Recorded as `license_user.password_changed`, never the password.
pub async fn change_password(db: &Db, email: &str, old: &str, new: &str) -> Result<bool, StoreError> {
    if !(8..=256).contains(&new.chars().count()) {
        return Err(StoreError::invalid("new_password", "must be 8 to 256 characters"));
    }
    let norm = email.trim().to_lowercase();
    let row = db
        .fetch_optional(
            query("SELECT id, password_hash FROM license_users WHERE email_norm = ? AND is_active = ?")
                .bind(norm.as_str())
                .bind(true),
        )
        .await?;
    let (id, hash) = match &row {
        Some(r) => (Some(r.get::<i64>("id")?), r.get::<Option<String>>("password_hash")?),
        None => (None, None),
    };
    let ok = password_matches(hash.as_deref(), old);
    let (true, Some(id)) = (ok, id) else { return Ok(false) };
    let now = now_ms();
    let mut tx = db.begin().await?;
    tx.execute(
        query("UPDATE license_users SET password_hash = ?, is_initial_password = ?, updated_at = ? WHERE id = ?")
            .bind(crate::users::hash_password(new)?)
            .bind(false)
            .bind(now)
            .bind(id),
    )
    .await?;
    let scope =
        Scope { actor: "client".into(), token_id: None, products: None, role: licensd_core::model::Role::Admin };
    events::record(
        &mut tx,
        &scope,
        NewEvent {
            action: "license_user.password_changed".into(),
            resource_type: "license_user",
            resource_id: id,
            license_id: None,
            note: "",
            before: None,
            after: None,
            at: Some(now),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The users of this customer's licenses of this product (LicenseSpring's `customer_license_users`): each with
/// the license it is on.
pub async fn of_customer(
    db: &Db,
    product: &str,
    customer_email: &str,
) -> Result<Vec<(i64, LicenseUser, bool, Option<i64>)>, StoreError> {
    let norm = customer_email.trim().to_lowercase();
    let q = query(format!(
        "SELECT {COLS}, u.is_initial_password, l.id AS license_id, llu.max_activations FROM license_users u \
         JOIN license_license_users llu ON llu.license_user_id = u.id JOIN licenses l ON l.id = llu.license_id \
         JOIN products p ON p.id = l.product_id JOIN customers c ON c.id = l.customer_id \
         WHERE p.short_code = ? AND c.email_norm = ? ORDER BY l.id, u.id LIMIT 1000"
    ))
    .bind(product)
    .bind(norm.as_str());
    db.fetch_all(q)
        .await?
        .iter()
        .map(|r| {
            Ok((r.get("license_id")?, from_row(r, false)?, r.get("is_initial_password")?, r.get("max_activations")?))
        })
        .collect()
}
