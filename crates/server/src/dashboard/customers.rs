//! A customer's page (contact details, editable; orders, licenses, devices) and issuing licenses: a new order
//! for a customer with licenses from a template, as a store would send it to `POST /api/v1/orders/`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use licensd_core::access::Action;
use licensd_core::model::{Customer, CustomerInput, CustomerRef, LicenseInput, OrderInput, TemplateRef};
use licensd_store::{customers, devices, licenses, orders, templates};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{csrf, error_box, notice, page, time};
use super::pages::{Done, customer_name, device_table, found, license_table, params};
use super::{
    CHANGED, NotSaved, PREFIX, Page, Person, Posted, VERSION, html as answer, page_error, same_text, see_other,
    store_error, unchanged, version_of,
};
use crate::AppState;

/// The contact fields a person edits, as `CustomerInput` names them, with their labels.
const CONTACT: &[(&str, &str)] = &[
    ("email", "Email"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("company_name", "Company"),
    ("phone", "Phone"),
    ("address", "Address"),
    ("postcode", "Postcode"),
    ("city", "City"),
    ("state", "State or region"),
    ("country", "Country"),
    ("note", "Note"),
];

fn contact_value(c: &CustomerInput, field: &str) -> String {
    match field {
        "email" => c.email.clone().unwrap_or_default(),
        "first_name" => c.first_name.clone(),
        "last_name" => c.last_name.clone(),
        "company_name" => c.company_name.clone(),
        "phone" => c.phone.clone(),
        "address" => c.address.clone(),
        "postcode" => c.postcode.clone(),
        "city" => c.city.clone(),
        "state" => c.state.clone(),
        "country" => c.country.clone(),
        "note" => c.note.clone(),
        _ => String::new(),
    }
}

fn set_contact(c: &mut CustomerInput, field: &str, v: &str) {
    let v = v.trim().to_string();
    match field {
        "email" => c.email = (!v.is_empty()).then_some(v),
        "first_name" => c.first_name = v,
        "last_name" => c.last_name = v,
        "company_name" => c.company_name = v,
        "phone" => c.phone = v,
        "address" => c.address = v,
        "postcode" => c.postcode = v,
        "city" => c.city = v,
        "state" => c.state = v,
        "country" => c.country = v,
        "note" => c.note = v,
        _ => {}
    }
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "The contact details were saved.",
        "issued" => "The order and its licenses were issued.",
        _ => return None,
    })
}

/// A refused save of the contact form, shown again: what was typed, and whether it was refused because the
/// customer changed since the form was loaded (then each box that differs says what it holds now).
struct Refused<'a> {
    typed: &'a CustomerInput,
    stale: bool,
    status: StatusCode,
}

