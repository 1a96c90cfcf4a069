"""The dashboard in a real browser (Debian's Chromium, driven by Playwright for Python).

Run by crates/cli/tests/cli/browser.rs against a real `licensd serve` it started and filled; it is given, in the
environment:
  LICENSD_URL          the server's base URL
  LICENSD_ADMIN        "email password" of an admin user
  LICENSD_MANAGER      "email password" of a manager limited to the product `mine`
  LICENSD_LICENSE_KEY  the key of a license of product `app`, activated on the hardware id `hw-ann-1`,
                       held by the customer ann@example.com (Ann Lee)
  LICENSD_OTHER_CUSTOMER  the id of that customer (a manager of `mine` must not see it)
  LICENSD_SHOTS        where to save screenshots
  CHROMIUM             the browser's executable (default /usr/bin/chromium)
Prints one line per step; any failure raises (exit status 1) with what the page showed.
"""

import json
import os
import sys
import urllib.request

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

import access_flow
import catalog_flow
import import_flow

URL = os.environ["LICENSD_URL"].rstrip("/")
ADMIN = os.environ["LICENSD_ADMIN"].split(" ", 1)
MANAGER = os.environ["LICENSD_MANAGER"].split(" ", 1)
KEY = os.environ["LICENSD_LICENSE_KEY"]
OTHER_CUSTOMER = os.environ["LICENSD_OTHER_CUSTOMER"]
SHOTS = os.environ["LICENSD_SHOTS"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# What the machine's closed network needs (see the environment notes): no background connections.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

axe = Axe()


def step(name):
    print("ok", name, flush=True)


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def accessible(page, name):
    """No serious or critical axe-core violation on this page."""
    results = axe.run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    if bad:
        detail = "\n".join(f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in bad)
        raise AssertionError(f"axe-core on {name}:\n{detail}")
    step(f"axe-core: {name} has no serious violation")


def client(what, key, hw):
    body = json.dumps({"license_key": key, "hardware_id": hw, "product": "app"}).encode()
    req = urllib.request.Request(f"{URL}/api/v1/client/{what}", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def sign_in(page, who):
    page.goto(f"{URL}/")
    expect(page).to_have_url(f"{URL}/ui/login?next=%2F")
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{URL}/")
    expect(page.get_by_role("heading", name="Home")).to_be_visible()


def search(page, text):
    box = page.get_by_role("searchbox", name="Search")
    box.fill(text)
    box.press("Enter")
    expect(page.get_by_role("heading", name="Search")).to_be_visible()


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        # --- An admin's support shift -------------------------------------------------------------------
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto(f"{URL}/ui/login")
        accessible(page, "sign-in")
        shot(page, "sign-in")
        sign_in(page, ADMIN)
        step("signed in as an admin")
        cookie = next(c for c in ctx.cookies() if c["name"] == "licensd_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/", cookie
        step("the session cookie is HttpOnly, SameSite=Strict, Path=/")
        accessible(page, "home")
        shot(page, "home")

        search(page, "ann@example.com")
        customers = page.locator("section", has=page.locator("#r-customers"))
        expect(customers.get_by_role("link", name="Ann Lee")).to_be_visible()
        step("search by email finds the customer")
        accessible(page, "search")
        shot(page, "search")
        search(page, KEY.lower().replace("-", ""))
        licenses = page.locator("section", has=page.locator("#r-licenses"))
        expect(licenses.get_by_role("link", name=KEY)).to_be_visible()
        step("search by key (lower case, no dashes) finds the license")
        search(page, "hw-ann-1")
        devices = page.locator("section", has=page.locator("#r-devices"))
        expect(devices.get_by_text("hw-ann-1")).to_be_visible()
        step("search by hardware id finds the device")

        devices.get_by_role("link").first.click()
        expect(page.get_by_role("heading", name=f"License {KEY}")).to_be_visible()
        accessible(page, "license")
        shot(page, "license")
        assert client("check", KEY, "hw-ann-1")["code"] == "VALID"

        # Disable with a note: the confirmation opens, the note is typed, the check answers DISABLED.
        page.get_by_text("Disable…").click()
        opened = page.locator("details[open]")
        opened.get_by_label("Note for the history (optional)").fill("chargeback 4411")
        opened.get_by_role("button", name="Confirm: disable").click()
        expect(page.get_by_role("status")).to_contain_text("The license is disabled")
        expect(page.locator(".facts .status")).to_have_text("disabled")
        expect(page.locator("#history ~ table")).to_contain_text("chargeback 4411")
        check = client("check", KEY, "hw-ann-1")
        assert check["code"] == "DISABLED", check
        step("disabled with a note; the client's check answers DISABLED")

        page.get_by_text("Enable…").click()
        page.get_by_role("button", name="Confirm: enable").click()
        expect(page.get_by_role("status")).to_contain_text("enabled again")
        page.get_by_text("Reset activations…").click()
        page.get_by_role("button", name="Confirm: reset activations").click()
        expect(page.get_by_role("status")).to_contain_text("Every activation was freed")
        expect(page.locator(".facts")).to_contain_text("0 of 1")
        assert client("check", KEY, "hw-ann-1")["code"] == "NOT_ACTIVATED"
        step("enabled again and reset activations; the device must activate again")

        # The customer's page, from the license.
        page.locator(".facts").get_by_role("link", name="Ann Lee").click()
        expect(page.get_by_role("heading", name="Ann Lee")).to_be_visible()
        accessible(page, "customer")
        shot(page, "customer")

        # Issue licenses to this customer, as a store would: a new order with two licenses of the template `pro`.
        page.get_by_role("link", name="Issue licenses to this customer").click()
        expect(page.get_by_role("heading", name="Issue licenses")).to_be_visible()
        expect(page.get_by_label("Email")).to_have_value("ann@example.com")
        page.get_by_label("Template").select_option(label="Pro (pro)")
        page.get_by_label("How many").fill("2")
        page.get_by_label("Invoice or order id (optional, unique)").fill("INV-BROWSER-1")
        accessible(page, "issue")
        shot(page, "issue")
        page.get_by_role("button", name="Issue").click()
        expect(page.get_by_role("status")).to_contain_text("The order and its licenses were issued")
        expect(page.locator("#c-licenses .count")).to_have_text("3")
        expect(page.locator("section", has=page.locator("#c-orders"))).to_contain_text("INV-BROWSER-1")
        step("issued two licenses from a template to the customer in a new order")

        # A form posted without its CSRF token (from this very browser, with its cookie) is refused.
        license_id = page.locator("table a[href^='/ui/licenses/']").first.get_attribute("href").rsplit("/", 1)[1]
        r = page.request.post(f"{URL}/ui/licenses/{license_id}/act", form={"action": "disable"})
        assert r.status == 403, r.status
        assert client("check", KEY, "hw-ann-1")["code"] != "DISABLED"
        step("a form post without its CSRF token is refused (403) and changes nothing")

        # Readable on a phone.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=ctx.storage_state())
        pp = phone.new_page()
        pp.goto(f"{URL}/ui/licenses/{license_id}")
        width = pp.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the license page scrolls sideways on a phone: {width}px"
        shot(pp, "license-phone")
        step("the license page fits a phone's width")
        phone.close()

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{URL}/ui/login")
        page.goto(f"{URL}/ui/licenses/{license_id}")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        step("signed out; pages ask to sign in again")
        ctx.close()

        catalog_flow.run(browser, os.environ, step, shot, accessible)
        access_flow.run(browser, os.environ, step, shot, accessible)
        import_flow.run(browser, os.environ, step, shot, accessible)

        # --- A manager of another product -----------------------------------------------------------------
        ctx = browser.new_context()
        page = ctx.new_page()
        sign_in(page, MANAGER)
        r = page.goto(f"{URL}/ui/customers/{OTHER_CUSTOMER}")
        assert r.status == 404, r.status
        expect(page.get_by_text("ann@example.com")).to_have_count(0)
        search(page, "ann@example.com")
        expect(page.get_by_text("No customer matches.")).to_be_visible()
        expect(page.get_by_text("No license matches.")).to_be_visible()
        step("a manager of another product sees the customer neither by URL nor by search")
        ctx.close()

        browser.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the Rust test shows this output
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
