"""The desk in a real headless Chromium, on a processed batch: what a caseworker sees and does.

One browser for the module. Each page is screenshotted (tests/desk/screenshots/, printed) at 1280x800 and
the review and batch pages at tablet width too.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from pipeline.access import Role
from tests.desk.browser import TABLET, chromium, console_errors, pictures_loaded, screenshot, wait_for
from tests.desk.desk_data import (
    BATCH,
    HOSTILE_LABEL,
    HOSTILE_NAME,
    HOSTILE_QUOTE,
    HOSTILE_REVIEWER,
    HOSTILE_TAG,
    UPLOADS,
    DeskData,
    served,
)


@pytest.fixture(scope="module")
def person(desk_data: DeskData) -> str:
    """The person with the most faces, labelled with a hostile label by a reviewer."""
    found = str(desk_data.rows("SELECT person_id FROM v_persons ORDER BY face_count DESC, person_id")[0][0])
    desk_data.runtime.reviews.label(found, HOSTILE_LABEL, "amina")
    return found


@pytest.fixture(scope="module")
def base(desk_data: DeskData) -> Iterator[str]:
    with served(desk_data.as_user(HOSTILE_REVIEWER, Role.REVIEWER)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def pages(data: DeskData, person: str) -> dict[str, str]:
    return {
        "batches": "/",
        "batch": f"/batches/{BATCH}",
        "image": f"/images/{data.image_id('two_people.jpg')}",
        "image-text": f"/images/{data.image_id('page_of_text.png')}",
        "image-hostile": f"/images/{data.image_id(HOSTILE_NAME)}",
        "review": "/review",
        "persons": "/persons",
        "person": f"/persons/{person}",
        "search": "/search?q=portrait",
    }


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, "main")
    pictures_loaded(driver)


def no_alert(driver) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def texts(driver, css: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]


def test_the_batch_page_lists_its_images_with_their_thumbnails(browser, base, desk_data):
    open_page(browser, f"{base}/batches/{BATCH}")
    assert sorted(texts(browser, ".card .file")) == sorted(UPLOADS.values())
    thumbnails = browser.find_elements(By.CSS_SELECTOR, "img.thumb")
    assert len(thumbnails) == len(UPLOADS) - 1  # the file that is not an image has no picture
    assert all(image.get_property("naturalWidth") > 0 for image in thumbnails)
    broken = next(
        card for card in browser.find_elements(By.CSS_SELECTOR, ".card") if "not_an_image" in card.text
    )
    assert "no picture" in broken.text and "not a decodable image" in broken.text
    screenshot(browser, "batch")
    screenshot(browser, "batch-tablet", TABLET)


def test_hostile_names_tags_labels_and_reviewer_are_shown_as_text(browser, base, desk_data, person):
    for path in (
        f"/batches/{BATCH}",
        f"/images/{desk_data.image_id('grace_hopper.jpg')}",
        f"/persons/{person}",
    ):
        open_page(browser, base + path)
        page = browser.find_element(By.TAG_NAME, "body").text
        assert HOSTILE_REVIEWER in page  # the signed-in name in the bar
        injected = browser.execute_script(
            "return [...document.querySelectorAll('[onerror],[onload],img[src=\"x\"],u,b,i')].length"
        )
        assert injected == 0, path
        scripts = browser.execute_script("return [...document.scripts].map((s) => s.src)")
        assert len(scripts) == 1 and urlsplit(scripts[0]).path == "/desk/static/desk.js", scripts
        assert no_alert(browser)
    open_page(browser, f"{base}/batches/{BATCH}")
    names = texts(browser, ".card .file")
    assert HOSTILE_NAME in names and HOSTILE_QUOTE in names
    open_page(browser, f"{base}/images/{desk_data.image_id('grace_hopper.jpg')}")
    assert HOSTILE_TAG in browser.find_element(By.CSS_SELECTOR, ".chips").text
    open_page(browser, f"{base}/images/{desk_data.image_id(HOSTILE_NAME)}")
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_NAME
    assert browser.title.startswith(HOSTILE_NAME)
    screenshot(browser, "image-hostile")
    open_page(browser, f"{base}/persons/{person}")
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_LABEL
    assert (
        browser.find_element(By.CSS_SELECTOR, "form.person-label input").get_attribute("value")
        == HOSTILE_LABEL
    )


def test_every_page_has_the_security_headers_and_breaks_no_rule_of_its_policy(
    browser, base, desk_data, person
):
    console_errors(browser)  # forget what came before
    for name, path in pages(desk_data, person).items():
        with urllib.request.urlopen(base + path, timeout=30) as answer:
            headers = answer.headers
        policy = headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'", policy
        assert directives["frame-ancestors"] == "'none'" and "unsafe" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        open_page(browser, base + path)
        time.sleep(0.2)
        assert console_errors(browser) == [], name  # a blocked inline script or style would be logged here
        screenshot(browser, name)


def test_pictures_come_from_the_app_itself(browser, base, desk_data, person):
    origin = urlsplit(base).netloc
    for path in pages(desk_data, person).values():
        open_page(browser, base + path)
        sources = browser.execute_script(
            "return [...document.querySelectorAll('img[src],script[src],link[href]')]"
            ".map((e) => e.src || e.href)"
        )
        assert sources, path
        for source in sources:
            assert urlsplit(source).netloc == origin and urlsplit(source).path.startswith("/desk/"), source
        html = browser.page_source
        assert "sig=" not in html and ".blob.core." not in html and "devstoreaccount1" not in html
    photo = f"{base}/desk/media/photos/{desk_data.image_id('two_people.jpg')}"
    with urllib.request.urlopen(photo, timeout=30) as answer:
        assert answer.headers["Cache-Control"].startswith("private")
        assert answer.headers["Content-Type"] == "image/jpeg" and answer.read(3) == b"\xff\xd8\xff"


def test_the_image_page_draws_a_box_over_each_face(browser, base, desk_data):
    open_page(browser, f"{base}/images/{desk_data.image_id('two_people.jpg')}")
    picture = browser.find_element(By.CSS_SELECTOR, ".image-main .photo img").rect
    boxes = [box.rect for box in browser.find_elements(By.CSS_SELECTOR, ".image-main svg rect.face-box")]
    assert len(boxes) == 2
    for box in boxes:
        assert box["width"] > 20 and box["height"] > 20
        middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert picture["x"] < middle[0] < picture["x"] + picture["width"]
        assert picture["y"] < middle[1] < picture["y"] + picture["height"]
    # The two faces sit in the two halves of the picture (Eileen Collins left, Grace Hopper right).
    assert sorted(box["x"] for box in boxes)[1] > picture["x"] + picture["width"] / 2
    assert texts(browser, ".faces-list .face p:first-of-type") == ["Face 1", "Face 2"]


def _pair(driver) -> tuple[str, str]:
    section = driver.find_element(By.ID, "pair")
    return section.get_attribute("data-face"), section.get_attribute("data-matched")


def _next_pair_shown(driver, before: tuple[str, str]) -> None:
    WebDriverWait(driver, 15).until(
        lambda d: _pair(d) != before or d.find_element(By.ID, "queue-empty").is_displayed()
    )


def test_a_confirm_by_click_and_a_reject_by_key_land_in_sql_with_the_reviewer(browser, base, desk_data):
    open_page(browser, f"{base}/review")
    screenshot(browser, "review-tablet", TABLET)
    first = _pair(browser)
    assert all(first)
    browser.find_element(By.CSS_SELECTOR, "button[data-decision=confirm]").click()
    _next_pair_shown(browser, first)
    second = _pair(browser)
    assert second != first and all(second)
    assert "Confirmed" in browser.find_element(By.ID, "review-outcome").text
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    _next_pair_shown(browser, second)
    decided = {
        (str(face), str(other)): (state, reviewer)
        for face, other, state, reviewer in desk_data.rows(
            "SELECT face_id, matched_face_id, state, reviewer FROM v_match_reviews WHERE state <> 'pending'"
        )
    }
    assert decided[first] == ("confirmed", HOSTILE_REVIEWER)
    assert decided[second] == ("rejected", HOSTILE_REVIEWER)
    audited = desk_data.rows(
        "SELECT COUNT(*) FROM v_audit WHERE action = 'review' AND actor = ?", HOSTILE_REVIEWER
    )
    assert audited[0][0] == 2


def test_a_viewer_sees_no_button_to_decide_and_cannot_post(browser, desk_data, person):
    with served(desk_data.as_user("vera viewer", Role.VIEWER)) as viewer_base:
        open_page(browser, f"{viewer_base}/review")
        assert browser.find_elements(By.CSS_SELECTOR, "button[data-decision]") == []
        assert "deciding needs the reviewer role" in browser.find_element(By.TAG_NAME, "main").text
        screenshot(browser, "review-viewer")
        browser.find_element(By.TAG_NAME, "body").send_keys("y")  # the key does nothing either
        status = browser.execute_script(
            "const token = document.querySelector('meta[name=desk-token]').content;"
            "return fetch('/desk/reviews', {method: 'POST', headers: {'Content-Type': 'application/json',"
            "'X-Desk-Token': token}, body: JSON.stringify({face_id: arguments[0], matched_face_id: arguments[0],"
            "decision: 'confirm'})}).then((r) => r.status);",
            "00000000-0000-4000-8000-000000000000",
        )
        assert status == 403
        open_page(browser, f"{viewer_base}/persons/{person}")
        assert browser.find_elements(By.CSS_SELECTOR, "form.person-label, form.person-merge, button") == [
            browser.find_element(By.CSS_SELECTOR, ".bar button")
        ]
        open_page(browser, f"{viewer_base}/images/{desk_data.image_id('two_people.jpg')}")
        assert browser.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
    assert (
        desk_data.rows("SELECT COUNT(*) FROM v_audit WHERE actor = 'vera viewer' AND action = 'denied'")[0][0]
        == 1
    )


@pytest.mark.parametrize("path", ["/", f"/batches/{BATCH}", "/review", "/persons"])
def test_pages_fit_a_tablet_without_sideways_scrolling(browser, base, path):
    browser.set_window_size(*TABLET)
    try:
        open_page(browser, base + path)
        wide = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} is {wide}px wider than a tablet"
    finally:
        browser.set_window_size(1280, 800)


def test_empty_states_and_errors_are_said_in_words(browser, base):
    open_page(browser, f"{base}/images/00000000-0000-4000-8000-000000000000")
    assert "Not found" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, "not-found")
    open_page(browser, f"{base}/batches/no-such-batch")
    assert "batch no-such-batch not found" in browser.find_element(By.TAG_NAME, "main").text
    open_page(browser, f"{base}/images/not-an-id")
    assert "image_id must be a UUID" in browser.find_element(By.TAG_NAME, "main").text
    open_page(browser, f"{base}/search?q=nothing-has-this")
    assert "No image with this tag." in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, "search-empty")
