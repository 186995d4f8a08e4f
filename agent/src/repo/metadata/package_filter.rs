//! The byte-level filter in front of the filelists parser: with
//! [`Files::Named`](crate::repo::Files::Named), only the `<package>` blocks of the wanted
//! packages reach the XML parser.

use std::io::{self, Read};

/// Passes filelists.xml through with only the `<package>` blocks of the packages called one of
/// `names`: everything outside package blocks (the XML declaration, `<filelists>` and its end
/// tag) is kept, and so is every block it cannot be sure about (a `name` with an entity
/// reference, or none), for the visitor to decide on the real, unescaped name.
///
/// filelists.xml as createrepo_c (or createrepo, or any other generator) writes it has no
/// comments, CDATA sections or nested elements of the same name (`<`, `>` and `&` in paths
/// are entity references), so a block runs from a `<package` start tag to the next
/// `</package>`. A file that does not end outside a block is refused.
pub(super) struct PackageFilter<'a, R> {
    inner: R,
    names: &'a [String],
    /// Decompressed input not yet passed on or dropped: `input[pos..]`.
    input: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Filtered output not yet read: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Inside a package block: whether it is kept.
    inside: Option<bool>,
    start: memchr::memmem::Finder<'static>,
    end: memchr::memmem::Finder<'static>,
}

const PACKAGE_START: &[u8] = b"<package";
const PACKAGE_END: &[u8] = b"</package>";

impl<'a, R: Read> PackageFilter<'a, R> {
    pub(super) fn new(inner: R, names: &'a [String]) -> Self {
        PackageFilter {
            inner,
            names,
            input: Vec::with_capacity(512 * 1024),
            pos: 0,
            eof: false,
            out: Vec::new(),
            out_pos: 0,
            inside: None,
            start: memchr::memmem::Finder::new(PACKAGE_START),
            end: memchr::memmem::Finder::new(PACKAGE_END),
        }
    }

    /// Reads more input, dropping what has been consumed.
    fn refill(&mut self) -> io::Result<()> {
        self.input.drain(..self.pos);
        self.pos = 0;
        let had = self.input.len();
        self.input.resize(had + 256 * 1024, 0);
        let n = loop {
            match self.inner.read(&mut self.input[had..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.input.truncate(had);
                    return Err(e);
                }
            }
        };
        self.input.truncate(had + n);
        self.eof = n == 0;
        Ok(())
    }

    /// Moves as much of the pending input as can be decided on to `out` (or drops it).
    fn filter(&mut self) -> io::Result<()> {
        loop {
            let decided = match self.inside {
                None => self.up_to_next_block()?,
                Some(keep) => self.through_block_end(keep)?,
            };
            if !decided {
                return Ok(());
            }
        }
    }

    /// Outside a package block: passes on everything up to the next `<package` start tag, and
    /// decides on the block it starts. `false` when the rest waits for more input.
    fn up_to_next_block(&mut self) -> io::Result<bool> {
        let pending = &self.input[self.pos..];
        let Some(at) = self.start.find(pending) else {
            // Keep a tail that could be the start of a `<package` cut in two.
            let safe = if self.eof {
                pending.len()
            } else {
                pending.len().saturating_sub(PACKAGE_START.len())
            };
            self.out.extend_from_slice(&pending[..safe]);
            self.pos += safe;
            return Ok(false);
        };
        let Some(tag_len) = start_tag_len(&pending[at..]) else {
            if self.eof {
                return Err(truncated());
            }
            // The tag goes on in the next input.
            self.out.extend_from_slice(&pending[..at]);
            self.pos += at;
            return Ok(false);
        };
        let tag = &pending[at..at + tag_len];
        self.out.extend_from_slice(&pending[..at]);
        match tag[PACKAGE_START.len()] {
            // `<packages…` or the like: not a package element, passed on.
            c if !(c.is_ascii_whitespace() || c == b'>' || c == b'/') => {
                self.out.extend_from_slice(tag);
            }
            _ => {
                let keep = self.keeps(tag);
                if keep {
                    self.out.extend_from_slice(tag);
                }
                if !tag.ends_with(b"/>") {
                    self.inside = Some(keep);
                }
            }
        }
        self.pos += at + tag_len;
        Ok(true)
    }

