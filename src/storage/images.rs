//! Image dimensions and thumbnails, made at upload. The header is read without decoding; a
//! decode is bounded in pixels (a header declaring more is never decoded: decompression bombs),
//! in memory (`image::Limits`), and in how many run at once; it runs on the blocking pool, never
//! on an async worker, as it takes tens to hundreds of milliseconds of CPU.

use std::fs::File;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::{random_name, Storage, StorageError, StoredFile};

/// The longer side of an attachment's thumbnail, in pixels.
pub const ATTACHMENT_THUMB_SIDE: u32 = 320;
/// The longer side of an avatar's thumbnail, in pixels.
pub const AVATAR_THUMB_SIDE: u32 = 128;
/// An image whose header declares more pixels than this is never decoded.
pub const MAX_DECODED_PIXELS: u64 = 50_000_000;
/// What one decode may allocate: a 50-megapixel RGBA image (200 MB) fits, with room for the
/// decoder's own buffers; a 16-bit one that large does not, and gets no thumbnail.
const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;
/// How long an upload waits for a decode slot before it is stored without a thumbnail.
const DECODE_WAIT: Duration = Duration::from_secs(20);
const JPEG_QUALITY: u8 = 85;

/// Decodes at once: (cores - 1), at least one, so that a burst of photo uploads leaves a core
/// to the WebSocket workers and peak memory is a known multiple of [`MAX_DECODE_ALLOC`].
pub(super) fn decode_slot_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .saturating_sub(1)
        .max(1)
}

/// What the thumbnail is.
enum Thumb {
    /// The image is already small enough: it is its own thumbnail.
    Original,
    /// A new file with this extension.
    Encoded { bytes: Vec<u8>, ext: &'static str },
}

struct Inspected {
    width: u32,
    height: u32,
    thumb: Option<Thumb>,
}

/// Does an orientation swap width and height?
fn turns(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The size of the image at `path` and, when `decode` and it declares at most `max_pixels`, its
/// thumbnail. `None`: not even the header could be read.
fn inspect(path: &Path, max_side: u32, decode: bool, max_pixels: u64) -> Option<Inspected> {
    // at most the upload limit (10 MiB by default); the JPEG decoder reads it all anyway
    let bytes = std::fs::read(path).ok()?;
    let mut reader = ImageReader::new(Cursor::new(&bytes[..]))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits.clone());
    let format = reader.format()?;
    // reads the header only: no pixel is decoded yet
    let mut decoder = reader.into_decoder().ok()?;
    let (raw_width, raw_height) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let (width, height) = if turns(orientation) {
        (raw_height, raw_width)
    } else {
        (raw_width, raw_height)
    };
    let mut inspected = Inspected {
        width,
        height,
        thumb: None,
    };
    if !decode || u64::from(raw_width) * u64::from(raw_height) > max_pixels {
        return Some(inspected);
    }
    // the pixel buffer counts against the limit too (ImageReader::decode does the same)
    if limits.reserve(decoder.total_bytes()).is_err() {
        return Some(inspected);
    }
    if format == ImageFormat::Jpeg && !jpeg_is_complete(&bytes) {
        tracing::debug!("JPEG cut off before its end: no thumbnail");
        return Some(inspected);
    }
    // a truncated or corrupt file fails here and simply has no thumbnail
    let image = match DynamicImage::from_decoder(decoder) {
        Ok(image) => image,
        Err(e) => {
            tracing::debug!(error = %e, "image does not decode: no thumbnail");
            return Some(inspected);
        }
    };
    inspected.thumb = thumbnail(image, format, orientation, max_side);
    Some(inspected)
}

/// Whether a JPEG's markers run on to its end-of-image marker. The decoder is lenient (a cut-off
/// file decodes, its missing part grey), so a truncated file is told by this walk: segments are
/// skipped by their length, entropy-coded data up to the next marker that is not a stuffed byte
/// or a restart. Anything after the end marker (camera trailers) is not looked at.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        // junk between segments is tolerated, as the decoder does
        let Some(at) = bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        else {
            return false;
        };
        i += at;
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // markers without a length: TEM, RSTn (and a stray stuffed zero)
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(&[hi, lo]) = bytes.get(i..i + 2) else {
            return false;
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length < 2 {
            return false;
        }
        i += length;
        if marker != 0xDA {
            continue;
        }
        // start of scan: its entropy-coded data ends at the next real marker
        loop {
            let Some(at) = bytes
                .get(i..)
                .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
            else {
                return false;
            };
            i += at;
            match bytes.get(i + 1) {
                None => return false,
                Some(0x00 | 0xD0..=0xD7) => i += 2,
                Some(_) => break,
            }
        }
    }
}

