//! Import (admins: `Action::Catalog`, since an import makes products and license templates as well as
//! customers and licenses): a DevMate export uploaded as a file, applied in the background as
//! `licensd import devmate FILE` applies it (the same store code, [`runs::apply`]), its progress and
//! per-record report kept in the database by [`runs`], so the run's page reads the same on any instance and
//! survives a restart (as interrupted).
//!
//! The upload is the one body of the dashboard over its 64 KiB form limit: up to [`UPLOAD_LIMIT`]. A larger
//! one is read to its end and dropped (so the browser, still sending, gets the `413` page rather than a
//! reset connection) within the front door's body deadline. A file that is not an export is refused on the
//! page with nothing applied and no run made.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use http_body_util::BodyExt as _;
use licensd_core::access::Action;
use licensd_core::devmate::{ImportState, RecordOutcome};
use licensd_store::devmate::runs::{self, Run, RunRecord, Unreadable};
use licensd_store::{Db, Scope};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{csrf, error_box, notice, page, time};
use super::{
    PREFIX, Page, PageError, Person, csrf_refused, html as answer, not_found, page_error, same_origin, same_token,
    see_other, store_error,
};
use crate::AppState;

/// The largest file an upload may carry (with the form around it). A larger export is imported with the
/// command line, which has no limit.
pub const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;
/// Runs listed on the import page.
const RECENT: i64 = 20;
/// Report lines per page.
const REPORT_PAGE: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/import", get(import_page).post(upload))
        .route("/import/{id}", get(run_page))
        .route("/import/{id}/progress", get(progress))
}

/// The scope of a person who may import, or the `403` page.
fn importer(p: &Person) -> Result<Scope, PageError> {
    p.permit(&[Action::Catalog])
}

fn run_id(p: &Person, id: &str) -> Result<i64, PageError> {
    id.parse::<i64>().map_err(|_| not_found(Some(p)))
}

fn mib(bytes: i64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    }
}

fn state_badge(s: ImportState) -> Markup {
    html! { span class={ "status import-" (s.as_str()) } { (s.as_str()) } }
}

// ---------------------------------------------------------------------------------------------
// The import page: the form and the recent runs

pub async fn import_page(State(s): State<AppState>, p: Person) -> Page {
    importer(&p)?;
    the_form(&s.db, &p, StatusCode::OK, None).await
}

/// The import page, with `refusal` (why the last upload was refused) above the form.
async fn the_form(db: &Db, p: &Person, status: StatusCode, refusal: Option<&str>) -> Page {
    let recent = runs::recent(db, RECENT).await.map_err(store_error)?;
    let body = html! {
        @if let Some(m) = refusal { (error_box(m)) }
        div.card.doc {
            p {
                "Upload a DevMate export: the responses of DevMate's " code { "GET /v2/customers/{id}" } " as a JSON "
                "array, one list response, or JSON Lines (what " code { "licensd export devmate" } " writes; "
                code { "docs/migrate-from-devmate.md" } " has the details). DevMate's ids are kept; records already "
                "imported are left as they are, so uploading the "
                "same file again changes nothing. A bad record is reported and skipped whole; the others are imported."
            }
            form method="post" action={ (PREFIX) "/import" } enctype="multipart/form-data" {
                (csrf(p))
                label for="import-file" { "DevMate export file" }
                input #import-file type="file" name="file" accept=".json,.jsonl,.ndjson,application/json" required
                    aria-describedby="import-file-help";
                p #import-file-help .muted {
                    "Up to " (UPLOAD_LIMIT / 1024 / 1024) " MiB. The import runs in the background; its page shows "
                    "the progress and then what became of each record. Larger files: "
                    code { "licensd import devmate FILE" } "."
                }
                button.primary type="submit" { "Upload and import" }
            }
        }
        h2 { "Recent imports" }
        @if recent.is_empty() { p.muted { "No import has been run from the dashboard yet." } } @else {
            table {
                thead { tr {
                    th scope="col" { "Run" } th scope="col" { "Started" } th scope="col" { "By" } th scope="col" { "File" }
                    th scope="col" { "State" } th scope="col" { "Records" } th scope="col" { "Created" }
                    th scope="col" { "Updated" } th scope="col" { "Unchanged" } th scope="col" { "Failed" }
                } }
                tbody {
                    @for r in &recent {
                        tr {
                            td { a href={ (PREFIX) "/import/" (r.id) } { "#" (r.id) } }
                            td { (time(Some(r.started_at))) }
                            td { (r.started_by) }
                            td { (r.file_name) }
                            td { (state_badge(r.state)) }
                            td { (r.tally.records_done) " of " (r.records_total) }
                            td { (r.tally.created) } td { (r.tally.updated) } td { (r.tally.unchanged) } td { (r.tally.failed) }
                        }
                    }
                }
            }
        }
    };
    Ok(answer(status, page(p, "Import from DevMate", body)))
}

