"""Keys and access in a real browser: an admin makes a token and sees its secret once (issue 14).

Called by dashboard.py's main() as run(browser, env, step, shot, accessible), with env holding LICENSD_URL and
LICENSD_ADMIN ("email password" of an admin). The admin opens Keys and access, creates a token, sees its secret
once with a copy button (and the secret works as a bearer token), and finds it gone after reloading the answer,
going to the list and coming back; the public keys and dashboard users pages pass axe-core too. Then a License
API key: its shared key shown once with a copy button, gone from the list, revoked behind a confirmation.
"""

import urllib.error
import urllib.request

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect


def bearer_status(url, secret):
    req = urllib.request.Request(f"{url}/api/v1/licenses/", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def run(browser, env, step, shot, accessible):
    url = env["LICENSD_URL"].rstrip("/")
    email, password = env["LICENSD_ADMIN"].split(" ", 1)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = ctx.new_page()
    page.goto(f"{url}/ui/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Keys and access").click()
    expect(page).to_have_url(f"{url}/ui/access")
    expect(page.get_by_role("heading", name="Create a token")).to_be_visible()
    accessible(page, "keys and access")
    shot(page, "access")

    form = page.locator("form", has=page.get_by_role("button", name="Create the token"))
    form.get_by_label("Name").fill("browser ci")
    form.get_by_label("Role").select_option("read-only")
    form.get_by_label("app", exact=True).check()
    form.get_by_label("Description").fill("made in the browser test")
    form.get_by_role("button", name="Create the token").click()
    expect(page.get_by_role("heading", name="Token created")).to_be_visible()
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("lsd_") and len(secret) > 40, secret
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    # Located by what it copies: its name becomes "Copied" for a moment.
    copy = page.locator("button[data-copy='token-secret']")
    copy.click()
    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == secret, copied
    step("the token's secret is shown once, with a copy button that copies it")
    accessible(page, "token created")
    shot(page, "token-created")
    assert bearer_status(url, secret) == 200
    step("the secret works as a bearer token on /api/v1")

    # Reloading the answer posts the form again: the name is taken now, and no secret is shown.
    page.once("dialog", lambda d: d.accept())
    page.reload()
    assert secret not in page.content(), "a reload shows the secret again"
    expect(page.get_by_role("alert")).to_contain_text("a token named")
    page.goto(f"{url}/ui/access")
    expect(page.get_by_role("link", name="browser ci")).to_be_visible()
    assert secret not in page.content(), "the list shows the secret"
    page.get_by_role("link", name="browser ci").click()
    expect(page.get_by_role("heading", name="Token browser ci")).to_be_visible()
    assert secret not in page.content(), "the token's page shows the secret"
    # Back through the history: the answer is not kept (Cache-Control: no-store).
    for _ in range(3):
        try:
            page.go_back()
        except PlaywrightError:
            pass
        assert secret not in page.content(), f"going back shows the secret at {page.url}"
    step("after a reload, the list and going back, the secret is gone")

    page.goto(f"{url}/ui/access/keys")
    expect(page.locator("#public-key")).not_to_be_empty()
    # The RSA PEM for LicenseSpring's SDKs, with its copy button, and its own rotation.
    expect(page.locator("#rsa-public-key-pem")).to_contain_text("-----BEGIN PUBLIC KEY-----")
    page.locator("button[data-copy=rsa-public-key-pem]").click()
    pem = page.evaluate("navigator.clipboard.readText()")
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----END PUBLIC KEY-----"), pem
    expect(page.get_by_text("Rotate the RSA signing key…")).to_be_visible()
    accessible(page, "public keys")
    shot(page, "access-keys")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=ctx.storage_state())
    pp = phone.new_page()
    pp.goto(f"{url}/ui/access/keys")
    width = pp.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the public keys page scrolls sideways on a phone: {width}px"
    phone.close()
    step("the RSA PEM is copied whole, and the page fits a phone's width")
    page.goto(f"{url}/ui/access/users")
    expect(page.get_by_role("cell", name=email)).to_be_visible()
    accessible(page, "dashboard users")
    shot(page, "access-users")

    # License API keys: an API key's shared key shown once, then revoked behind a confirmation.
    page.goto(f"{url}/ui/access/api-keys")
    expect(page.get_by_role("heading", name="Create an API key")).to_be_visible()
    accessible(page, "license api keys")
    form = page.locator("form", has=page.get_by_role("button", name="Create the API key"))
    form.get_by_label("Name").fill("browser app")
    form.get_by_label("app", exact=True).check()
    form.get_by_role("button", name="Create the API key").click()
    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    api_key = page.locator("#api-key-value").inner_text().strip()
    shared = page.locator("#shared-key-value").inner_text().strip()
    assert len(api_key) == 36 and len(shared) == 43, (api_key, shared)
    copy = page.locator("button[data-copy='shared-key-value']")
    copy.click()
    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shared, copied
    step("an API key's shared key is shown once, with a copy button that copies it")
    accessible(page, "api key created")
    shot(page, "api-key-created")
    page.goto(f"{url}/ui/access/api-keys")
    expect(page.get_by_role("cell", name=api_key)).to_be_visible()
    assert shared not in page.content(), "the list shows the shared key"
    shot(page, "api-keys")
    page.locator("details.confirm summary", has_text="Revoke").first.click()
    page.get_by_role("button", name="Confirm: revoke browser app").click()
    expect(page.get_by_role("status")).to_contain_text("The API key is revoked")
    expect(page.get_by_role("cell", name=api_key)).to_have_count(0)
    step("the API key is revoked behind a confirmation, and hidden from the list")
    ctx.close()
