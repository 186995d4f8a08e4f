//! XML-RPC, the way XAPI speaks it: `methodCall` / `methodResponse` parsing and writing.
//!
//! Reading accepts everything the spec allows (typed or bare strings, `i4`/`int`/`i8`, `nil`,
//! whitespace between elements). Writing copies XAPI's marshaller (ocaml-rpc `Xmlrpc`): a
//! `<?xml version="1.0"?>` prolog, no whitespace, bare strings and bare 64-bit ints. The same
//! code writes the `methodCall` a plugin gets in `argv[1]` and reads the `methodResponse` it
//! prints.

use super::value::Value;
use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XML-RPC parse error: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MethodResponse {
    /// `<params>`: normally one value (XAPI's `{Status, Value}` struct).
    Params(Vec<Value>),
    /// `<fault>` with `faultCode` and `faultString`.
    Fault { code: i64, string: String },
}

// ---------------------------------------------------------------------------------------------
// A minimal element tree: XML-RPC documents are small, and a tree makes the grammar plain.

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug)]
struct Element {
    name: String,
    children: Vec<Node>,
}

impl Element {
    /// Child elements, skipping the whitespace between them (anything else is an error).
    fn elements(&self) -> Result<Vec<&Element>, ParseError> {
        let mut out = Vec::new();
        for child in &self.children {
            match child {
                Node::Element(e) => out.push(e),
                Node::Text(t) if t.trim().is_empty() => {}
                Node::Text(t) => return err(format!("unexpected text {t:?} in <{}>", self.name)),
            }
        }
        Ok(out)
    }

    fn text(&self) -> Result<String, ParseError> {
        let mut out = String::new();
        for child in &self.children {
            match child {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => return err(format!("unexpected <{}> in <{}>", e.name, self.name)),
            }
        }
        Ok(out)
    }

    fn only_child(&self, name: &str) -> Result<&Element, ParseError> {
        match self.elements()?.as_slice() {
            [one] if one.name == name => Ok(one),
            _ => err(format!("<{}> must hold exactly one <{name}>", self.name)),
        }
    }
}

