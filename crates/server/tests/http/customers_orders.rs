//! Customers (with labels, unique emails) and orders created with their customer and licenses.

use serde_json::json;

use crate::backend_tests;
use crate::common::{TestApp, assert_error};

backend_tests!(
    customer_lifecycle_with_labels,
    emails_are_unique_case_insensitively,
    customer_with_licenses_or_orders_cannot_be_deleted,
    order_with_new_customer_and_licenses_is_created_whole,
    order_reuses_a_customer_found_by_email,
    order_store_id_is_unique,
    order_update_and_delete,
    customers_naming_the_same_new_label_at_once_all_get_it,
    concurrent_patches_of_different_fields_of_one_customer_all_stay,
);

async fn customer_lifecycle_with_labels(app: TestApp) {
    let r = app
        .post(
            "/api/v1/customers",
            json!({"email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe", "company_name": "MacPaw",
                   "phone": "5553423322", "address": "Madison Ave. 11", "city": "New York", "country": "US",
                   "labels": ["loyal", {"label": "vip", "color": "#ff9f43"}], "metadata": {"crm": 7}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["email"], "jdoe@acme.corp");
    assert_eq!(r.body["company_name"], "MacPaw");
    let labels: Vec<(&str, &str)> = r.body["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["label"].as_str().unwrap(), l["color"].as_str().unwrap()))
        .collect();
    assert_eq!(labels, [("loyal", ""), ("vip", "#ff9f43")]);
    assert!(r.body["labels"][0]["label_id"].is_i64());

    let p = app.patch(&format!("/api/v1/customers/{id}"), json!({"labels": ["vip"], "note": "called twice"})).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["labels"].as_array().unwrap().len(), 1);
    assert_eq!(p.body["labels"][0]["color"], "#ff9f43", "an existing label keeps its colour");
    assert_eq!(p.body["note"], "called twice");
    assert_eq!(p.body["first_name"], "John");

    assert_eq!(app.list_count("/api/v1/customers?email__icontains=ACME").await, 1);
    assert_eq!(app.list_count("/api/v1/customers?label=vip").await, 1);
    assert_eq!(app.list_count("/api/v1/customers?label=loyal").await, 0);
    assert_eq!(app.delete(&format!("/api/v1/customers/{id}")).await.status, 204);
    assert_eq!(app.count("customers").await, 0);
}

async fn emails_are_unique_case_insensitively(app: TestApp) {
    assert_eq!(app.post("/api/v1/customers", json!({"email": "Jane@Example.com"})).await.status, 201);
    let r = app.post("/api/v1/customers", json!({"email": "jane@example.COM"})).await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/email");
    // Customers without an email do not collide.
    assert_eq!(app.post("/api/v1/customers", json!({"first_name": "A"})).await.status, 201);
    assert_eq!(app.post("/api/v1/customers", json!({"first_name": "B", "email": ""})).await.status, 201);
    assert_eq!(app.count("customers").await, 3);
}

async fn customer_with_licenses_or_orders_cannot_be_deleted(app: TestApp) {
    let p = app.product("app").await;
    let l = app.license(json!({"product": p, "customer": {"email": "c@example.com"}})).await;
    let cid = l["customer"]["id"].as_i64().unwrap();
    let e = assert_error(&app.delete(&format!("/api/v1/customers/{cid}")).await, 409, "IN_USE");
    assert_eq!(e["detail"], "the customer still has licenses or orders; delete or reassign those first");
    // An order alone keeps a customer too; once nothing refers to them, they go, with their event.
    let o = app.post("/api/v1/orders", json!({"customer": {"email": "o@example.com"}})).await;
    assert_eq!(o.status, 201, "{}", o.text);
    let (oid, cid) = (o.body["id"].as_i64().unwrap(), o.body["customer"].as_i64().unwrap());
    assert_error(&app.delete(&format!("/api/v1/customers/{cid}")).await, 409, "IN_USE");
    assert_eq!(app.delete(&format!("/api/v1/orders/{oid}")).await.status, 204);
    assert_eq!(app.delete(&format!("/api/v1/customers/{cid}")).await.status, 204);
    assert_eq!(app.count("customers").await, 1);
    assert_eq!(app.list_count(&format!("/api/v1/events?action=customer.deleted&resource_id={cid}")).await, 1);
}

async fn order_with_new_customer_and_licenses_is_created_whole(app: TestApp) {
    let p = app.product("mynewapp").await;
    app.template(p, "single", json!({"max_activations": 2})).await;
    let r = app
        .post(
            "/api/v1/orders",
            json!({
                "store_id": "CORP150902-0339-893098", "campaign": "black-friday",
                "customer": {"email": "buyer@example.com", "first_name": "Ann"},
                "licenses": [{"license_template": "single"}, {"license_template": "single", "max_activations": 5, "note": "team"}]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let o = &r.body;
    assert_eq!(o["store_id"], "CORP150902-0339-893098");
    assert_eq!(o["campaign"], "black-friday");
    let licenses = o["licenses"].as_array().unwrap();
    assert_eq!(licenses.len(), 2);
    for l in licenses {
        assert_eq!(l["status"], "inactive");
        assert_eq!(l["license_key"].as_str().unwrap().len(), 23);
    }
    let second = app.get(&format!("/api/v1/licenses/{}", licenses[1]["id"])).await;
    assert_eq!(second.body["max_activations"], 5);
    assert_eq!(second.body["note"], "team");
    assert_eq!(second.body["order"], o["id"]);
    assert_eq!(second.body["order_store_id"], "CORP150902-0339-893098");
    assert_eq!(second.body["customer"]["email"], "buyer@example.com");
    assert_eq!(second.body["customer"]["id"], o["customer"]);
    assert_eq!(app.list_count("/api/v1/licenses?order__store_id=CORP150902-0339-893098").await, 2);
    assert_eq!(app.list_count(&format!("/api/v1/orders?customer={}", o["customer"])).await, 1);
}

async fn order_reuses_a_customer_found_by_email(app: TestApp) {
    let p = app.product("app").await;
    let c = app.post("/api/v1/customers", json!({"email": "repeat@example.com", "first_name": "Rita"})).await;
    let r = app
        .post("/api/v1/orders", json!({"customer": {"email": "REPEAT@example.com"}, "licenses": [{"product": p}]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["customer"], c.body["id"]);
    let r = app.post("/api/v1/orders", json!({"customer": c.body["id"], "licenses": [{"product": "app"}]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.count("customers").await, 1);
    let r = app.post("/api/v1/orders", json!({"customer": 424242})).await;
    let e = assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/customer");
}

async fn order_store_id_is_unique(app: TestApp) {
    assert_eq!(app.post("/api/v1/orders", json!({"store_id": "INV-9"})).await.status, 201);
    let r = app.post("/api/v1/orders", json!({"store_id": "INV-9"})).await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/store_id");
    assert_eq!(app.count("orders").await, 1);
}

async fn order_update_and_delete(app: TestApp) {
    let p = app.product("app").await;
    let o = app
        .post("/api/v1/orders", json!({"store_id": "A-1", "reference": "R-9", "is_test": true, "metadata": {"crm": 7}}))
        .await
        .body;
    let id = o["id"].as_i64().unwrap();
    let u = app.patch(&format!("/api/v1/orders/{id}"), json!({"store_id": "A-2", "campaign": "spring"})).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["store_id"], "A-2");
    assert_eq!(u.body["campaign"], "spring");
    assert_eq!(
        (&u.body["reference"], &u.body["is_test"], &u.body["metadata"]),
        (&o["reference"], &o["is_test"], &o["metadata"])
    );
    assert_eq!(u.body["reference"], "R-9", "fields not in the PATCH stay");
    let l = app.license(json!({"product": p, "order": id})).await;
    assert_eq!(l["order_store_id"], "A-2");
    let e = assert_error(&app.delete(&format!("/api/v1/orders/{id}")).await, 409, "IN_USE");
    assert_eq!(e["detail"], "the order still holds licenses; delete or move those first");
    assert_eq!(app.patch(&format!("/api/v1/licenses/{}", l["id"]), json!({"order": null})).await.status, 200);
    assert_eq!(app.delete(&format!("/api/v1/orders/{id}")).await.status, 204);
    assert_eq!(app.count("orders").await, 0);
}

/// Labels are created on first use and shared by name: customers written at once that name the same new label all
/// get the one label (on PostgreSQL the later writers wait for the first one's insert, then use its row).
async fn customers_naming_the_same_new_label_at_once_all_get_it(app: TestApp) {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (client, url, admin) = (client.clone(), app.url.clone(), app.admin.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"email": format!("c{i}@example.com"), "labels": ["launch", {"label": "wave", "color": "#123456"}]});
            let r = client.post(format!("{url}/api/v1/customers")).bearer_auth(admin).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, 201, "{text}");
    }
    assert_eq!(app.count("customers").await, 16);
    assert_eq!(app.count("labels").await, 2);
    assert_eq!(app.count("customer_labels").await, 32);
    assert_eq!(app.list_count("/api/v1/customers?label=launch").await, 16);
}

/// A `PATCH` merges onto the customer as its transaction reads it, its row locked: concurrent patches of
/// different fields each keep theirs (on PostgreSQL, without the lock, a later writer put back what it read).
async fn concurrent_patches_of_different_fields_of_one_customer_all_stay(app: TestApp) {
    let r = app.post("/api/v1/customers", json!({"email": "many@example.com"})).await;
    let id = r.body["id"].as_i64().unwrap();
    let fields = ["first_name", "last_name", "company_name", "phone", "address", "postcode", "city", "state", "note"];
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for f in fields {
        let (client, url, admin) = (client.clone(), app.url.clone(), app.admin.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .patch(format!("{url}/api/v1/customers/{id}"))
                .bearer_auth(admin)
                .json(&json!({ f: format!("set {f}") }))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    let c = app.get(&format!("/api/v1/customers/{id}")).await.body;
    for f in fields {
        assert_eq!(c[f], format!("set {f}"), "{f} was lost: {c}");
    }
    assert_eq!(app.list_count(&format!("/api/v1/events/?action=customer.updated&resource_id={id}")).await, 9);
}
