//! The values XAPI's two wire formats carry, in one neutral type, so the dispatcher never sees
//! XML-RPC or JSON-RPC.
//!
//! XAPI's own marshalling (ocaml-rpc) decides the wire shapes, so they are copied here:
//! an API `int` is 64-bit and goes out as a *bare* XML-RPC string (`<value>42</value>`), or a
//! JSON number; only a few internal 32-bit counts (`valid_ref_counts`) use `<i4>`. Strings go out
//! bare too (`<value>text</value>`), which every XML-RPC client reads as a string.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    /// An API `int` (64-bit): XML-RPC `<value>42</value>`, JSON `42`.
    Int(i64),
    /// A 32-bit count: XML-RPC `<value><i4>3</i4></value>`, JSON `3`.
    Int32(i32),
    Double(f64),
    String(String),
    /// XAPI's `datetime`, as `20240131T12:00:00Z`: XML-RPC `<dateTime.iso8601>`, JSON string.
    DateTime(String),
    Array(Vec<Value>),
    /// A record or map, in the order its fields were given (XAPI keeps the datamodel order).
    Struct(Vec<(String, Value)>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A `string set`.
    pub fn strings<I, S>(items: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
    }

    /// A `(string -> string) map`.
    pub fn string_map<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
        Value::Struct(
            map.into_iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }

    pub fn empty_struct() -> Value {
        Value::Struct(Vec::new())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An API `int` as clients send it: XML-RPC clients use a decimal string (XAPI's own
    /// convention) or `<int>`; JSON clients use a number.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Int32(i) => Some(i64::from(*i)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// An API `float`; an integer is accepted too (a JSON client may write `30` for `30.0`).
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Double(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Int32(i) => Some(f64::from(*i)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Struct(members) => Some(members),
            _ => None,
        }
    }

    /// A `(string -> string) map` parameter (e.g. `host.call_plugin`'s args).
    pub fn as_string_map(&self) -> Option<BTreeMap<String, String>> {
        self.as_struct()?
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect()
    }

    /// A `string set` parameter.
    pub fn as_strings(&self) -> Option<Vec<String>> {
        self.as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// A struct member by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_struct()?.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<u64> for Value {
    fn from(i: u64) -> Value {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Value {
        Value::Int(i64::from(i))
    }
}

/// Builds a struct in field order: `record![("uuid", uuid), ("enabled", true)]`.
#[macro_export]
macro_rules! xapi_record {
    ($(($name:expr, $value:expr)),* $(,)?) => {
        $crate::xapi_face::value::Value::Struct(vec![$(($name.to_string(), $crate::xapi_face::value::Value::from($value))),*])
    };
}
