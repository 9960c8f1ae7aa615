//! The audit function: read the caller's audit trail and verify its hash chain (AUD-5).
//! It has no route that changes or deletes an entry, and no IAM right to (AUD-2).
//!
//! Verification has two forms (docs/audit-format.md, "Verification"): `GET /audit/verify` is a
//! quick check that writes nothing; `POST /audit/verifications` requests a full re-walk, run by
//! the audit-verifier function, whose start and verdict are audit entries.
//!
//! `GET /audit/export?format=json|csv` exports the trail (AUD-9, Part 11 §11.10(b)): JSON as
//! the stored entries with their hashes and blobs, which `scripts/verify_chain.py` verifies
//! offline; CSV (RFC 4180, formulas neutralised: `quire_core::audit::export`) for people, which
//! may be filtered. Every export is recorded (`audit.exported`) before it is served.

use http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use quire_core::audit::chain::Head;
use quire_core::audit::export::{self as trail, Selection};
use quire_core::audit::Action;
use quire_core::audit::Target;
use quire_core::rbac::Permission::{AuditRead, AuditVerificationStart, AuditVerify};
use quire_http::download::MAX_RESPONSE_BYTES;
use quire_http::json::{ok, page_request, query, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::{AuditPage, ChainCheck, Listed, Page, Requested, VerificationJob};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::GET,
            "/audit",
            Access::Requires(AuditRead),
            Module::Audit,
            Effect::Reads,
            list,
        )
        .pages()
        .response_schema::<AuditPage>(),
        Route::new(
            Method::GET,
            "/audit/verify",
            Access::Requires(AuditVerify),
            Module::Audit,
            Effect::Reads,
            check,
        )
        .response_schema::<ChainCheck>(),
        Route::new(
            Method::POST,
            "/audit/verifications",
            Access::Requires(AuditVerificationStart),
            Module::Audit,
            Effect::Writes(&[Action::AuditVerificationStarted]),
            start_verification,
        )
        .response_schema::<VerificationJob>()
        .problem(
            "409",
            "a verification is already queued or running: `verificationId` and `Location` name it \
             (`conflict`)",
        ),
        Route::new(
            Method::GET,
            "/audit/verifications",
            Access::Requires(AuditVerify),
            Module::Audit,
            Effect::Reads,
            list_verifications,
        )
        .pages()
        .response_schema::<Page<VerificationJob>>(),
        Route::new(
            Method::GET,
            "/audit/verifications/{id}",
            Access::Requires(AuditVerify),
            Module::Audit,
            Effect::Reads,
            verification,
        )
        .response_schema::<VerificationJob>(),
        Route::new(
            Method::GET,
            "/audit/blobs/{sha256}",
            Access::Requires(AuditRead),
            Module::Audit,
            Effect::Reads,
            blob,
        )
        .response_schema::<Blob>(),
        Route::new(
            Method::GET,
            "/audit/export",
            Access::Requires(AuditRead),
            Module::Audit,
            Effect::Records(&[Action::AuditExported]),
            export,
        )
        .reads_query(EXPORT_QUERY)
        .response_schema::<TrailExport>()
        .generates(&["text/csv"])
        .problem(
            "422",
            "the export would exceed 4 MiB, what one response carries (`export-too-large`, with \
             `limit`): narrow a CSV export with `from` and `to`",
        ),
    ])
    .expect("audit route table")
}

/// Entries newest first: `{"items": [...], "next": cursor | null, "blobs": {digest: content},
/// "blobsOmitted": [digest]}` (docs/audit-format.md, "Blobs").
async fn list(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app.store.audit_page(caller.scope(), &page_request(&req)?).await?)
}

/// The quick check: the entries after the last full verification, against the head as read
/// before the walk (`quire_store::ChainCheck`). Writes nothing.
async fn check(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app.store.check_chain(caller.scope()).await?)
}

