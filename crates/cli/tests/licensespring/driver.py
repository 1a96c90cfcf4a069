"""LicenseSpring's official Python SDK (`licensespring` 4.0.0, from PyPI) against a real `licensd serve`.

Run by the venv's python that has the SDK: `python driver.py CONFIG.json [--only STEP,STEP]`. CONFIG (written by
crates/cli/tests/cli/licensespring_sdk.rs) says where the server is and what the vendor set up there:

    {"protocol": "http", "domain": "127.0.0.1:PORT",
     "api_key", "shared_key", "public_key_pem", "client_id", "client_secret",
     "product", "product_name", "trial_days", "max_consumptions",
     "license_key" (max_activations 2, consumption license), "offline_license_key" (max_activations 1),
     "floating_license_key" (floating cloud, 1 seat, borrowing up to 24 hours),
     "versions": the product's versions, newest first ({version, installation_file, hash_md5, size}),
     "consumption_feature", "floating_feature" (or null, with "floating_feature_missing": why),
     "user": {"product", "username", "password"} or {"missing": why},
     "workdir": a directory of its own}

The application side is configured only as the wire reference (§3.4) says an application moving to licensd is:
the API domain, the API key and shared key (or an OAuth client), and a `SignatureVerifier` subclass whose
`PUBLIC_KEY` is licensd's PEM. Each "device" is a `HardwareIdProvider` with a fixed id and its own license folder.

Every step prints one line, `PASS name`, `SKIP name: why` or `FAIL name: what was expected, what came`, followed
on failure by the HTTP exchanges of the step (method, path, status, body), so the output says what the server
still lacks. The exit status is 0 only when no step failed.
"""

import base64
import contextlib
import http.client
import http.server
import json
import os
import sys
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from wsgiref.handlers import format_date_time

import requests
import requests.api

import licensespring.api.authorization as ls_authorization
from Crypto.PublicKey import RSA
from licensespring.api import APIClient
from licensespring.api.error import ClientError, InvalidClientCredentials
from licensespring.api.signature import SignatureVerifier
from licensespring.hardware import HardwareIdProvider
from licensespring.licensefile.config import Configuration
from licensespring.licensefile.license_manager import LicenseID, LicenseManager
from licensespring.licensefile.object_parser.customer import Customer

# ---------------------------------------------------------------------------------------------------------------
# Every HTTP exchange the SDK makes, kept so a failed step can show what the server answered.

EXCHANGES = []
_real_request = requests.api.request


def _recording_request(method, url, **kwargs):
    # The SDK sets no timeout; a server that hangs must fail the step, not the whole run.
    kwargs.setdefault("timeout", 15)
    try:
        r = _real_request(method, url, **kwargs)
    except Exception as e:
        EXCHANGES.append({"method": method.upper(), "url": url, "status": None, "error": repr(e)})
        raise
    sent = kwargs.get("json") if kwargs.get("json") is not None else kwargs.get("data")
    if kwargs.get("params"):
        url = r.url  # with its query string
    EXCHANGES.append(
        {
            "method": method.upper(),
            "url": url,
            "sent": sent,
            "status": r.status_code,
            "signature": r.headers.get("LicenseSignature"),
            "content_type": r.headers.get("Content-Type"),
            "body": r.content,
        }
    )
    return r


requests.api.request = _recording_request
requests.request = _recording_request


def show_exchange(x, limit=600):
    path = x["url"].split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else path
    if x["status"] is None:
        return f"    {x['method']} {path} -> no answer: {x['error']}"
    body = x["body"].decode("utf-8", "replace")
    if limit and len(body) > limit:
        body = body[:limit] + f"... ({len(x['body'])} bytes)"
    sig = "signed" if x["signature"] else "unsigned"
    sent = f" {x['sent']!r}" if limit is None and x.get("sent") is not None else ""
    return f"    {x['method']} {path}{sent} -> {x['status']} ({sig}) {body}"


def last_json(path_part):
    """The JSON body of the latest 2xx answer whose URL holds `path_part`."""
    for x in reversed(EXCHANGES):
        if path_part in x["url"] and x["status"] is not None and x["status"] < 300:
            return json.loads(x["body"])
    raise Failed(f"no successful answer from {path_part} was recorded")


# ---------------------------------------------------------------------------------------------------------------
# Checks.


class Failed(Exception):
    pass


class Skipped(Exception):
    pass


def expect(what, expected, got):
    if expected != got:
        raise Failed(f"{what}: expected {expected!r}, got {got!r}")


SOFT = []


def soft(what, expected, got):
    """Like expect, but the step goes on: a field that is wrong while the flow still works. The step fails at its
    end with every such mismatch."""
    if expected != got:
        SOFT.append(f"{what}: expected {expected!r}, got {got!r}")


def expect_true(what, cond, got=None):
    if not cond:
        raise Failed(f"{what}" + (f" (got {got!r})" if got is not None else ""))


def client_error(what, fn, code=None):
    """Runs fn, which must raise the SDK's ClientError (a 4xx with a JSON body) with `code` (any code if None)."""
    try:
        got = fn()
    except ClientError as e:
        if code is not None and e.code != code:
            raise Failed(f"{what}: expected ClientError code {code!r}, got code {e.code!r} (status {e.status}, message {e.message!r})")
        return e
    except Failed:
        raise
    except Exception as e:
        raise Failed(f"{what}: expected ClientError" + (f" code {code!r}" if code else "") + f", got {describe(e)}")
    raise Failed(f"{what}: expected ClientError" + (f" code {code!r}" if code else "") + f", but it succeeded: {short(got)}")


