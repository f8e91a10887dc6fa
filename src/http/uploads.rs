//! Serves stored avatars and attachments: never sniffed, inline only for the images we accept.

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::schemas::ErrorResponse;
use crate::http::error::ApiError;
use crate::http::state::AppState;

const INLINE_EXTENSIONS: [&str; 4] = ["png", "jpg", "gif", "webp"];

/// RFC 5987 `attr-char`: what `filename*` carries as is; every other byte is percent-encoded.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

/// The `filename` fallback for clients without `filename*`: printable ASCII, and nothing that
/// a careless parser could read as the end of the value or as an escape.
fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%' | ',')) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `attachment` or `inline`, with `name` as the file name (RFC 6266): an ASCII `filename`
/// fallback, then `filename*=UTF-8''...` for clients that read it (they prefer it).
pub fn content_disposition(inline: bool, name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if is_attr_char(b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{encoded}",
        ascii_fallback(name)
    )
}

#[utoipa::path(get, path = "/uploads/{kind}/{name}", tag = "service", params(("kind" = String, Path, description = "avatars or attachments"), ("name" = String, Path)), responses((status = 200, description = "The file, typed by its extension; nosniff, inline only for png/jpeg/gif/webp; an attachment is `Cache-Control: private` and downloads under its own name", content_type = "*/*"), (status = 404, description = "Not found", body = ErrorResponse)))]
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
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let inline = INLINE_EXTENSIONS.contains(&ext);
    // An attachment is served under the name its row gives it; a file no row refers to (an
    // orphan, or one whose message is not committed) is not served at all.
    let (file_name, cache_control) = if kind == "attachments" {
        let lookup = url.clone();
        let (file_name, _) = state
            .chat
            .attachment_by_url(lookup)
            .await?
            .ok_or_else(|| ApiError::not_found("File not found"))?;
        // private: a message's files must not sit in shared caches
        (file_name, "private")
    } else {
        (name.clone(), "public, max-age=31536000, immutable")
    };
    let file = NamedFile::open_async(&file_path)
        .await
        .map_err(|_| ApiError::not_found("File not found"))?;
    let mut response = file.disable_content_disposition().into_response(&req);
    let headers = response.headers_mut();
    let disposition = HeaderValue::from_str(&content_disposition(inline, &file_name))
        .map_err(|_| ApiError::internal())?;
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_encodes_names_safely() {
        assert_eq!(
            content_disposition(false, "report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition(true, "été 2026.png"),
            "inline; filename=\"_t_ 2026.png\"; filename*=UTF-8''%C3%A9t%C3%A9%202026.png"
        );
        assert_eq!(
            content_disposition(false, "a\"b;c\\d%e,f.txt"),
            "attachment; filename=\"a_b_c_d_e_f.txt\"; filename*=UTF-8''a%22b%3Bc%5Cd%25e%2Cf.txt"
        );
    }
}