/// Requests a full re-walk: 202 with the job (`status: "queued"`) and its `Location`. While
/// one is queued or running: 409, naming it (`verificationId`), with its `Location`.
async fn start_verification(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let job = match app
        .store
        .start_verification(caller.scope(), ctx.audit_context()?)
        .await?
    {
        Requested::Started(job) => job,
        Requested::AlreadyRunning(job) => {
            let mut response = Problem::conflict("a verification of the audit trail is already queued or running")
                .with("verificationId", job.id.as_str())
                .into_response();
            let location =
                HeaderValue::from_str(&format!("/audit/verifications/{}", job.id)).map_err(Problem::internal)?;
            response.headers_mut().insert(header::LOCATION, location);
            return Ok(response);
        }
    };
    let mut response = respond(StatusCode::ACCEPTED, &job)?;
    let location = HeaderValue::from_str(&format!("/audit/verifications/{}", job.id)).map_err(Problem::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// The caller's verification jobs, newest first: `{"items": [...], "next": cursor | null}`.
async fn list_verifications(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app
        .store
        .list::<VerificationJob>(caller.scope(), &page_request(&req)?)
        .await?)
}

/// One job of the caller's organisation; any other id, another tenant's included, is 404.
async fn verification(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let id = ctx.param("id")?;
    // Only the canonical form Quire issues (lower-case, hyphenated); anything else is no job.
    if uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .ok()
        .as_deref()
        != Some(id)
    {
        return Err(Problem::not_found());
    }
    ok(&app
        .store
        .verification(caller.scope(), id)
        .await?
        .ok_or_else(Problem::not_found)?)
}

/// One blob of the caller's trail: `{"sha256", "bytes", "content"}`. A digest the caller's
/// organisation has no blob for, another tenant's included, or any text that is not 64 lower-case
/// hex digits, is the same 404 (TEN-3).
async fn blob(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let sha256 = ctx.param("sha256")?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Problem::not_found());
    }
    let content = app
        .store
        .audit_blob(caller.scope(), sha256)
        .await?
        .ok_or_else(Problem::not_found)?;
    ok(&Blob {
        bytes: content.len(),
        sha256: sha256.to_owned(),
        content,
    })
}

/// A long value of an entry, stored beside the chain (docs/audit-format.md, "Blobs").
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Blob {
    /// SHA-256 of the content's UTF-8 bytes, lower-case hex.
    sha256: String,
    /// Length of the content in UTF-8 bytes.
    bytes: usize,
    content: String,
}

/// The JSON form of an export (`format=json`; docs/audit-format.md, "Exports"): the input of
/// `scripts/verify_chain.py`. The CSV form (`format=csv`) is `text/csv`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TrailExport {
    /// The head the export runs through, read before the entries.
    head: Head,
    /// Every entry from 1 through the head, oldest first, as `GET /audit` lists them.
    entries: Vec<Listed>,
    /// Digest → content of every blob the entries reference.
    blobs: BTreeMap<String, String>,
}

/// The query parameters of `GET /audit/export`.
const EXPORT_QUERY: &[&str] = &["format", "from", "to", "actor", "action", "targetType", "targetId"];

/// Entries read per query while exporting: with the blobs they reference (a document body
/// is at most 100 000 characters), a page stays far below the function's memory.
const EXPORT_PAGE: i32 = 100;

