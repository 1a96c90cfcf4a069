"""The catalog in a real browser (issue 14: "create a template"), called by dashboard.py's main().

An admin opens Catalog from the navigation, opens the product `app` (Acme Notes, with the feature
`export-pdf`), and creates a floating template with 3 seats through the form: first with no seat, which is
refused next to the box with the form as typed, then with 3, after which the product's page lists it. axe-core
runs on the catalog, the form and the refused form; screenshots `catalog.png` and `template-form.png`.
"""

from playwright.sync_api import expect


def run(browser, env, step, shot, accessible):
    url = env["LICENSD_URL"].rstrip("/")
    email, password = env["LICENSD_ADMIN"].split(" ", 1)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{url}/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", name="Catalog")).to_be_visible()
    accessible(page, "catalog")
    page.get_by_role("link", name="Acme Notes").click()
    expect(page.get_by_role("heading", name="Acme Notes")).to_be_visible()
    expect(page.locator("section", has=page.locator("#trial"))).to_contain_text("404 NO_TRIAL")
    accessible(page, "catalog product")
    page.get_by_role("link", name="New template").click()
    expect(page.get_by_role("heading", name="New license template")).to_be_visible()
    step("an admin opens Catalog, the product app and its new template form")

    # Every box is labelled and described by its explanation (the reference's words).
    seats = page.get_by_label("Seats")
    assert seats.get_attribute("aria-describedby") == "f-floating_users-help", seats.get_attribute("aria-describedby")
    expect(page.locator("#f-floating_users-help")).to_contain_text("409 NO_SEAT")
    expect(page.locator("#f-max_transfers-help")).to_contain_text("0: unlimited")
    expect(page.locator("#f-max_activations-help")).to_contain_text("empty: unlimited")
    expect(page.get_by_label("Lease timeout (minutes)")).to_have_value("30")
    accessible(page, "template form")
    shot(page, "template-form")

    page.get_by_label("Name name", exact=True).fill("Lab, 3 floating seats")
    page.locator("#f-code").fill("lab-floating")
    page.get_by_label("Floating is_floating_cloud", exact=True).check()
    page.get_by_label("Borrowing allowed").check()
    page.get_by_label("Longest borrow (hours)").fill("72")
    page.get_by_role("checkbox", name="export-pdf").check()
    page.get_by_role("button", name="Create the template").click()
    expect(page.get_by_role("alert")).to_contain_text("a floating template needs at least one seat")
    expect(page.locator("#f-floating_users-error")).to_have_text("a floating template needs at least one seat")
    expect(page.locator("#f-name")).to_have_value("Lab, 3 floating seats")
    expect(page.get_by_label("Longest borrow (hours)")).to_have_value("72")
    accessible(page, "template form with a refusal")
    step("a floating template without seats is refused next to its box, the form as typed")

    page.get_by_label("Seats").fill("3")
    page.get_by_role("button", name="Create the template").click()
    expect(page.get_by_role("status")).to_contain_text("The license template was created.")
    templates = page.locator("section", has=page.locator("#templates"))
    expect(templates.get_by_role("link", name="Lab, 3 floating seats")).to_be_visible()
    expect(templates).to_contain_text("3 floating seat(s)")
    expect(templates).to_contain_text("export-pdf")
    templates.get_by_role("link", name="Lab, 3 floating seats").click()
    expect(page.get_by_label("Seats")).to_have_value("3")
    expect(page.get_by_label("Borrowing allowed")).to_be_checked()
    step("a floating template with 3 seats is created through the form and listed")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("link", name="Lab, 3 floating seats")).to_be_visible()
    shot(page, "catalog")
    ctx.close()
