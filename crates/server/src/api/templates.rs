//! `/api/v1/license-templates/`: the rules licenses are issued from (DevMate's license types).

use licensd_core::model::{LicenseTemplate, LicenseTemplateInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod template {
    use super::*;
    crate::api::crud!(
        tag: "license-templates", path: "/license-templates", item: "/license-templates/{id}",
        record: LicenseTemplate, input: LicenseTemplateInput, store: licensd_store::templates,
        list: list, create: create, get: get, update: update, delete: delete,
        spec: licensd_store::templates::SPEC, admin_writes: true
    );
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(template::list, template::create)).routes(routes!(
        template::get,
        template::update,
        template::delete
    ))
}
