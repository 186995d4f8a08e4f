//! A kernel's kABI from its symbol list (`Module.symvers` format, usually gzip'ed as
//! `/lib/modules/<uname>/symvers.gz`), for kernels whose package carries no `kernel(sym) = crc`
//! provides, and for a running kernel that no package owns.

use crate::host::{Sysroot, rootfs};
use anyhow::{Context, Result};
use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Symbol → CRC (`"0x1a2b3c4d"`, lower case), as in `kernel(sym) = crc`.
pub type Kabi = BTreeMap<String, String>;

/// Parses `crc \t symbol \t module \t export-type [\t namespace]` lines. Lines that do not
/// start with a CRC are skipped: a damaged line must not hide the rest of the kABI.
pub fn parse(text: &str) -> Kabi {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let crc = fields.next()?.trim();
            let symbol = fields.next()?.trim();
            (is_crc(crc) && !symbol.is_empty()).then(|| (symbol.to_owned(), crc.to_ascii_lowercase()))
        })
        .collect()
}

/// A CRC as rpm and Module.symvers write it.
pub fn is_crc(s: &str) -> bool {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Reads a symvers file, gzip'ed or not (told apart by the gzip magic, not the name).
pub fn read(path: &Path) -> Result<Kabi> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .with_context(|| format!("{} is not a valid gzip'ed symbol list", path.display()))?;
        text
    } else {
        String::from_utf8(bytes).with_context(|| format!("{} is not a text symbol list", path.display()))?
    };
    Ok(parse(&text))
}

/// The kABI of kernel `uname` from the first symbol list found for it, with the list's host
/// path: `/lib/modules/<uname>/symvers.gz`, `/lib/modules/<uname>/symvers-*.gz`, then
/// `/boot/symvers-<uname>.gz` (where EL kernels also put it).
pub fn find(sysroot: &Sysroot, uname: &str) -> Result<Option<(PathBuf, Kabi)>> {
    let module_dir = PathBuf::from("/lib/modules").join(uname);
    let mut candidates = vec![module_dir.join("symvers.gz")];
    let real_dir = rootfs::real_path(sysroot, &module_dir)
        .with_context(|| format!("cannot resolve {}", sysroot.path(&module_dir).display()))?;
    if let Ok(entries) = std::fs::read_dir(&real_dir) {
        let mut versioned: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("symvers-") && name.ends_with(".gz"))
            .map(|name| module_dir.join(name))
            .collect();
        versioned.sort();
        candidates.extend(versioned);
    }
    candidates.push(PathBuf::from(format!("/boot/symvers-{uname}.gz")));

    for candidate in candidates {
        let real = rootfs::real_path(sysroot, &candidate)
            .with_context(|| format!("cannot resolve {}", sysroot.path(&candidate).display()))?;
        if real.is_file() {
            return Ok(Some((candidate, read(&real)?)));
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// Writes `pairs` as a gzip'ed Module.symvers at `path`.
    pub(crate) fn write_symvers_gz(path: &Path, pairs: &[(&str, &str)]) {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        for (sym, crc) in pairs {
            writeln!(gz, "{crc}\t{sym}\tvmlinux\tEXPORT_SYMBOL").unwrap();
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, gz.finish().unwrap()).unwrap();
    }

    #[test]
    fn module_symvers_lines_are_parsed() {
        let kabi = parse(
            "0x1A2B3C4D\tdrbd_kabi_alloc\tvmlinux\tEXPORT_SYMBOL\n\
             0x5e6f7a8b\tdrbd_kabi_bio\tdrivers/block/foo\tEXPORT_SYMBOL_GPL\tBLOCK_NS\n\
             garbage line\n\
             \n",
        );
        assert_eq!(kabi.len(), 2);
        assert_eq!(kabi["drbd_kabi_alloc"], "0x1a2b3c4d");
        assert_eq!(kabi["drbd_kabi_bio"], "0x5e6f7a8b");
    }

    #[test]
    fn symvers_gz_is_found_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let uname = "4.18.0-553.el8_10.x86_64";
        write_symvers_gz(
            &root.path(format!("/lib/modules/{uname}/symvers.gz")),
            &[("drbd_kabi_alloc", "0x1a2b3c4d")],
        );
        let (path, kabi) = find(&root, uname).unwrap().unwrap();
        assert_eq!(path, PathBuf::from(format!("/lib/modules/{uname}/symvers.gz")));
        assert_eq!(kabi["drbd_kabi_alloc"], "0x1a2b3c4d");
    }

    #[test]
    fn versioned_and_boot_symvers_are_fallbacks() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        write_symvers_gz(
            &root.path("/lib/modules/5.14.0/symvers-5.14.0.gz"),
            &[("a", "0x1")],
        );
        write_symvers_gz(&root.path("/boot/symvers-6.6.0.gz"), &[("b", "0x2")]);
        assert_eq!(
            find(&root, "5.14.0").unwrap().unwrap().0,
            Path::new("/lib/modules/5.14.0/symvers-5.14.0.gz")
        );
        assert_eq!(
            find(&root, "6.6.0").unwrap().unwrap().0,
            Path::new("/boot/symvers-6.6.0.gz")
        );
        assert!(find(&root, "4.19.0+1").unwrap().is_none());
    }
}