// ---------------------------------------------------------------------------------------------
// The upload

/// What a body that could not be read answers: `408` when the front door ended it (stalled, or not complete
/// within the request timeout), else `400`.
fn unreadable_body(e: &axum::Error) -> PageError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<crate::front_door::BodyTimeout>() {
            return page_error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "The upload did not arrive in time ({t}). Nothing was imported; try again, or import the file with licensd import devmate FILE."
                ),
            );
        }
        source = s.source();
    }
    page_error(StatusCode::BAD_REQUEST, "The upload could not be read. Nothing was imported.")
}

fn too_large() -> PageError {
    page_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "The file is larger than {} MiB, the most an upload may carry. Nothing was imported. Import it with \
             licensd import devmate FILE instead (docs/migrate-from-devmate.md).",
            UPLOAD_LIMIT / 1024 / 1024
        ),
    )
}

/// The body, up to [`UPLOAD_LIMIT`]. A larger one (declared or sent) is read to its end without keeping it, so
/// the answer reaches a browser that is still sending; the front door's body deadline bounds how long.
async fn read_upload(declared: Option<usize>, mut body: Body) -> Result<Bytes, PageError> {
    let mut over = declared.is_some_and(|n| n > UPLOAD_LIMIT);
    let mut buf: Vec<u8> = Vec::with_capacity(if over { 0 } else { declared.unwrap_or(0) });
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| unreadable_body(&e))?;
        let Ok(data) = frame.into_data() else { continue };
        if !over && buf.len() + data.len() > UPLOAD_LIMIT {
            over = true;
            buf = Vec::new();
        }
        if !over {
            buf.extend_from_slice(&data);
        }
    }
    if over { Err(too_large()) } else { Ok(Bytes::from(buf)) }
}

/// The uploaded form's fields: its CSRF token, and the file's name and contents.
#[derive(Default)]
struct Upload {
    csrf: String,
    file_name: String,
    file: Bytes,
}

async fn parse_form(content_type: &str, body: Bytes) -> Result<Upload, PageError> {
    let bad = |why: &str| {
        page_error(StatusCode::BAD_REQUEST, &format!("The upload could not be read: {why}. Nothing was imported."))
    };
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| bad("send the form as multipart/form-data, as the import page does"))?;
    let mut form = multer::Multipart::new(Body::from(body).into_data_stream(), boundary);
    let mut u = Upload::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(bad(&e.to_string())),
        };
        match field.name() {
            Some("csrf") => u.csrf = field.text().await.map_err(|e| bad(&e.to_string()))?,
            Some("file") => {
                u.file_name = field.file_name().unwrap_or_default().to_string();
                u.file = field.bytes().await.map_err(|e| bad(&e.to_string()))?;
            }
            _ => {}
        }
    }
    Ok(u)
}

/// Why an upload made no run.
enum NoRun {
    File(Unreadable),
    Store(licensd_store::StoreError),
}

