"""Checks recorded LINSTOR REST exchanges against the OpenAPI spec with openapi-core.

The testbed's LINSTOR face appends every exchange to the file named by
TESTBED_LINSTOR_TRAFFIC (one JSON object per line: method, path, query, status,
request_body, response_body). `SpecChecker.check` validates the request and the response
of one exchange with openapi-core's request/response validators.

Two quirks are handled for every document (the issue names them):
- the spec file fails strict spec checking (a `default: null` on a non-nullable array), so
  the spec is loaded with spec checking off;
- enum values compare case-insensitively: python-linstor sends `Plain`/`Combined` where the
  spec says `PLAIN`/`Combined`, the controller answers `COMBINED`. Every string enum of the
  spec becomes the equivalent case-insensitive pattern.

Anything else the real controller does that the spec does not describe is in ALLOWED, with
its reason; `check` reports which of them an exchange needed, so a test can see the list
stays short and used.
"""

import copy
import json
import re
from urllib.parse import parse_qsl

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator, oas30_format_checker

HOST = "http://localhost:3370"  # the spec's server: paths are matched below it

ALLOWED = {
    "error-list": (
        "500 bodies are ApiCallRc lists. The spec's OperationFailed response is a single "
        "ApiCallRc, but the controller serializes every ApiCallRc as a list "
        "(ApiCallRcRestUtils.toResponse) and python-linstor reads a list."
    ),
    "undocumented-status": (
        "The controller answers statuses the spec does not list for the operation (404 for "
        "a missing node on PUT /v1/nodes/{node} or GET …/storage-pools, 500 on storage-pool "
        "create, …); the body is then an ApiCallRc list, checked against ApiCallRcList."
    ),
    "undocumented-get": (
        "GET of one object (/v1/nodes/{node}, /v1/resource-definitions/{resource}, "
        "/v1/nodes/{node}/net-interfaces/{netif}, /v1/nodes/{node}/storage-pools/{pool}) "
        "exists on the controller (Nodes.listSingleNode, …) but not in the spec; the body "
        "is checked against the list item's schema."
    ),
    "layer-data-oneof": (
        "VolumeLayer.data is a oneOf of seven schemas without required properties, so any "
        "object matches several and no real body can pass; each data object is checked "
        "against the schema its `type` names (DRBD → DrbdVolume, STORAGE → StorageVolume)."
    ),
}

# The schema a single-object GET answers with, for the GETs the spec lacks.
SINGLE_GET = [
    (re.compile(r"^/v1/nodes/[^/]+$"), "Node"),
    (re.compile(r"^/v1/resource-definitions/[^/]+$"), "ResourceDefinition"),
    (re.compile(r"^/v1/nodes/[^/]+/net-interfaces/[^/]+$"), "NetInterface"),
    (re.compile(r"^/v1/nodes/[^/]+/storage-pools/[^/]+$"), "StoragePool"),
]

VOLUME_LAYER_SCHEMA = {
    "DRBD": "DrbdVolume",
    "STORAGE": "StorageVolume",
    "LUKS": "LUKSVolume",
    "NVME": "NVMEVolume",
    "WRITECACHE": "WritecacheVolume",
    "CACHE": "CacheVolume",
    "BCACHE": "BCacheVolume",
}


def case_insensitive_enums(node):
    """Replaces every string enum with the case-insensitive pattern that accepts the same
    words (in place)."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            del node["enum"]
            node["pattern"] = "(?i)^(?:" + "|".join(re.escape(v) for v in enum) + ")$"
            node.setdefault("type", "string")
        for value in node.values():
            case_insensitive_enums(value)
    elif isinstance(node, list):
        for value in node:
            case_insensitive_enums(value)
    return node


def load_spec(path):
    with open(path) as f:
        return case_insensitive_enums(yaml.safe_load(f))


def _template_regex(template):
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


class SpecChecker:
    def __init__(self, spec_path):
        self.spec = load_spec(spec_path)
        # Spec checking off: the file itself fails it (see the module documentation).
        self.openapi = OpenAPI.from_dict(self.spec, config=Config(spec_validator_cls=None))
        # Literal paths before templated ones, so /v1/nodes/properties/info is not {node}.
        self.paths = sorted(
            ((t, _template_regex(t)) for t in self.spec["paths"]),
            key=lambda p: p[0].count("{"),
        )

    def schema_errors(self, name, document):
        """Errors of `document` against components/schemas/`name`."""
        root = {"$ref": f"#/components/schemas/{name}", "components": self.spec["components"]}
        validator = OAS30Validator(root, format_checker=oas30_format_checker)
        return [f"{name}: {e.json_path}: {e.message}" for e in validator.iter_errors(document)]

    def operation(self, method, path):
        for template, regex in self.paths:
            if regex.match(path):
                return self.spec["paths"][template].get(method.lower())
        return None

    def check(self, ex):
        """Returns (problems, allowances used) for one recorded exchange."""
        problems, used = [], set()
        method, path, status = ex["method"], ex["path"], ex["status"]
        body = copy.deepcopy(ex["response_body"])
        self._split_layer_data(body, problems, used)

        op = self.operation(method, path)
        if op is None:
            schema = next((s for r, s in SINGLE_GET if method == "GET" and r.match(path)), None)
            if schema is None:
                return [f"{method} {path}: not in the spec and not allow-listed"], used
            used.add("undocumented-get")
            name = schema if status < 400 else "ApiCallRcList"
            problems += self.schema_errors(name, body)
            return problems, used

        request = MockRequest(
            HOST,
            method,
            path,
            args=parse_qsl(ex["query"], keep_blank_values=True),
            data=None if ex["request_body"] is None else json.dumps(ex["request_body"]).encode(),
            content_type="application/json",
        )
        problems += [f"request: {e}" for e in self.openapi.iter_request_errors(request)]

        declared = op.get("responses", {}).get(str(status))
        if status >= 400 and declared is None:
            used.add("undocumented-status")
            problems += self.schema_errors("ApiCallRcList", body)
        elif status >= 400 and declared.get("$ref", "").endswith("/OperationFailed"):
            used.add("error-list")
            problems += self.schema_errors("ApiCallRcList", body)
        else:
            data = b"" if body is None else json.dumps(body).encode()
            response = MockResponse(data, status_code=status, content_type="application/json")
            problems += [f"response: {e}" for e in self.openapi.iter_response_errors(request, response)]
        return problems, used

    def _split_layer_data(self, node, problems, used):
        """Checks each VolumeLayer's data against the schema its type names and removes it
        from the document, so the unsatisfiable oneOf is not evaluated."""
        if isinstance(node, dict):
            layers = node.get("layer_data_list")
            if isinstance(layers, list):
                for layer in layers:
                    if isinstance(layer, dict) and "data" in layer:
                        used.add("layer-data-oneof")
                        schema = VOLUME_LAYER_SCHEMA.get(str(layer.get("type")).upper())
                        if schema is None:
                            problems.append(f"layer type {layer.get('type')!r} has no schema")
                        else:
                            problems += self.schema_errors(schema, layer.pop("data"))
            for value in node.values():
                self._split_layer_data(value, problems, used)
        elif isinstance(node, list):
            for value in node:
                self._split_layer_data(value, problems, used)


def read_traffic(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
