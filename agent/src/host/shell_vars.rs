//! Shell-style `KEY=value` files. os-release(5) and `/etc/xensource-inventory` are both meant to
//! be sourced by `sh`, so a value may be quoted (`"…"` or `'…'`) and carry backslash escapes; a
//! plain `split_once('=')` would keep the quotes and break on `PRETTY_NAME="XCP-ng 8.3.0"`.

use std::collections::BTreeMap;

/// The assignments of a shell-style variable file. Comments, blank lines and lines that are not
/// an assignment are skipped: many tools read these files, and one odd line must not make the
/// whole host unreadable.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        if !is_name(key) {
            continue;
        }
        let value = words(raw).into_iter().next().unwrap_or_default();
        vars.insert(key.to_owned(), value);
    }
    vars
}

/// Splits a line into shell words: quoted pieces join the word they touch (`"a"'b'c` is one
/// word), unquoted whitespace separates words, `\x` outside single quotes is a literal `x`
/// (inside double quotes only before `"`, `\`, `$` and `` ` ``, as in sh).
pub fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word can be empty yet present (`''`), so track "started" separately from the text.
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                started = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                started = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => word.push('\\'),
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                started = true;
                if let Some(e) = chars.next() {
                    word.push(e);
                }
            }
            c if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes_are_removed() {
        let vars = parse(
            "# comment\n\
             \n\
             NAME=\"XCP-ng\"\n\
             PRODUCT_VERSION='8.3.0'\n\
             PLAIN=value\n\
             ESCAPED=\"say \\\"hi\\\" \\$HOME \\n\"\n\
             JOINED=\"a b\"'c'd\n\
             export EXPORTED=yes\n\
             EMPTY=\n\
             TRAILING=word # a comment\n\
             not an assignment\n\
             1BAD=x\n",
        );
        assert_eq!(vars["NAME"], "XCP-ng");
        assert_eq!(vars["PRODUCT_VERSION"], "8.3.0");
        assert_eq!(vars["PLAIN"], "value");
        assert_eq!(vars["ESCAPED"], "say \"hi\" $HOME \\n");
        assert_eq!(vars["JOINED"], "a bcd");
        assert_eq!(vars["EXPORTED"], "yes");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars["TRAILING"], "word");
        assert!(!vars.contains_key("1BAD"));
        assert_eq!(vars.len(), 8);
    }

    #[test]
    fn words_split_like_sh() {
        assert_eq!(
            words("menuentry 'XCP-ng (Serial)' --id \"x y\" {"),
            ["menuentry", "XCP-ng (Serial)", "--id", "x y", "{"]
        );
        assert_eq!(words("a '' b"), ["a", "", "b"]);
        assert!(words("   ").is_empty());
    }
}