def signature_refused(what, fn):
    """Runs fn, which must be refused by the SDK's signature check: ValueError (bad signature) or TypeError (none)."""
    try:
        got = fn()
    except (ValueError, TypeError) as e:
        if isinstance(e, requests.exceptions.JSONDecodeError):
            raise Failed(f"{what}: expected a signature refusal, got an answer that is not JSON: {describe(e)}")
        return e
    except Exception as e:
        raise Failed(f"{what}: expected the SDK to refuse the signature (ValueError/TypeError), got {describe(e)}")
    raise Failed(f"{what}: expected the SDK to refuse the signature, but it accepted: {short(got)}")


def describe(e):
    if isinstance(e, ClientError):
        return f"ClientError(status={e.status}, code={e.code!r}, message={e.message!r})"
    if isinstance(e, KeyError) and e.args == ("code",):
        return "the SDK could not read a 4xx answer: its JSON body has no `code` (KeyError: 'code')"
    if isinstance(e, requests.exceptions.JSONDecodeError):
        return f"the SDK could not read an answer: its body is not JSON ({e})"
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"{type(e).__name__}: HTTP {e.response.status_code} {e.response.text[:300]!r}"
    return f"{type(e).__name__}: {e}"


def short(v):
    s = repr(v)
    return s if len(s) < 300 else s[:300] + "..."


# ---------------------------------------------------------------------------------------------------------------
# The application's side: devices, the verifier with licensd's key, managers and raw clients.


def device(hwid):
    """A HardwareIdProvider class with a fixed id (the SDK instantiates it itself, and `check_guard` even calls
    `get_id` unbound with another `self`, so the id comes from the closure, not from the instance)."""

    class FixedDevice(HardwareIdProvider):
        def get_id(self):
            return hwid

        def get_os_ver(self):
            return "Linux-6.1-test"

        def get_hostname(self):
            return f"host-{hwid}"

        def get_ip(self):
            return "127.0.0.1"

        def get_mac_address(self):
            return "02:00:00:00:00:01"

        def get_is_vm(self):
            return False

        def get_vm_info(self):
            return None

    FixedDevice.__name__ = f"Device_{hwid}"
    return FixedDevice


def verifier_for(pem):
    class LicensdVerifier(SignatureVerifier):
        PUBLIC_KEY = pem

    return LicensdVerifier


class App:
    def __init__(self, cfg):
        self.cfg = cfg
        self.product = cfg["product"]
        self.verifier = verifier_for(cfg["public_key_pem"])
        self.workdir = cfg["workdir"]

    def domain(self):
        return self.cfg["domain"]

    def base(self):
        return f"{self.cfg['protocol']}://{self.cfg['domain']}/api/v4"

    def manager(self, hwid, product=None, **conf):
        params = dict(
            product=product or self.product,
            api_key=self.cfg["api_key"],
            shared_key=self.cfg["shared_key"],
            hardware_id_provider=device(hwid),
            signature_verifier=self.verifier,
            api_protocol=self.cfg["protocol"],
            api_domain=self.domain(),
            file_path=os.path.join(self.workdir, "devices", hwid),
            # A server error must show as one here, not be absorbed by the SDK's offline grace period.
            grace_period_conf=0,
        )
        params.update(conf)
        return LicenseManager(Configuration(**params))

    def client(self, hwid, **kw):
        params = dict(
            api_key=self.cfg["api_key"],
            shared_key=self.cfg["shared_key"],
            hardware_id_provider=device(hwid),
            signature_verifier=self.verifier,
            api_protocol=self.cfg["protocol"],
            api_domain=self.domain(),
        )
        params.update(kw)
        return APIClient(**params)


def verify_v1(app, hwid, identity, answer):
    """license_signature (v1) over lower(hardware_id#identity#validity_period), as SignatureVerifier checks it."""
    sig = answer.get("license_signature")
    expect_true("the answer carries license_signature", isinstance(sig, str) and sig, sig)
    try:
        app.verifier().verify_license_signature(hwid, identity, answer.get("validity_period"), sig)
    except Exception as e:
        raise Failed(
            f"license_signature does not verify over {hwid}#{identity}#{answer.get('validity_period') or ''} "
            f"with licensd's PEM: {describe(e)}"
        )


# ---------------------------------------------------------------------------------------------------------------
# A proxy between the SDK and licensd that can change one byte of each answer.


