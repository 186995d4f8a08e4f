//! The kernel modules inside a (verified) RPM, read from its payload with the `rpm` crate.
//!
//! The package file is the one `repo` downloaded and verified (its sha256 against the signed
//! metadata, its header signature, and its payload digest), so what is read here is what the
//! package manager will install. Only the module files are kept, one at a time, each bounded.

use crate::bounds;
use anyhow::{Context, Result, bail};
use rpm::{FileType, PackageReader};
use std::io::Read;
use std::path::Path;

/// Larger than any module: drbd.ko is about 1.5 MB, an unstripped debug build of a large
/// driver some tens of MB.
pub const MODULE_LIMIT: u64 = 256 * 1024 * 1024;
/// A module package with more module files than this is not a DRBD package.
const MAX_MODULES: usize = 256;

/// One kernel module file of a package, decompressed.
#[derive(Debug, Clone)]
pub struct ModuleFile {
    /// Its path on the host (`/lib/modules/<kernel>/extra/drbd/drbd.ko`).
    pub path: String,
    pub bytes: Vec<u8>,
}

/// How a module file is compressed, by its name (kmod and the kernel decompress `.ko.xz`,
/// `.ko.zst` and `.ko.gz` before checking the signature inside).
fn compression(path: &str) -> Option<Option<&'static str>> {
    if path.ends_with(".ko") {
        Some(None)
    } else if path.ends_with(".ko.xz") {
        Some(Some("xz"))
    } else if path.ends_with(".ko.zst") {
        Some(Some("zst"))
    } else if path.ends_with(".ko.gz") {
        Some(Some("gz"))
    } else {
        None
    }
}

/// Every regular file of the package at `package` whose name is a kernel module's.
pub fn kernel_modules(package: &Path) -> Result<Vec<ModuleFile>> {
    let mut reader = PackageReader::open(package)
        .with_context(|| format!("cannot read the payload of {}", package.display()))?;
    let mut modules = Vec::new();
    while let Some(mut file) = reader
        .next_file()
        .with_context(|| format!("cannot read the payload of {}", package.display()))?
    {
        let path = file.metadata.path().to_string_lossy().into_owned();
        let Some(compressed) = compression(&path) else {
            continue;
        };
        if file.metadata.file_type() != FileType::Regular || !file.has_payload() {
            continue;
        }
        if modules.len() == MAX_MODULES {
            bail!("{} has more than {MAX_MODULES} kernel modules", package.display());
        }
        let raw = read_bounded(&mut file, &path)?;
        file.finish()
            .with_context(|| format!("cannot read {path} from {}", package.display()))?;
        let bytes = match compressed {
            None => raw,
            Some(kind) => decompress(kind, &raw, &path)?,
        };
        modules.push(ModuleFile { path, bytes });
    }
    Ok(modules)
}

fn read_bounded(reader: impl Read, path: &str) -> Result<Vec<u8>> {
    match bounds::read_capped(reader, MODULE_LIMIT).with_context(|| format!("cannot read {path}"))? {
        Ok(bytes) => Ok(bytes),
        Err(bounds::Exceeded) => bail!(
            "{path} is larger than {}: not a kernel module the agent checks",
            bounds::show_size(MODULE_LIMIT)
        ),
    }
}

fn decompress(kind: &str, raw: &[u8], path: &str) -> Result<Vec<u8>> {
    let what = || format!("cannot decompress {path} ({kind})");
    match kind {
        "xz" => read_bounded(liblzma::read::XzDecoder::new(raw), path).with_context(what),
        "zst" => read_bounded(zstd::stream::read::Decoder::new(raw).with_context(what)?, path),
        _ => read_bounded(flate2::read::GzDecoder::new(raw), path).with_context(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_and_their_compression() {
        assert_eq!(compression("/lib/modules/k/extra/drbd/drbd.ko"), Some(None));
        assert_eq!(compression("/lib/modules/k/extra/drbd.ko.xz"), Some(Some("xz")));
        assert_eq!(compression("/lib/modules/k/extra/drbd.ko.zst"), Some(Some("zst")));
        assert_eq!(compression("/lib/modules/k/extra/drbd.ko.gz"), Some(Some("gz")));
        assert_eq!(compression("/usr/share/doc/drbd.kobold"), None);
        assert_eq!(compression("/etc/depmod.d/drbd.conf"), None);
    }

    #[test]
    fn compressed_modules_decompress_and_garbage_is_an_error() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"module bytes").unwrap();
        assert_eq!(
            decompress("gz", &gz.finish().unwrap(), "m.ko.gz").unwrap(),
            b"module bytes"
        );
        let zst = zstd::encode_all(&b"module bytes"[..], 1).unwrap();
        assert_eq!(decompress("zst", &zst, "m.ko.zst").unwrap(), b"module bytes");
        for kind in ["xz", "zst", "gz"] {
            assert!(decompress(kind, b"not compressed", "m.ko").is_err(), "{kind}");
        }
    }

    #[test]
    fn a_file_that_is_not_an_rpm_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.rpm");
        std::fs::write(&path, b"not an rpm").unwrap();
        assert!(kernel_modules(&path).is_err());
    }
}
