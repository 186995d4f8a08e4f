//! One REST call as the handlers see it ([`Call`]) and what they answer ([`Reply`]), apart
//! from tiny_http so handlers stay plain functions that tests can call directly.

use super::api_call_rc::{self, RcEntry};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    pub fn parse(method: &str) -> Method {
        match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

#[derive(Debug)]
pub struct Call {
    pub method: Method,
    /// Path segments, percent-decoded (`/v1/nodes/a%20b` → `["v1", "nodes", "a b"]`).
    pub segments: Vec<String>,
    /// Query parameters in order; lists repeat the key (`nodes=a&nodes=b`), as JAX-RS reads them.
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Call {
    /// Splits a request target (`/v1/nodes?nodes=a`) into segments and query.
    pub fn new(method: Method, target: &str, body: Vec<u8>) -> Call {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let query = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        Call {
            method,
            segments,
            query,
            body,
        }
    }

    /// Every value of a list parameter; an empty value counts as absent.
    pub fn query_all(&self, key: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn query_one(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn query_bool(&self, key: &str) -> bool {
        self.query_one(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `limit`/`offset` as the controller applies them: only when `limit > 0`.
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let num = |k| {
            self.query_one(k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let (limit, offset) = (num("limit"), num("offset"));
        if limit == 0 {
            items
        } else {
            items.into_iter().skip(offset).take(limit).collect()
        }
    }

    /// The body as `T`, or the `API_CALL_PARSE_ERROR` reply of the controller's asynchronous
    /// handlers (`ApiCallRcRestUtils.handleJsonParseException`): it asks for 400, but
    /// `toResponse` lets the error entry win, so the client gets 500.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Reply> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Reply::rc(vec![api_call_rc::parse_error(e.to_string())], 400))
    }

    /// Like [`Call::json`] for the handlers that run in `RequestHelper.doInScope`, which
    /// answer a parse error with a plain 400.
    pub fn json_400<T: DeserializeOwned>(&self) -> Result<T, Reply> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Reply::json(400, vec![api_call_rc::parse_error(e.to_string())]))
    }

    /// Like [`Call::json`], but an empty body means "all defaults" (restore, evacuate).
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Reply> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            Ok(T::default())
        } else {
            self.json()
        }
    }

    /// The body as JSON, for the traffic record.
    pub fn body_json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// None: an empty body (the routes the controller does not have).
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, value: impl Serialize) -> Reply {
        // Serializing our own plain structs cannot fail; Null keeps the reply well-formed anyway.
        Reply {
            status,
            body: Some(serde_json::to_value(value).unwrap_or(Value::Null)),
        }
    }

    pub fn ok(value: impl Serialize) -> Reply {
        Reply::json(200, value)
    }

    /// An `ApiCallRc` list, with the status the controller derives from it.
    pub fn rc(entries: Vec<RcEntry>, success: u16) -> Reply {
        let status = api_call_rc::status_for(&entries, success);
        Reply::json(status, entries)
    }

    /// `value`, or when there is none the bare `ApiCallRc` entry `code` with `message` (no
    /// cause, no correction), as `RequestHelper.queryRequestResponse` answers a lookup.
    pub fn found_or(value: Option<impl Serialize>, code: u64, message: impl FnOnce() -> String) -> Reply {
        match value {
            Some(v) => Reply::ok(v),
            None => Reply::rc(vec![RcEntry::new(code, message())], 200),
        }
    }

    /// `GET /v1/nodes/{node}/<items>[/{wanted}]`: the node's items (`found`, None when the
    /// node does not exist), paged; or only the `wanted` one, `code` and `missing` when the
    /// node has no such item.
    pub fn node_items<T: Serialize>(
        call: &Call,
        node: &str,
        found: Option<Vec<T>>,
        wanted: Option<&str>,
        code: u64,
        missing: impl FnOnce(&str) -> String,
    ) -> Reply {
        match (found, wanted) {
            (None, _) => Reply::rc(vec![api_call_rc::node_not_found(node)], 200),
            (Some(list), None) => Reply::ok(call.page(list)),
            (Some(mut list), Some(want)) => Reply::found_or(list.pop(), code, || missing(want)),
        }
    }

    /// What Jersey answers for a path it has no resource for.
    pub fn no_route() -> Reply {
        Reply {
            status: 404,
            body: None,
        }
    }

    pub fn method_not_allowed() -> Reply {
        Reply {
            status: 405,
            body: None,
        }
    }
}

/// `props=Key=Value` or `props=Key` filters (`ReadOnlyProps.contains`): every filter must match.
pub fn props_match(props: &std::collections::BTreeMap<String, String>, filters: &[String]) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => props.get(k).is_some_and(|pv| pv == v),
        None => props.contains_key(f),
    })
}

/// Name filters compare like LINSTOR names: case-insensitively.
pub fn name_in(name: &str, filter: &[String]) -> bool {
    filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_repeated_query() {
        let call = Call::new(
            Method::Get,
            "/v1/view/resources?nodes=a&nodes=b%2Dc&limit=1",
            vec![],
        );
        assert_eq!(call.segments, ["v1", "view", "resources"]);
        assert_eq!(call.query_all("nodes"), ["a", "b-c"]);
        assert_eq!(call.page(vec![1, 2, 3]), [1]);
    }

    #[test]
    fn a_bad_body_is_a_parse_error_500_or_400_as_on_the_controller() {
        let call = Call::new(Method::Post, "/v1/nodes", b"{".to_vec());
        assert_eq!(call.json::<Value>().unwrap_err().status, 500);
        assert_eq!(call.json_400::<Value>().unwrap_err().status, 400);
    }
}