class Proxy:
    def __init__(self, upstream):
        self.upstream = upstream  # "host:port"
        self.mode = "pass"
        self.altered = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(proxy.upstream, timeout=15)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    out_headers = [(k, v) for k, v in r.getheaders()]
                    status = r.status
                finally:
                    conn.close()
                data, out_headers = proxy.alter(self.path, status, data, out_headers)
                self.send_response(status)
                for k, v in out_headers:
                    if k.lower() in ("content-length", "transfer-encoding", "connection"):
                        continue
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = forward
            do_POST = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def domain(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def alter(self, path, status, data, headers):
        if status >= 300 or self.mode == "pass":
            return data, headers
        if self.mode == "strip_signature":
            self.altered.append((path, "LicenseSignature header removed"))
            return data, [(k, v) for k, v in headers if k.lower() != "licensesignature"]
        if self.mode == "digit":
            # One digit of a number, so the body stays valid JSON: times_activated, else the first number.
            at = data.find(b'"times_activated":')
            start = at + len(b'"times_activated":') if at >= 0 else data.find(b":") + 1
            for i in range(start, len(data)):
                c = data[i : i + 1]
                if c.isdigit():
                    new = str((int(c) + 1) % 10).encode()
                    self.altered.append((path, f"byte {i}: {c.decode()} -> {new.decode()}"))
                    return data[:i] + new + data[i + 1 :], headers
        if self.mode == "letter":
            # One letter inside a string value: license_type's, else product_name's, else the first one.
            for key in (b'"license_type":"', b'"product_name":"', b'":"'):
                at = data.find(key)
                if at < 0:
                    continue
                for i in range(at + len(key), len(data)):
                    c = data[i : i + 1]
                    if c == b'"':
                        break
                    if c.isalpha():
                        new = b"x" if c != b"x" else b"y"
                        self.altered.append((path, f"byte {i}: {c.decode()} -> {new.decode()}"))
                        return data[:i] + new + data[i + 1 :], headers
        return data, headers

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------------------------
# The scenario. Steps run in order and share `S`; a step whose prerequisite failed fails saying so.

STEPS = []
S = {}


def step(name, needs=()):
    def register(fn):
        STEPS.append((name, tuple(needs), fn))
        return fn

    return register


@step("server_root_answers_200")
def _(app):
    # LicenseManager.is_online(): a plain GET on the domain root must answer 200.
    m = app.manager("dev-root")
    expect("LicenseManager.is_online()", True, m.is_online(throw_e=False))


@step("activate_first_device")
def _(app):
    key = app.cfg["license_key"]
    m = app.manager("dev-1")
    lic = m.activate_license(LicenseID.from_key(key))
    answer = last_json("/activate_license")
    expect("license_key", key, lic.key())
    expect("max_activations", 2, lic.max_activations())
    expect("times_activated", 1, answer.get("times_activated"))
    expect("license_type", "consumption", lic.license_type())
    expect("is_trial()", False, lic.is_trial())
    soft("is_floating_cloud", False, answer.get("is_floating_cloud"))
    soft("is_floating (LicenseSpring's on-premises server)", False, answer.get("is_floating"))
    expect("product_details.short_code", app.product, (answer.get("product_details") or {}).get("short_code"))
    expect("max_consumptions", app.cfg["max_consumptions"], lic.max_consumptions())
    expect_true("is_valid() after activation", lic.is_valid())
    verify_v1(app, "dev-1", key, answer)
    S["m1"], S["lic1"], S["license_id"] = m, lic, answer.get("id")
    expect_true("the license object has an integer id", isinstance(answer.get("id"), int), answer.get("id"))


@step("activate_second_device", needs=["activate_first_device"])
def _(app):
    key = app.cfg["license_key"]
    m = app.manager("dev-2")
    lic = m.activate_license(LicenseID.from_key(key))
    answer = last_json("/activate_license")
    expect("times_activated after the second device", 2, answer.get("times_activated"))
    expect("the same license id on both devices", S["license_id"], answer.get("id"))
    verify_v1(app, "dev-2", key, answer)
    S["m2"], S["lic2"] = m, lic


@step("third_device_refused", needs=["activate_second_device"])
def _(app):
    m = app.manager("dev-3")
    client_error(
        "activate_license on a third device of a license with max_activations 2",
        lambda: m.activate_license(LicenseID.from_key(app.cfg["license_key"])),
        "license_activated_max_times",
    )
    S["m3"] = m


@step("reactivating_an_active_device_takes_no_slot", needs=["activate_second_device"])
def _(app):
    lic = S["m1"].activate_license(LicenseID.from_key(app.cfg["license_key"]))
    answer = last_json("/activate_license")
    expect("times_activated after activating dev-1 again", 2, answer.get("times_activated"))
    S["lic1"] = lic


@step("check", needs=["activate_first_device"])
def _(app):
    lic = S["lic1"]
    answer = lic.check()
    expect_true("License.check() returns the license", isinstance(answer, dict), answer)
    expect("license_key", app.cfg["license_key"], answer.get("license_key"))
    expect("license_active", True, answer.get("license_active"))
    expect("license_enabled", True, answer.get("license_enabled"))
    soft("is_expired", False, answer.get("is_expired"))
    expect("id", S["license_id"], answer.get("id"))
    if "activate_second_device" not in FAILED:
        expect("times_activated", 2, answer.get("times_activated"))
    expect_true("is_valid() after check", lic.is_valid())
    verify_v1(app, "dev-1", app.cfg["license_key"], answer)
    lic.local_check()


@step("license_consumption", needs=["activate_first_device"])
def _(app):
    lic = S["lic1"]
    before = lic.total_consumptions()
    expect_true("total_consumptions is a number", isinstance(before, int), before)
    lic.add_local_consumption(3)
    expect("local_consumptions() before sync", 3, lic.local_consumptions())
    expect("sync_consumption()", True, lic.sync_consumption())
    answer = last_json("/add_consumption")
    expect("add_consumption answer total_consumptions", before + 3, answer.get("total_consumptions"))
    expect("total_consumptions() after sync", before + 3, lic.total_consumptions())
    expect("local_consumptions() after sync", 0, lic.local_consumptions())
    # Another device of the license sees the server's count.
    if "m2" in S:
        other = app.client("dev-2").check_license(product=app.product, license_key=app.cfg["license_key"])
        expect("total_consumptions seen by dev-2's check", before + 3, other.get("total_consumptions"))
    S["consumed"] = before + 3


@step("license_consumption_over_the_limit_refused", needs=["license_consumption"])
def _(app):
    c = app.client("dev-1")
    too_many = app.cfg["max_consumptions"] + 1
    e = client_error(
        f"add_consumption of {too_many} (max_consumptions {app.cfg['max_consumptions']}, {S['consumed']} used)",
        lambda: c.add_consumption(product=app.product, license_key=app.cfg["license_key"], consumptions=too_many),
    )
    answer = c.check_license(product=app.product, license_key=app.cfg["license_key"])
    expect(f"total_consumptions after the refusal ({e.code})", S["consumed"], answer.get("total_consumptions"))


@step("feature_consumption", needs=["activate_first_device"])
def _(app):
    lic, code = S["lic1"], app.cfg["consumption_feature"]
    feature = lic.get_feature_data(code)
    expect_true(f"the license's product_features hold {code!r}", feature, [f for f in lic.features()])
    expect(f"{code}.feature_type", "consumption", feature.get("feature_type"))
    before = feature.get("total_consumptions")
    expect_true(f"{code}.total_consumptions is a number", isinstance(before, int), before)
    lic.add_local_feature_consumption(code, 2)
    expect("sync_feature_consumption()", True, lic.sync_feature_consumption(code))
    answer = last_json("/add_feature_consumption")
    expect("add_feature_consumption answer total_consumptions", before + 2, answer.get("total_consumptions"))
    feature = lic.get_feature_data(code)
    expect(f"{code}.total_consumptions after sync", before + 2, feature.get("total_consumptions"))
    expect(f"{code}.local_consumptions after sync", 0, feature.get("local_consumptions"))
    answer = app.client("dev-1").check_license(product=app.product, license_key=app.cfg["license_key"])
    by_code = {f.get("code"): f for f in answer.get("product_features") or []}
    expect(f"{code}.total_consumptions in the next check", before + 2, (by_code.get(code) or {}).get("total_consumptions"))


@step("feature_consumption_over_the_limit_refused", needs=["feature_consumption"])
def _(app):
    code, c = app.cfg["consumption_feature"], app.client("dev-1")
    key = app.cfg["license_key"]
    before = {f["code"]: f for f in c.check_license(product=app.product, license_key=key)["product_features"]}[code]
    e = client_error(
        f"add_feature_consumption of {before['max_consumption'] + 1} ({code}: max_consumption {before['max_consumption']})",
        lambda: c.add_feature_consumption(product=app.product, license_key=key, feature=code, consumptions=before["max_consumption"] + 1),
    )
    after = {f["code"]: f for f in c.check_license(product=app.product, license_key=key)["product_features"]}[code]
    expect(f"{code}.total_consumptions after the refusal ({e.code})", before["total_consumptions"], after["total_consumptions"])
    client_error(
        "add_feature_consumption of a feature the license does not have",
        lambda: c.add_feature_consumption(product=app.product, license_key=key, feature="no-such-feature", consumptions=1),
        "unsupported_product_feature",
    )


@step("versions_and_installation_file", needs=["activate_first_device"])
def _(app):
    m, key = S["m1"], app.cfg["license_key"]
    versions = m.get_version_list(LicenseID.from_key(key))
    expect("versions (newest first)", [v["version"] for v in app.cfg["versions"]], [v.get("version") for v in versions])
    newest = m.get_installation_file(LicenseID.from_key(key))
    expect("installation_file of the newest version", app.cfg["versions"][0], {k: newest.get(k) for k in app.cfg["versions"][0]})
    older = m.get_installation_file(LicenseID.from_key(key), version=app.cfg["versions"][1]["version"])
    expect("installation_file of the older version", app.cfg["versions"][1], {k: older.get(k) for k in app.cfg["versions"][1]})
    stranger = app.manager("dev-stranger")
    client_error(
        "versions for a device without an activation",
        lambda: stranger.get_version_list(LicenseID.from_key(key)),
        "active_license_required",
    )


@step("product_details")
def _(app):
    m = app.manager("dev-details")
    d = m.get_product_details()
    expect("product_name", app.cfg["product_name"], d.get("product_name"))
    expect("short_code", app.product, d.get("short_code"))
    expect("allow_trial", True, d.get("allow_trial"))
    expect("trial_days", app.cfg["trial_days"], d.get("trial_days"))
    soft("authorization_method", "license-key", d.get("authorization_method"))
    expect_true("product_id is an integer", isinstance(d.get("product_id"), int), d.get("product_id"))


@step("device_variables", needs=["activate_first_device"])
def _(app):
    lic = S["lic1"]
    lic.set_device_variables({"os_build": "22631", "seats_seen": "3"})
    expect("send_device_variables()", True, lic.send_device_variables())
    raw = app.client("dev-1").get_device_variables(product=app.product, license_key=app.cfg["license_key"])
    expect_true("get_device_variables answers a list", isinstance(raw, list), raw)
    got = {v.get("variable"): v.get("value") for v in raw}
    expect("dev-1's variables on the server", {"os_build": "22631", "seats_seen": "3"}, got)
    for v in raw:
        expect_true(f"{v.get('variable')} has a device_id", isinstance(v.get("device_id"), int), v)
        expect_true(f"{v.get('variable')} has created_at", isinstance(v.get("created_at"), str), v)
    # Through the License object (which parses created_at), and not on another device.
    names = {v["variable"]: v["value"] for v in lic.get_device_variables(get_from_be=True)}
    expect("License.get_device_variables()", {"os_build": "22631", "seats_seen": "3"}, names)
    if "m2" in S:
        other = app.client("dev-2").get_device_variables(product=app.product, license_key=app.cfg["license_key"])
        expect("dev-2's variables", [], other)


@step("floating_feature", needs=["activate_second_device"])
def _(app):
    code = app.cfg.get("floating_feature")
    if not code:
        raise Failed(f"no floating feature could be set up: {app.cfg.get('floating_feature_missing')}")
    lic1, lic2 = S["lic1"], S["lic2"]
    f = lic1.get_feature_data(code)
    expect_true(f"the license's product_features hold {code!r}", f, lic1.features())
    expect(f"{code}.is_floating_cloud", True, f.get("is_floating_cloud"))
    expect(f"{code}.floating_users", 1, f.get("floating_users"))
    lic1.check_feature(code)
    answer = last_json("/check_license_feature")
    soft(f"{code}.floating_in_use_devices after dev-1's check_feature", 1, answer.get("floating_in_use_devices"))
    e = client_error(f"check_feature({code!r}) on dev-2 while dev-1 holds the only slot", lambda: lic2.check_feature(code))
    print(f"    (the busy slot's refusal: code {e.code!r}, message {e.message!r})")
    lic1.release_feature(code)
    lic2.check_feature(code)
    answer = last_json("/check_license_feature")
    soft(f"{code}.floating_in_use_devices after dev-1's release", 1, answer.get("floating_in_use_devices"))
    lic2.release_feature(code)
    # An activation feature answers check_license_feature too (it connects the device to it).
    lic1.check_feature(app.cfg["consumption_feature"])


@step("floating_license_seat")
def _(app):
    # A floating-cloud license with one seat: activation takes it, floating/release gives it back.
    key = app.cfg["floating_license_key"]
    ma, mb = app.manager("dev-float-a"), app.manager("dev-float-b")
    a = ma.activate_license(LicenseID.from_key(key))
    answer = last_json("/activate_license")
    expect("is_floating_cloud", True, answer.get("is_floating_cloud"))
    soft("is_floating (LicenseSpring's on-premises server)", False, answer.get("is_floating"))
    expect("floating_users", 1, answer.get("floating_users"))
    soft("floating_in_use_devices after dev-float-a's activation", 1, answer.get("floating_in_use_devices"))
    expect_true("is_floating()", a.is_floating())
    e = client_error("activate_license on a second device while the only seat is taken", lambda: mb.activate_license(LicenseID.from_key(key)))
    print(f"    (the taken seat's refusal: code {e.code!r}, message {e.message!r})")
    a.floating_release(throw_e=True)
    b = mb.activate_license(LicenseID.from_key(key))
    soft("floating_in_use_devices after the release", 1, last_json("/activate_license").get("floating_in_use_devices"))
    S["floating_b"] = b


@step("floating_license_borrow", needs=["floating_license_seat"])
def _(app):
    b = S["floating_b"]
    until = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    b.floating_borrow(until.strftime("%Y-%m-%dT%H:%M:%SZ"))
    answer = last_json("/floating/borrow")
    expect_true("floating/borrow answers borrowed_until", isinstance(answer.get("borrowed_until"), str), answer)
    expect("is_borrowed()", True, b.is_borrowed())
    got = b.borrow_until()
    expect_true("borrow_until() is the time asked for", isinstance(got, datetime) and abs((got - until.replace(tzinfo=None)).total_seconds()) < 2, got)
    b.check()
    expect("is_borrowed() after check", True, b.is_borrowed())


@step("deactivate", needs=["activate_second_device"])
def _(app):
    lic = S["lic2"]
    lic.deactivate()
    text = EXCHANGES[-1]["body"].decode("utf-8", "replace").strip().strip('"')
    expect("deactivate_license answer", "license_deactivated", text)
    expect("license_active() after deactivate", False, lic.license_active())


@step("check_after_deactivate_refused", needs=["deactivate"])
def _(app):
    c = app.client("dev-2")
    client_error(
        "check_license of the deactivated device",
        lambda: c.check_license(product=app.product, license_key=app.cfg["license_key"]),
        "device_not_found",
    )
    client_error(
        "deactivate_license of the deactivated device",
        lambda: c.deactivate_license(product=app.product, license_key=app.cfg["license_key"]),
        "device_not_found",
    )


@step("freed_slot_activates_the_third_device", needs=["deactivate", "third_device_refused"])
def _(app):
    S["m3"].activate_license(LicenseID.from_key(app.cfg["license_key"]))
    expect("times_activated", 2, last_json("/activate_license").get("times_activated"))


@step("trial")
def _(app):
    m = app.manager("dev-trial")
    customer = Customer(email="trial.user@example.com")
    first = m.get_trial_license(customer)
    expect_true("get_trial_license returns a key", isinstance(first.key, str) and first.key, first.key)
    expect_true("the trial key is not the vendor's license key", first.key != app.cfg["license_key"], first.key)
    again = m.get_trial_license(customer)
    expect("the same device's second trial_key", first.key, again.key)
    lic = m.activate_license(first)
    expect("is_trial()", True, lic.is_trial())
    expect("key()", first.key, lic.key())
    validity = lic.validity_period()
    expect_true("a trial has a validity_period", isinstance(validity, datetime), validity)
    want = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=app.cfg["trial_days"])
    expect_true(
        f"validity_period about {app.cfg['trial_days']} days from now",
        abs((validity - want).total_seconds()) < 2 * 86400,
        validity.isoformat(),
    )
    verify_v1(app, "dev-trial", first.key, last_json("/activate_license"))
    lic.check()
    other = app.manager("dev-trial-2").get_trial_license(customer)
    expect_true("another device gets a trial key of its own", other.key and other.key != first.key, other.key)


