//! Guards around `rpmrepo_metadata`'s parsers, which the fuzz targets showed are not written
//! for malformed input (docs/fuzzing.md):
//!
//! - Some of its loops wait for an end tag and ignore the end of the input, so a file cut short
//!   inside `<format>` (primary) or `<data>` (repomd.xml) made the agent spin forever.
//!   [`EndsWith`] turns the end of such a file into a read error, which the parser returns.
//! - It panics on some values (a root element without `packages`, a `<file type>` other than
//!   file, dir or ghost). [`no_panic`] turns the panic into an error, as `package_check` does
//!   for the `rpm` crate; the panic message still reaches stderr through the panic hook.
//!
//! The files are signed, so only a broken or hostile repository owner can send these; the
//! agent must still stop with an error naming the file, not hang or crash.

use rpmrepo_metadata::MetadataError;
use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A reader whose end is an error unless the input ends with the root element's end tag
/// (`</metadata>`; whitespace after it is fine).
///
/// Enough for the parser: its reader checks that end tags match the open elements, so once
/// `</metadata>` is read as the last tag every element inside is closed, and one that is not
/// is an error there (a cut-short comment or tag is one too). createrepo_c ends every file so.
pub(super) struct EndsWith<R> {
    inner: R,
    end: Vec<u8>,
    /// The last bytes read, without trailing whitespace (at most `end.len()` of them).
    tail: Vec<u8>,
}

impl<R: Read> EndsWith<R> {
    /// `root`: the root element's name (`metadata`, `filelists`, `repomd`).
    pub(super) fn root(inner: R, root: &str) -> Self {
        EndsWith {
            inner,
            end: format!("</{root}>").into_bytes(),
            tail: Vec::new(),
        }
    }
}

impl<R: Read> Read for EndsWith<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if !self.tail.ends_with(&self.end) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file does not end with {}: it is cut short or malformed",
                        String::from_utf8_lossy(&self.end)
                    ),
                ));
            }
            return Ok(0);
        }
        let content = buf[..n].trim_ascii_end();
        if !content.is_empty() {
            self.tail.extend_from_slice(content);
            let excess = self.tail.len().saturating_sub(self.end.len());
            self.tail.drain(..excess);
        }
        Ok(n)
    }
}

/// `parse()`, with a panic inside it returned as an error.
pub(super) fn no_panic<T>(parse: impl FnOnce() -> Result<T, MetadataError>) -> Result<T, MetadataError> {
    // Unwind safety: whatever `parse` was filling is dropped with the error.
    catch_unwind(AssertUnwindSafe(parse)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the metadata parser crashed on a malformed element ({message})"),
        )
        .into())
    })
}

#[cfg(test)]
mod tests {
    use super::super::from_bytes;
    use super::*;
    use crate::repo::Files;
    use std::time::Duration;

    /// `parse` on its own thread: Err when it is still running after 10 s (the thread is
    /// left spinning; the test process ends with the run).
    fn within_deadline<T: Send + 'static>(parse: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(parse());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the parser did not return within 10 s".to_string())
    }

    /// The fuzz targets' findings, minimized, each of which hung or crashed the agent.
    #[test]
    fn files_cut_short_are_refused_not_a_hang() {
        // primary: the end of the file inside <format>.
        let primary = b"<metadata packages=\"1\"><package type=\"rpm\"><format>";
        let result = within_deadline(|| from_bytes::primary(primary).map(|_| ()));
        let err = result.unwrap().unwrap_err();
        assert!(err.to_string().contains("does not end with </metadata>"), "{err}");
        // repomd.xml: the end of the file inside <data>.
        let repomd = b"<repomd><data type=\"primary\">";
        let err = within_deadline(|| from_bytes::repomd(repomd).map(|_| ()))
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("does not end with </repomd>"), "{err}");
        // The same through the stored-file path (compressed or not).
        let err = within_deadline(|| from_bytes::stored(primary, &Files::Skip).map(|_| ()))
            .unwrap()
            .unwrap_err();
        assert!(format!("{err:#}").contains("does not end with"), "{err:#}");
    }

    #[test]
    fn parser_panics_are_errors() {
        // primary: a root element without `packages` (minimized from the fuzz target's input).
        let err = from_bytes::primary(b"<?xml v\0\0?>\n<metadata>\0\0</metadata>").unwrap_err();
        assert!(
            err.to_string().contains("crashed on a malformed element"),
            "{err}"
        );
        assert!(from_bytes::primary(b"<metadata/></metadata>").is_err());
        // filelists: a <file type> the crate does not know, under every way files are kept.
        let filelists = b"<filelists packages=\"1\"><package pkgid=\"a\" name=\"kmod-drbd\" arch=\"x\">\
              <file type=\"pipe\">/p</file></package></filelists>";
        let named = Files::Named {
            names: vec!["kmod-drbd".into()],
            under: vec![],
        };
        for files in [Files::All, named] {
            let err = from_bytes::filelists(filelists, &files).unwrap_err();
            assert!(
                err.to_string().contains("crashed on a malformed element"),
                "{err}"
            );
        }
    }

    /// Hands out one byte at a time: an end tag cut anywhere.
    struct Trickle(std::collections::VecDeque<u8>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                Some(byte) => {
                    buf[0] = byte;
                    Ok(1)
                }
                None => Ok(0),
            }
        }
    }

    #[test]
    fn only_the_end_tag_then_whitespace_ends_a_file() {
        let read = |input: &[u8]| {
            let mut all = Vec::new();
            EndsWith::root(Trickle(input.iter().copied().collect()), "metadata")
                .read_to_end(&mut all)
                .map(|_| all)
        };
        let whole = b"<metadata packages=\"0\"></metadata>";
        assert_eq!(read(whole).unwrap(), whole);
        assert!(read(b"<m></metadata>\n\n  \t\n").is_ok());
        assert!(read(b"<metadata></metadata>x").is_err());
        assert!(read(b"<metadata></metadat").is_err());
        assert!(read(b"").is_err());
    }
}