async fn customer_page(
    s: &AppState,
    p: &Person,
    id: i64,
    message: Option<Markup>,
    refused: Option<Refused<'_>>,
) -> Page {
    let scope = p.read()?;
    let c = customers::get(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    let lp = params(
        &licenses::SPEC,
        &[("customer", id.to_string()), ("order_by", "-created_at".into()), ("limit", "100".into())],
    )?;
    let (n, ls) = licenses::list(&s.db, &scope, &lp).await.map_err(store_error)?;
    let op = params(
        &orders::SPEC,
        &[("customer", id.to_string()), ("order_by", "-created_at".into()), ("limit", "50".into())],
    )?;
    let (n_orders, os) = orders::list(&s.db, &scope, &op).await.map_err(store_error)?;
    let devs = match &c.email {
        Some(e) => {
            let dp = params(&devices::SPEC, &[("license__customer__email", e.clone()), ("limit", "100".into())])?;
            devices::list(&s.db, &scope, &dp).await.map_err(store_error)?.1
        }
        None => Vec::new(),
    };
    let current = CustomerInput::from(&c);
    let typed = refused.as_ref().map(|r| r.typed);
    let input = typed.unwrap_or(&current);
    let stale = refused.as_ref().is_some_and(|r| r.stale);
    let may_edit = p.may(Action::Edit);
    let may_note = p.may(Action::EditNotes);
    let body = html! {
        @if let Some(m) = message { (m) }
        section.facts aria-label="Contact" {
            dl {
                dt { "Email" } dd { (c.email.as_deref().unwrap_or("")) }
                dt { "Name" } dd { (c.first_name) " " (c.last_name) }
                dt { "Company" } dd { (c.company_name) }
                dt { "Phone" } dd { (c.phone) }
                dt { "Address" } dd { (c.address) " " (c.postcode) " " (c.city) " " (c.state) " " (c.country) }
                dt { "Labels" } dd { @for l in &c.labels { span.badge { (l.label) } " " } }
                dt { "Note" } dd { (c.note) }
                dt { "Since" } dd { (time(Some(c.created_at))) }
            }
        }
        @if may_edit || may_note {
            details open[typed.is_some()] {
                summary { @if may_edit { "Edit the contact details" } @else { "Edit the note" } }
                form method="post" action={ (PREFIX) "/customers/" (id) "/edit" } {
                    (csrf(p))
                    input type="hidden" name=(VERSION) value=(version_of(&current));
                    @for (field, label) in CONTACT {
                        @if may_edit || *field == "note" {
                            @let (value, now) = (contact_value(input, field), contact_value(&current, field));
                            label for={ "c-" (field) } { (label) }
                            @if *field == "note" {
                                textarea id={ "c-" (field) } name=(field) rows="3" { (value) }
                            } @else {
                                input id={ "c-" (field) } type=(if *field == "email" { "email" } else { "text" }) name=(field) value=(value);
                            }
                            @if stale && same_text(&value) != same_text(&now) {
                                p.now { "Now: " @if now.is_empty() { "empty" } @else { code { (now) } } }
                            }
                        }
                    }
                    button type="submit" { "Save" }
                }
            }
        }
        @if p.may(Action::Create) {
            p { a.button href={ (PREFIX) "/issue?customer=" (id) } { "Issue licenses to this customer" } }
        }
        section aria-labelledby="c-licenses" {
            h2 #c-licenses { "Licenses " span.count { (n) } }
            @if ls.is_empty() { p.muted { "No licenses." } } @else { (license_table(&ls)) }
        }
        section aria-labelledby="c-orders" {
            h2 #c-orders { "Orders " span.count { (n_orders) } }
            @if os.is_empty() { p.muted { "No orders." } } @else {
                table {
                    thead { tr { th { "Invoice" } th { "Campaign" } th { "Licenses" } th { "Created" } } }
                    tbody { @for o in &os { tr {
                        td { (o.store_id.as_deref().unwrap_or("—")) }
                        td { (o.campaign) }
                        td { @for l in &o.licenses { a href={ (PREFIX) "/licenses/" (l.id) } { code { (l.license_key.as_deref().unwrap_or("(no key)")) } } " " } }
                        td { (time(Some(o.created_at))) }
                    } } }
                }
            }
        }
        section aria-labelledby="c-devices" {
            h2 #c-devices { "Devices" }
            @if devs.is_empty() { p.muted { "No devices." } } @else {
                (device_table(&devs))
            }
        }
    };
    let status = refused.map_or(StatusCode::OK, |r| r.status);
    Ok(answer(status, page(p, &customer_name(&c), body)))
}

pub async fn customer(State(s): State<AppState>, p: Person, Path(id): Path<String>, Query(d): Query<Done>) -> Page {
    let id = id.parse::<i64>().map_err(|_| super::not_found(Some(&p)))?;
    customer_page(&s, &p, id, done_text(&d.done).map(notice), None).await
}

pub async fn customer_edit(State(s): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let p = &posted.person;
    let id = id.parse::<i64>().map_err(|_| super::not_found(Some(p)))?;
    // What the form changes decides what it needs: a note alone is `EditNotes`, anything else `Edit`.
    let scope = p.read()?;
    let before = customers::get(&mut &s.db, &scope, id).await.map_err(|e| found(p, e))?;
    let mut input = CustomerInput::from(&before);
    for (field, _) in CONTACT {
        if posted.fields.iter().any(|(k, _)| k == field) {
            set_contact(&mut input, field, posted.get(field));
        }
    }
    let old = CustomerInput::from(&before);
    let changed: Vec<&str> =
        CONTACT.iter().map(|(f, _)| *f).filter(|f| contact_value(&old, f) != contact_value(&input, f)).collect();
    if changed.is_empty() {
        return Ok(see_other(&format!("{PREFIX}/customers/{id}?done=saved")));
    }
    let scope = p.permit(&Action::for_fields(changed.iter().copied()))?;
    let version = posted.version()?;
    let submitted = input;
    // Only what the person changed is applied, onto the customer as the transaction reads it (its row locked), and
    // only if that customer is still the one the form showed: a change made meanwhile by someone else is not
    // overwritten unseen.
    let edit = |cur: &licensd_core::model::Customer| {
        unchanged(version, &CustomerInput::from(cur))?;
        let mut next = CustomerInput::from(cur);
        for f in &changed {
            set_contact(&mut next, f, &contact_value(&submitted, f));
        }
        Ok::<_, NotSaved>(next)
    };
    let refused = |stale, status| Some(Refused { typed: &submitted, stale, status });
    match customers::update(&s.db, &scope, id, edit).await {
        Ok(_) => Ok(see_other(&format!("{PREFIX}/customers/{id}?done=saved"))),
        Err(NotSaved::Stale) => {
            customer_page(&s, p, id, Some(error_box(CHANGED)), refused(true, StatusCode::CONFLICT)).await
        }
        Err(NotSaved::Store(
            e @ (licensd_store::StoreError::Invalid { .. }
            | licensd_store::StoreError::Conflict { .. }
            | licensd_store::StoreError::Domain(_)),
        )) => {
            let body = Some(error_box(&problem(&e)));
            customer_page(&s, p, id, body, refused(false, StatusCode::BAD_REQUEST)).await
        }
        Err(NotSaved::Store(e)) => Err(store_error(e)),
    }
}

/// What a refused form says, naming the field.
fn problem(e: &licensd_store::StoreError) -> String {
    match e {
        licensd_store::StoreError::Invalid { field, message }
        | licensd_store::StoreError::Conflict { field, message } => {
            format!("{field}: {message}")
        }
        e => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Issue licenses

#[derive(Deserialize, Default)]
pub struct IssueQuery {
    #[serde(default)]
    customer: Option<i64>,
}

/// What the issue form holds (as typed, when it is shown again with a problem).
#[derive(Default, Clone)]
struct IssueForm {
    email: String,
    first_name: String,
    last_name: String,
    company_name: String,
    template: String,
    count: String,
    invoice: String,
}

async fn issue_page(s: &AppState, p: &Person, form: &IssueForm, problem: Option<&str>) -> Page {
    let scope = p.permit(&[Action::Create])?;
    let tp = params(&templates::SPEC, &[("order_by", "name".into()), ("limit", "500".into())])?;
    let (_, ts) = templates::list(&s.db, &scope, &tp).await.map_err(store_error)?;
    let body = html! {
        @if let Some(m) = problem { (error_box(m)) }
        p { "A new order for a customer, with licenses from a template: what a store sends when someone buys. An existing customer is found by email; otherwise a new one is made." }
        @if ts.is_empty() {
            p.error role="alert" { "There are no license templates yet: an administrator creates one in the catalog first." }
        } @else {
            form.card method="post" action={ (PREFIX) "/issue" } {
                (csrf(p))
                fieldset {
                    legend { "Customer" }
                    label for="i-email" { "Email" }
                    input #i-email type="email" name="email" value=(form.email) required;
                    label for="i-first" { "First name (a new customer)" }
                    input #i-first type="text" name="first_name" value=(form.first_name);
                    label for="i-last" { "Last name (a new customer)" }
                    input #i-last type="text" name="last_name" value=(form.last_name);
                    label for="i-company" { "Company (a new customer)" }
                    input #i-company type="text" name="company_name" value=(form.company_name);
                }
                fieldset {
                    legend { "Licenses" }
                    label for="i-template" { "Template" }
                    select #i-template name="template" required {
                        @for t in &ts {
                            option value=(t.id) selected[form.template == t.id.to_string()] { (t.name) " (" (t.code) ")" }
                        }
                    }
                    label for="i-count" { "How many" }
                    input #i-count type="number" name="count" min="1" max="100" value=(if form.count.is_empty() { "1" } else { form.count.as_str() }) required;
                    label for="i-invoice" { "Invoice or order id (optional, unique)" }
                    input #i-invoice type="text" name="invoice" value=(form.invoice);
                }
                button.primary type="submit" { "Issue" }
            }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(answer(status, page(p, "Issue licenses", body)))
}

pub async fn issue_form(State(s): State<AppState>, p: Person, Query(q): Query<IssueQuery>) -> Page {
    let mut form = IssueForm::default();
    if let Some(id) = q.customer {
        let scope = p.read()?;
        let c: Customer = customers::get(&mut &s.db, &scope, id).await.map_err(|e| found(&p, e))?;
        form.email = c.email.unwrap_or_default();
        form.first_name = c.first_name;
        form.last_name = c.last_name;
        form.company_name = c.company_name;
    }
    issue_page(&s, &p, &form, None).await
}

pub async fn issue(State(s): State<AppState>, posted: Posted) -> Page {
    let p = &posted.person;
    let scope = p.permit(&[Action::Create])?;
    let form = IssueForm {
        email: posted.get("email").trim().to_string(),
        first_name: posted.get("first_name").trim().to_string(),
        last_name: posted.get("last_name").trim().to_string(),
        company_name: posted.get("company_name").trim().to_string(),
        template: posted.get("template").to_string(),
        count: posted.get("count").trim().to_string(),
        invoice: posted.get("invoice").trim().to_string(),
    };
    let bad = |m: &str| -> Page { Err(page_error(StatusCode::BAD_REQUEST, m)) };
    let Ok(template) = form.template.parse::<i64>() else {
        return issue_page(&s, p, &form, Some("Choose a template.")).await;
    };
    let count = match form.count.parse::<usize>() {
        Ok(n @ 1..=100) => n,
        _ => return issue_page(&s, p, &form, Some("How many: a whole number from 1 to 100.")).await,
    };
    if form.email.is_empty() {
        return issue_page(&s, p, &form, Some("The customer's email is required.")).await;
    }
    let customer = CustomerInput {
        email: Some(form.email.clone()),
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        company_name: form.company_name.clone(),
        ..CustomerInput::default()
    };
    let license = LicenseInput { license_template: Some(TemplateRef::Id(template)), ..Default::default() };
    let order = OrderInput {
        store_id: (!form.invoice.is_empty()).then(|| form.invoice.clone()),
        customer: Some(CustomerRef::New(Box::new(customer))),
        customer_account: None,
        campaign: String::new(),
        reference: String::new(),
        is_test: false,
        metadata: serde_json::Value::Object(Default::default()),
        licenses: vec![license; count],
    };
    match orders::create(&s.db, &scope, order).await {
        Ok(o) => match o.customer {
            Some(c) => Ok(see_other(&format!("{PREFIX}/customers/{c}?done=issued"))),
            None => bad("The order has no customer."),
        },
        Err(
            e @ (licensd_store::StoreError::Invalid { .. }
            | licensd_store::StoreError::Conflict { .. }
            | licensd_store::StoreError::Domain(_)),
        ) => issue_page(&s, p, &form, Some(&problem(&e))).await,
        Err(e) => Err(store_error(e)),
    }
}
