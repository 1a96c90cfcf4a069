"""Import in a real browser: an admin uploads a DevMate export and follows its run to the report (issue 14).

Called by dashboard.py's main() as run(browser, env, step, shot, accessible), with env holding LICENSD_URL and
LICENSD_ADMIN ("email password" of an admin). The admin opens Import from the navigation, chooses a file of
three customers (one of them invalid), uploads it, and watches the run's page until it has finished (the page's
script polls the progress and reloads it at the end); the report names the invalid record. axe-core checks the
import page and the run's page.
"""

import json

from playwright.sync_api import expect


def export():
    def customer(i, status=1):
        return {"data": {"id": 9000 + i, "email": f"imported{i}@example.net", "first_name": "Imported",
                         "last_name": f"Customer {i}", "company": "", "phone": "", "address": "", "note": "",
                         "date_added": 1443185520, "licenses": [{
                             "license_type_name": "Imported Single", "license_type_id": 9100, "invoice": "",
                             "campaign": "", "date_created": 1446563864, "activations_used": 0, "id": 9200 + i,
                             "expiration_date": None, "is_subscription": False, "status": status,
                             "activations_total": 1, "activation_key": f"IMPORTED-KEY-{i:04d}-ABCDEFGHJKMNPQRS",
                             "products": [{"id": 9300, "name": "Imported App", "bundle_id": "com.acme.imported",
                                           "use_offline_license": False}],
                             "history": [{"type": 2, "user_name": "", "note": "", "timestamp": 1446563864}]}]}}
    records = [customer(1), customer(2, status=9), customer(3)]
    return ("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n").encode()


def run(browser, env, step, shot, accessible):
    url = env["LICENSD_URL"].rstrip("/")
    email, password = env["LICENSD_ADMIN"].split(" ", 1)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{url}/ui/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    expect(page).to_have_url(f"{url}/ui/import")
    expect(page.get_by_role("heading", name="Import from DevMate")).to_be_visible()
    page.get_by_label("DevMate export file").set_input_files(
        files=[{"name": "devmate-export.json", "mimeType": "application/json", "buffer": export()}])
    accessible(page, "import")
    shot(page, "import")
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("heading", name="Import #")).to_be_visible()
    # The script reloads the page once the run has ended; the report is then on it.
    expect(page.get_by_text("The import is finished: 2 of 3 records")).to_be_visible(timeout=30_000)
    expect(page.locator("#import-created")).to_have_text("2")
    expect(page.locator("#import-failed")).to_have_text("1")
    failed = page.locator("#report-table tr", has=page.get_by_text("#9002"))
    expect(failed).to_contain_text("licenses[0].status: must be 1 to 5, not 9")
    step("an uploaded DevMate export is imported, and its report names the record it skipped")
    accessible(page, "import run")
    shot(page, "import-run")
    page.get_by_role("link", name="#9001").click()
    expect(page.get_by_text("imported1@example.net").first).to_be_visible()
    ctx.close()