/// `POST /ui/import`: checks the person, the origin, the size and the CSRF token, then hands the file to a
/// background task, which reads it, makes the run and answers here before it applies the records; the browser
/// is sent to the run's page.
pub async fn upload(State(s): State<AppState>, req: Request) -> Page {
    let (mut parts, body) = req.into_parts();
    let person = Person::from_request_parts(&mut parts, &s).await?;
    if !same_origin(&parts) {
        return Err(csrf_refused());
    }
    let scope = importer(&person)?;
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = read_upload(declared, body).await?;
    let form = parse_form(&content_type, body).await?;
    if !same_token(&form.csrf, &person.session.csrf) {
        return Err(csrf_refused());
    }
    if form.file.is_empty() {
        let why = if form.file_name.is_empty() {
            "Choose a file to upload."
        } else {
            "The file is empty: nothing was imported."
        };
        return the_form(&s.db, &person, StatusCode::BAD_REQUEST, Some(why)).await;
    }
    let file_name = if form.file_name.is_empty() { "upload".to_string() } else { form.file_name.clone() };
    let (ready, started) = tokio::sync::oneshot::channel::<Result<i64, NoRun>>();
    let (db, tallies) = (s.db.clone(), s.tallies.clone());
    let file = form.file;
    tokio::spawn(async move {
        let (records, checked) = match runs::read(&file) {
            Ok(read) => read,
            Err(e) => {
                let _ = ready.send(Err(NoRun::File(e)));
                return;
            }
        };
        let bytes = i64::try_from(file.len()).unwrap_or(i64::MAX);
        let total = i64::try_from(records.len()).unwrap_or(i64::MAX);
        let run = match runs::start(&db, &scope, &file_name, bytes, total).await {
            Ok(run) => run,
            Err(e) => {
                let _ = ready.send(Err(NoRun::Store(e)));
                return;
            }
        };
        let _ = ready.send(Ok(run.id));
        // `apply` records a database failure in the run itself; one that cannot even be recorded leaves the run
        // to read as interrupted.
        if let Err(e) = runs::apply(&db, &scope, run.id, &records, &checked).await {
            tracing::error!(run = run.id, error = %e, "a DevMate import run could not be finished");
        }
        // The home page counts what the import made at its next view.
        tallies.clear();
    });
    match started.await {
        Ok(Ok(id)) => Ok(see_other(&format!("{PREFIX}/import/{id}"))),
        Ok(Err(NoRun::File(e))) => {
            let why = format!("This file cannot be imported: {e}. Nothing was imported.");
            the_form(&s.db, &person, StatusCode::BAD_REQUEST, Some(&why)).await
        }
        Ok(Err(NoRun::Store(e))) => Err(store_error(e)),
        Err(_) => Err(page_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; it has been logged.",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// A run: its progress and its report

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    offset: String,
}

/// `GET /ui/import/{id}/progress`: a run's state and counts as JSON, for the run page's script.
pub async fn progress(State(s): State<AppState>, p: Person, Path(id): Path<String>) -> Page {
    importer(&p)?;
    let run = runs::get(&s.db, run_id(&p, &id)?).await.map_err(store_error)?;
    let t = &run.tally;
    let body = serde_json::json!({
        "state": run.state.as_str(), "records_total": run.records_total, "records_done": t.records_done,
        "created": t.created, "updated": t.updated, "unchanged": t.unchanged, "failed": t.failed,
        "licenses_created": t.licenses_created, "warnings": t.warnings,
    });
    Ok(axum::Json(body).into_response())
}

fn report_link(id: i64, outcome: Option<RecordOutcome>, offset: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(o) = outcome {
        q.append_pair("outcome", o.as_str());
    }
    q.append_pair("offset", &offset.to_string());
    format!("{PREFIX}/import/{id}?{}#report", q.finish())
}

fn report_table(records: &[RunRecord]) -> Markup {
    html! {
        table #report-table {
            thead { tr {
                th scope="col" { "Record" } th scope="col" { "Line" } th scope="col" { "DevMate customer" }
                th scope="col" { "Outcome" } th scope="col" { "Details" }
            } }
            tbody {
                @for r in records {
                    tr {
                        td { (r.number) }
                        td { (r.line) }
                        td {
                            @match (r.customer_id, r.outcome) {
                                (Some(c), RecordOutcome::Failed) => { "#" (c) }
                                (Some(c), _) => { a href={ (PREFIX) "/customers/" (c) } { "#" (c) } }
                                (None, _) => { span.muted { "—" } }
                            }
                        }
                        td { span class={ "status outcome-" (r.outcome.as_str()) } { (r.outcome.as_str()) } }
                        td { (r.detail) }
                    }
                }
            }
        }
    }
}

/// `GET /ui/import/{id}`: the run's facts and counts, refreshing while it runs (the script polls
/// `/progress`; without it, the Refresh link), and its report, paged, optionally of one outcome.
pub async fn run_page(
    State(s): State<AppState>,
    p: Person,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Page {
    importer(&p)?;
    let run = runs::get(&s.db, run_id(&p, &id)?).await.map_err(store_error)?;
    let outcome = match q.outcome.as_str() {
        "" | "all" => None,
        o => Some(RecordOutcome::parse(o).ok_or_else(|| {
            page_error(
                StatusCode::BAD_REQUEST,
                &format!("outcome: must be one of {}.", RecordOutcome::NAMES.join(", ")),
            )
        })?),
    };
    let offset = match q.offset.as_str() {
        "" => 0,
        o => o
            .parse::<i64>()
            .ok()
            .filter(|o| (0..=100_000_000).contains(o))
            .ok_or_else(|| page_error(StatusCode::BAD_REQUEST, "offset: must be a whole number from 0."))?,
    };
    let (count, records) = runs::records(&s.db, run.id, outcome, offset, REPORT_PAGE).await.map_err(store_error)?;
    let title = format!("Import #{}", run.id);
    Ok(answer(StatusCode::OK, page(&p, &title, run_body(&run, outcome, offset, count, &records))))
}

fn run_body(run: &Run, outcome: Option<RecordOutcome>, offset: i64, count: i64, records: &[RunRecord]) -> Markup {
    let t = &run.tally;
    let here = format!("{PREFIX}/import/{}", run.id);
    let shown_to = offset + records.len() as i64;
    html! {
        p { a href={ (PREFIX) "/import" } { "← All imports" } }
        @match run.state {
            ImportState::Running => {
                p #import-live data-poll={ (here) "/progress" } role="status" {
                    "Importing… This page updates itself; " a href=(here) { "refresh" } " to see the latest."
                }
            }
            ImportState::Done => {
                (notice(&format!("The import is finished: {} of {} records imported or already there, {} failed.",
                    t.created + t.updated + t.unchanged, run.records_total, t.failed)))
            }
            ImportState::Failed => {
                (error_box(&format!("The import stopped before the end: {}. What it imported stays; upload the file \
                    again to go on (records already there are left unchanged).", run.error.as_deref().unwrap_or("unknown error"))))
            }
            ImportState::Interrupted => {
                (error_box("The import was interrupted: the server running it stopped. What it imported stays; upload \
                    the file again to go on (records already there are left unchanged)."))
            }
        }
        div.facts.card {
            dl {
                dt { "File" } dd { (run.file_name) " (" (mib(run.file_bytes)) ")" }
                dt { "Started by" } dd { (run.started_by) }
                dt { "Started" } dd { (time(Some(run.started_at))) }
                dt { "Finished" } dd { (time(run.finished_at)) }
                dt { "State" } dd #import-state { (state_badge(run.state)) }
            }
        }
        h2 { "Progress" }
        p {
            label for="import-progress" { "Records done" }
            progress #import-progress max=(run.records_total.max(1)) value=(t.records_done) {
                (t.records_done) " of " (run.records_total)
            }
            " " span #import-done { (t.records_done) } " of " span #import-total { (run.records_total) } " records"
        }
        div.tiles {
            div.tile { span.n #import-created { (t.created) } "created (new customers)" }
            div.tile { span.n #import-updated { (t.updated) } "updated (licenses added)" }
            div.tile { span.n #import-unchanged { (t.unchanged) } "unchanged (already there)" }
            div.tile { span.n #import-failed { (t.failed) } "failed (skipped whole)" }
        }
        p.muted {
            (t.licenses_created) " licenses created; " (t.warnings) " warnings (facts licensd derives differently, in "
            "each record's details)."
        }
        @if t.weak_keys > 0 {
            (error_box(&format!("{} license keys carry under {} bits of entropy: keys like these can be guessed by \
                trying them against the client API; its rate limits slow that down. Consider issuing new keys for them.",
                t.weak_keys, licensd_core::keys::WEAK_KEY_BITS)))
        }
        h2 #report { "Records " span.count { "(" (count) ")" } }
        form.filters method="get" action=(here) {
            div {
                label for="report-outcome" { "Outcome" }
                select #report-outcome name="outcome" {
                    option value="" selected[outcome.is_none()] { "all" }
                    @for o in RecordOutcome::ALL { option value=(o.as_str()) selected[outcome == Some(o)] { (o.as_str()) } }
                }
            }
            div { button type="submit" { "Show" } }
        }
        @if records.is_empty() {
            p.muted { @if run.state == ImportState::Running { "No record is done yet." } @else { "No record matches." } }
        } @else {
            nav.pager aria-label="Pages" {
                span { (offset + 1) "–" (shown_to) " of " (count) }
                @if offset > 0 { a rel="prev" href=(report_link(run.id, outcome, (offset - REPORT_PAGE).max(0))) { "← Previous" } }
                @if shown_to < count { a rel="next" href=(report_link(run.id, outcome, offset + REPORT_PAGE)) { "Next →" } }
            }
            (report_table(records))
        }
    }
}
