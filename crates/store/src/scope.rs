//! Who is acting, and which products they may see.

use std::sync::Arc;

use licensd_core::model::Role;

use crate::db::Query;

/// The acting token (or the system) and its product scope.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Recorded as the events' actor: a token's name, `client`, or `system`.
    pub actor: String,
    pub token_id: Option<i64>,
    /// `None`: every product (admin, unlimited support or read-only). `Some`: only these product ids.
    pub products: Option<Arc<[i64]>>,
    /// The acting role. What it may do was decided before the store was called (`core::access`); the store
    /// asks it only for the few rules that depend on the data (an admin alone recolours a shared label).
    pub role: Role,
}

impl Scope {
    /// Full access, for the CLI and internal work.
    pub fn system() -> Scope {
        Scope { actor: "system".into(), token_id: None, products: None, role: Role::Admin }
    }

    /// The admin role (or the system): the only one that may change what every product shares.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Sees every product (no product limit).
    pub fn all_products(&self) -> bool {
        self.products.is_none()
    }

    pub fn sees_product(&self, product_id: i64) -> bool {
        self.products.as_ref().is_none_or(|p| p.contains(&product_id))
    }

    /// Appends ` AND <col> IN (…)` for a manager; nothing for an admin.
    pub fn restrict(&self, q: &mut Query, col: &str) {
        if let Some(products) = &self.products {
            q.push(" AND ").push(col);
            push_in_list(q, products);
        }
    }

    /// Appends the condition under which a customer (`c`) or order (`o`) row is visible to a manager:
    /// it holds a license of the manager's products, or this token created it (so a store's
    /// "create customer, then its license" flow works under a manager token).
    pub fn restrict_owner(&self, q: &mut Query, license_fk: &str, alias: &str) {
        if let Some(products) = &self.products {
            q.push(" AND (EXISTS (SELECT 1 FROM licenses sx WHERE sx.")
                .push(license_fk)
                .push(" = ")
                .push(alias)
                .push(".id AND sx.product_id");
            push_in_list(q, products);
            q.push(") OR ").push(alias).push(".created_by = ").push_bind(self.token_id.unwrap_or(-1)).push(")");
        }
    }
}

/// ` IN (?, ?, …)`, or a false condition for an empty list.
pub fn push_in_list(q: &mut Query, ids: &[i64]) {
    if ids.is_empty() {
        q.push(" IN (NULL)");
        return;
    }
    q.push(" IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_bind(*id);
    }
    q.push(")");
}
