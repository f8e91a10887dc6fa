//! What one image upload costs the server: a 12-megapixel JPEG (4000 x 3000, photo-like
//! noise) goes through the same storage calls as an attachment (`receive`, `persist`,
//! `describe_image`: header read, decode, 320 px thumbnail), and the wall time and the peak
//! resident memory of that step are printed. Linux only (peak RSS from /proc).
//!
//! `cargo run --release --example image_cost [width height [runs]]`; with `IMAGE_COST_OUT=path`
//! it only writes the generated JPEG there (to upload it to a real server with curl).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::time::Instant;

use chat_server::storage::{Kind, Storage, ATTACHMENT_THUMB_SIDE};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// Resets the peak RSS (VmHWM) to the current RSS.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn photo_like(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let image = RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed & 0x1f) as u32;
        Rgb([
            ((x * 255 / width + noise) % 256) as u8,
            ((y * 255 / height + noise) % 256) as u8,
            (((x + y) / 16 + noise) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_to(Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .unwrap();
    bytes
}

#[tokio::main]
async fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (width, height) = match args[..] {
        [w, h, ..] => (w, h),
        _ => (4000, 3000),
    };
    let runs = args.get(2).copied().unwrap_or(5);
    let jpeg = bytes::Bytes::from(photo_like(width, height));
    if let Ok(out) = std::env::var("IMAGE_COST_OUT") {
        std::fs::write(&out, &jpeg).unwrap();
        println!("wrote {} bytes to {out}", jpeg.len());
        return;
    }
    println!(
        "{width}x{height} JPEG ({:.1} MP), {} bytes",
        f64::from(width) * f64::from(height) / 1e6,
        jpeg.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    for run in 1..=runs {
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(jpeg.clone())]);
        reset_peak();
        let before = status_kib("VmRSS:");
        let started = Instant::now();
        let upload = storage
            .receive(stream, Some("photo.jpg"), u64::MAX)
            .await
            .unwrap();
        let received = started.elapsed();
        let stored = storage
            .persist(upload, Kind::Attachments, "jpg", "image/jpeg")
            .await
            .unwrap();
        let stored = storage
            .describe_image(stored, ATTACHMENT_THUMB_SIDE)
            .await
            .unwrap();
        let total = started.elapsed();
        let peak = status_kib("VmHWM:");
        println!(
            "run {run}: {:.0} ms total ({:.0} ms receive + fsync, {:.0} ms header, decode, \
             thumbnail); peak RSS {:.1} MiB above the {:.1} MiB before; {}x{} thumb {}",
            total.as_secs_f64() * 1e3,
            received.as_secs_f64() * 1e3,
            (total - received).as_secs_f64() * 1e3,
            (peak.saturating_sub(before)) as f64 / 1024.0,
            before as f64 / 1024.0,
            stored.width.unwrap_or(0),
            stored.height.unwrap_or(0),
            stored.thumb_url.as_deref().unwrap_or("none"),
        );
        // dropped: the file and its thumbnail are deleted
    }
}
