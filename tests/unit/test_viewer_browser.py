"""The run viewer in a real browser: headless Chromium (Debian's ``chromium``), driven by Selenium
through the system ``chromium-driver`` (``make test`` installs both)."""

from __future__ import annotations

import http.client
import shutil

import pytest

from tests.unit.test_viewer import HOSTILE, viewer  # noqa: F401  (the served store of the HTTP tests)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    driver_path = shutil.which("chromedriver")
    if driver_path is None or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium and chromium-driver (make test installs them)")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def no_alert(driver) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def page_load(driver) -> WebDriverWait:
    """A wait for the page a click started: the click returns before the new page has loaded."""
    return WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))


def test_list_filter_example_and_hostile_text(viewer, browser):  # noqa: F811
    base, _ = viewer
    browser.get(base + "/")
    assert "8 rows" in browser.find_element(By.ID, "count").text
    box = browser.find_element(By.ID, "q")
    box.send_keys("dull")
    browser.find_element(By.ID, "apply").click()
    # the submit is a page load: wait for the filtered page rather than reading the old one
    page_load(browser).until(lambda d: "q=dull" in d.current_url
                             and "8 rows" not in d.find_element(By.ID, "count").text)
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tr.row")
    assert len(rows) == 2 and all("dull" in r.text for r in rows)
    browser.get(base + "/")
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#rows a") if a.text == "evil")
    link.click()
    page_load(browser).until(lambda d: d.current_url.endswith("/example/evil")
                             and d.find_elements(By.ID, "text"))
    # the hostile text is shown as text, and none of it ran
    assert browser.find_element(By.ID, "text").text == HOSTILE
    assert no_alert(browser)
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.textContent)")
    assert not any("alert(" in s for s in scripts)
    panels = browser.find_elements(By.CSS_SELECTOR, "h3.method")
    assert [p.text for p in panels] == ["kernelshap", "occlusion"]


def test_dot_dot_paths_are_refused(viewer):  # noqa: F811
    base, _ = viewer
    host, port = base.removeprefix("http://").split(":")
    for path in ("/../s.db", "/example/../../s.db", "/%2e%2e/%2e%2e/etc/passwd"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)  # sent as is (a browser would normalise the dots away first)
        assert conn.getresponse().status == 404, path
        conn.close()
