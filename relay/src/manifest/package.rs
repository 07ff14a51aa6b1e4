//! The app package: a zip with `manifest.json` and the two icons at its
//! root (Teams rejects packages whose files sit in a folder).

use std::io::{Cursor, Write};
use std::path::Path;

use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::icons;

/// The manifest's file name in the package.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Why the package could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// An icon could not be encoded.
    #[error("cannot encode an icon: {0}")]
    Png(#[from] png::EncodingError),
    /// The zip could not be written.
    #[error("cannot build the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing into the in-memory zip failed.
    #[error("cannot build the zip: {0}")]
    Io(#[from] std::io::Error),
}

/// The package's bytes: `manifest.json` (pretty-printed), `color.png` and
/// `outline.png`, deflated, at the root. Entries carry a fixed date
/// (1980-01-01, the zip epoch), so the same config gives the same bytes.
pub fn build(manifest: &Value) -> Result<Vec<u8>, PackageError> {
    let mut json = serde_json::to_vec_pretty(manifest).expect("a JSON value serialises");
    json.push(b'\n');
    let files: [(&str, Vec<u8>); 3] = [
        (MANIFEST_FILE, json),
        (icons::COLOR_FILE, icons::color_png()?),
        (icons::OUTLINE_FILE, icons::outline_png()?),
    ];
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in &files {
        zip.start_file(*name, options)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Writes `bytes` to `path` through a temporary file next to it, so a
/// failed run never leaves half a package behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn three_files_at_the_root_and_reproducible() {
        let manifest = serde_json::json!({ "id": "x" });
        let bytes = build(&manifest).unwrap();
        assert_eq!(bytes, build(&manifest).unwrap());
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = zip.file_names().map(str::to_string).collect();
        names.sort();
        assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);
        let mut text = String::new();
        zip.by_name("manifest.json")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), manifest);
    }

    #[test]
    fn write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.zip");
        write_file(&out, b"one").unwrap();
        write_file(&out, b"two").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/app.zip");
        assert!(write_file(&missing, b"x").is_err());
    }
}