@step("offline_activation")
def _(app):
    key, hwid = app.cfg["offline_license_key"], "dev-offline"
    m = app.manager(hwid)
    folder = os.path.join(app.workdir, "offline")
    path = m.create_offline_activation_file(LicenseID.from_key(key), folder)
    expect("the request file", os.path.join(folder, "activate_offline.req"), path)
    with open(path) as f:
        content = f.read()
    request = json.loads(base64.b64decode(content))["request"]
    expect("request.hardware_id", hwid, request["hardware_id"])
    # What the vendor's portal, or the application itself, posts: the file as the SDK wrote it.
    c = app.client(hwid)
    answer = c.activate_offline(content)  # verifies license_signature_v2 itself
    raw = EXCHANGES[-1]["body"]
    expect("answer hardware_id", hwid, answer.get("hardware_id"))
    expect("answer request_id (the file's)", request["request_id"], answer.get("request_id"))
    expect("answer license_key", key, answer.get("license_key"))
    expect("answer product_details.short_code", app.product, (answer.get("product_details") or {}).get("short_code"))
    expect_true("answer product_details.prevent_vm", "prevent_vm" in (answer.get("product_details") or {}), answer.get("product_details"))
    verify_v1(app, hwid, key, answer)
    # The .lic the application loads: the answer, base64.
    lic_content = base64.b64encode(raw).decode()
    c.activate_offline_load(lic_content)
    lic_path = os.path.join(folder, "activate_offline.lic")
    with open(lic_path, "w") as f:
        f.write(lic_content)
    lic = m.activate_license_offline(lic_path)  # checks the guard: request id, device
    expect("key() after activate_license_offline", key, lic.key())
    expect("license_active()", True, lic.license_active())
    online = c.check_license(product=app.product, license_key=key)
    expect("times_activated of the offline license, seen online", 1, online.get("times_activated"))
    S["offline_license"] = lic


