//! Image attachments and avatars: dimensions from the header, thumbnails made at upload (and
//! checked by decoding them), images never decoded (too large, broken), and thumbnails that
//! come and go with their files.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::Value;

use crate::helpers::*;

/// An image of `width` x `height` with a gradient (so that encoders have something to do).
fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    // the WebP encoder is lossless and takes RGBA; GIF takes RGBA too
    let image = match format {
        ImageFormat::WebP | ImageFormat::Gif => DynamicImage::ImageRgba8(image.to_rgba8()),
        _ => image.clone(),
    };
    image.write_to(Cursor::new(&mut bytes), format).unwrap();
    bytes
}

async fn post_files(
    app: &TestApp,
    token: &str,
    thread: i64,
    files: &[(&str, Vec<u8>)],
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "attachments",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    let res = app
        .client
        .post(app.url(&format!("/threads/{thread}/messages")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    read(res).await
}

async fn download(
    app: &TestApp,
    token: &str,
    url: &str,
) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let res = app
        .client
        .get(app.url(url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.bytes().await.unwrap().to_vec(), headers)
}

fn files_in(dir: impl AsRef<Path>) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn on_disk(app: &TestApp, url: &str) -> bool {
    app.data_dir
        .path()
        .join("uploads")
        .join(url.strip_prefix("/uploads/").unwrap())
        .exists()
}

async fn two_users(app: &TestApp, tag: &str) -> (TestUser, i64) {
    let alice = app.register(&format!("alice_{tag}")).await;
    let bob = app.register(&format!("bobby_{tag}")).await;
    let thread = app.direct(&alice, &bob).await;
    (alice, thread)
}

/// Each accepted format: exact dimensions, a thumbnail of at most 320 px on the longer side
/// with the aspect ratio kept, served inline with nosniff; JPEG stays JPEG, the others become
/// PNG. The thumbnail is the same in history as in the send's answer.
#[tokio::test]
async fn each_format_gets_its_dimensions_and_a_thumbnail() {
    let app = spawn_app().await;
    let (alice, thread) = two_users(&app, "formats").await;
    let cases = [
        (
            ImageFormat::Png,
            "wide.png",
            1000,
            500,
            (320, 160),
            ImageFormat::Png,
        ),
        (
            ImageFormat::Jpeg,
            "tall.jpg",
            480,
            960,
            (160, 320),
            ImageFormat::Jpeg,
        ),
        (
            ImageFormat::Gif,
            "anim.gif",
            640,
            400,
            (320, 200),
            ImageFormat::Png,
        ),
        (
            ImageFormat::WebP,
            "pic.webp",
            700,
            700,
            (320, 320),
            ImageFormat::Png,
        ),
    ];
    for (format, name, width, height, (tw, th), thumb_format) in cases {
        let bytes = encode(&picture(width, height), format);
        let (status, body) = post_files(&app, &alice.token, thread, &[(name, bytes)]).await;
        assert_eq!(status, 201, "{name}: {body}");
        let file = &body["message"]["attachments"][0];
        assert_eq!(file["width"], width, "{name}: {file}");
        assert_eq!(file["height"], height, "{name}: {file}");
        let url = file["url"].as_str().unwrap();
        let thumb_url = file["thumbUrl"].as_str().expect("a thumbnail");
        assert_ne!(
            thumb_url, url,
            "{name}: a large image gets a thumbnail of its own"
        );
        assert!(
            thumb_url.starts_with("/uploads/attachments/"),
            "{thumb_url}"
        );
        let (status, thumb, headers) = download(&app, &alice.token, thumb_url).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("inline"),
            "{name}: {:?}",
            headers["content-disposition"]
        );
        assert_eq!(image::guess_format(&thumb).unwrap(), thumb_format, "{name}");
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (tw, th), "{name}");
    }
    let (status, body) = app
        .get_as(&alice.token, &format!("/threads/{thread}/messages"))
        .await;
    assert_eq!(status, 200, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    for m in messages {
        let file = &m["attachments"][0];
        assert!(file["thumbUrl"].is_string(), "{file}");
        assert!(file["width"].is_u64(), "{file}");
    }
}

/// An image already within 320 px is its own thumbnail; a file that is not an image has null
/// dimensions and thumbnail.
#[tokio::test]
async fn a_small_image_is_its_own_thumbnail_and_other_files_have_none() {
    let app = spawn_app().await;
    let (alice, thread) = two_users(&app, "small").await;
    let transparent = DynamicImage::ImageRgba8(RgbaImage::from_pixel(320, 10, Rgba([1, 2, 3, 0])));
    let (status, body) = post_files(
        &app,
        &alice.token,
        thread,
        &[
            ("strip.png", encode(&transparent, ImageFormat::Png)),
            ("notes.txt", b"just text".to_vec()),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let files = body["message"]["attachments"].as_array().unwrap();
    assert_eq!(files[0]["width"], 320);
    assert_eq!(files[0]["height"], 10);
    assert_eq!(files[0]["thumbUrl"], files[0]["url"]);
    assert_eq!(files[1]["width"], Value::Null);
    assert_eq!(files[1]["height"], Value::Null);
    assert_eq!(files[1]["thumbUrl"], Value::Null);
    // exactly the two files, no thumbnail of their own
    assert_eq!(
        files_in(app.data_dir.path().join("uploads/attachments")).len(),
        2
    );
}

/// A PNG whose header declares 8000 x 7500 (60 megapixels) over a few bytes of body: its
/// declared size is answered, and it is never decoded (no thumbnail; the decoder would have
/// had to allocate 180 MB for it).
#[tokio::test]
async fn a_declared_sixty_megapixel_image_is_never_decoded() {
    let app = spawn_app().await;
    let (alice, thread) = two_users(&app, "bomb").await;
    let (status, body) = post_files(
        &app,
        &alice.token,
        thread,
        &[("bomb.png", bomb_png(8000, 7500))],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let file = &body["message"]["attachments"][0];
    assert_eq!(file["width"], 8000, "{file}");
    assert_eq!(file["height"], 7500, "{file}");
    assert_eq!(file["contentType"], "image/png");
    assert_eq!(file["thumbUrl"], Value::Null);
    let (status, _, _) = download(&app, &alice.token, file["url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "the file itself is stored");
}

/// A PNG: signature, an IHDR chunk declaring the size (8-bit RGB), one small IDAT, IEND.
fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // the start of a zlib stream of zeros: what a bomb's few kilobytes would continue
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An image cut off halfway is stored (its header gives its size) without a thumbnail.
#[tokio::test]
async fn a_truncated_image_is_stored_without_a_thumbnail() {
    let app = spawn_app().await;
    let (alice, thread) = two_users(&app, "trunc").await;
    let cases = [
        ("cut.jpg", ImageFormat::Jpeg),
        ("cut.png", ImageFormat::Png),
        ("cut.gif", ImageFormat::Gif),
        ("cut.webp", ImageFormat::WebP),
    ];
    for (name, format) in cases {
        let mut bytes = encode(&picture(800, 600), format);
        bytes.truncate(bytes.len() / 2);
        let size = bytes.len();
        let (status, body) = post_files(&app, &alice.token, thread, &[(name, bytes)]).await;
        assert_eq!(status, 201, "{name}: {body}");
        let file = &body["message"]["attachments"][0];
        assert_eq!(file["size"], size, "{name}");
        assert_eq!(file["width"], 800, "{name}: {file}");
        assert_eq!(file["height"], 600, "{name}: {file}");
        assert_eq!(file["thumbUrl"], Value::Null, "{name}");
        let (status, stored, _) = download(&app, &alice.token, file["url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(stored.len(), size);
    }
    // nothing but the four files
    assert_eq!(
        files_in(app.data_dir.path().join("uploads/attachments")).len(),
        4
    );
}

/// One file over the size limit beside an image: the send is refused, and neither the image
/// nor a thumbnail of it stays on disk.
#[tokio::test]
async fn a_refused_upload_leaves_no_image_or_thumbnail() {
    let app = spawn_app_with(|c| c.max_attachment_bytes = 64 * 1024).await;
    let (alice, thread) = two_users(&app, "refused").await;
    let photo = encode(&picture(400, 300), ImageFormat::Jpeg);
    assert!(photo.len() < 64 * 1024);
    let (status, body) = post_files(
        &app,
        &alice.token,
        thread,
        &[("photo.jpg", photo), ("big.bin", vec![1u8; 65 * 1024])],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(files_in(app.data_dir.path().join("uploads/attachments")).is_empty());
    assert!(files_in(app.data_dir.path().join("uploads/tmp")).is_empty());
    // a non-member's send with an image: refused, nothing stored either
    let eve = app.register("eve_refused").await;
    let photo = encode(&picture(400, 300), ImageFormat::Png);
    let (status, _) = post_files(&app, &eve.token, thread, &[("p.png", photo)]).await;
    assert_eq!(status, 403);
    assert!(files_in(app.data_dir.path().join("uploads/attachments")).is_empty());
}

async fn register_with_avatar(app: &TestApp, user_name: &str, avatar: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new()
        .text("nickName", "Pictured")
        .text("userName", user_name.to_owned())
        .text("password", PASSWORD)
        .text("confirmPassword", PASSWORD)
        .part(
            "avatar",
            reqwest::multipart::Part::bytes(avatar).file_name("me.png"),
        );
    let (status, body) = read(
        app.client
            .post(app.url("/auth/register"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An avatar gets a 128 px thumbnail at registration; a new avatar replaces it, and the old
/// avatar's file and thumbnail are deleted. A user without an avatar has a null thumbnail.
#[tokio::test]
async fn avatars_get_a_thumbnail_replaced_with_them() {
    let app = spawn_app().await;
    let body = register_with_avatar(
        &app,
        "pictured1",
        encode(&picture(600, 300), ImageFormat::Png),
    )
    .await;
    let token = body["accessToken"].as_str().unwrap().to_owned();
    let user = &body["user"];
    let old_avatar = user["avatarUrl"].as_str().unwrap().to_owned();
    let old_thumb = user["avatarThumbUrl"]
        .as_str()
        .expect("a thumbnail")
        .to_owned();
    assert_ne!(old_thumb, old_avatar);
    assert!(old_thumb.starts_with("/uploads/avatars/"), "{old_thumb}");
    let (status, thumb, _) = download(&app, &token, &old_thumb).await;
    assert_eq!(status, 200);
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (128, 64));

    let id = user["id"].as_i64().unwrap();
    let (status, me) = app.get_as(&token, &format!("/users/{id}")).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["avatarThumbUrl"], old_thumb.as_str());

    let form = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(encode(&picture(200, 400), ImageFormat::Jpeg))
            .file_name("new.jpg"),
    );
    let (status, body) = read(
        app.client
            .patch(app.url("/users/me"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new_thumb = body["user"]["avatarThumbUrl"].as_str().unwrap();
    let (_, thumb, _) = download(&app, &token, new_thumb).await;
    assert_eq!(image::guess_format(&thumb).unwrap(), ImageFormat::Jpeg);
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 128));
    assert!(!on_disk(&app, &old_avatar), "the old avatar is deleted");
    assert!(
        !on_disk(&app, &old_thumb),
        "the old avatar's thumbnail is deleted"
    );
    assert_eq!(
        files_in(app.data_dir.path().join("uploads/avatars")).len(),
        2
    );

    let plain = app.register("plain_face").await;
    let (_, me) = app
        .get_as(&plain.token, &format!("/users/{}", plain.id))
        .await;
    assert_eq!(me["user"]["avatarUrl"], Value::Null);
    assert_eq!(me["user"]["avatarThumbUrl"], Value::Null);
}

/// A thumbnail is referenced like its file: the start-up sweep keeps it, and sweeps one that no
/// row names any more.
#[tokio::test]
async fn the_sweep_keeps_referenced_thumbnails_and_removes_orphan_ones() {
    let app = spawn_app().await;
    let (alice, thread) = two_users(&app, "sweep").await;
    let (status, body) = post_files(
        &app,
        &alice.token,
        thread,
        &[("big.png", encode(&picture(900, 900), ImageFormat::Png))],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let thumb_url = body["message"]["attachments"][0]["thumbUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let uploads = app.data_dir.path().join("uploads");
    let orphan = uploads.join("attachments/00000000000000000000000000000001.png");
    std::fs::write(&orphan, encode(&picture(32, 32), ImageFormat::Png)).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for path in [
        orphan.clone(),
        uploads.join(thumb_url.strip_prefix("/uploads/").unwrap()),
    ] {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(old).unwrap();
    }
    let app = restart(app, |c| c.upload_sweep_min_age_secs = 3600).await;
    assert!(!orphan.exists(), "an orphan thumbnail is swept");
    assert!(on_disk(&app, &thumb_url), "a referenced thumbnail stays");
    let (status, _, _) = download(&app, &alice.token, &thumb_url).await;
    assert_eq!(status, 200);
}

/// The fields are in the API description.
#[tokio::test]
async fn openapi_describes_the_image_fields() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let (status, doc) = read(res).await;
    assert_eq!(status, 200);
    let schemas = &doc["components"]["schemas"];
    for field in ["width", "height", "thumbUrl"] {
        assert!(
            schemas["Attachment"]["properties"][field].is_object(),
            "Attachment.{field}"
        );
    }
    assert!(schemas["User"]["properties"]["avatarThumbUrl"].is_object());
}

/// The migration adding the image columns goes down (every column and index gone) and up
/// again, on the backend the suite runs on. Later migrations are reverted first and reapplied.
#[test]
fn the_image_migration_goes_down_and_up_again() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;

    /// `migrations` makes the (not `Clone`) migration source each harness call consumes.
    fn round_trip<C>(conn: &mut C, migrations: fn() -> diesel_migrations::EmbeddedMigrations)
    where
        C: MigrationHarness<C::Backend> + SimpleConnection + Connection,
    {
        const VERSION: &str = "20261201162000";
        let columns = "SELECT width, height, thumb_url FROM attachments; \
                       SELECT avatar_thumb_url FROM users;";
        conn.run_pending_migrations(migrations()).unwrap();
        conn.batch_execute(columns).unwrap();
        while conn
            .applied_migrations()
            .unwrap()
            .iter()
            .any(|v| v.to_string() == VERSION)
        {
            conn.revert_last_migration(migrations()).unwrap();
        }
        assert!(conn.batch_execute(columns).is_err(), "columns dropped");
        conn.run_pending_migrations(migrations()).unwrap();
        conn.batch_execute(columns).unwrap();
    }

    match fresh_database_url() {
        Some(url) => round_trip(&mut diesel::PgConnection::establish(&url).unwrap(), || {
            chat_server::db::POSTGRES_MIGRATIONS
        }),
        None => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.db");
            round_trip(
                &mut diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap(),
                || chat_server::db::SQLITE_MIGRATIONS,
            )
        }
    }
}

/// Deleting a message takes its images and their thumbnails off the disk, and both URLs
/// answer 404.
#[tokio::test]
async fn a_deleted_message_takes_its_thumbnails_with_it() {
    let app = spawn_app().await;
    let (alice, thread) = two_users(&app, "delthumb").await;
    let big = encode(&picture(800, 600), ImageFormat::Png);
    let (status, body) = post_files(&app, &alice.token, thread, &[("big.png", big)]).await;
    assert_eq!(status, 201, "{body}");
    let attachment = body["message"]["attachments"][0].clone();
    let url = attachment["url"].as_str().unwrap().to_owned();
    let thumb = attachment["thumbUrl"].as_str().unwrap().to_owned();
    assert_ne!(url, thumb);
    assert!(on_disk(&app, &url) && on_disk(&app, &thumb));
    let id = body["message"]["id"].as_i64().unwrap();
    let (status, _) = app
        .delete_as(&alice.token, &format!("/threads/{thread}/messages/{id}"))
        .await;
    assert_eq!(status, 200);
    for _ in 0..100 {
        if !on_disk(&app, &url) && !on_disk(&app, &thumb) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!on_disk(&app, &url), "the image is still on disk");
    assert!(!on_disk(&app, &thumb), "the thumbnail is still on disk");
    for gone in [&url, &thumb] {
        let (status, _, _) = download(&app, &alice.token, gone).await;
        assert_eq!(status, 404, "{gone}");
    }
}