/// At most `max_side` on the longer side, the aspect ratio kept, turned upright; JPEG for a
/// JPEG (photos), PNG for the others (keeps transparency; an animation's first frame).
fn thumbnail(
    image: DynamicImage,
    format: ImageFormat,
    orientation: Orientation,
    max_side: u32,
) -> Option<Thumb> {
    if image.width().max(image.height()) <= max_side {
        return Some(Thumb::Original);
    }
    // shrink first: turning the full-size image would copy all of it
    let mut small = image.thumbnail(max_side, max_side);
    drop(image);
    small.apply_orientation(orientation);
    let mut bytes = Vec::new();
    let encoded = if format == ImageFormat::Jpeg {
        let encoder = JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
        DynamicImage::ImageRgb8(small.to_rgb8())
            .write_with_encoder(encoder)
            .map(|()| "jpg")
    } else {
        let small = if small.color().has_alpha() {
            DynamicImage::ImageRgba8(small.to_rgba8())
        } else {
            DynamicImage::ImageRgb8(small.to_rgb8())
        };
        small
            .write_to(Cursor::new(&mut bytes), ImageFormat::Png)
            .map(|()| "png")
    };
    match encoded {
        Ok(ext) => Some(Thumb::Encoded { bytes, ext }),
        Err(e) => {
            tracing::warn!(error = %e, "could not encode a thumbnail");
            None
        }
    }
}

/// Writes a thumbnail beside its image under a random name: to tmp/ first, renamed into place
/// once complete, like every upload.
fn write_thumbnail(
    root: &Path,
    image_path: &Path,
    bytes: &[u8],
    ext: &str,
) -> std::io::Result<PathBuf> {
    let dir = image_path
        .parent()
        .ok_or_else(|| std::io::Error::other("a stored file has no folder"))?;
    let part = root.join("tmp").join(format!("{}.part", random_name()));
    let written = (|| {
        let mut file = File::create(&part)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    let path = dir.join(format!("{}.{ext}", random_name()));
    match written.and_then(|()| std::fs::rename(&part, &path)) {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Fills in the image fields of `file` (just stored) and writes its thumbnail.
fn describe(
    root: &Path,
    mut file: StoredFile,
    max_side: u32,
    decode: bool,
) -> Result<StoredFile, StorageError> {
    let Some(inspected) = inspect(&file.path, max_side, decode, MAX_DECODED_PIXELS) else {
        return Ok(file);
    };
    file.width = Some(inspected.width);
    file.height = Some(inspected.height);
    match inspected.thumb {
        None => {}
        Some(Thumb::Original) => file.thumb_url = Some(file.url.clone()),
        Some(Thumb::Encoded { bytes, ext }) => {
            let path = write_thumbnail(root, &file.path, &bytes, ext)?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            // beside the image: same folder, so the same URL prefix
            let prefix = file.url.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            file.thumb_url = Some(format!("{prefix}/{name}"));
            file.thumb_path = Some(path);
        }
    }
    Ok(file)
}

impl Storage {
    /// Reads the size of a stored image (png, jpeg, gif or webp by its bytes) and makes its
    /// thumbnail, at most `max_side` pixels on the longer side. An image that does not decode,
    /// or declares more than [`MAX_DECODED_PIXELS`], is kept without a thumbnail. The file moves
    /// into the blocking task and back: if this future is dropped, the task's result (file and
    /// thumbnail) is dropped with it, which deletes both.
    pub async fn describe_image(
        &self,
        file: StoredFile,
        max_side: u32,
    ) -> Result<StoredFile, StorageError> {
        let slot = tokio::time::timeout(DECODE_WAIT, self.decode_slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(|permit| permit.ok());
        if slot.is_none() {
            tracing::warn!("image decodes saturated: storing an image without a thumbnail");
        }
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let decode = slot.is_some();
            let described = describe(&root, file, max_side, decode);
            drop(slot);
            described
        })
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 3) as u8, (x ^ y) as u8])
        });
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        bytes
    }

    #[test]
    fn a_jpeg_is_complete_only_up_to_its_end_marker() {
        let whole = jpeg(64, 48);
        assert!(jpeg_is_complete(&whole));
        let mut trailer = whole.clone();
        trailer.extend_from_slice(b"camera trailer \xFF\x00 junk");
        assert!(jpeg_is_complete(&trailer));
        for cut in [whole.len() - 1, whole.len() - 2, whole.len() / 2, 20, 3] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
        }
    }

    /// The pixel cap is what keeps a decode from starting (at the real cap a bomb's body would
    /// not decode either, so this uses a lower one on a valid image).
    #[test]
    fn an_image_over_the_pixel_cap_is_measured_but_not_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, jpeg(100, 50)).unwrap();
        let under = inspect(&path, 320, true, 5_000).unwrap();
        assert!(matches!(under.thumb, Some(Thumb::Original)));
        let over = inspect(&path, 320, true, 4_999).unwrap();
        assert_eq!((over.width, over.height), (100, 50));
        assert!(over.thumb.is_none());
        let encoded = inspect(&path, 40, true, 5_000).unwrap();
        let Some(Thumb::Encoded { bytes, ext }) = encoded.thumb else {
            panic!("a thumbnail")
        };
        assert_eq!(ext, "jpg");
        let thumb = image::load_from_memory(&bytes).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (40, 20));
    }

    #[test]
    fn a_quarter_turn_swaps_the_sides() {
        assert!(turns(Orientation::Rotate90));
        assert!(turns(Orientation::Rotate270FlipH));
        assert!(!turns(Orientation::Rotate180));
        assert!(!turns(Orientation::NoTransforms));
    }
}