@step("offline_file_altered_refused", needs=["offline_activation"])
def _(app):
    c = app.client("dev-offline")
    for x in reversed(EXCHANGES):
        if "/activate_offline" in x["url"] and x["status"] == 200:
            body = json.loads(x["body"])
            break
    body["max_activations"] = (body.get("max_activations") or 0) + 5
    altered = base64.b64encode(json.dumps(body).encode()).decode()
    signature_refused("activate_offline_load of a .lic whose max_activations was raised", lambda: c.activate_offline_load(altered))


@step("forged_offline_request_refused")
def _(app):
    # A request file whose content was changed after the SDK signed it (another device's id, same HMAC).
    key = app.cfg["offline_license_key"]
    m = app.manager("dev-forger")
    folder = os.path.join(app.workdir, "offline-forged")
    with open(m.create_offline_activation_file(LicenseID.from_key(key), folder)) as f:
        text = base64.b64decode(f.read()).decode()
    forged = base64.b64encode(text.replace('"dev-forger"', '"dev-forged"').encode()).decode()
    e = client_error("activate_offline of a request file changed after signing", lambda: app.client("dev-forged").activate_offline(forged))
    print(f"    (the forged file's refusal: code {e.code!r}, message {e.message!r})")
    e = client_error("activate_offline of a body that is not base64", lambda: app.client("dev-forged").activate_offline("not a request file"))
    print(f"    (the garbage body's refusal: code {e.code!r}, message {e.message!r})")