    /// Inside a package block: passes it on (`keep`) or drops it, up to its end tag. `false`
    /// when the rest waits for more input.
    fn through_block_end(&mut self, keep: bool) -> io::Result<bool> {
        let pending = &self.input[self.pos..];
        let (len, closed) = match self.end.find(pending) {
            Some(at) => (at + PACKAGE_END.len(), true),
            None if self.eof => return Err(truncated()),
            // Keep a tail that could be the start of a `</package>` cut in two.
            None => (pending.len().saturating_sub(PACKAGE_END.len()), false),
        };
        if keep {
            self.out.extend_from_slice(&pending[..len]);
        }
        self.pos += len;
        if closed {
            self.inside = None;
        }
        Ok(closed)
    }

    /// Whether the block that starts with `tag` is passed on.
    fn keeps(&self, tag: &[u8]) -> bool {
        match attribute(&tag[PACKAGE_START.len()..], b"name") {
            // An entity reference: only the parser can tell the real name.
            Some(name) if !name.contains(&b'&') => self.names.iter().any(|n| n.as_bytes() == name),
            _ => true,
        }
    }
}

impl<R: Read> Read for PackageFilter<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.eof && self.pos == self.input.len() {
                return Ok(0);
            }
            self.refill()?;
            self.filter()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file ends inside a <package> element",
    )
}

/// The length of the start tag at the beginning of `bytes`, up to and including its `>`
/// (which may appear inside quoted attribute values); `None` if `bytes` ends first.
fn start_tag_len(bytes: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i + 1),
            None => {}
        }
    }
    None
}

/// The raw (still escaped) value of attribute `key` in `attributes` (what follows the element
/// name in a start tag); `None` when it is not there or the tag cannot be read.
fn attribute<'t>(mut attributes: &'t [u8], key: &[u8]) -> Option<&'t [u8]> {
    loop {
        attributes = attributes.trim_ascii_start();
        let eq = attributes.iter().position(|&b| b == b'=')?;
        let name = attributes[..eq].trim_ascii_end();
        attributes = attributes[eq + 1..].trim_ascii_start();
        let quote = *attributes.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let len = attributes[1..].iter().position(|&b| b == quote)?;
        if name == key {
            return Some(&attributes[1..1 + len]);
        }
        attributes = &attributes[len + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, to cut tags and blocks everywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn filtered(xml: &str, names: &[&str], step: usize) -> io::Result<String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut out = String::new();
        PackageFilter::new(
            Trickle {
                data: xml.as_bytes(),
                step,
            },
            &names,
        )
        .read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn the_filter_passes_on_only_the_wanted_package_blocks() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="6">
<package pkgid="01" name="kmod-drbd" arch="x86_64">
  <file>/lib/modules/a/drbd.ko</file>
</package>
<package pkgid="02" name="kmod-drbd-extra" arch="x86_64"><file>/x</file></package>
<package arch='noarch' name='kmod-drbd' pkgid='03'><file>/lib/modules/b/drbd.ko</file></package>
<package pkgid="04" arch="x86_64" name="a&amp;b"><file>/y</file></package>
<package pkgid="05" name="odd>name" arch="x86_64"><file>/z</file></package>
<package pkgid="06" name="empty" arch="x86_64"/>
<packages-note/>
</filelists>
"#;
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="6">
<package pkgid="01" name="kmod-drbd" arch="x86_64">
  <file>/lib/modules/a/drbd.ko</file>
</package>

<package arch='noarch' name='kmod-drbd' pkgid='03'><file>/lib/modules/b/drbd.ko</file></package>
<package pkgid="04" arch="x86_64" name="a&amp;b"><file>/y</file></package>


<packages-note/>
</filelists>
"#;
        for step in [1, 2, 3, 7, 8, 9, 10, 11, 64, 1 << 20] {
            assert_eq!(
                filtered(xml, &["kmod-drbd"], step).unwrap(),
                expected,
                "step {step}"
            );
        }
        // A name with a `>` in it is read whole, and matched.
        let odd = filtered(xml, &["odd>name"], 5).unwrap();
        assert!(
            odd.contains(r#"<package pkgid="05" name="odd>name" arch="x86_64"><file>/z</file></package>"#)
        );
        assert!(!odd.contains("pkgid=\"01\""));

        // A file that ends inside a block, or inside a start tag, is refused.
        for cut in [
            xml.find("<file>/x").unwrap(),
            xml.find("name=\"kmod-drbd-extra").unwrap(),
        ] {
            let err = filtered(&xml[..cut], &["kmod-drbd"], 64).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        }
    }
}
