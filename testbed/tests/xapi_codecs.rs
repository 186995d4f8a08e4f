//! The simulated XAPI's codecs: XML-RPC calls and responses as XAPI and Python write them,
//! malformed documents, and JSON-RPC 1.0 and 2.0 envelopes.

mod xapi_support;

use testbed::xapi_face::jsonrpc;
use testbed::xapi_face::xmlrpc::{self, MethodCall, MethodResponse};
use testbed::xapi_face::{Failure, Value};
use xapi_support::*;

fn every_kind() -> Value {
    Value::Struct(vec![
        ("nil".into(), Value::Nil),
        ("yes".into(), Value::Bool(true)),
        ("no".into(), Value::Bool(false)),
        ("int".into(), Value::Int(-9_000_000_000)),
        ("i4".into(), Value::Int32(7)),
        ("double".into(), Value::Double(2.5)),
        ("text".into(), s("a <tag> & \"quotes\" 'é' \t\n")),
        ("empty".into(), s("")),
        ("when".into(), Value::DateTime("20240131T12:34:56Z".into())),
        (
            "list".into(),
            Value::Array(vec![s("a"), Value::Array(vec![]), Value::Struct(vec![])]),
        ),
    ])
}

#[test]
fn xmlrpc_call_round_trip() {
    let params = vec![s("OpaqueRef:x"), every_kind()];
    let xml = xmlrpc::write_call("host.call_plugin", &params);
    let call = xmlrpc::parse_call(&xml).unwrap();
    // A 64-bit int goes out as a bare string (XAPI's convention) and comes back as one.
    let mut expected = params.clone();
    if let Value::Struct(members) = &mut expected[1] {
        members[3].1 = s("-9000000000");
        members[4].1 = Value::Int(7);
    }
    assert_eq!(
        call,
        MethodCall {
            method: "host.call_plugin".into(),
            params: expected
        }
    );
}

#[test]
fn xmlrpc_response_written_as_xapi_writes_it() {
    let envelope = Value::Struct(vec![
        ("Status".into(), s("Success")),
        ("Value".into(), Value::Int(42)),
    ]);
    assert_eq!(
        xmlrpc::write_response(&envelope),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name>\
         <value>Success</value></member><member><name>Value</name><value>42</value></member></struct>\
         </value></param></params></methodResponse>"
    );
    let back = xmlrpc::parse_response(&xmlrpc::write_response(&every_kind())).unwrap();
    let MethodResponse::Params(values) = back else {
        panic!("not params")
    };
    assert_eq!(values[0].get("text"), every_kind().get("text"));
    assert_eq!(values[0].get("when"), every_kind().get("when"));
    assert_eq!(values[0].get("nil"), Some(&Value::Nil));
}

#[test]
fn xmlrpc_reads_what_python_writes() {
    // xmlrpc.client.dumps((...), methodname=...) with allow_none, as the XenAPI SDK sends it.
    let xml = "<?xml version='1.0'?>\n<methodCall>\n<methodName>event.from</methodName>\n<params>\n\
               <param>\n<value><string>OpaqueRef:s</string></value>\n</param>\n\
               <param>\n<value><array><data>\n<value><string>host</string></value>\n</data></array></value>\n</param>\n\
               <param>\n<value><string></string></value>\n</param>\n\
               <param>\n<value><double>30.0</double></value>\n</param>\n\
               <param>\n<value><nil/></value></param>\n\
               <param>\n<value><int>5</int></value></param>\n\
               <param>\n<value><boolean>1</boolean></value></param>\n\
               <param>\n<value>bare &amp; &#x41;</value></param>\n\
               <param>\n<value><struct>\n<member>\n<name>k</name>\n<value><string>v</string></value>\n</member>\n</struct></value></param>\n\
               </params>\n</methodCall>\n";
    let call = xmlrpc::parse_call(xml).unwrap();
    assert_eq!(call.method, "event.from");
    assert_eq!(
        call.params,
        vec![
            s("OpaqueRef:s"),
            Value::Array(vec![s("host")]),
            s(""),
            Value::Double(30.0),
            Value::Nil,
            Value::Int(5),
            Value::Bool(true),
            s("bare & A"),
            Value::Struct(vec![("k".into(), s("v"))]),
        ]
    );
}

#[test]
fn xmlrpc_rejects_malformed_documents() {
    for bad in [
        "",
        "not xml",
        "<methodCall><methodName>x</methodName></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><i4>z</i4></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><foo/></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><struct><member><value/></member></struct></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params>",
        "<methodResponse/>",
    ] {
        assert!(
            xmlrpc::parse_call(bad).is_err() || xmlrpc::parse_response(bad).is_err(),
            "{bad}"
        );
    }
    let fault = xmlrpc::write_fault(3, "boom");
    assert_eq!(
        xmlrpc::parse_response(&fault).unwrap(),
        MethodResponse::Fault {
            code: 3,
            string: "boom".into()
        }
    );
}

#[test]
fn json_round_trip_and_envelopes() {
    let value = every_kind();
    let back = jsonrpc::from_json(&jsonrpc::to_json(&value));
    // JSON has one number type for both int widths and one string type for datetimes.
    assert_eq!(back.get("i4"), Some(&Value::Int(7)));
    assert_eq!(back.get("when"), Some(&s("20240131T12:34:56Z")));
    assert_eq!(back.get("int"), value.get("int"));
    assert_eq!(back.get("list"), value.get("list"));

    let v2 = jsonrpc::parse_request(br#"{"jsonrpc":"2.0","method":"m","params":[1,"a"],"id":3}"#).unwrap();
    assert!(v2.v2);
    let err = Failure::new("SESSION_INVALID", ["OpaqueRef:x"]);
    let doc: serde_json::Value =
        serde_json::from_str(&jsonrpc::write_response(&v2, &Err(err.clone()))).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"jsonrpc": "2.0", "error": {"code": 1, "message": "SESSION_INVALID", "data": ["OpaqueRef:x"]}, "id": 3})
    );
    let v1 = jsonrpc::parse_request(br#"{"method":"m","params":[],"id":"xyz"}"#).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&jsonrpc::write_response(&v1, &Err(err))).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"result": null, "error": ["SESSION_INVALID", "OpaqueRef:x"], "id": "xyz"})
    );
    let doc: serde_json::Value = serde_json::from_str(&jsonrpc::write_response(&v1, &Ok(s("r")))).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"result": "r", "error": null, "id": "xyz"})
    );
    for bad in [
        &b"[]"[..],
        b"{\"method\":\"m\",\"id\":1}",
        b"{\"method\":\"m\",\"params\":[]}",
        b"{",
    ] {
        assert!(jsonrpc::parse_request(bad).is_err());
    }
}
