//! One body reader for every POST that takes fields: JSON, urlencoded or multipart, with limits
//! enforced while streaming, into one map of fields plus uploaded files.

use actix_multipart::Multipart;
use actix_web::{http::header, web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::storage::{Storage, TempUpload};

/// Largest multipart text field.
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;
/// How much of an over-limit body is still read and discarded, so the client can read our 413.
const DRAIN_CAP_BYTES: u64 = 64 * 1024 * 1024;

pub struct FileRule {
    pub field: &'static str,
    pub max_bytes: u64,
    pub max_count: usize,
}

impl FileRule {
    /// One `avatar` file of at most `MAX_AVATAR_BYTES` (register, `PATCH /users/me`).
    pub fn avatar(config: &crate::config::Config) -> FileRule {
        FileRule {
            field: "avatar",
            max_bytes: config.max_avatar_bytes,
            max_count: 1,
        }
    }
}

pub struct Form {
    pub fields: Map<String, Value>,
    /// Each upload with the field it came in.
    pub files: Vec<(&'static str, TempUpload)>,
}

impl Form {
    /// The fields as a typed struct; a wrong type is a 400 with serde's explanation.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(Value::Object(self.fields.clone()))
            .map_err(|e| ApiError::validation(format!("Invalid request body: {e}")))
    }
}

fn content_type(req: &HttpRequest) -> Option<mime::Mime> {
    req.headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn read_limited(payload: &mut web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::validation(format!("Could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            drain(payload).await;
            return Err(ApiError::too_large(format!(
                "Request body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn drain(payload: &mut web::Payload) {
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = payload.next().await {
        seen += chunk.len() as u64;
        if seen > DRAIN_CAP_BYTES {
            break;
        }
    }
}

/// Reads the request body in whichever of the three accepted encodings it comes.
/// Files come only in multipart: a JSON or urlencoded field named like a file is refused, not
/// silently dropped.
fn no_file_fields(fields: &Map<String, Value>, file_rules: &[FileRule]) -> Result<(), ApiError> {
    match file_rules
        .iter()
        .find(|rule| fields.contains_key(rule.field))
    {
        Some(rule) => Err(ApiError::validation(format!(
            "{} must be a file, sent as multipart/form-data",
            rule.field
        ))),
        None => Ok(()),
    }
}

pub async fn read_form(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
    file_rules: &[FileRule],
) -> Result<Form, ApiError> {
    let max_json_bytes = state.config.max_json_bytes;
    let Some(mime) = content_type(req) else {
        let body = read_limited(&mut payload, max_json_bytes).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Form {
                fields: Map::new(),
                files: Vec::new(),
            });
        }
        return Err(ApiError::unsupported_media(
            "Content-Type must be application/json, application/x-www-form-urlencoded or multipart/form-data",
        ));
    };
    match (mime.type_(), mime.subtype()) {
        (mime::APPLICATION, mime::JSON) => {
            let body = read_limited(&mut payload, max_json_bytes).await?;
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(fields)) => {
                    no_file_fields(&fields, file_rules)?;
                    Ok(Form { fields, files: Vec::new() })
                }
                Ok(_) => Err(ApiError::validation("Request body must be a JSON object")),
                Err(e) => Err(ApiError::validation(format!("Malformed JSON: {e}"))),
            }
        }
        (mime::APPLICATION, mime::WWW_FORM_URLENCODED) => {
            let body = read_limited(&mut payload, max_json_bytes).await?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|e| ApiError::validation(format!("Malformed form body: {e}")))?;
            let fields = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            no_file_fields(&fields, file_rules)?;
            Ok(Form { fields, files: Vec::new() })
        }
        (mime::MULTIPART, mime::FORM_DATA) => {
            let mut multipart = Parts {
                multipart: Multipart::new(req.headers(), payload),
                failed: false,
            };
            let result = read_multipart(&mut multipart, &state.storage, file_rules, state.config.max_form_parts as usize).await;
            if result.is_err() {
                drain_multipart(&mut multipart).await;
            }
            result
        }
        _ => Err(ApiError::unsupported_media(
            "Content-Type must be application/json, application/x-www-form-urlencoded or multipart/form-data",
        )),
    }
}

/// `Multipart` panics when polled again after reporting a malformed body (a missing boundary,
/// say); this ends the stream at its first error instead.
struct Parts {
    multipart: Multipart,
    failed: bool,
}

impl Parts {
    async fn next(
        &mut self,
    ) -> Option<Result<actix_multipart::Field, actix_multipart::MultipartError>> {
        if self.failed {
            return None;
        }
        let next = self.multipart.next().await;
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

async fn drain_multipart(multipart: &mut Parts) {
    let mut seen = 0u64;
    while let Some(Ok(mut field)) = multipart.next().await {
        while let Some(Ok(chunk)) = field.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_CAP_BYTES {
                return;
            }
        }
    }
}

fn multipart_error(e: actix_multipart::MultipartError) -> ApiError {
    ApiError::validation(format!("Malformed multipart body: {e}"))
}

/// The part's file name, which makes it a file: `filename*` (RFC 5987, preferred as RFC 6266
/// says) or `filename`. A part with only `filename*` is a file as much as one with `filename`.
fn file_name(cd: &header::ContentDisposition) -> Option<String> {
    if let Some(ext) = cd.get_filename_ext() {
        let name = match &ext.charset {
            header::Charset::Iso_8859_1 => ext.value.iter().map(|&b| char::from(b)).collect(),
            // UTF-8, and charsets we do not know: a name is for display only
            _ => String::from_utf8_lossy(&ext.value).into_owned(),
        };
        return Some(name);
    }
    cd.get_filename().map(str::to_owned)
}

async fn read_multipart(
    multipart: &mut Parts,
    storage: &Storage,
    file_rules: &[FileRule],
    max_parts: usize,
) -> Result<Form, ApiError> {
    let mut form = Form {
        fields: Map::new(),
        files: Vec::new(),
    };
    let mut parts = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        parts += 1;
        if parts > max_parts {
            return Err(ApiError::validation(format!(
                "Too many form fields (at most {max_parts})"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.content_disposition().and_then(file_name);
        match file_name {
            Some(file_name) => {
                let Some(rule) = file_rules.iter().find(|r| r.field == name) else {
                    // a file in a field we do not take: read past it
                    while let Some(chunk) = field.next().await {
                        chunk.map_err(multipart_error)?;
                    }
                    continue;
                };
                let received = storage
                    .receive(&mut field, Some(&file_name), rule.max_bytes)
                    .await;
                // one mapping of storage errors for every route (413, 400, or 500 logged)
                let upload = received.map_err(ApiError::from)?;
                // A browser form with no file chosen sends an empty, nameless part.
                if upload.size == 0 && file_name.is_empty() {
                    continue;
                }
                let count = form.files.iter().filter(|(f, _)| *f == rule.field).count();
                if count >= rule.max_count {
                    return Err(ApiError::validation(format!(
                        "At most {} {name} files are allowed",
                        rule.max_count
                    )));
                }
                form.files.push((rule.field, upload));
            }
            None => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(multipart_error)?;
                    if bytes.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                        return Err(ApiError::too_large(format!("Field {name} is too long")));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(bytes).map_err(|_| {
                    ApiError::validation(format!("Field {name} is not valid UTF-8"))
                })?;
                form.fields.insert(name, Value::String(text));
            }
        }
    }
    Ok(form)
}
