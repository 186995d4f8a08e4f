//! Limits on what a metadata file may decompress to, enforced on the byte stream before the XML
//! parser sees it.
//!
//! The stored file's sha256 is checked against the signed repomd.xml, so a file that gets here
//! is what the repository's key vouches for; but a key can be stolen, and a few kB of gzip can
//! expand to gigabytes. The XML parser keeps each text node or tag whole in one buffer: one
//! text node of 2 GiB made it ask for 4 GiB at once and abort the process. So every file is
//! read through [`Bounded`], which counts the decompressed bytes (never more than the limit of
//! its kind, nor than the open-size repomd.xml states) and measures every text node and markup
//! (tag, comment, CDATA section, processing instruction) the way the parser delimits them,
//! failing the read as soon as one is longer than [`MAX_TOKEN`]. A `<!DOCTYPE` is refused
//! outright: no yum metadata has one, and its internal subset is the one construct whose end
//! the parser finds by rules too loose to follow here.
//!
//! The limits are generous for real repositories: EPEL's primary.xml is 100-200 MB
//! decompressed, Fedora Everything's filelists.xml well under 1 GiB, and the longest element
//! of either (a package description, a file path) a few kB.

use std::io::{self, Read};

/// The most primary.xml may decompress to.
pub(crate) const MAX_PRIMARY: u64 = 1 << 30;
/// The most filelists.xml may decompress to.
pub(crate) const MAX_FILELISTS: u64 = 2 << 30;
/// The longest text node or markup (tag, comment, CDATA, processing instruction).
pub(crate) const MAX_TOKEN: u64 = 8 << 20;

/// Why a read was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// More decompressed bytes than `limit`.
    Total { limit: u64 },
    /// A text node or markup longer than `limit`, starting `offset` bytes into the file.
    Token { limit: u64, offset: u64 },
    /// A document type declaration, `offset` bytes into the file.
    Doctype { offset: u64 },
}

/// What a [`Bounded`] reader saw: the bytes it passed on and, if it stopped, why.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub bytes: u64,
    pub violation: Option<Violation>,
}

/// Passes `inner` through while it stays within the limits; the first read past them fails
/// (and so does every later one), with the reason in the [`Tally`].
pub(crate) struct Bounded<'a, R> {
    inner: R,
    /// `None`: only the markup is measured (the total is counted elsewhere).
    total: Option<u64>,
    lexer: Lexer,
    tally: &'a mut Tally,
}

impl<'a, R: Read> Bounded<'a, R> {
    pub(crate) fn new(inner: R, total: Option<u64>, token: u64, tally: &'a mut Tally) -> Self {
        Bounded {
            inner,
            total,
            lexer: Lexer::new(token),
            tally,
        }
    }

    fn stop(&mut self, violation: Violation) -> io::Error {
        self.tally.violation.get_or_insert(violation);
        io::Error::new(io::ErrorKind::InvalidData, describe(violation))
    }
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(violation) = self.tally.violation {
            return Err(self.stop(violation));
        }
        let n = self.inner.read(buf)?;
        let offset = self.tally.bytes;
        self.tally.bytes += n as u64;
        if let Some(limit) = self.total
            && self.tally.bytes > limit
        {
            return Err(self.stop(Violation::Total { limit }));
        }
        match self.lexer.feed(&buf[..n], offset) {
            Ok(()) => Ok(n),
            Err(violation) => Err(self.stop(violation)),
        }
    }
}

/// A short description, for the parser's error (the caller says more).
fn describe(violation: Violation) -> String {
    match violation {
        Violation::Total { limit } => format!("more than {limit} bytes"),
        Violation::Token { limit, offset } => {
            format!("a text or markup longer than {limit} bytes at byte {offset}")
        }
        Violation::Doctype { offset } => format!("a <!DOCTYPE at byte {offset}"),
    }
}

/// Where the lexer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data, up to the next `<`.
    Text,
    /// Just after a `<`.
    Open,
    /// Just after `<!`.
    Bang,
    /// A start or end tag, up to a `>` outside quotes; `quote` inside a quoted value.
    Tag { quote: Option<u8> },
    /// A comment, CDATA section or processing instruction: it ends at the first `>` preceded by
    /// `end` (`--`, `]]`, `?`) and at least `min` bytes after its `<`, as the parser ends it.
    Until { end: &'static [u8], min: u64 },
}