@step("offline_deactivation", needs=["offline_activation"])
def _(app):
    key, lic = app.cfg["offline_license_key"], S["offline_license"]
    folder = os.path.join(app.workdir, "offline")
    path = lic.deactivate_offline(folder)
    expect("the request file", os.path.join(folder, "deactivate_offline.req"), path)
    with open(path) as f:
        content = f.read()
    c = app.client("dev-offline")
    text = c.deactivate_offline(content)
    expect("deactivate_offline answer", "license_deactivated", text.strip().strip('"'))
    client_error(
        "check_license after the offline deactivation",
        lambda: c.check_license(product=app.product, license_key=key),
        "device_not_found",
    )


@step("offline_files_of_an_oauth_application", needs=["offline_deactivation"])
def _(app):
    # The same offline round trip from an application configured with an OAuth client instead of an API key:
    # its activation file is HMAC'd with the client secret, its deactivation file (an SDK quirk) with the client id.
    key, hwid = app.cfg["offline_license_key"], "dev-offline-oauth"
    m = app.manager(hwid, api_key=None, shared_key=None, client_id=app.cfg["client_id"], client_secret=app.cfg["client_secret"])
    folder = os.path.join(app.workdir, "offline-oauth")
    with open(m.create_offline_activation_file(LicenseID.from_key(key), folder)) as f:
        content = f.read()
    request = json.loads(base64.b64decode(content))["request"]
    expect("request.client_id", app.cfg["client_id"], request.get("client_id"))
    answer = m.api_client.activate_offline(content)
    expect("answer hardware_id", hwid, answer.get("hardware_id"))
    expect("answer request_id", request["request_id"], answer.get("request_id"))
    lic_path = os.path.join(folder, "activate_offline.lic")
    with open(lic_path, "w") as f:
        f.write(base64.b64encode(EXCHANGES[-1]["body"]).decode())
    lic = m.activate_license_offline(lic_path)
    expect("key()", key, lic.key())
    with open(lic.deactivate_offline(folder)) as f:
        content = f.read()
    expect("deactivate_offline answer", "license_deactivated", m.api_client.deactivate_offline(content).strip().strip('"'))
    client_error(
        "check_license after the OAuth application's offline deactivation",
        lambda: app.client(hwid).check_license(product=app.product, license_key=key),
        "device_not_found",
    )


