//! Guards around `rpmrepo_metadata`'s parsers, which the fuzz targets showed are not written
//! for malformed input (docs/fuzzing.md):
//!
//! - Some of its loops wait for an end tag and ignore the end of the input, so a file that ends
//!   inside `<format>` (primary) or `<data>` (repomd.xml) made the agent spin forever. For
//!   primary and filelists, streamed, [`AtEnd`] makes the end of the input a read error, so no
//!   loop of the crate ever sees it; [`AtEnd::outcome`] then decides whether the file was whole.
//!   repomd.xml is small and in memory: [`closed`] reads it first as the crate's reader does and
//!   refuses an element left open at the end.
//! - It panics on some values (a root element without `packages`, a `<file type>` other than
//!   file, dir or ghost). [`no_panic`] turns the panic into an error, as `package_check` does
//!   for the `rpm` crate; the panic message still reaches stderr through the panic hook.
//!
//! The files are signed, so only a broken or hostile repository owner can send these; the
//! agent must still stop with an error naming the file, not hang or crash.

use quick_xml::events::Event;
use rpmrepo_metadata::MetadataError;
use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A reader whose end is an error that the parser returns: it never reaches a loop of the
/// crate that would spin on it. [`AtEnd::outcome`] turns that error back into success when
/// the input ends with the root element's end tag (`</metadata>`, whitespace after it).
///
/// That test is on bytes: a file cut short fails it, and so does any file createrepo_c did not
/// write whole. One crafted so that the tag is inside another (`<x a="</metadata>`) passes and
/// is read up to there: the signature fixes the content, and the loss is the crafter's own.
pub(super) struct AtEnd<R> {
    inner: R,
    end: Vec<u8>,
    /// The last bytes read, without trailing whitespace (at most `end.len()` of them).
    tail: Vec<u8>,
    reached: bool,
}

impl<R: Read> AtEnd<R> {
    /// `root`: the root element's name (`metadata`, `filelists`).
    pub(super) fn root(inner: R, root: &str) -> Self {
        AtEnd {
            inner,
            end: format!("</{root}>").into_bytes(),
            tail: Vec::new(),
            reached: false,
        }
    }

    /// What the parse that read through this came to: `parsed`, unless it stopped at the end
    /// of the input (a whole file: `T::default()`, the count of packages the header declared
    /// being lost with the error; else the file was cut short).
    pub(super) fn outcome<T: Default>(&self, parsed: Result<T, MetadataError>) -> Result<T, MetadataError> {
        match parsed {
            Err(_) if self.reached && self.tail.ends_with(&self.end) => Ok(T::default()),
            Err(_) if self.reached => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file does not end with {}: it is cut short or malformed",
                    String::from_utf8_lossy(&self.end)
                ),
            )
            .into()),
            parsed => parsed,
        }
    }
}

impl<R: Read> Read for AtEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.reached = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the end of the file",
            ));
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

/// `xml` read as the crate's reader reads it (end tags checked against the open elements):
/// an error when an element is still open at the end.
pub(super) fn closed(xml: &[u8]) -> Result<(), MetadataError> {
    let mut reader = rpmrepo_metadata::utils::create_xml_reader(xml);
    let mut buf = Vec::new();
    let mut open = 0usize;
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(_) => open += 1,
            Event::End(_) => open = open.saturating_sub(1),
            Event::Eof if open == 0 => return Ok(()),
            Event::Eof => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the file ends inside {open} open element(s): it is cut short or malformed"),
                )
                .into());
            }
            _ => {}
        }
        buf.clear();
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

    /// The fuzz targets' findings, minimized, each of which made the agent spin forever.
    #[test]
    fn files_that_end_inside_an_element_are_not_a_hang() {
        // primary: the end of the file inside <format>.
        let primary = b"<metadata packages=\"1\"><package type=\"rpm\"><format>";
        let err = within_deadline(|| from_bytes::primary(primary).map(|_| ()))
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("does not end with </metadata>"), "{err}");
        // ... also when the bytes end with </metadata>, inside a start tag (second round).
        let crafted = b"<metadata packages=\"1\"><package><format><x </metadata>";
        let read = within_deadline(|| from_bytes::primary(crafted).map(|p| p.len())).unwrap();
        assert_eq!(read.unwrap(), 0, "read up to the open tag");
        // repomd.xml: the end of the file inside <data>, also in a tag that looks closed.
        for repomd in [
            &b"<repomd><data type=\"primary\">"[..],
            b"<repomd><data type=\"x\"><location a=\"1\" </repomd>",
        ] {
            let err = within_deadline(|| from_bytes::repomd(repomd).map(|_| ()))
                .unwrap()
                .unwrap_err();
            assert!(err.to_string().contains("open element(s)"), "{err}");
        }
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
            let mut guard = AtEnd::root(Trickle(input.iter().copied().collect()), "metadata");
            let mut all = Vec::new();
            let parsed = guard.read_to_end(&mut all).map_err(MetadataError::from);
            assert!(parsed.is_err(), "the end is an error to the parser");
            assert_eq!(all, input);
            guard.outcome(parsed)
        };
        assert!(read(b"<metadata packages=\"0\"></metadata>").is_ok());
        assert!(read(b"<m></metadata>\n\n  \t\n").is_ok());
        assert!(read(b"<metadata></metadata>x").is_err());
        assert!(read(b"<metadata></metadat").is_err());
        assert!(read(b"").is_err());
        // An error before the end is the parser's own.
        let guard = AtEnd::root(&b""[..], "metadata");
        let parsed: Result<(), _> = Err(MetadataError::MissingHeaderError);
        assert!(matches!(
            guard.outcome(parsed),
            Err(MetadataError::MissingHeaderError)
        ));
    }
}
