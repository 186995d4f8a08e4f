//! Streaming sha256: hash bytes while they are copied or parsed, so no file is read twice
//! just to be checked.

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;

/// Lower-case hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex sha256 and length of the file at `path`, read in large chunks.
pub(crate) fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut size = 0;
    let mut reader = HashingReader::new(file, &mut hasher, &mut size);
    io::copy(&mut reader, &mut io::sink())?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// A reader that feeds everything read through it into a sha256 and counts the bytes.
///
/// It borrows the hasher and counter rather than owning them so they can be read after the
/// reader has been buried inside a decompressor and an XML parser and dropped with them.
pub(crate) struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
    bytes: &'a mut u64,
}

impl<'a, R> HashingReader<'a, R> {
    pub(crate) fn new(inner: R, hasher: &'a mut Sha256, bytes: &'a mut u64) -> Self {
        HashingReader { inner, hasher, bytes }
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        *self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_passes_through() {
        let data = b"hello world".repeat(10_000);
        let mut hasher = Sha256::new();
        let mut size = 0;
        let mut out = Vec::new();
        io::copy(
            &mut HashingReader::new(&data[..], &mut hasher, &mut size),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, data);
        assert_eq!(size, data.len() as u64);
        assert_eq!(hex::encode(hasher.finalize()), sha256_hex(&data));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            (sha256_hex(&data), data.len() as u64)
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