/// An export's form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// The trail, through its head as read first, as one file of at most
/// [`MAX_RESPONSE_BYTES`]:
/// - `format=json`: `{"head": {"seq", "hash"}, "entries": [...], "blobs": {digest: content}}`,
///   every entry from 1 as stored (an unreadable one as its marker), every blob they
///   reference: what `scripts/verify_chain.py --org <orgId>` verifies. Not filtered: a chain
///   verifies only whole.
/// - `format=csv`: a header record and one record per selected entry
///   ([`trail::CSV_COLUMNS`]), blob references resolved to their text; filtered by `from`
///   (inclusive) and `to` (exclusive), RFC 3339 UTC times; `actor` (a user id, `system` for
///   Quire's own); `action` (a name of docs/audit-format.md); `targetType` with `targetId`.
///   An entry that cannot be read is a record with its `seq` and `action` `unreadable`,
///   whatever the filters.
///
/// Recorded before it is served (`audit.exported`); an export that cannot be recorded is not
/// served.
async fn export(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let (format, selection) = export_request(&req)?;
    let head = app.store.chain_tip(caller.scope()).await?;
    let mut out = Exported::new(format, &head)?;
    let mut from = 1u64;
    while from <= head.seq {
        let (items, blobs) = app
            .store
            .chain_slice(caller.scope(), from, head.seq, EXPORT_PAGE)
            .await?;
        // A missing tail ends the walk (a gap is skipped): a verifier finds either against the
        // JSON's head.
        let Some(last) = items.iter().filter_map(Listed::seq).max() else {
            break;
        };
        out.add(&items, blobs, &selection)?;
        from = last + 1;
    }
    let (body, entries) = out.finish()?;
    let file = quire_http::download::Generated::new(body)?;
    let filters = serde_json::json!({
        "from": selection.from,
        "to": selection.to,
        "actor": selection.actor,
        "action": selection.action.map(Action::name),
        "targetType": selection.target.as_ref().map(|t| t.0.clone()),
        "targetId": selection.target.as_ref().map(|t| t.1.clone()),
    });
    let (extension, media_type) = match format {
        Format::Json => ("json", "application/json"),
        Format::Csv => ("csv", "text/csv; charset=utf-8; header=present"),
    };
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .event(
            Action::AuditExported,
            Target::new("audit-trail", caller.scope().org_id().as_str()),
            &serde_json::json!({
                "format": extension,
                "filters": filters,
                "through": {"seq": head.seq, "hash": head.hash},
                "entries": entries,
                "bytes": file.body.len(),
                "sha256": file.sha256_hex,
            }),
        )
        .commit()
        .await?;
    let file_name = format!(
        "audit-trail-{}-through-{}.{extension}",
        caller.scope().org_id().as_str(),
        head.seq
    );
    Ok(file.into_response(media_type, &file_name))
}

/// The format and the selection a request asks for; 400 naming the parameter otherwise.
fn export_request(req: &Request) -> Result<(Format, Selection), Problem> {
    // Any other parameter (`limit` and `cursor` included) is refused by the request filter.
    let (mut found, _) = query(req, EXPORT_QUERY)?;
    let format = match found.remove("format").as_deref() {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        _ => {
            return Err(Problem::invalid_parameter(
                "format",
                "`format` is `json` (the entries with their hashes, which verify offline) or `csv`",
            ))
        }
    };
    let time = |name: &'static str, text: Option<String>| match text {
        None => Ok(None),
        Some(text) => trail::query_time(&text).map(Some).ok_or_else(|| {
            Problem::invalid_parameter(
                name,
                format!("`{name}` is a time in RFC 3339, UTC (`2026-12-01T09:00:00Z`)"),
            )
        }),
    };
    let from = time("from", found.remove("from"))?;
    let to = time("to", found.remove("to"))?;
    let actor = match found.remove("actor") {
        Some(actor) if actor.is_empty() || actor.len() > 128 => {
            return Err(Problem::invalid_parameter("actor", "`actor` is a user id"))
        }
        actor => actor,
    };
    let action = match found.remove("action") {
        None => None,
        Some(name) => Some(
            serde_json::from_value::<Action>(serde_json::Value::String(name)).map_err(|_| {
                Problem::invalid_parameter("action", "`action` is an action's name (docs/audit-format.md)")
            })?,
        ),
    };
    let target = match (found.remove("targetType"), found.remove("targetId")) {
        (None, None) => None,
        (Some(kind), Some(id)) if !kind.is_empty() && !id.is_empty() && kind.len() <= 64 && id.len() <= 256 => {
            Some((kind, id))
        }
        (kind, id) => {
            let name = match (kind, id) {
                (None, _) => "targetType",
                (Some(kind), _) if kind.is_empty() || kind.len() > 64 => "targetType",
                _ => "targetId",
            };
            return Err(Problem::invalid_parameter(
                name,
                "`targetType` and `targetId` name a target together",
            ));
        }
    };
    let selection = Selection {
        from,
        to,
        actor,
        action,
        target,
    };
    if format == Format::Json && !selection.is_everything() {
        return Err(Problem::invalid_parameter(
            "format",
            "a JSON export is the whole chain, so that it verifies; filter a CSV export",
        ));
    }
    Ok((format, selection))
}

