//! A small reader for LVM's config syntax (sections `name { … }`, `key = value`, values that
//! are strings, numbers or `[ … ]` lists, `#` comments), as far as the filter edit needs it:
//! where each `devices/global_filter` is, byte for byte, and what it lists.

use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Str(String),
    Word(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let simple = match c {
            b'{' => Some(Tok::Open),
            b'}' => Some(Tok::Close),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b',' => Some(Tok::Comma),
            b'=' => Some(Tok::Eq),
            _ => None,
        };
        if let Some(tok) = simple {
            tokens.push(Token {
                tok,
                start,
                end: i + 1,
            });
            i += 1;
        } else if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' {
            let (value, end) = quoted(text, start)?;
            tokens.push(Token {
                tok: Tok::Str(value),
                start,
                end,
            });
            i = end;
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"{}[],=#\"'".contains(&bytes[i]) {
                i += 1;
            }
            tokens.push(Token {
                tok: Tok::Word(text[start..i].to_owned()),
                start,
                end: i,
            });
        }
    }
    Ok(tokens)
}

/// The string whose opening quote is at `start`, unescaped (only double-quoted strings have
/// escapes), and the offset just after its closing quote.
fn quoted(text: &str, start: usize) -> Result<(String, usize)> {
    let bytes = text.as_bytes();
    let quote = bytes[start];
    let mut value = Vec::new();
    let mut i = start + 1;
    loop {
        match bytes.get(i) {
            None => bail!("unterminated string starting on line {}", line_of(text, start)),
            Some(b'\\') if quote == b'"' => {
                if let Some(&next) = bytes.get(i + 1) {
                    value.push(next);
                }
                i += 2;
            }
            Some(&b) if b == quote => return Ok((String::from_utf8_lossy(&value).into_owned(), i + 1)),
            Some(&b) => {
                value.push(b);
                i += 1;
            }
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// One `global_filter = …` inside a `devices` section.
#[derive(Debug, Clone)]
pub(super) struct Occurrence {
    /// Byte range of the value (`[ … ]` or a single string).
    pub(super) value: (usize, usize),
    /// Offset just after `[`, when the value is a list.
    pub(super) list_open: Option<usize>,
    pub(super) entries: Vec<String>,
    /// Byte offset and raw text of the first entry, for its indentation.
    pub(super) first_entry_start: Option<usize>,
}

#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) occurrences: Vec<Occurrence>,
    /// Offset just after the `{` of the first `devices` section.
    pub(super) devices_open: Option<usize>,
}

/// Where every `devices/global_filter` setting is and what it lists; `Err` names the line
/// LVM itself would stumble on.
pub(super) fn parse(text: &str) -> Result<Parsed> {
    let tokens = tokenize(text)?;
    let mut parsed = Parsed::default();
    let mut path: Vec<String> = Vec::new();
    let mut i = 0;
    let err = |t: &Token, what: &str| -> anyhow::Error {
        anyhow::anyhow!("line {}: {what}", line_of(text, t.start))
    };
    while i < tokens.len() {
        let t = &tokens[i];
        match &t.tok {
            Tok::Close => {
                if path.pop().is_none() {
                    return Err(err(t, "`}` without a section to close"));
                }
                i += 1;
            }
            Tok::Word(name) => {
                let next = tokens
                    .get(i + 1)
                    .ok_or_else(|| err(t, &format!("`{name}` ends the file")))?;
                match next.tok {
                    Tok::Open => {
                        if path.is_empty() && name == "devices" && parsed.devices_open.is_none() {
                            parsed.devices_open = Some(next.end);
                        }
                        path.push(name.clone());
                        i += 2;
                    }
                    Tok::Eq => {
                        let key = name.clone();
                        let (occurrence, after) = value(text, &tokens, i + 2)?;
                        let full_key = if path.is_empty() {
                            key
                        } else {
                            format!("{}/{key}", path.join("/"))
                        };
                        if full_key == "devices/global_filter" {
                            parsed.occurrences.push(occurrence);
                        }
                        i = after;
                    }
                    _ => return Err(err(next, &format!("expected `{{` or `=` after `{name}`"))),
                }
            }
            _ => return Err(err(t, "expected a setting or a section")),
        }
    }
    if !path.is_empty() {
        bail!("section `{}` is not closed", path.join("/"));
    }
    Ok(parsed)
}

/// Reads the value starting at token `i`; returns it and the index after it.
fn value(text: &str, tokens: &[Token], i: usize) -> Result<(Occurrence, usize)> {
    let t = tokens
        .get(i)
        .ok_or_else(|| anyhow::anyhow!("a setting without a value at the end of the file"))?;
    match &t.tok {
        Tok::LBracket => {
            let mut entries = Vec::new();
            let mut first = None;
            let mut j = i + 1;
            loop {
                let Some(item) = tokens.get(j) else {
                    bail!("line {}: `[` is not closed", line_of(text, t.start));
                };
                match &item.tok {
                    Tok::RBracket => break,
                    Tok::Comma => {}
                    Tok::Str(s) => {
                        first.get_or_insert(item.start);
                        entries.push(s.clone());
                    }
                    Tok::Word(w) => {
                        first.get_or_insert(item.start);
                        entries.push(w.clone());
                    }
                    _ => bail!("line {}: unexpected token in a list", line_of(text, item.start)),
                }
                j += 1;
            }
            Ok((
                Occurrence {
                    value: (t.start, tokens[j].end),
                    list_open: Some(t.end),
                    entries,
                    first_entry_start: first,
                },
                j + 1,
            ))
        }
        Tok::Str(s) | Tok::Word(s) => Ok((
            Occurrence {
                value: (t.start, t.end),
                list_open: None,
                entries: vec![s.clone()],
                first_entry_start: Some(t.start),
            },
            i + 1,
        )),
        _ => bail!("line {}: expected a value", line_of(text, t.start)),
    }
}