@step("user_based_activation")
def _(app):
    user = app.cfg.get("user") or {}
    if "missing" in user:
        raise Failed(f"no user-based license could be set up: {user['missing']}")
    m = app.manager("dev-user", product=user["product"])
    try:
        lic = m.activate_license(LicenseID.from_user(user["username"], user["password"]))
    except ClientError:
        if EXCHANGES and EXCHANGES[-1]["status"] == 404:
            raise Skipped(f"the server answers 404 to a user-based activate_license: {EXCHANGES[-1]['body'][:200]!r}")
        raise
    answer = last_json("/activate_license")
    expect("license_user().email", user["username"], lic.license_user().get("email"))
    expect("answer license_key (none for user-based)", None, answer.get("license_key"))
    verify_v1(app, "dev-user", user["username"].split("|")[0], answer)
    lic.check()
    bad = app.manager("dev-user-2", product=user["product"])
    client_error(
        "activate_license with a wrong password",
        lambda: bad.activate_license(LicenseID.from_user(user["username"], user["password"] + "-wrong")),
    )
    S["user_license"], S["user_manager"], S["user_license_id"] = lic, m, answer.get("id")


@step("user_based_licensing_calls", needs=["user_based_activation"])
def _(app):
    user, m, lic = app.cfg["user"], S["user_manager"], S["user_license"]
    listed = m.get_user_licenses(LicenseID.from_user(user["username"], user["password"]))
    expect_true("user_licenses answers a list", isinstance(listed, list), listed)
    ids = [(e.get("license") or {}).get("id") for e in listed]
    expect("the user's licenses", [S["user_license_id"]], ids)
    soft("user_licenses[0].user.email", user["username"], (listed[0].get("user") or {}).get("email"))
    soft("user_licenses[0].license.license_active", True, (listed[0].get("license") or {}).get("license_active"))
    users = m.get_customer_license_users(Customer(email=user["customer"]))
    emails = [u.get("email") for u in (users.get("users") or [])]
    expect(f"customer_license_users of {user['customer']}", [user["username"]], emails)
    new = user["password"] + " again"
    expect("change_password", "password_changed", lic.change_password(user["password"], new).strip().strip('"'))
    other = app.manager("dev-user-3", product=user["product"])
    client_error(
        "activate_license with the old password",
        lambda: other.activate_license(LicenseID.from_user(user["username"], user["password"])),
    )
    other.activate_license(LicenseID.from_user(user["username"], new))
    expect("times_activated after a second device of the user", 2, last_json("/activate_license").get("times_activated"))


@step("oauth_client_credentials", needs=["activate_first_device"])
def _(app):
    r = requests.get(f"{app.base()}/oauth_url", params={"login_type": "client_credentials"})
    expect("GET /api/v4/oauth_url status", 200, r.status_code)
    url = r.json().get("url")
    expect_true("oauth_url answers a token URL on licensd itself", isinstance(url, str) and url.startswith(app.base()), url)
    c = app.client("dev-1", api_key=None, shared_key=None, client_id=app.cfg["client_id"], client_secret=app.cfg["client_secret"])
    answer = c.check_license(product=app.product, license_key=app.cfg["license_key"])
    expect("license_key checked with an OAuth token", app.cfg["license_key"], answer.get("license_key"))
    expect_true("the SDK fetched a token", c.token, c.token)
    auth = [x for x in EXCHANGES if "/check_license" in x["url"]][-1]
    expect("the OAuth check's status", 200, auth["status"])
    bad = app.client("dev-1", api_key=None, shared_key=None, client_id=app.cfg["client_id"], client_secret="not-the-secret")
    try:
        bad.check_license(product=app.product, license_key=app.cfg["license_key"])
    except InvalidClientCredentials:
        pass
    except Exception as e:
        raise Failed(f"a wrong client secret: expected InvalidClientCredentials (error invalid_client), got {describe(e)}")
    else:
        raise Failed("a wrong client secret was accepted")


@step("wrong_shared_key_refused", needs=["activate_first_device"])
def _(app):
    c = app.client("dev-1", shared_key="this-is-not-the-shared-key")
    client_error(
        "check_license signed with a wrong shared key",
        lambda: c.check_license(product=app.product, license_key=app.cfg["license_key"]),
        "signature_mismatch",
    )


@contextlib.contextmanager
def request_date(offset_seconds):
    """The SDK's Date header (and the HMAC over it) `offset_seconds` off the clock."""
    real = ls_authorization.date_header_value
    ls_authorization.date_header_value = lambda: format_date_time(time.time() + offset_seconds)
    try:
        yield
    finally:
        ls_authorization.date_header_value = real


@step("stale_date_refused", needs=["activate_first_device"])
def _(app):
    c = app.client("dev-1")
    with request_date(-5 * 60):
        answer = c.check_license(product=app.product, license_key=app.cfg["license_key"])
        expect("a Date 5 minutes old is accepted", app.cfg["license_key"], answer.get("license_key"))
    with request_date(-3600):
        client_error(
            "check_license with a Date one hour old",
            lambda: c.check_license(product=app.product, license_key=app.cfg["license_key"]),
            "date_header_diff",
        )


