//! `/api/v1/products/`, `/api/v1/product-features/` and `/api/v1/product-versions/`. Reading needs any token (managers see their
//! products); writing needs an admin.

use licensd_core::model::{Feature, FeatureInput, Product, ProductInput, ProductVersion, ProductVersionInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod product {
    use super::*;
    crate::api::crud!(
        tag: "products", path: "/products", item: "/products/{id}",
        record: Product, input: ProductInput, store: licensd_store::products,
        list: list, create: create, get: get, update: update, delete: delete,
        spec: licensd_store::products::SPEC, admin_writes: true
    );
}

pub mod feature {
    use super::*;
    crate::api::crud!(
        tag: "product-features", path: "/product-features", item: "/product-features/{id}",
        record: Feature, input: FeatureInput, store: licensd_store::products,
        list: list_features, create: create_feature, get: get_feature, update: update_feature, delete: delete_feature,
        spec: licensd_store::products::FEATURE_SPEC, admin_writes: true
    );
}

pub mod version {
    use super::*;
    crate::api::crud!(
        tag: "product-versions", path: "/product-versions", item: "/product-versions/{id}",
        record: ProductVersion, input: ProductVersionInput, store: licensd_store::versions,
        list: list, create: create, get: get, update: update, delete: delete,
        spec: licensd_store::versions::SPEC, admin_writes: true
    );
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(product::list, product::create))
        .routes(routes!(product::get, product::update, product::delete))
        .routes(routes!(feature::list, feature::create))
        .routes(routes!(feature::get, feature::update, feature::delete))
        .routes(routes!(version::list, version::create))
        .routes(routes!(version::get, version::update, version::delete))
}
