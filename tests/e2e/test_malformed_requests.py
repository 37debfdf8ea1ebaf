"""Malformed requests to every operation of every service kecs serves: never a 5xx.

Raw HTTP (no boto3), SigV4-signed with the fixture's keys, so the same requests pass the
signature check when a daemon runs with --auth-keys. For each operation of the ECS, Cloud
Map (JSON 1.1) and EC2 (Query) models in third_party/aws-models, the test sends a bounded
set of malformed requests: bodies that are not JSON or not an object, every top-level
member with a value of each wrong type, nulls (member, list element, nested member),
huge strings, negative and overflowing numbers, invalid UTF-8 and control characters, and
for EC2 bad Query parameters. Each answer must be below 500 and, when it is an error, a
well-formed error body in the protocol's shape (a JSON object with __type; XML that a
strict parser reads, with the EC2 or Query error elements).
"""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "third_party", "aws-models")
ACCESS_KEY, SECRET_KEY = "AKIDKECSTEST", "secret"
HUGE = "x" * 200_000
# Cases per operation are bounded so the whole file runs in well under 90 s.
MAX_MEMBERS_PER_OP = 8


def load(service):
    with open(os.path.join(MODELS, service, "service-2.json")) as f:
        return json.load(f)


# ---- SigV4 (the same algorithm botocore uses) ----

