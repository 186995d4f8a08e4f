//! JSON-RPC at `/jsonrpc`, as XAPI serves it: both 1.0 and 2.0 requests (2.0 when the request
//! says `"jsonrpc": "2.0"`), positional `params`, and an `id` that must be there (XAPI takes
//! no notifications). Results are the bare value (no `Status`/`Value` envelope); errors are
//! `[CODE, params…]` in 1.0 and `{code: 1, message: CODE, data: [params…]}` in 2.0.

use super::error::Failure;
use super::value::Value;
use serde_json::{Map, Number, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub params: Vec<Value>,
    pub id: serde_json::Value,
    pub v2: bool,
}

/// Parses a request body; an error means XAPI's HTTP 500 (`Jsonrpc.Malformed_method_request`).
pub fn parse_request(body: &[u8]) -> Result<Request, String> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = doc.as_object().ok_or("a JSON-RPC request must be an object")?;
    let v2 = match obj.get("jsonrpc") {
        None => false,
        Some(v) if v == "2.0" => true,
        Some(v) => return Err(format!("unsupported jsonrpc version {v}")),
    };
    let method = obj
        .get("method")
        .and_then(|m| m.as_str())
        .ok_or("missing method")?
        .to_string();
    let params = obj
        .get("params")
        .and_then(|p| p.as_array())
        .ok_or("missing params array")?;
    let id = match obj.get("id") {
        Some(serde_json::Value::Null) | None => {
            return Err("missing id (notifications are not accepted)".into());
        }
        Some(id) => id.clone(),
    };
    Ok(Request {
        method,
        params: params.iter().map(from_json).collect(),
        id,
        v2,
    })
}

pub fn write_response(request: &Request, outcome: &Result<Value, Failure>) -> String {
    let doc = match (request.v2, outcome) {
        (true, Ok(value)) => json!({"jsonrpc": "2.0", "result": to_json(value), "id": request.id}),
        (true, Err(f)) => json!({
            "jsonrpc": "2.0",
            "error": {"code": 1, "message": f.code, "data": f.params},
            "id": request.id,
        }),
        (false, Ok(value)) => json!({"result": to_json(value), "error": null, "id": request.id}),
        (false, Err(f)) => json!({"result": null, "error": f.description(), "id": request.id}),
    };
    doc.to_string()
}

pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::Number((*i).into()),
        Value::Int32(i) => serde_json::Value::Number((*i).into()),
        Value::Double(f) => Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) | Value::DateTime(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Struct(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

pub fn from_json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(members) => {
            Value::Struct(members.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}