@step("altered_answer_refused", needs=["activate_first_device"])
def _(app):
    proxy = Proxy(app.domain())
    try:
        c = app.client("dev-1", api_domain=proxy.domain)
        check = lambda: c.check_license(product=app.product, license_key=app.cfg["license_key"])
        answer = check()
        expect("through the proxy, unaltered: license_key", app.cfg["license_key"], answer.get("license_key"))
        for mode, what in [
            ("digit", "a check answer with one digit changed"),
            ("letter", "a check answer with one letter changed"),
            ("strip_signature", "a check answer without its LicenseSignature header"),
        ]:
            proxy.mode, proxy.altered = mode, []
            e = signature_refused(what, check)
            print(f"    ({what}: the SDK raised {type(e).__name__}: {e})")
            expect_true(f"the proxy changed the answer ({mode})", proxy.altered, proxy.altered)
        proxy.mode, proxy.altered = "letter", []
        signature_refused(
            "a product_details answer with one letter changed", lambda: c.product_details(product=app.product)
        )
        expect_true("the proxy changed product_details", proxy.altered, proxy.altered)
    finally:
        proxy.close()


@step("wrong_public_key_refused", needs=["activate_first_device"])
def _(app):
    other = RSA.generate(2048).publickey().export_key().decode()
    c = app.client("dev-1", signature_verifier=verifier_for(other))
    signature_refused(
        "check_license verified with another RSA key",
        lambda: c.check_license(product=app.product, license_key=app.cfg["license_key"]),
    )
    m = app.manager("dev-wrong-key", signature_verifier=verifier_for(other))
    signature_refused("product_details verified with another RSA key", lambda: m.get_product_details())


@step("signed_bodies_are_canonical_json")
def _(app):
    # Node's SDK verifies LicenseSignature over JSON.stringify(JSON.parse(body)): the signed bytes must be that.
    bad = []
    for x in EXCHANGES:
        if x["status"] is None or x["status"] >= 300 or not x["signature"]:
            continue
        try:
            canonical = json.dumps(json.loads(x["body"]), separators=(",", ":"), ensure_ascii=False).encode()
        except ValueError:
            bad.append(f"{x['url']}: not JSON")
            continue
        if canonical != x["body"]:
            bad.append(f"{x['url']}: {x['body'][:120]!r}")
    expect("signed answers that are not compact canonical JSON", [], bad)


@step("no_server_errors")
def _(app):
    errors = [show_exchange(x) for x in EXCHANGES if x["status"] is not None and x["status"] >= 500]
    expect("5xx answers during the run (the SDK takes them for being offline)", [], errors)
    not_json = []
    for x in EXCHANGES:
        if x["status"] is not None and 400 <= x["status"] < 500 and "/oauth/" not in x["url"]:
            try:
                body = json.loads(x["body"])
                if not isinstance(body, dict) or not isinstance(body.get("code"), str):
                    not_json.append(show_exchange(x))
            except ValueError:
                not_json.append(show_exchange(x))
    expect("4xx answers without a JSON {status, code, message} body (the SDK crashes on them)", [], not_json)


# ---------------------------------------------------------------------------------------------------------------

FAILED = set()
STEP_OF = []


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    with open(args[0]) as f:
        cfg = json.load(f)
    only = None
    if len(args) >= 3 and args[1] == "--only":
        # The named steps and, transitively, the steps they need.
        needs_of = {name: needs for name, needs, _ in STEPS}
        only, todo = set(), list(args[2].split(","))
        while todo:
            n = todo.pop()
            if n not in needs_of:
                print(f"no step {n!r}; steps are: {', '.join(needs_of)}")
                return 2
            if n not in only:
                only.add(n)
                todo.extend(needs_of[n])
    os.makedirs(cfg["workdir"], exist_ok=True)
    app = App(cfg)
    passed, skipped, ran_through = [], [], set()
    started = time.monotonic()
    for name, needs, fn in STEPS:
        if only is not None and name not in only:
            continue
        # A step that ran to its end with only field mismatches (soft) still lets the steps after it run.
        missing = [n for n in needs if n not in passed and n not in ran_through]
        if missing:
            FAILED.add(name)
            print(f"FAIL {name}: not run, it needs {', '.join(missing)}", flush=True)
            continue
        mark = len(EXCHANGES)
        STEP_OF.append((mark, name))
        t = time.monotonic()
        SOFT.clear()
        try:
            fn(app)
            if SOFT:
                ran_through.add(name)
                raise Failed("; ".join(SOFT.pop(0) for _ in list(SOFT)))
        except Skipped as e:
            skipped.append(name)
            print(f"SKIP {name}: {e}", flush=True)
            continue
        except Failed as e:
            FAILED.add(name)
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:
            FAILED.add(name)
            print(f"FAIL {name}: {describe(e)}", flush=True)
            tb = traceback.extract_tb(e.__traceback__)
            here = [fr for fr in tb if fr.filename == __file__]
            if here:
                print(f"    at driver.py line {here[-1].lineno}: {here[-1].line}")
        else:
            passed.append(name)
            print(f"PASS {name} ({time.monotonic() - t:.2f} s)", flush=True)
            continue
        for what in SOFT:
            print(f"    also: {what}", flush=True)
        for x in EXCHANGES[mark:][-4:]:
            print(show_exchange(x), flush=True)
    # Every exchange of the run, by step, for a closer look: <workdir>/exchanges.txt.
    with open(os.path.join(cfg["workdir"], "exchanges.txt"), "w") as f:
        for i, x in enumerate(EXCHANGES):
            for mark, name in STEP_OF:
                if mark == i:
                    print(f"== {name}", file=f)
            print(show_exchange(x, limit=None), file=f)
    total = len(passed) + len(skipped) + len(FAILED)
    print(
        f"\n{len(passed)} of {total} steps passed, {len(FAILED)} failed, {len(skipped)} skipped "
        f"({len(EXCHANGES)} requests, {time.monotonic() - started:.1f} s)"
    )
    if FAILED:
        print("failed: " + ", ".join(n for n, _, _ in STEPS if n in FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