def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method, path, headers, body, region, service):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = dict(headers)
    headers["x-amz-date"] = amz_date
    signed = sorted(k.lower() for k in headers)
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    canonical = "\n".join([method, path, "", "".join(f"{h}:{lower[h]}\n" for h in signed),
                           ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = _hmac(("AWS4" + SECRET_KEY).encode(), date)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    return headers


class Client:
    def __init__(self, kecs):
        self.kecs = kecs
        self.host, self.port = "127.0.0.1", kecs.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.sent = 0

    def post(self, headers, body, region="us-east-1", service="ecs"):
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        headers = dict(headers, Host=f"{self.host}:{self.port}")
        headers = sign("POST", "/", headers, body, region, service)
        headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body=body, headers=headers)
                r = self.conn.getresponse()
                self.sent += 1
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
            except (http.client.HTTPException, ConnectionError):
                # The server may close a keep-alive connection; one fresh retry, then fail.
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt or self.kecs.proc.poll() is not None:
                    raise AssertionError(f"no answer to {body[:300]!r} ({headers.get('X-Amz-Target')}):\n"
                                         + self.kecs.log()[-3000:])
        raise AssertionError("unreachable")


# ---- Values: well-typed fillers and wrong-typed replacements ----

def filler(model, shape_name, depth=0):
    """A minimal well-typed value of the shape: required members only."""
    s = model["shapes"][shape_name]
    t = s["type"]
    if t == "structure":
        if depth > 6:
            return {}
        return {m: filler(model, s["members"][m]["shape"], depth + 1) for m in s.get("required", [])}
    if t == "list":
        return [filler(model, s["member"]["shape"], depth + 1)]
    if t == "map":
        return {"k": filler(model, s["value"]["shape"], depth + 1)}
    if t == "string":
        return s["enum"][0] if "enum" in s else "x"
    if t in ("integer", "long"):
        return max(1, s.get("min", 1))
    if t in ("double", "float"):
        return 1.0
    if t == "boolean":
        return True
    if t == "timestamp":
        return 1700000000
    if t == "blob":
        return "eA=="
    return "x"


def wrong_values(model, shape_name):
    """JSON values a member of this shape must not crash on: wrong types, nulls, extremes."""
    s = model["shapes"][shape_name]
    t = s["type"]
    common = [None, {"nested": None}]
    if t == "structure":
        first = next(iter(s.get("members", {})), None)
        extra = [{first: None}, {first: [None]}, {first: HUGE}] if first else []
        return common + ["str", [1], 7] + extra
    if t == "list":
        return common + ["str", [None], [None, "x"], [[]], [{}], [HUGE], [-1], list(range(1000))]
    if t == "map":
        return common + ["str", [], {"k": None}, {"": ""}, {HUGE: HUGE}]
    if t == "string":
        return common + [12, -1, True, [], HUGE, "", "\u0000\u001b[31m", "a" * 2048,
                         "../../../../etc/passwd", "arn:aws:ecs:us-east-1:000000000000:x/y/z",
                         "-99999999999999999999999", "\udcff\udcfe"]
    if t in ("integer", "long"):
        return common + ["12", True, -1, 0, 2**31, -2**31 - 1, 2**63 - 1, 2**64, -2**63, 1.5,
                         1e300]
    if t == "boolean":
        return common + ["true", 1, []]
    if t == "timestamp":
        return common + ["yesterday", -1, 2**64, 1e300]
    return common + ["x", 1]


def dumps(obj):
    # surrogateescape strings become raw invalid UTF-8 bytes on the wire.
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogateescape")


# ---- Assertions on answers ----

def check_json_answer(op, case, status, headers, body):
    assert status < 500, f"{op} {case}: HTTP {status}: {body[:400]!r}"
    try:
        doc = json.loads(body.decode("utf-8")) if body else {}
    except ValueError:
        raise AssertionError(f"{op} {case}: HTTP {status}, body is not JSON: {body[:400]!r}")
    if status >= 400:
        assert isinstance(doc, dict) and isinstance(doc.get("__type"), str) and doc["__type"], \
            f"{op} {case}: error without __type: {body[:400]!r}"
        for key in ("message", "Message"):
            if key in doc:
                msg = doc[key]
                assert isinstance(msg, str)
                for leak in ("sqlite", "json.exception", "stoll", "stoi", "what()"):
                    assert leak not in msg.lower(), f"{op} {case}: leaks {leak}: {msg[:300]}"


def check_xml_answer(op, case, status, body, flavor):
    assert status < 500, f"{op} {case}: HTTP {status}: {body[:400]!r}"
    body.decode("utf-8")  # strict: every byte sequence valid UTF-8
    for b in body:
        assert b >= 0x20 or b in (9, 10, 13), f"{op} {case}: control byte {b} in {body[:400]!r}"
    root = ET.fromstring(body)  # a strict XML parser: raises on anything not well-formed
    if status >= 400:
        if flavor == "ec2":
            assert root.tag == "Response", body[:400]
            code = root.find("./Errors/Error/Code")
            assert code is not None and code.text, body[:400]
            assert root.find("./Errors/Error/Message") is not None, body[:400]
        else:
            assert root.tag.endswith("ErrorResponse"), body[:400]


# ---- JSON 1.1 services ----

def json_cases(model, op):
    """(label, raw body bytes) for one operation, bounded."""
    yield "not json", b'{"a":'
    yield "null body", b"null"
    yield "list body", b"[]"
    yield "string body", b'"x"'
    yield "invalid utf-8", b'{"x":"\xff\xfe"}'
    yield "deep nesting", b"[" * 5000 + b"]" * 5000
    inp = model["operations"][op].get("input")
    if not inp:
        yield "members on no input", b'{"x": null}'
        return
    base = filler(model, inp["shape"])
    yield "filled", dumps(base)
    members = model["shapes"][inp["shape"]].get("members", {})
    for name in list(members)[:MAX_MEMBERS_PER_OP]:
        for v in wrong_values(model, members[name]["shape"]):
            doc = dict(base)
            doc[name] = v
            label = f"{name}={json.dumps(v, default=str)[:40]}"
            yield label, dumps(doc)
        # One level down: each member of a structure (or of a list's structure element)
        # gets the wrong values too, inside an otherwise well-typed request.
        shape = model["shapes"][members[name]["shape"]]
        in_list = shape["type"] == "list"
        if in_list:
            shape = model["shapes"][shape["member"]["shape"]]
        if shape["type"] != "structure":
            continue
        inner = filler(model, members[name]["shape"])
        inner = inner[0] if in_list else inner
        for sub in list(shape.get("members", {}))[:MAX_MEMBERS_PER_OP]:
            for v in wrong_values(model, shape["members"][sub]["shape"]):
                nested = dict(inner, **{sub: v})
                doc = dict(base)
                doc[name] = [nested] if in_list else nested
                yield f"{name}.{sub}={json.dumps(v, default=str)[:40]}", dumps(doc)


def run_json_service(kecs, service, signing_name):
    model = load(service)
    prefix = model["metadata"]["targetPrefix"]
    client = Client(kecs)
    for op in model["operations"]:
        headers = {"X-Amz-Target": f"{prefix}.{op}",
                   "Content-Type": "application/x-amz-json-1.1"}
        for case, body in json_cases(model, op):
            status, h, answer = client.post(headers, body, service=signing_name)
            check_json_answer(op, case, status, h, answer)
    return client.sent


def test_ecs_operations_never_answer_5xx(kecs):
    assert run_json_service(kecs, "ecs", "ecs") > 1000
    assert kecs.proc.poll() is None, "kecs died:\n" + kecs.log()


def test_cloud_map_operations_never_answer_5xx(kecs):
    assert run_json_service(kecs, "servicediscovery", "servicediscovery") > 500
    assert kecs.proc.poll() is None, "kecs died:\n" + kecs.log()


# ---- EC2 (Query) ----

def ec2_name(member_name, member):
    if "queryName" in member:
        return member["queryName"]
    if "locationName" in member:
        return member["locationName"][0].upper() + member["locationName"][1:]
    return member_name


def ec2_params(model, shape_name, prefix, value, depth=0):
    """Form parameters for `value` in the EC2 protocol's naming."""
    s = model["shapes"][shape_name]
    out = []
    if s["type"] == "structure" and isinstance(value, dict) and depth < 6:
        for k, v in value.items():
            m = s["members"].get(k)
            if m is None:
                continue
            out += ec2_params(model, m["shape"], f"{prefix}.{ec2_name(k, m)}" if prefix else
                              ec2_name(k, m), v, depth + 1)
    elif s["type"] == "list" and isinstance(value, list):
        for i, v in enumerate(value, 1):
            out += ec2_params(model, s["member"]["shape"], f"{prefix}.{i}", v, depth + 1)
    else:
        out.append((prefix, str(value).lower() if isinstance(value, bool) else str(value)))
    return out


def ec2_wrong(shape):
    t = shape["type"]
    common = ["", "%FF%FE", "%00%1B%5B31m", HUGE]
    if t in ("integer", "long"):
        return common + ["abc", "-1", "99999999999999999999", "1.5", str(2**63)]
    if t == "boolean":
        return common + ["maybe"]
    if t == "timestamp":
        return common + ["yesterday", "99999999999999999999"]
    return common + ["&<>\"'", "../../etc/passwd"]


def form(params):
    return "&".join(f"{urllib.parse.quote(k, safe='.')}={v if '%' in v else urllib.parse.quote(v)}"
                    for k, v in params)


def test_ec2_operations_never_answer_5xx(kecs):
    model = load("ec2")
    client = Client(kecs)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def send(op, case, params):
        body = form([("Action", op), ("Version", "2016-11-15")] + params)
        status, _, answer = client.post(headers, body, service="ec2")
        check_xml_answer(op, case, status, answer, "ec2")

    send("NoSuchAction", "unknown action", [])
    send("%FF%00", "invalid utf-8 action", [])
    for op, desc in model["operations"].items():
        send(op, "unknown parameter with controls", [("Bad%00%1B%80", "1")])
        send(op, "malformed escape", [("X", "%G1")])
        inp = desc.get("input")
        if not inp:
            continue
        base = ec2_params(model, inp["shape"], "", filler(model, inp["shape"]))
        send(op, "filled", base)
        members = model["shapes"][inp["shape"]].get("members", {})
        for name in list(members)[:MAX_MEMBERS_PER_OP]:
            m = members[name]
            shape = model["shapes"][m["shape"]]
            wire = ec2_name(name, m)
            rest = [(k, v) for k, v in base if k != wire and not k.startswith(wire + ".")]
            for v in ec2_wrong(shape):
                send(op, f"{wire}={v[:30]}", rest + [(wire, v)])
            if shape["type"] in ("list", "structure"):
                send(op, f"{wire}.1.Bogus", rest + [(wire + ".1.Bogus", "x")])
                send(op, f"{wire}.99999999999999999999", rest + [(wire + ".99999999999999999999", "x")])
    assert client.sent > 1000
    assert kecs.proc.poll() is None, "kecs died:\n" + kecs.log()


# ---- Services kecs does not serve, and regions ----

def test_unserved_services_answer_their_protocols_error(kecs):
    client = Client(kecs)
    # (CloudWatch Logs is served since issue 14; Kinesis is not.)
    status, h, body = client.post({"X-Amz-Target": "Kinesis_20131202.ListStreams",
                                   "Content-Type": "application/x-amz-json-1.1"}, b"{}",
                                  service="kinesis")
    check_json_answer("kinesis.ListStreams", "unserved", status, h, body)
    assert status == 400
    status, _, body = client.post({"Content-Type": "application/x-www-form-urlencoded"},
                                  "Action=DescribeLoadBalancers&Version=2015-12-01",
                                  service="elasticloadbalancing")
    assert status < 500, body


def check_invalid_regions(kecs):
    client = Client(kecs)
    ecs_headers = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
                   "Content-Type": "application/x-amz-json-1.1"}
    for region in ["x" * 5000, "us-east-1x", "mars-north-1", "local"]:
        status, h, body = client.post(ecs_headers, b"{}", region=region, service="ecs")
        check_json_answer("ListClusters", region[:20], status, h, body)
        assert status == 400 and json.loads(body)["__type"] == "InvalidSignatureException", body
        assert len(body) < 1000
        status, _, body = client.post({"Content-Type": "application/x-www-form-urlencoded"},
                                      "Action=DescribeVpcs&Version=2016-11-15", region=region,
                                      service="ec2")
        check_xml_answer("DescribeVpcs", region[:20], status, body, "ec2")
        assert status == 401 and b"<Code>AuthFailure</Code>" in body, body
    # A valid region of another partition is served: its own default VPC, nothing shared.
    status, _, body = client.post({"Content-Type": "application/x-www-form-urlencoded"},
                                  "Action=DescribeVpcs&Version=2016-11-15", region="eu-west-3",
                                  service="ec2")
    assert status == 200, body
    assert b"<isDefault>true</isDefault>" in body


def test_invalid_regions_are_refused_in_each_protocols_shape(kecs):
    check_invalid_regions(kecs)


@pytest.mark.kecs_env(KECS_AUTH_KEYS=f"{ACCESS_KEY}:{SECRET_KEY}")
def test_signed_malformed_requests_with_auth_keys(kecs):
    """With keys configured the signature is checked first: the requests above are signed
    correctly, so they reach validation, and the region check comes after authentication."""
    client = Client(kecs)
    status, _, body = client.post({"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
                                   "Content-Type": "application/x-amz-json-1.1"}, b"{}")
    assert status == 200, body
    model = load("ecs")
    headers = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DescribeClusters",
               "Content-Type": "application/x-amz-json-1.1"}
    for case, body in json_cases(model, "DescribeClusters"):
        status, h, answer = client.post(headers, body)
        check_json_answer("DescribeClusters", case, status, h, answer)
        if status >= 400:
            assert json.loads(answer)["__type"] not in (
                "InvalidSignatureException", "IncompleteSignatureException"), (case, answer)
    check_invalid_regions(kecs)