/// Splits the stream into the parser's tokens (text nodes and markup) and measures each.
/// Where it cannot be exact it errs on the long side: a token may only end here where the
/// parser surely ends it, so no token the parser buffers is longer than one measured here.
#[derive(Debug)]
struct Lexer {
    state: State,
    limit: u64,
    /// Offset of the current token's first byte.
    start: u64,
    /// The two bytes before the current position (`[older, newer]`).
    recent: [u8; 2],
}

impl Lexer {
    fn new(limit: u64) -> Lexer {
        Lexer {
            state: State::Text,
            limit,
            start: 0,
            recent: [0; 2],
        }
    }

    /// Consumes `bytes`, which start `offset` bytes into the stream.
    fn feed(&mut self, bytes: &[u8], offset: u64) -> Result<(), Violation> {
        let recent = self.recent;
        let mut i = 0;
        while i < bytes.len() {
            i = match self.state {
                State::Text => match memchr::memchr(b'<', &bytes[i..]) {
                    None => bytes.len(),
                    Some(k) => {
                        let at = i + k;
                        self.token_ends(offset + at as u64)?;
                        self.state = State::Open;
                        at + 1
                    }
                },
                State::Open => {
                    let (state, used) = match bytes[i] {
                        b'!' => (State::Bang, 1),
                        b'?' => (State::Until { end: b"?", min: 3 }, 1),
                        // Not consumed: the tag state reads it (it may be a quote or `>`).
                        _ => (State::Tag { quote: None }, 0),
                    };
                    self.state = state;
                    i + used
                }
                State::Bang => {
                    self.state = match bytes[i] {
                        b'-' => State::Until { end: b"--", min: 6 },
                        b'[' => State::Until { end: b"]]", min: 5 },
                        b'D' | b'd' => return Err(Violation::Doctype { offset: self.start }),
                        // Not markup the parser accepts: it fails on it anyway.
                        _ => State::Tag { quote: None },
                    };
                    i + 1
                }
                State::Tag { quote } => {
                    let rest = &bytes[i..];
                    let found = match quote {
                        Some(q) => memchr::memchr(q, rest),
                        None => memchr::memchr3(b'>', b'"', b'\'', rest),
                    };
                    match found {
                        None => bytes.len(),
                        Some(k) => {
                            let at = i + k;
                            match (quote, bytes[at]) {
                                (None, b'>') => self.markup_ends(offset + at as u64)?,
                                (None, q) => self.state = State::Tag { quote: Some(q) },
                                (Some(_), _) => self.state = State::Tag { quote: None },
                            }
                            at + 1
                        }
                    }
                }
                State::Until { end, min } => match memchr::memchr(b'>', &bytes[i..]) {
                    None => bytes.len(),
                    Some(k) => {
                        let at = i + k;
                        let before = before(recent, bytes, at);
                        let tail = &before[2 - end.len()..];
                        if tail == end && offset + at as u64 - self.start >= min {
                            self.markup_ends(offset + at as u64)?;
                        }
                        at + 1
                    }
                },
            };
        }
        self.recent = before(recent, bytes, bytes.len());
        // The token still open at the end of this input counts so far.
        self.check(offset + bytes.len() as u64)
    }

    /// The current token is `start..end`: within the limit?
    fn check(&self, end: u64) -> Result<(), Violation> {
        if end - self.start > self.limit {
            return Err(Violation::Token {
                limit: self.limit,
                offset: self.start,
            });
        }
        Ok(())
    }

    /// A text node ends before the `<` at `at`, which starts markup.
    fn token_ends(&mut self, at: u64) -> Result<(), Violation> {
        self.check(at)?;
        self.start = at;
        Ok(())
    }

    /// Markup ends with the `>` at `at`; text starts after it.
    fn markup_ends(&mut self, at: u64) -> Result<(), Violation> {
        self.check(at + 1)?;
        self.start = at + 1;
        self.state = State::Text;
        Ok(())
    }
}