fn parse_tree(xml: &str) -> Result<Element, ParseError> {
    let mut reader = Reader::from_str(xml);
    // `<nil/>` and `<value/>` become start + end, so one code path handles both spellings.
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError(format!("malformed XML: {e}")))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return err("content after the document element");
                }
                let name = start.name().as_ref().to_string();
                stack.push(Element {
                    name,
                    children: Vec::new(),
                });
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| ParseError("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => push_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => {
                push_text(&mut stack, &data.into_inner())?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|e| ParseError(format!("bad character reference: {e}")))?
                {
                    Some(c) => c.to_string(),
                    None => match resolve_predefined_entity(&reference) {
                        Some(s) => s.to_string(),
                        None => return err(format!("unknown entity &{};", &*reference)),
                    },
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Eof => break,
            // Prolog, comments, processing instructions and DOCTYPE carry no values.
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return err("document ends inside an element");
    }
    root.ok_or_else(|| ParseError("empty document".into()))
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(parent) => {
            // Merge with the previous text node: entity references split text into pieces.
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_string()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => err("text outside the document element"),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

fn parse_value(value: &Element) -> Result<Value, ParseError> {
    if value.name != "value" {
        return err(format!("expected <value>, found <{}>", value.name));
    }
    let elements = value.elements().or_else(|_| Ok::<_, ParseError>(Vec::new()))?;
    let typed = match elements.as_slice() {
        // No type element: the spec says the text is a string.
        [] => return Ok(Value::String(value.text()?)),
        [one] => *one,
        _ => return err("<value> holds more than one element"),
    };
    let text = || typed.text();
    Ok(match typed.name.as_str() {
        "i4" | "int" | "i8" => {
            let t = text()?;
            Value::Int(
                t.trim()
                    .parse()
                    .map_err(|_| ParseError(format!("bad integer {t:?}")))?,
            )
        }
        "boolean" => match text()?.trim() {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            other => return err(format!("bad boolean {other:?}")),
        },
        "double" => {
            let t = text()?;
            Value::Double(
                t.trim()
                    .parse()
                    .map_err(|_| ParseError(format!("bad double {t:?}")))?,
            )
        }
        "string" => Value::String(text()?),
        "dateTime.iso8601" => Value::DateTime(text()?.trim().to_string()),
        // Kept encoded: no XAPI method this testbed serves takes binary data.
        "base64" => Value::String(text()?.trim().to_string()),
        "nil" => Value::Nil,
        "array" => {
            let data = typed.only_child("data")?;
            Value::Array(
                data.elements()?
                    .into_iter()
                    .map(parse_value)
                    .collect::<Result<_, _>>()?,
            )
        }
        "struct" => {
            let mut members = Vec::new();
            for member in typed.elements()? {
                if member.name != "member" {
                    return err(format!("expected <member> in <struct>, found <{}>", member.name));
                }
                let parts = member.elements()?;
                let name = parts
                    .iter()
                    .find(|e| e.name == "name")
                    .ok_or_else(|| ParseError("<member> without <name>".into()))?;
                let value = parts
                    .iter()
                    .find(|e| e.name == "value")
                    .ok_or_else(|| ParseError("<member> without <value>".into()))?;
                members.push((name.text()?, parse_value(value)?));
            }
            Value::Struct(members)
        }
        other => return err(format!("unknown value type <{other}>")),
    })
}

fn parse_params(params: &Element) -> Result<Vec<Value>, ParseError> {
    params
        .elements()?
        .into_iter()
        .map(|param| {
            if param.name != "param" {
                return err(format!("expected <param>, found <{}>", param.name));
            }
            parse_value(param.only_child("value")?)
        })
        .collect()
}

pub fn parse_call(xml: &str) -> Result<MethodCall, ParseError> {
    let root = parse_tree(xml)?;
    if root.name != "methodCall" {
        return err(format!("expected <methodCall>, found <{}>", root.name));
    }
    let parts = root.elements()?;
    let method = parts
        .iter()
        .find(|e| e.name == "methodName")
        .ok_or_else(|| ParseError("<methodCall> without <methodName>".into()))?
        .text()?
        .trim()
        .to_string();
    // XAPI answers a call without <params> with an HTTP 500 (see its wire-protocol doc).
    let params = parts
        .iter()
        .find(|e| e.name == "params")
        .ok_or_else(|| ParseError("<methodCall> without <params>".into()))?;
    Ok(MethodCall {
        method,
        params: parse_params(params)?,
    })
}

pub fn parse_response(xml: &str) -> Result<MethodResponse, ParseError> {
    let root = parse_tree(xml)?;
    if root.name != "methodResponse" {
        return err(format!("expected <methodResponse>, found <{}>", root.name));
    }
    let body = match root.elements()?.as_slice() {
        [one] => *one,
        _ => return err("<methodResponse> must hold <params> or <fault>"),
    };
    match body.name.as_str() {
        "params" => Ok(MethodResponse::Params(parse_params(body)?)),
        "fault" => {
            let fault = parse_value(body.only_child("value")?)?;
            let code = fault.get("faultCode").and_then(Value::as_int);
            let string = fault.get("faultString").and_then(Value::as_str);
            match (code, string) {
                (Some(code), Some(string)) => Ok(MethodResponse::Fault {
                    code,
                    string: string.to_string(),
                }),
                _ => err("<fault> without faultCode and faultString"),
            }
        }
        other => err(format!("expected <params> or <fault>, found <{other}>")),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Escapes text as XAPI does: the five markup characters, and control characters other than
/// tab and newlines dropped (XML 1.0 cannot carry them).
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Nil => out.push_str("<value><nil/></value>"),
        Value::Bool(b) => out.push_str(if *b {
            "<value><boolean>1</boolean></value>"
        } else {
            "<value><boolean>0</boolean></value>"
        }),
        Value::Int(i) => {
            out.push_str("<value>");
            out.push_str(&i.to_string());
            out.push_str("</value>");
        }
        Value::Int32(i) => {
            out.push_str("<value><i4>");
            out.push_str(&i.to_string());
            out.push_str("</i4></value>");
        }
        Value::Double(f) => {
            out.push_str("<value><double>");
            out.push_str(&format_double(*f));
            out.push_str("</double></value>");
        }
        Value::String(s) => {
            out.push_str("<value>");
            escape_into(out, s);
            out.push_str("</value>");
        }
        Value::DateTime(s) => {
            out.push_str("<value><dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601></value>");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array></value>");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>");
            for (name, member) in members {
                out.push_str("<member><name>");
                escape_into(out, name);
                out.push_str("</name>");
                write_value(out, member);
                out.push_str("</member>");
            }
            out.push_str("</struct></value>");
        }
    }
}

/// XML-RPC has no infinities or NaN; finite values print so that they read back exactly.
fn format_double(f: f64) -> String {
    if f.is_finite() {
        format!("{f:?}")
    } else {
        "0.0".to_string()
    }
}

pub fn write_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><methodCall><methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName><params>");
    for param in params {
        out.push_str("<param>");
        write_value(&mut out, param);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>");
    out
}

/// A `methodResponse` carrying one value.
pub fn write_response(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><methodResponse><params><param>");
    write_value(&mut out, value);
    out.push_str("</param></params></methodResponse>");
    out
}

pub fn write_fault(code: i64, string: &str) -> String {
    let fault = Value::Struct(vec![
        (
            "faultCode".to_string(),
            Value::Int32(i32::try_from(code).unwrap_or(i32::MAX)),
        ),
        ("faultString".to_string(), Value::String(string.to_string())),
    ]);
    let mut out = String::from("<?xml version=\"1.0\"?><methodResponse><fault>");
    write_value(&mut out, &fault);
    out.push_str("</fault></methodResponse>");
    out
}
