"""The docs site of the example project opened in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which ``.ci/run`` installs): no console errors, one DAG node per model,
clicking a node opens its model page with its SQL and lights up its upstream and downstream,
search finds and opens a model, the wheel zooms, labels and lineage render. A screenshot is
saved to ``target/docs-screenshot.png`` of the repository (a test artifact).

Skipped when Chromium or selenium is missing, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from runner.cli.main import main

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = REPO / "target" / "docs-screenshot.png"


def require_chromium() -> None:
    """Skip without Chromium, its driver or selenium; fail instead in CI (``CI=true``)."""
    missing = [str(p) for p in (CHROMIUM, DRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ModuleNotFoundError:
        missing.append("the selenium package (the test extra)")
    if missing:
        message = f"the browser test needs {', '.join(missing)} (.ci/run installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path]:
    """The example project (a copy, its sources' identityMap labelled I1) and its docs page."""
    root = tmp_path_factory.mktemp("docs") / "example"
    root.mkdir()
    shutil.copy(REPO / "project.yml", root)
    for folder in ("models", "macros"):
        shutil.copytree(REPO / folder, root / folder)
    yml = root / "project.yml"  # one labelled field, as a data steward would declare it
    yml.write_text(yml.read_text().replace(
        "      identityMap: \"map of namespace to identities; identityMap['ECID'][0].id is the person\"\n",
        "      identityMap: {description: identities by namespace, labels: [I1]}\n"))
    assert main(["docs", "--project-dir", str(root)]) == 0
    return root, root / "target" / "docs" / "index.html"


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "true")


def classes(browser, node: str) -> set[str]:
    element = browser.find_element("css selector", f'g.node[data-id="{node}"]')
    return set(element.get_attribute("class").split())


def test_dag_model_page_search_and_screenshot(site, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    root, page = site
    started = time.perf_counter()
    open_page(browser, page)
    print(f"\npage ready in {time.perf_counter() - started:.2f} s")
    models = sorted(p.stem for p in (root / "models").rglob("*.sql"))

    nodes = browser.find_elements(By.CSS_SELECTOR, "g.node.model")
    assert sorted(n.get_attribute("data-id") for n in nodes) == models
    assert browser.find_element(By.ID, "model-count").text == str(len(models))

    # click a node: its model page, its SQL exactly as written, its lineage lit
    browser.find_element(By.CSS_SELECTOR, 'g.node[data-id="user_engagement"]').click()
    assert browser.current_url.endswith("#model/user_engagement")
    assert browser.find_element(By.CSS_SELECTOR, "#panel h2").text == "user_engagement"
    sql = browser.find_element(By.ID, "sql").get_attribute("textContent")
    assert sql == (root / "models" / "features" / "user_engagement.sql").read_text()
    compiled = browser.find_element(By.ID, "compiled-sql").get_attribute("textContent")
    assert "FROM" in compiled
    statements = browser.find_element(By.ID, "statements").get_attribute("textContent")
    assert statements.startswith("CREATE TABLE user_engagement__") and compiled in statements
    assert "\0" not in statements  # the page put the compiled query back into its statements
    assert {"selected", "lit"} <= classes(browser, "user_engagement")
    assert {"up", "lit"} <= classes(browser, "user_event_counts")
    assert {"up", "lit"} <= classes(browser, "source:experience_events")
    assert {"down", "lit"} <= classes(browser, "training_set")
    assert "lit" not in classes(browser, "subscription_labels")

    # the wheel zooms (the viewport's scale changes), the fit button restores it
    before = browser.find_element(By.ID, "viewport").get_attribute("transform")
    browser.execute_script("document.getElementById('dag').dispatchEvent(new WheelEvent("
                           "'wheel', {deltaY: -300, clientX: 300, clientY: 300, bubbles: true}))")
    after = browser.find_element(By.ID, "viewport").get_attribute("transform")
    assert after != before and "scale(" in after

    # search: the matches marked, Enter opens the first hit
    box = browser.find_element(By.ID, "search")
    box.send_keys("training")
    hits = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#hits li[data-id]")]
    assert hits == ["training_setmodel"]
    assert "match" in classes(browser, "training_set")
    assert "match" not in classes(browser, "user_engagement")
    box.send_keys(Keys.ENTER)
    assert browser.current_url.endswith("#model/training_set")
    assert browser.find_element(By.CSS_SELECTOR, "#panel h2").text == "training_set"
    labels = browser.find_elements(By.CSS_SELECTOR, 'tr[data-column="user_id"] .label')
    assert [label.text for label in labels] == ["I1"]
    lineage = browser.find_element(By.CSS_SELECTOR, 'tr[data-column="user_id"] .lineage').text
    assert lineage == ("experience_events.identityMap, profiles.identityMap via "
                       "experience_events.eventType, experience_events.timestamp, "
                       "experience_events.web.webPageDetails.name, "
                       "profiles.extSourceSystemAudit.createdDate")

    # a source page, and the pages of the header
    browser.find_element(By.CSS_SELECTOR, 'g.node[data-id="source:profiles"]').click()
    assert browser.find_element(By.CSS_SELECTOR, "#panel h2").text == "source profiles"
    for name, heading in (("sources", "Sources"), ("exports", "Exports"), ("run", "Last run")):
        browser.find_element(By.CSS_SELECTOR, f'nav a[href="#{name}"]').click()
        assert browser.find_element(By.CSS_SELECTOR, "#panel h2").text == heading

    box.send_keys(Keys.ESCAPE)
    browser.find_element(By.ID, "fit").click()
    browser.find_element(By.CSS_SELECTOR, 'g.node[data-id="user_engagement"]').click()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    print(f"screenshot: {SCREENSHOT}")

    problems = [entry for entry in browser.get_log("browser")
                if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == []
