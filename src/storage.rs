//! Uploads on disk: type judged by the bytes, random server-made names, written to a temporary
//! file and renamed into place only once complete, so no half-written file is ever served.

use std::path::{Path, PathBuf};

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

/// A stored file, deleted again on drop unless `keep()` is called (all-or-nothing with its row).
#[derive(Debug)]
pub struct StoredFile {
    path: PathBuf,
    pub url: String,
    pub content_type: String,
    pub name: String,
    pub size: u64,
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
        }
    }
}

#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

fn random_name() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Keeps a file name readable but harmless: no path, no control characters, bounded length.
pub fn clean_display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '\u{2028}' && *c != '\u{2029}')
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
    /// Creates the upload folders and clears temporary files a crash may have left.
    pub fn open(root: &Path) -> std::io::Result<Storage> {
        for dir in ["avatars", "attachments", "tmp"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        for entry in std::fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(Storage {
            root: root.to_path_buf(),
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
            keep: false,
        })
    }

    /// Deletes a stored file given its public URL; ignores URLs that are not ours.
    pub async fn delete_url(&self, url: &str) {
        if let Some(path) = self.path_for_url(url) {
            let _ = tokio::fs::remove_file(path).await;
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
