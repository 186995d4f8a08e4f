//! Writing one repodata file (primary, filelists, other) gzip-compressed, hashing both the
//! compressed and the open bytes on the way, as repomd.xml records them.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::MetadataRecord;

/// A writer that hashes and counts what passes through.
pub(super) struct HashWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) size: u64,
}
impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
/// One `<kind>.xml.gz` being written: sha256 and size of the XML (open-checksum) and of the
/// gzip stream (checksum), then renamed to `<sha256>-<kind>.xml.gz` as createrepo_c names it.
pub(super) struct MetaWriter {
    pub(super) kind: &'static str,
    pub(super) tmp: PathBuf,
    pub(super) open: Sha256,
    pub(super) open_size: u64,
    pub(super) gz: GzEncoder<HashWriter<BufWriter<File>>>,
}
impl MetaWriter {
    pub(super) fn create(repodata: &Path, kind: &'static str) -> Result<MetaWriter> {
        let tmp = repodata.join(format!(".{kind}.xml.gz.part"));
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let inner = HashWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            size: 0,
        };
        Ok(MetaWriter {
            kind,
            tmp,
            open: Sha256::new(),
            open_size: 0,
            gz: GzEncoder::new(inner, Compression::default()),
        })
    }

    pub(super) fn write_str(&mut self, text: &str) -> Result<()> {
        self.open.update(text.as_bytes());
        self.open_size += text.len() as u64;
        self.gz
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", self.tmp.display()))
    }

    pub(super) fn finish(self, repodata: &Path) -> Result<MetadataRecord> {
        let tmp = self.tmp;
        let context = || format!("cannot write {}", tmp.display());
        let hashed = self.gz.finish().with_context(context)?;
        let file = hashed
            .inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(context)?;
        file.sync_all().with_context(context)?;
        let sha256 = hex::encode(hashed.hasher.finalize());
        let href = format!("repodata/{sha256}-{}.xml.gz", self.kind);
        let dest = repodata.join(format!("{sha256}-{}.xml.gz", self.kind));
        fs::rename(&tmp, &dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        Ok(MetadataRecord {
            kind: self.kind.to_owned(),
            href,
            sha256,
            size: hashed.size,
            open_sha256: hex::encode(self.open.finalize()),
            open_size: self.open_size,
        })
    }
}
