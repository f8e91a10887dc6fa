//! Serves stored avatars and attachments: never sniffed, inline only for the images we accept.

use actix_files::NamedFile;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};

use super::schemas::ErrorResponse;
use crate::error::ApiError;
use crate::state::AppState;

const INLINE_EXTENSIONS: [&str; 4] = ["png", "jpg", "gif", "webp"];

#[utoipa::path(get, path = "/uploads/{kind}/{name}", tag = "service", params(("kind" = String, Path, description = "avatars or attachments"), ("name" = String, Path)), responses((status = 200, description = "The file, typed by its extension; nosniff, inline only for png/jpeg/gif/webp", content_type = "*/*"), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn serve(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (kind, name) = path.into_inner();
    let url = format!("/uploads/{kind}/{name}");
    let file_path = state
        .storage
        .path_for_url(&url)
        .ok_or_else(|| ApiError::not_found("File not found"))?;
    let file = NamedFile::open_async(&file_path)
        .await
        .map_err(|_| ApiError::not_found("File not found"))?;
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let disposition = if INLINE_EXTENSIONS.contains(&ext) {
        DispositionType::Inline
    } else {
        DispositionType::Attachment
    };
    let mut response = file
        .set_content_disposition(ContentDisposition {
            disposition,
            parameters: vec![DispositionParam::Filename(name.clone())],
        })
        .into_response(&req);
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
