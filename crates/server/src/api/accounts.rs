//! `/api/v1/customer-accounts/`: companies that own customers and orders. A manager token sees and changes the
//! accounts its products sell to, and those it created.

use licensd_core::model::{CustomerAccount, CustomerAccountInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod account {
    use super::*;
    crate::api::crud!(
        tag: "customer-accounts", path: "/customer-accounts", item: "/customer-accounts/{id}",
        record: CustomerAccount, input: CustomerAccountInput, store: licensd_store::accounts,
        list: list, create: create, get: get, update: update, delete: delete,
        spec: licensd_store::accounts::SPEC, admin_writes: false
    );
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(account::list, account::create)).routes(routes!(
        account::get,
        account::update,
        account::delete
    ))
}