/// An export being written: its bytes so far, bounded by [`MAX_RESPONSE_BYTES`].
struct Exported {
    format: Format,
    body: Vec<u8>,
    /// JSON: every blob the entries reference.
    blobs: BTreeMap<String, String>,
    blob_bytes: usize,
    entries: u64,
}

impl Exported {
    fn new(format: Format, head: &Head) -> Result<Self, Problem> {
        let mut out = Exported {
            format,
            body: Vec::new(),
            blobs: BTreeMap::new(),
            blob_bytes: 0,
            entries: 0,
        };
        match format {
            Format::Json => {
                let head = serde_json::json!({"seq": head.seq, "hash": head.hash});
                out.body
                    .extend_from_slice(format!("{{\"head\":{head},\"entries\":[").as_bytes());
            }
            Format::Csv => out.record(&trail::CSV_COLUMNS.map(str::to_owned))?,
        }
        Ok(out)
    }

    /// One CSV record (RFC 4180: CRLF-terminated, quoted where needed).
    fn record(&mut self, cells: &[String]) -> Result<(), Problem> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut self.body);
        writer.write_record(cells).map_err(Problem::internal)?;
        writer.flush().map_err(Problem::internal)?;
        Ok(())
    }

    fn add(&mut self, items: &[Listed], blobs: BTreeMap<String, String>, selection: &Selection) -> Result<(), Problem> {
        for item in items {
            match (self.format, item) {
                (Format::Json, item) => {
                    if self.entries > 0 {
                        self.body.push(b',');
                    }
                    serde_json::to_writer(&mut self.body, item).map_err(Problem::internal)?;
                    self.entries += 1;
                }
                (Format::Csv, Listed::Entry(entry)) if selection.holds(entry) => {
                    self.record(&trail::csv_row(entry, &blobs))?;
                    self.entries += 1;
                    self.within_limit()?;
                }
                (Format::Csv, Listed::Entry(_)) => {}
                (Format::Csv, Listed::Unreadable { seq, .. }) => {
                    let mut cells = vec![String::new(); trail::CSV_COLUMNS.len()];
                    cells[0] = seq.map(|s| s.to_string()).unwrap_or_default();
                    cells[2] = "unreadable".to_owned();
                    self.record(&cells)?;
                    self.entries += 1;
                }
            }
        }
        if self.format == Format::Json {
            for (digest, content) in blobs {
                if !self.blobs.contains_key(&digest) {
                    self.blob_bytes += digest.len() + content.len();
                    self.blobs.insert(digest, content);
                }
            }
        }
        self.within_limit()
    }

    fn within_limit(&self) -> Result<(), Problem> {
        if (self.body.len() + self.blob_bytes) as u64 > MAX_RESPONSE_BYTES {
            return Err(Problem::export_too_large(MAX_RESPONSE_BYTES));
        }
        Ok(())
    }

    /// The file and the entries it holds (`Generated::new` bounds the finished file).
    fn finish(mut self) -> Result<(Vec<u8>, u64), Problem> {
        if self.format == Format::Json {
            self.body.extend_from_slice(b"],\"blobs\":");
            serde_json::to_writer(&mut self.body, &self.blobs).map_err(Problem::internal)?;
            self.body.push(b'}');
        }
        Ok((self.body, self.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export past what one response carries is refused, whatever makes it large (here
    /// the blobs its entries reference), and one within it is the format's frame.
    #[test]
    fn an_export_past_one_response_is_refused() {
        let mut small = Exported::new(Format::Json, &Head::genesis()).unwrap();
        small.add(&[], BTreeMap::new(), &Selection::default()).unwrap();
        let (body, entries) = small.finish().unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(entries, 0);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["entries"], serde_json::json!([]));
        assert_eq!(parsed["head"]["seq"], 0);

        let mut large = Exported::new(Format::Json, &Head::genesis()).unwrap();
        let blob = "x".repeat(MAX_RESPONSE_BYTES as usize);
        let refused = large
            .add(&[], BTreeMap::from([("d".repeat(64), blob)]), &Selection::default())
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
