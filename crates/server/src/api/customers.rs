//! `/api/v1/customers/`. Managers see the customers of their products' licenses and those they created.

use licensd_core::model::{Customer, CustomerInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod customer {
    use super::*;
    crate::api::crud!(
        tag: "customers", path: "/customers", item: "/customers/{id}",
        record: Customer, input: CustomerInput, store: licensd_store::customers,
        list: list, create: create, get: get, update: update, delete: delete,
        spec: licensd_store::customers::SPEC, admin_writes: false
    );
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(customer::list, customer::create)).routes(routes!(
        customer::get,
        customer::update,
        customer::delete
    ))
}
