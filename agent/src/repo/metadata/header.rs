//! A guard in front of `rpmrepo_metadata`'s parsers: their header parsing
//! (`parsing_utils::parse_header_tag`, 0.9) unwraps the root element's `packages` attribute, so
//! a primary or filelists file whose root element lacks it (`<metadata>`, or `<metadata/>`,
//! which the reader expands) panicked the agent instead of being refused. Found by the fuzz
//! target `primary` (docs/fuzzing.md).
//!
//! The guard reads the start of the file up to the end of the root's start tag, looks at it
//! with a reader configured as the crate's, and refuses the one case the crate would panic on;
//! everything else is left to the crate, with the bytes read put back in front.

use quick_xml::events::Event;
use rpmrepo_metadata::MetadataError;
use std::io::{self, Cursor, Read};

/// How much of a file may come before the end of its root's start tag. createrepo_c writes
/// under 200 bytes there (declaration and namespaces); past this the file is refused.
const HEADER_LIMIT: usize = 64 * 1024;

/// `input` with its root element (`root`: `metadata`, `filelists`) checked for the
/// `packages` attribute.
pub(super) fn checked<R: Read>(mut input: R, root: &str) -> Result<impl Read, MetadataError> {
    let mut prefix = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match look(&prefix, root) {
            Look::Decided(Ok(())) => break,
            Look::Decided(Err(e)) => return Err(e),
            Look::NeedMore if prefix.len() >= HEADER_LIMIT => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("no <{root}> start tag in the first {HEADER_LIMIT} bytes"),
                )
                .into());
            }
            Look::NeedMore => {}
        }
        let n = match input.read(&mut chunk) {
            Ok(0) => break, // The end of the input: the crate reports what is wrong with it.
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        prefix.extend_from_slice(&chunk[..n]);
    }
    Ok(Cursor::new(prefix).chain(input))
}

enum Look {
    /// The crate will not panic on this header (it may still refuse it).
    Decided(Result<(), MetadataError>),
    /// The root's start tag is not complete in what was read yet.
    NeedMore,
}

/// The crate's header loop (`Decl` events, then the root's `Start`) over `prefix`.
fn look(prefix: &[u8], root: &str) -> Look {
    let mut xml = rpmrepo_metadata::utils::create_xml_reader(prefix);
    let mut buf = Vec::new();
    loop {
        match xml.read_event_into(&mut buf) {
            Ok(Event::Decl(_)) => buf.clear(),
            Ok(Event::Start(tag)) if tag.name().as_ref() == root => {
                return match tag.try_get_attribute("packages") {
                    Ok(None) => Look::Decided(Err(MetadataError::MissingAttributeError("packages"))),
                    // Present, or attributes the crate refuses itself.
                    Ok(Some(_)) | Err(_) => Look::Decided(Ok(())),
                };
            }
            // End of what was read so far (or a tag cut short by it): read on.
            Ok(Event::Eof) | Err(quick_xml::Error::Syntax(_)) => return Look::NeedMore,
            // Anything else is refused by the crate without a panic.
            _ => return Look::Decided(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_bytes;
    use super::*;
    use crate::repo::Files;

    /// What the fuzz target `primary` found, minimized (`cargo fuzz tmin`): a root element
    /// without `packages` panicked in the crate's `parse_header_tag`.
    const MINIMIZED: &[u8] = b"<?xml v\0\0?>\n<metadata>\0\0";

    #[test]
    fn a_root_without_packages_is_refused_not_a_panic() {
        let err = from_bytes::primary(MINIMIZED).unwrap_err();
        assert!(err.to_string().contains("packages"), "{err}");
        // The same for filelists, empty roots (expanded by the reader) and the stored path.
        let named = Files::Named {
            names: vec!["kmod-drbd".into()],
            under: vec![],
        };
        for files in [Files::All, named] {
            assert!(from_bytes::filelists(b"<filelists/>", &files).is_err());
        }
        assert!(from_bytes::primary(b"<metadata/>").is_err());
        assert!(from_bytes::stored(b"<metadata xmlns=\"x\">", &Files::Skip).is_err());
    }

    /// A reader that hands out one byte at a time: a tag cut anywhere is read on.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn what_is_read_is_put_back_whole() {
        let xml = b"<?xml version=\"1.0\"?>\n<metadata xmlns=\"x\" packages=\"0\">\n</metadata>\n";
        let mut back = Vec::new();
        checked(Trickle(xml), "metadata")
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, xml);
        assert!(checked(Trickle(b"<metadata xmlns=\"x\">"), "metadata").is_err());
        // Not a header the crate panics on (it refuses those itself): passed on as it is.
        for other in [&b""[..], b"<filelists>", b"<!-- c --><metadata>", b"garbage"] {
            let mut back = Vec::new();
            checked(other, "metadata")
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, other);
        }
        let long = [b' '; HEADER_LIMIT + 1];
        assert!(checked(&long[..], "metadata").is_err());
    }
}
