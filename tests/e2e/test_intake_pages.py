"""The enterprise's pages in a real browser: fill the form, submit, see the tracking number, open the
tracking page, see the case move after triage. Screenshots go to test-artifacts/e2e/."""

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.conftest import ARTIFACTS
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from tests.integration.harness import Namespace, PlatformProcess, Producer, staff_headers, valid_uscc

pytestmark = pytest.mark.integration
PHONE = "13800005678"


def wait(driver: WebDriver, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


async def test_submit_then_track_until_assigned_then_rate(platform: PlatformProcess, browser: WebDriver,
                                                          ns: Namespace) -> None:
    browser.get(f"{platform.base_url}/e/submit")
    wait(browser).until(lambda d: len(Select(d.find_element(By.ID, "category")).options) > 1)
    browser.find_element(By.ID, "submit-button").click()
    error = wait(browser).until(EC.visibility_of_element_located((By.ID, "form-error")))
    assert "企业名称" in error.text and "联系电话" in error.text and "问题描述" in error.text

    browser.find_element(By.ID, "enterprise_name").send_keys("开化县浏览器测试纸业有限公司")
    browser.find_element(By.ID, "uscc").send_keys(valid_uscc("browser")[:-1] + "0")  # a wrong check character
    browser.find_element(By.ID, "contact_name").send_keys("张三")
    browser.find_element(By.ID, "contact_phone").send_keys(PHONE)
    Select(browser.find_element(By.ID, "category")).select_by_value("utilities")
    Select(browser.find_element(By.ID, "region")).select_by_visible_text("马金镇")
    browser.find_element(By.ID, "content").send_keys("我们公司申请电力增容三个月没有答复，马金镇工业园区经常停电")
    browser.find_element(By.ID, "submit-button").click()
    wait(browser).until(lambda d: "统一社会信用代码" in d.find_element(By.ID, "form-error").text)
    browser.save_screenshot(str(ARTIFACTS / "1-submit-rejected.png"))

    uscc = browser.find_element(By.ID, "uscc")
    uscc.clear()
    uscc.send_keys(valid_uscc("browser"))
    browser.find_element(By.ID, "submit-button").click()
    tracking = wait(browser).until(EC.visibility_of_element_located((By.ID, "tracking-no"))).text
    assert tracking.startswith("QH") and len(tracking) == 15
    browser.save_screenshot(str(ARTIFACTS / "2-submitted.png"))

    browser.find_element(By.ID, "track-link").click()
    wait(browser).until(EC.url_contains("/e/track"))
    # the receipt's link is signed: it opens the case at once, no digits asked
    wait(browser).until(EC.visibility_of_element_located((By.ID, "case")))
    assert browser.find_element(By.ID, "tracking_no").get_attribute("value") == tracking
    assert "token=" in browser.current_url
    browser.save_screenshot(str(ARTIFACTS / "2b-opened-by-receipt-link.png"))
    browser.find_element(By.ID, "phone_last4").send_keys("0000")
    browser.find_element(By.ID, "track-button").click()
    wait(browser).until(lambda d: "不正确" in d.find_element(By.ID, "track-error").text)
    last4 = browser.find_element(By.ID, "phone_last4")
    last4.clear()
    last4.send_keys(PHONE[-4:])
    browser.find_element(By.ID, "track-button").click()
    wait(browser).until(EC.visibility_of_element_located((By.ID, "case")))
    assert browser.find_element(By.ID, "case-tracking-no").text == tracking
    first = done_steps(browser)
    assert first[0] == "received"
    browser.save_screenshot(str(ARTIFACTS / "3-tracked.png"))

    for _ in range(60):  # the case moves as triage decides: ask again like a person would
        if "assigned" in done_steps(browser):
            break
        await asyncio.sleep(0.5)
        browser.find_element(By.ID, "track-button").click()
    steps = done_steps(browser)
    assert steps[:3] == ["received", "screened", "assigned"], steps
    assigned = browser.find_element(By.CSS_SELECTOR, 'li[data-step="assigned"]').text
    assert "国网开化县供电公司" in assigned and "办理时限" in assigned
    assert browser.find_element(By.ID, "case-status").text == "已交办"
    browser.save_screenshot(str(ARTIFACTS / "4-assigned.png"))
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        # the enterprise's view names no ids; staff find the case
        listed = (await client.get("/api/v1/staff/cases", params={"limit": 200}, headers=staff_headers())).json()
    case = next(c for c in listed["items"] if c["tracking_no"] == tracking)
    assert case["channel"] == "qrcode" and case["category"] == "utilities"

    # the unit resolves the case (published as sla would): the tracking page offers the five levels
    now = datetime.now(UTC)
    resolved = CaseEvent.new(cause=str(uuid.uuid4()), type="case.resolved", case_id=case["case_id"], occurred_at=now,
                             data=ce.Resolved(resolution="已完成电力增容", resolved_at=now, on_time=True, by="wang.wu"))
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic("qhwy.case-events.v1"), resolved.to_json(), key=case["case_id"])
    for _ in range(60):
        if browser.find_element(By.ID, "rating").is_displayed():
            break
        await asyncio.sleep(0.5)
        browser.find_element(By.ID, "track-button").click()
    levels = browser.execute_script(
        'return Array.from(document.querySelectorAll("#rating-levels label"), l => l.textContent.trim());')
    assert levels == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"], levels
    browser.find_element(By.ID, "rating-button").click()
    wait(browser).until(lambda d: "请选择评价等级" in d.find_element(By.ID, "rating-error").text)
    browser.find_element(By.ID, "level-very_satisfied").click()
    browser.find_element(By.ID, "rating-comment").send_keys("供电公司很快完成了增容")
    browser.save_screenshot(str(ARTIFACTS / "5-rating.png"))
    browser.find_element(By.ID, "rating-button").click()
    done = wait(browser).until(EC.visibility_of_element_located((By.ID, "rating-done")))
    assert "非常满意" in done.text and not browser.find_element(By.ID, "rating").is_displayed()
    browser.save_screenshot(str(ARTIFACTS / "6-rated.png"))
    assert not browser.find_element(By.ID, "rating-error").text
    for _ in range(60):  # asked again: rated once, no form, and the timeline shows the rating
        await asyncio.sleep(0.5)
        browser.find_element(By.ID, "track-button").click()
        if "rated" in done_steps(browser):
            break
    wait(browser).until(lambda d: "您已评价：非常满意" in d.find_element(By.ID, "rating-done").text)
    assert not browser.find_element(By.ID, "rating").is_displayed()
    assert "非常满意" in browser.find_element(By.CSS_SELECTOR, 'li[data-step="rated"]').text


def done_steps(browser: WebDriver) -> list[str]:
    # read in one script: the page may redraw the timeline between two WebDriver calls
    return browser.execute_script(
        'return Array.from(document.querySelectorAll("#timeline li.done"), li => li.dataset.step);')


async def test_qr_code_opens_the_submission_page(platform: PlatformProcess, browser: WebDriver) -> None:
    browser.get(f"{platform.base_url}/e/qrcode.png")
    browser.save_screenshot(str(ARTIFACTS / "0-qrcode.png"))
    size = browser.execute_script("var i = document.images[0]; return [i.naturalWidth, i.naturalHeight];")
    assert size[0] == size[1] and size[0] >= 200
