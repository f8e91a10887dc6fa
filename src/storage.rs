//! Uploads on disk: type judged by the bytes, random server-made names, written to a temporary
//! file and renamed into place only once complete, so no half-written file is ever served.

mod images;

pub use images::{ATTACHMENT_THUMB_SIDE, AVATAR_THUMB_SIDE, MAX_DECODED_PIXELS};

use crate::domain::validate::{is_bidi_control, is_forbidden_control};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use rand::RngCore;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("upload stream failed: {0}")]
    Stream(String),
    #[error("disk error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Avatars,
    Attachments,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Avatars => "avatars",
            Kind::Attachments => "attachments",
        }
    }
}

/// The image types avatars may have, recognised by their leading bytes.
pub fn sniff_image(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("png", "image/png"))
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(("gif", "image/gif"))
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(("webp", "image/webp"))
    } else {
        None
    }
}

/// A file received into the temporary area; removed from disk when dropped unless persisted.
#[derive(Debug)]
pub struct TempUpload {
    path: PathBuf,
    pub size: u64,
    pub head: Vec<u8>,
    /// The client's file name, cleaned for display only; never used as a path.
    pub display_name: String,
    persisted: bool,
}

impl Drop for TempUpload {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A stored file, deleted again on drop unless `keep()` is called (all-or-nothing with its row);
/// its thumbnail, when it has one of its own, goes with it.
#[derive(Debug)]
pub struct StoredFile {
    path: PathBuf,
    pub url: String,
    pub content_type: String,
    pub name: String,
    pub size: u64,
    /// An image's size in pixels as shown (after its EXIF orientation), when its header was read.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The thumbnail: the file's own URL when already small enough, `None` when none was made.
    pub thumb_url: Option<String>,
    /// The thumbnail's own file, when it is not the image itself.
    thumb_path: Option<PathBuf>,
    keep: bool,
}

impl StoredFile {
    pub fn keep(mut self) -> String {
        self.keep = true;
        std::mem::take(&mut self.url)
    }
}

impl Drop for StoredFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
            if let Some(thumb) = &self.thumb_path {
                let _ = std::fs::remove_file(thumb);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    /// Image decodes running at once (each may hold a large pixel buffer); see `images`.
    decode_slots: Arc<tokio::sync::Semaphore>,
}

fn random_name() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Keeps a file name readable but harmless: no path, no control characters, no bidirectional
/// controls, bounded length.
pub fn clean_display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|&c| !is_forbidden_control(c) && !is_bidi_control(c))
        .take(200)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    if trimmed.is_empty() {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

impl Storage {
    /// Creates the upload folders. What a crash left behind goes in [`Storage::sweep`], which
    /// needs the database.
    pub fn open(root: &Path) -> std::io::Result<Storage> {
        for dir in ["avatars", "attachments", "tmp"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Storage {
            root: root.to_path_buf(),
            decode_slots: Arc::new(tokio::sync::Semaphore::new(images::decode_slot_count())),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Streams one upload to a temporary file, refusing it past `limit` bytes.
    pub async fn receive<S, E>(
        &self,
        mut stream: S,
        client_name: Option<&str>,
        limit: u64,
    ) -> Result<TempUpload, StorageError>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self
            .root
            .join("tmp")
            .join(format!("{}.part", random_name()));
        let mut upload = TempUpload {
            path,
            size: 0,
            head: Vec::new(),
            display_name: clean_display_name(client_name.unwrap_or("")),
            persisted: false,
        };
        let mut file = tokio::fs::File::create(&upload.path).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StorageError::Stream(e.to_string()))?;
            upload.size += chunk.len() as u64;
            if upload.size > limit {
                return Err(StorageError::TooLarge { limit });
            }
            if upload.head.len() < 16 {
                let take = (16 - upload.head.len()).min(chunk.len());
                upload.head.extend_from_slice(&chunk[..take]);
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        // The bytes are on disk before anything refers to them.
        file.sync_all().await?;
        Ok(upload)
    }

    /// Moves a complete upload to its public place under a random name.
    pub async fn persist(
        &self,
        mut upload: TempUpload,
        kind: Kind,
        ext: &str,
        content_type: &str,
    ) -> Result<StoredFile, StorageError> {
        let file_name = format!("{}.{}", random_name(), ext);
        let path = self.root.join(kind.dir()).join(&file_name);
        tokio::fs::rename(&upload.path, &path).await?;
        upload.persisted = true;
        Ok(StoredFile {
            path,
            url: format!("/uploads/{}/{}", kind.dir(), file_name),
            content_type: content_type.to_owned(),
            name: std::mem::take(&mut upload.display_name),
            size: upload.size,
            width: None,
            height: None,
            thumb_url: None,
            thumb_path: None,
            keep: false,
        })
    }

    /// Deletes a stored file given its public URL; ignores URLs that are not ours.
    pub async fn delete_url(&self, url: &str) {
        if let Some(path) = self.path_for_url(url) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    /// Deletes a stored file and its thumbnail (`thumb_url` may be the file's own URL, or
    /// `None`): a deleted message's attachment, a replaced avatar. After its row is gone.
    pub async fn delete_with_thumbnail(&self, url: &str, thumb_url: Option<&str>) {
        self.delete_url(url).await;
        if let Some(thumb) = thumb_url.filter(|t| *t != url) {
            self.delete_url(thumb).await;
        }
    }

    /// [`Storage::delete_with_thumbnail`] for code already on the blocking pool (inside a
    /// `Db::run` closure, say).
    pub fn delete_with_thumbnail_blocking(&self, url: &str, thumb_url: Option<&str>) {
        for url in std::iter::once(url).chain(thumb_url) {
            if let Some(path) = self.path_for_url(url) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Maps `/uploads/<kind>/<name>` to a path, accepting only names this module makes.
    pub fn path_for_url(&self, url: &str) -> Option<PathBuf> {
        let rest = url.strip_prefix("/uploads/")?;
        let (dir, name) = rest.split_once('/')?;
        if dir != "avatars" && dir != "attachments" {
            return None;
        }
        let safe = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
            && !name.starts_with('.');
        safe.then(|| self.root.join(dir).join(name))
    }
}

/// What a start-up sweep deleted, and what it left because it was too recent to judge.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Files in avatars/ and attachments/ that no row refers to.
    pub orphans: usize,
    /// Leftovers of uploads that never completed, in tmp/.
    pub temporary: usize,
    /// Unreferenced or temporary files younger than the minimum age, left alone.
    pub too_recent: usize,
}

/// How many stored files are looked up in the database at once.
const SWEEP_BATCH: usize = 500;

/// Regular files in `dir` with whether each was last modified at least `min_age` ago.
fn files_with_age(dir: &Path, min_age: Duration) -> Vec<(PathBuf, String, bool)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "upload sweep: cannot list");
            return Vec::new();
        }
    };
    let now = SystemTime::now();
    entries
        .flatten()
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            if !meta.is_file() {
                return None;
            }
            // a modification time in the future counts as young
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= min_age);
            let name = entry.file_name().into_string().ok()?;
            Some((entry.path(), name, old))
        })
        .collect()
}

fn remove(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "upload sweep: cannot delete");
            false
        }
    }
}

impl Storage {
    /// Deletes what a crash or a lost commit left behind: files in avatars/ and attachments/
    /// whose URL `referenced` does not return (it gets the URLs in batches and answers those a
    /// row refers to), and everything in tmp/. Only files unmodified for `min_age`: a younger
    /// one may be an upload or a commit in progress on another node sharing this directory.
    /// Synchronous (directory walks and the lookups): run it on the blocking pool.
    pub fn sweep<E>(
        &self,
        min_age: Duration,
        mut referenced: impl FnMut(&[String]) -> Result<HashSet<String>, E>,
    ) -> Result<SweepReport, E> {
        let mut report = SweepReport::default();
        for (path, _, old) in files_with_age(&self.root.join("tmp"), min_age) {
            if !old {
                report.too_recent += 1;
            } else if remove(&path) {
                report.temporary += 1;
            }
        }
        for kind in [Kind::Avatars, Kind::Attachments] {
            let mut candidates = Vec::new();
            for (path, name, old) in files_with_age(&self.root.join(kind.dir()), min_age) {
                let url = format!("/uploads/{}/{}", kind.dir(), name);
                // only names this module makes: anything else someone put there is left alone
                if self.path_for_url(&url).is_none() {
                    continue;
                }
                candidates.push((url, path, old));
            }
            for batch in candidates.chunks(SWEEP_BATCH) {
                let urls: Vec<String> = batch.iter().map(|(url, _, _)| url.clone()).collect();
                let in_use = referenced(&urls)?;
                for (url, path, old) in batch {
                    if in_use.contains(url) {
                        continue;
                    }
                    if !old {
                        report.too_recent += 1;
                    } else if remove(path) {
                        report.orphans += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// The stored extension for a non-image attachment: from its name when harmless, else `bin`.
pub fn attachment_extension(display_name: &str) -> String {
    let ext = display_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext {
        Some(e)
            if !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            // a file that is not an image by its bytes never gets an image's extension
            let guessed = mime_guess::from_ext(&e).first_or_octet_stream();
            if guessed.type_() == mime::IMAGE {
                "bin".to_owned()
            } else {
                e
            }
        }
        _ => "bin".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_lose_bidi_controls_but_keep_joiners() {
        assert_eq!(clean_display_name("\u{202E}gnp.exe"), "gnp.exe");
        assert_eq!(
            clean_display_name(
                "\u{2066}a\u{2067}b\u{2068}c\u{2069}\u{202A}\u{202B}\u{202C}\u{202D}.txt"
            ),
            "abc.txt"
        );
        assert_eq!(clean_display_name("\u{202E}"), "file");
        assert_eq!(
            clean_display_name("👩\u{200D}💻\u{FE0F}.png"),
            "👩\u{200D}💻\u{FE0F}.png"
        );
        assert_eq!(clean_display_name("../../etc/passwd"), "passwd");
    }
}