/// The two bytes before `bytes[at]`: from `bytes`, or from `recent`, the two before it.
fn before(recent: [u8; 2], bytes: &[u8], at: usize) -> [u8; 2] {
    match at {
        0 => recent,
        1 => [recent[1], bytes[0]],
        _ => [bytes[at - 2], bytes[at - 1]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, to cut tokens everywhere.
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

    /// Reads `xml` whole through a [`Bounded`] reader, `step` bytes at a time.
    fn read(xml: &str, total: Option<u64>, token: u64, step: usize) -> (io::Result<String>, Tally) {
        let mut tally = Tally::default();
        let mut out = String::new();
        let result = Bounded::new(
            Trickle {
                data: xml.as_bytes(),
                step,
            },
            total,
            token,
            &mut tally,
        )
        .read_to_string(&mut out)
        .map(|_| out);
        (result, tally)
    }

    const STEPS: [usize; 6] = [1, 2, 3, 5, 64, 1 << 20];

    #[test]
    fn documents_within_the_limits_pass_unchanged() {
        let xml = "<?xml version=\"1.0\"?>\n<metadata a='x>y' b=\"<z>\">\n<!-- a > b -- c -->\
                   <![CDATA[ <x> ]] > ]]><d>text &amp; more</d><e/></metadata>\n";
        for step in STEPS {
            let (out, tally) = read(xml, Some(xml.len() as u64), 32, step);
            assert_eq!(out.unwrap(), xml, "step {step}");
            assert_eq!(tally.bytes, xml.len() as u64);
            assert_eq!(tally.violation, None);
        }
    }

    #[test]
    fn a_long_text_node_or_markup_is_stopped_where_it_starts() {
        let long = "x".repeat(40);
        let cases = [
            (format!("<a>{long}</a>"), 3),
            // `>` in text does not end it; the parser reads text up to the next `<`.
            (format!("<a>{}</a>", "x>".repeat(20)), 3),
            (format!("<a b=\"{long}\"/>"), 0),
            // Quoted `>` and `<` do not end a tag.
            (format!("<a b=\"{}\"/>", "<>".repeat(20)), 0),
            (
                format!("<a/><!-- {} -->", "<>-->".replace("-->", "- >").repeat(10)),
                4,
            ),
            (format!("<a/><![CDATA[{}]]>", "]>".repeat(20)), 4),
            (format!("<a/><?pi {}?>", "x>".repeat(20)), 4),
        ];
        for (xml, offset) in cases {
            for step in STEPS {
                let (out, tally) = read(&xml, None, 24, step);
                assert!(out.is_err(), "{xml} step {step}");
                assert_eq!(
                    tally.violation,
                    Some(Violation::Token { limit: 24, offset }),
                    "{xml} step {step}"
                );
            }
        }
    }

    #[test]
    fn markup_ends_where_the_parser_ends_it() {
        // Each short, many of them: only a token that runs on would exceed the limit.
        let xml = "<!---->".to_string() + &"<a b='1'>t</a><?p?><![CDATA[]]><!-- - -->".repeat(50) + "<?x ?>";
        for step in STEPS {
            let (out, tally) = read(&xml, None, 16, step);
            assert!(out.is_ok(), "step {step}: {:?}", tally.violation);
        }
        // `<!-->` and `<!--->` do not close the comment they open: it runs on, past the limit.
        for open in ["<!-->", "<!--->"] {
            let xml = format!("{open}{}-->", "<b/>".repeat(8));
            for step in STEPS {
                assert!(read(&xml, None, 16, step).0.is_err(), "{xml} step {step}");
            }
        }
    }

    #[test]
    fn the_total_and_doctypes_are_refused() {
        let xml = "<a>0123456789</a>";
        let (out, tally) = read(xml, Some(10), 100, 4);
        assert!(out.is_err());
        assert_eq!(tally.violation, Some(Violation::Total { limit: 10 }));
        assert!(read(xml, Some(xml.len() as u64), 100, 4).0.is_ok());

        let (out, tally) = read("<?xml?>\n<!DOCTYPE m [<!ENTITY a 'b'>]><m/>", None, 100, 3);
        assert!(out.unwrap_err().to_string().contains("<!DOCTYPE at byte 8"));
        assert_eq!(tally.violation, Some(Violation::Doctype { offset: 8 }));
    }
}
