"""The staff console in headless Chromium, one role after another on one platform: sign in, do the main task,
see the result, be refused what the role may not do. Screenshots of each page go to test-artifacts/console/.

The cases are real: submitted over HTTP, triaged, assigned by sla, rated by the enterprise through its link."""

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.rating import links
from shared.auth import issue_token
from shared.workdays import CalendarSettings, build_calendar
from tests.e2e.conftest import REPO
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, TopicReader, events_of

pytestmark = pytest.mark.integration
ARTIFACTS = REPO / "test-artifacts" / "console"
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|[0-9a-f]{32}")


@pytest.fixture(scope="module")
def platform_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The calendar file of this module's platform: never the checkout's var/."""
    return {"QHWY_CALENDAR_FILE": str(tmp_path_factory.mktemp("calendar") / "calendar.yaml")}


def no_ids(text: str) -> None:
    """What a person reads holds no case UUID and no login id."""
    assert not UUID.search(text), text
    for login in ("wang.wu", "zhou.yanpan", "li.si", "sun.huifang", "qian.jiwei", "zhang.admin", "chen.fagai"):
        assert login not in text, (login, text)
PASSWORD = "kaihua-dev-2026"  # the packaged development directory's password (README)
SIMPLE = "我们公司在马金镇工业园区申请电力增容三个月没有答复，经常停电影响生产"
DOUBTFUL = "华埠镇的厂区需要电力增容，马金镇的仓库也要增容，报装一直没有答复"


def wait(driver: WebDriver, seconds: float = 20) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


@pytest.fixture(scope="module")
def desk(browser: WebDriver) -> Iterator[WebDriver]:
    browser.set_window_size(1366, 900)  # desktop first
    yield browser


def sign_in(driver: WebDriver, base: str, user: str, password: str = PASSWORD) -> None:
    driver.get(f"{base}/console/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{base}/console/#/")
    driver.refresh()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "login-form")))
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()


def signed_in(driver: WebDriver) -> str:
    return wait(driver).until(EC.visibility_of_element_located((By.ID, "who"))).text


def go(driver: WebDriver, page: str) -> None:
    driver.execute_script("location.hash = arguments[0]", page)


def error_text(driver: WebDriver) -> str:
    return wait(driver).until(EC.visibility_of_element_located((By.ID, "view-error"))).text


def until_shown(driver: WebDriver, page: str, found: Callable[[WebDriver], Any], timeout: float = 40) -> Any:
    """Reload a page until what the platform does in the background shows up (like a person pressing F5)."""
    deadline = time.monotonic() + timeout
    while True:
        go(driver, page)
        driver.refresh()
        try:
            return WebDriverWait(driver, 3).until(found)
        except Exception:
            if time.monotonic() > deadline:
                raise


def fill_action_form(driver: WebDriver, values: dict[str, str]) -> None:
    wait(driver).until(EC.visibility_of_element_located((By.ID, "action-form")))
    for name, value in values.items():
        field = driver.find_element(By.ID, f"field-{name}")
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        elif field.get_attribute("type") == "checkbox":
            if value:
                field.click()
        else:
            field.send_keys(value)
    driver.find_element(By.ID, "action-submit").click()


def notice_says(driver: WebDriver, words: str) -> str:
    """The page's confirmation once it says `words` (an earlier confirmation may still be showing)."""
    def shown(d: WebDriver) -> str | None:
        box, error = d.find_element(By.ID, "view-notice"), d.find_element(By.ID, "view-error")
        assert not error.is_displayed(), error.text
        return box.text if box.is_displayed() and words in box.text else None
    return wait(driver).until(shown)


async def submit(base: str, content: str, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v1/submissions", json={
            "channel": "qrcode", "submitted_at": datetime.now(UTC).isoformat(), "content": content,
            "enterprise": {"name": name, "contact_name": "张三", "contact_phone": "13800001234"}})
        assert response.status_code == 202, response.text
        return response.json()


@pytest.fixture(scope="module")
async def cases(platform: PlatformProcess, case_events: TopicReader) -> dict[str, dict[str, Any]]:
    simple = await submit(platform.base_url, SIMPLE, "开化县控制台测试纸业有限公司")
    doubtful = await submit(platform.base_url, DOUBTFUL, "开化县控制台复核有限公司")
    await case_events.wait_for(lambda v: "case.assigned" in [e["type"] for e in events_of(v, simple["case_id"])],
                               timeout=60, what="the simple case assigned")
    await case_events.wait_for(lambda v: "case.triaged" in [e["type"] for e in events_of(v, doubtful["case_id"])],
                               timeout=60, what="the doubtful case triaged")
    assigned = next(e for e in events_of(case_events.values(), simple["case_id"]) if e["type"] == "case.assigned")
    assert assigned["data"]["department"] == "gongdian", assigned
    return {"simple": simple, "doubtful": doubtful}


def test_sign_in_refuses_a_wrong_password_and_a_disabled_account(platform: PlatformProcess, desk: WebDriver) -> None:
    sign_in(desk, platform.base_url, "wang.wu", "wrong-password")
    assert "用户名或密码错误" in wait(desk).until(lambda d: d.find_element(By.ID, "login-error").text)
    sign_in(desk, platform.base_url, "liu.tingyong")
    assert "停用" in wait(desk).until(lambda d: d.find_element(By.ID, "login-error").text)
    shot(desk, "0-login-refused")


async def test_a_disabled_users_token_is_refused_by_other_services(platform: PlatformProcess) -> None:
    disabled = issue_token(TEST_SECRET, sub="liu.tingyong", role="unit_handler", unit="fagai")
    enabled = issue_token(TEST_SECRET, sub="chen.fagai", role="unit_handler", unit="fagai")
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        for path in ("/api/v1/units/inbox", "/api/v1/staff/cases", "/api/v1/console/me"):
            refused = await client.get(path, headers={"authorization": f"Bearer {disabled}"})
            assert refused.status_code == 401 and "停用" in refused.json()["error"], path
            assert (await client.get(path, headers={"authorization": f"Bearer {enabled}"})).status_code == 200, path


def test_unit_handler_works_the_inbox_by_deadline(platform: PlatformProcess, desk: WebDriver,
                                                  cases: dict[str, dict[str, Any]]) -> None:
    case_id = cases["simple"]["case_id"]
    sign_in(desk, platform.base_url, "wang.wu")
    who = signed_in(desk)
    assert "王五" in who and "承办单位经办人" in who and "国网开化县供电公司" in who
    row = until_shown(desk, "#/inbox", lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-case="{case_id}"]'))
    assert "小时" in row.find_element(By.CLASS_NAME, "time-left").text and "待签收" in row.text
    # a person reads the tracking number, the enterprise and the first words, never the case's id
    assert cases["simple"]["tracking_no"] in row.text and "开化县控制台测试纸业有限公司" in row.text
    assert "我们公司在马金镇工业园区申请电力增容" in row.text
    no_ids(desk.find_element(By.ID, "view").text)
    shot(desk, "1-handler-inbox")

    row.find_element(By.CSS_SELECTOR, 'button[data-action="accept"]').click()
    notice_says(desk, "签收成功")
    # the inbox follows sla's deadline records, updated from the events a moment later
    row = until_shown(desk, "#/inbox", lambda d: (lambda r: r if "办理中" in r.text else None)(
        d.find_element(By.CSS_SELECTOR, f'tr[data-case="{case_id}"]')))
    row.find_element(By.CSS_SELECTOR, 'button[data-action="progress"]').click()
    fill_action_form(desk, {"note": "已派员现场查看线路"})
    notice_says(desk, "进展成功")
    desk.find_element(By.CSS_SELECTOR, f'tr[data-case="{case_id}"] button[data-action="resolve"]').click()
    fill_action_form(desk, {"resolution": "已完成增容改造并恢复稳定供电"})
    notice_says(desk, "办结成功")
    shot(desk, "2-handler-resolved")

    # refused: the triage queue is not a unit's
    go(desk, "#/triage")
    assert "无权限" in error_text(desk)
    shot(desk, "3-handler-refused")

    # search + timeline: the unit finds its case by tracking number and sees every step
    tracking_no = cases["simple"]["tracking_no"]
    go(desk, "#/search")
    box = wait(desk).until(EC.visibility_of_element_located((By.ID, "search-q")))
    box.clear()
    box.send_keys(tracking_no)
    desk.find_element(By.ID, "search-button").click()
    wait(desk).until(lambda d: tracking_no in d.find_element(By.ID, "search-results").text)
    # the page's first search (the stored query) may still replace the rows: click whichever rows stay
    WebDriverWait(desk, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#search-results a.case-link").click() or True)
    labels = until_shown(desk, f"#/case/{case_id}", lambda d: (lambda t: t if "办结" in t else None)(
        d.find_element(By.ID, "timeline").text))
    for step in ("受理登记", "研判", "交办", "签收", "办理进展", "办结"):
        assert step in labels, labels
    for words in ("经办人：王五", "承办单位：国网开化县供电公司", "属地：马金镇", "研判方式：系统自动研判"):
        assert words in labels, labels
    header = desk.find_element(By.ID, "case-header").text
    assert "已办结，待评价" in desk.find_element(By.ID, "case-status").text, header
    no_ids(desk.find_element(By.ID, "view").text)
    for code in ("gongdian", "majin", "qrcode", "accepted", "case."):
        assert code not in desk.find_element(By.ID, "view").text, code
    shot(desk, "4-handler-timeline")


def test_another_unit_cannot_find_or_open_the_case(platform: PlatformProcess, desk: WebDriver,
                                                   cases: dict[str, dict[str, Any]]) -> None:
    sign_in(desk, platform.base_url, "chen.fagai")
    signed_in(desk)
    go(desk, "#/search")
    box = wait(desk).until(EC.visibility_of_element_located((By.ID, "search-q")))
    box.clear()
    box.send_keys(cases["simple"]["tracking_no"])
    desk.find_element(By.ID, "search-button").click()
    wait(desk).until(lambda d: "暂无数据" in d.find_element(By.ID, "search-results").text)
    go(desk, f"#/case/{cases['simple']['case_id']}")
    assert "无权限" in error_text(desk)


async def test_triage_officer_decides_from_the_queue(platform: PlatformProcess, desk: WebDriver,
                                               cases: dict[str, dict[str, Any]], case_events: TopicReader) -> None:
    case_id, tracking_no = cases["doubtful"]["case_id"], cases["doubtful"]["tracking_no"]
    sign_in(desk, platform.base_url, "zhou.yanpan")
    assert "研判员" in signed_in(desk)
    link = until_shown(desk, "#/triage", lambda d: next(
        (a for a in d.find_elements(By.CSS_SELECTOR, "a.queue-case") if a.text == tracking_no), None))
    Select(desk.find_element(By.ID, "queue-sort")).select_by_value("confidence")
    link = wait(desk).until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, "a.queue-case")
                                            if a.text == tracking_no), None))
    shot(desk, "5-triage-queue")
    link.click()
    wait(desk).until(EC.visibility_of_element_located((By.ID, "proposal")))
    assert "电力增容" in desk.find_element(By.ID, "case-content").text
    wait(desk).until(lambda d: "相似度" in d.find_element(By.ID, "similar").text)
    shot(desk, "6-triage-case")
    desk.find_element(By.CSS_SELECTOR, 'button[data-decision="reroute"]').click()
    fill_action_form(desk, {"department": "jingxin", "reason": "两地厂区用电统筹，由经信局牵头"})
    said = notice_says(desk, "已改派")
    assert "交办" in said and "case." not in said, said
    values = await case_events.wait_for(lambda v: any(
        e["type"] == "case.triaged" and e["data"]["decided_by"] == "officer" for e in events_of(v, case_id)),
        what="the officer's decision")
    officer = [e for e in events_of(values, case_id)
               if e["type"] == "case.triaged" and e["data"]["decided_by"] == "officer"]
    assert officer[-1]["data"]["department"] == "jingxin"
    shot(desk, "7-triage-decided")
    go(desk, "#/inbox")  # refused: a unit's inbox
    assert "无权限" in error_text(desk)


async def rate_dissatisfied(base: str, case_id: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        deadline = time.monotonic() + 40
        while True:  # rating opens the round when it has seen the resolution
            token, _ = links.issue(TEST_SECRET, case_id=case_id, round=1, now=datetime.now(UTC),
                                   valid=timedelta(days=1))
            answer = await client.post("/api/v1/rating/ratings", json={"token": token, "level": "dissatisfied",
                                                                        "comment": "还是经常停电"})
            if answer.status_code in (200, 201):
                return
            assert time.monotonic() < deadline, answer.text
            await asyncio.sleep(0.5)


async def test_supervisor_and_revisit_staff_and_leader(platform: PlatformProcess, desk: WebDriver,
                                                       cases: dict[str, dict[str, Any]]) -> None:
    case_id = cases["simple"]["case_id"]
    await rate_dissatisfied(platform.base_url, case_id)

    sign_in(desk, platform.base_url, "qian.jiwei")
    assert "纪检监督" in signed_in(desk)
    link = until_shown(desk, "#/supervision", lambda d: d.find_element(By.CSS_SELECTOR, "a.supervision-link"))
    listed = desk.find_element(By.ID, "view").text
    assert cases["simple"]["tracking_no"] in listed and "开化县控制台测试纸业有限公司" in listed, listed
    no_ids(listed)
    shot(desk, "8-supervision-list")
    link.click()
    wait(desk).until(lambda d: "受理登记" in d.find_element(By.ID, "case-file").text)
    assert cases["simple"]["tracking_no"] in desk.find_element(By.CSS_SELECTOR, "#view h1").text
    no_ids(desk.find_element(By.ID, "view").text)
    desk.find_element(By.CSS_SELECTOR, 'button[data-supervise="findings"]').click()
    fill_action_form(desk, {"note": "承办单位答复与实际不符"})
    notice_says(desk, "已保存")
    wait(desk).until(lambda d: "钱纪检" in d.find_element(By.ID, "view").text)  # the record names who, by name
    no_ids(desk.find_element(By.ID, "view").text)
    shot(desk, "9-supervision-finding")
    go(desk, "#/admin")  # refused: the organisation file is the administrator's
    assert "无权限" in error_text(desk)

    sign_in(desk, platform.base_url, "sun.huifang")
    assert "领导" in signed_in(desk)
    button = until_shown(desk, "#/revisits", lambda d: d.find_element(By.CSS_SELECTOR, "button[data-task]"))
    listed = desk.find_element(By.ID, "view").text
    assert cases["simple"]["tracking_no"] in listed and "开化县控制台测试纸业有限公司" in listed, listed
    no_ids(listed)
    shot(desk, "10-revisits")
    button.click()
    fill_action_form(desk, {"said": "企业反映增容已完成，但仍偶有停电", "solved": ""})
    notice_says(desk, "回访已记录")
    go(desk, "#/boards")
    wait(desk).until(lambda d: "按单位" in d.find_element(By.ID, "view").text)
    shot(desk, "11-leader-boards")
    go(desk, "#/dashboard")
    wait(desk).until(lambda d: d.find_elements(By.ID, "figures") or d.find_element(By.ID, "view-error").is_displayed())
    assert not desk.find_element(By.ID, "view-error").is_displayed(), desk.find_element(By.ID, "view-error").text
    # the charts: drawn by the console's own copy of ECharts, this week's cases in them
    for chart in ("chart-weeks", "chart-units", "chart-regions"):
        wait(desk).until(lambda d, c=chart: d.find_elements(By.CSS_SELECTOR, f"#{c} svg"))
    assert desk.execute_script("return !!window.echarts && [...document.scripts]"
                               ".some(s => s.src.includes('/console/static/echarts.min.js'))")
    units = desk.execute_script("return echarts.getInstanceByDom(document.getElementById('chart-units')).getOption()")
    assert "国网开化县供电公司" in units["xAxis"][0]["data"], units["xAxis"]
    assert [s["name"] for s in units["series"]] == ["受理（件）", "已办结（件）", "按期办结（次）", "满意评价（次）"]
    regions = desk.execute_script(
        "return echarts.getInstanceByDom(document.getElementById('chart-regions')).getOption()")
    assert "马金镇" in regions["xAxis"][0]["data"], regions["xAxis"]
    desk.execute_script("document.getElementById('charts').scrollIntoView()")
    shot(desk, "12-dashboard")
    go(desk, f"#/triage/{cases['doubtful']['case_id']}")  # leaders read the queue but do not decide
    wait(desk).until(EC.visibility_of_element_located((By.ID, "proposal")))
    desk.find_element(By.CSS_SELECTOR, 'button[data-decision="accept"]').click()
    assert "无权限" in error_text(desk)


def test_admin_checks_an_organisation_edit_with_an_audit_trail(platform: PlatformProcess, desk: WebDriver) -> None:
    sign_in(desk, platform.base_url, "zhang.admin")
    assert "系统管理员" in signed_in(desk)
    go(desk, "#/admin")
    text = wait(desk).until(EC.visibility_of_element_located((By.ID, "org-text")))
    raw = yaml.safe_load((REPO / "shared" / "data" / "kaihua.yaml").read_text(encoding="utf-8"))
    raw["regions"].append({"code": "xinzhen", "name": "测试新镇", "kind": "town"})
    desk.execute_script("arguments[0].value = arguments[1]", text, yaml.safe_dump(raw, allow_unicode=True))
    desk.find_element(By.ID, "org-note").send_keys("新设乡镇")
    desk.find_element(By.ID, "org-check").click()
    result = wait(desk).until(
        lambda d: (lambda t: t if "校验" in t else None)(d.find_element(By.ID, "org-result").text))
    assert "校验通过" in result and "测试新镇" in result and "新增" in result and "乡镇（街道）" in result
    raw["regions"].append(raw["regions"][0])
    text = desk.find_element(By.ID, "org-text")
    desk.execute_script("arguments[0].value = arguments[1]", text, yaml.safe_dump(raw, allow_unicode=True))
    desk.find_element(By.ID, "org-check").click()
    wait(desk).until(lambda d: "未通过" in d.find_element(By.ID, "org-result").text)
    assert "duplicate codes in regions" in desk.find_element(By.ID, "org-result").text
    desk.refresh()
    trail = wait(desk).until(lambda d: (lambda t: t if "新设乡镇" in t else None)(d.find_element(By.ID, "view").text))
    assert "通过" in trail and "未通过" in trail and "张管理" in trail
    no_ids(trail)
    shot(desk, "13-admin-org")
    desk.set_window_size(820, 1180)  # a tablet, upright: the same page, the columns stacked
    desk.refresh()
    wait(desk).until(EC.visibility_of_element_located((By.ID, "org-text")))
    shot(desk, "13-admin-org-tablet")
    desk.set_window_size(1366, 900)

    desk.find_element(By.ID, "logout").click()
    wait(desk).until(EC.visibility_of_element_located((By.ID, "login-form")))
    assert desk.execute_script("return Object.keys(sessionStorage).filter(k => k.startsWith('qhwy.console.'))") == []
    desk.refresh()  # and stays signed out
    wait(desk).until(EC.visibility_of_element_located((By.ID, "login-form")))
    shot(desk, "14-logged-out")


GOOD_YEAR = """year: 2031
source: 国务院办公厅关于2031年部分节假日安排的通知（测试）
holidays:
  - {from: 2031-01-01, to: 2031-01-03, name: 元旦}
  - 2031-04-05
workdays:
  - 2031-02-08
"""


async def test_admin_calendar_years_settings_and_officers(platform: PlatformProcess, desk: WebDriver) -> None:
    admin_token = issue_token(TEST_SECRET, sub="zhang.admin", role="admin")
    org = yaml.safe_load((REPO / "shared" / "data" / "kaihua.yaml").read_text(encoding="utf-8"))
    unit = org["departments"][0]["code"]
    async with httpx.AsyncClient(base_url=platform.base_url,
                                 headers={"authorization": f"Bearer {admin_token}"}) as client:
        bad = await client.post("/api/v1/console/calendar/check", json={"text": "year: 2031\nholidays: [2030-12-31]"})
        assert bad.status_code == 422 and "校验未通过" in bad.json()["error"], bad.text
        assert "2030-12-31" in bad.json()["detail"][0]["message"]
        officer = await client.put("/api/v1/liaison/officers/e2e-officer-1",
                                   json={"name": "联络员甲", "phone": "13900001111", "units": [unit]})
        assert officer.status_code == 200, officer.text
        unit_token = issue_token(TEST_SECRET, sub="chen.fagai", role="unit_handler", unit="fagai")
        refused = await client.get("/api/v1/console/calendar", headers={"authorization": f"Bearer {unit_token}"})
        assert refused.status_code == 403

    sign_in(desk, platform.base_url, "zhang.admin")
    assert "系统管理员" in signed_in(desk)
    go(desk, "#/calendar")
    years = wait(desk).until(EC.visibility_of_element_located((By.ID, "calendar-years"))).text
    assert "2026" in years and "chinese_calendar" in years
    assert desk.find_element(By.ID, "calendar-missing").text  # either the missing years or "all there"
    text = desk.find_element(By.ID, "year-text")
    desk.execute_script("arguments[0].value = arguments[1]", text, GOOD_YEAR)
    desk.find_element(By.ID, "year-note").send_keys("2031年安排")
    desk.find_element(By.ID, "year-check").click()
    result = wait(desk).until(
        lambda d: (lambda t: t if "校验" in t else None)(d.find_element(By.ID, "year-result").text))
    assert "校验通过" in result and "2031" in result and "2031-04-05" in result and "无需重启" in result
    desk.execute_script("arguments[0].value = arguments[1]", desk.find_element(By.ID, "year-text"),
                        "year: 2031\nholidays: [2031-01-01]\nworkdays: [2031-01-01]")
    desk.find_element(By.ID, "year-check").click()
    wait(desk).until(lambda d: "未通过" in d.find_element(By.ID, "year-result").text)
    assert "节假日安排有误" in desk.find_element(By.ID, "year-result").text
    desk.refresh()
    trail = wait(desk).until(lambda d: (lambda t: t if "2031年安排" in t else None)(d.find_element(By.ID, "view").text))
    assert "通过" in trail and "节假日安排有误" in trail
    shot(desk, "15-admin-calendar")

    go(desk, "#/settings")
    rows = wait(desk).until(EC.visibility_of_element_located((By.ID, "settings-table"))).text
    for variable in ("QHWY_TRIAGE_REVIEW_THRESHOLD", "QHWY_OFFICE_HOURS", "QHWY_SLA_ESCALATION_WINDOW_HOURS",
                     "QHWY_TRIAGE_DUPLICATE_WINDOW_DAYS"):
        assert variable in rows
    shot(desk, "16-admin-settings")

    go(desk, "#/officers")
    listed = wait(desk).until(
        lambda d: (lambda t: t if "e2e-officer-1" in t else None)(d.find_element(By.ID, "view").text))
    assert "联络员甲" in listed
    desk.find_element(By.CSS_SELECTOR, "button[data-officer='e2e-officer-1']").click()
    name = wait(desk).until(EC.visibility_of_element_located((By.ID, "field-name")))
    name.clear()
    name.send_keys("联络员乙")
    desk.find_element(By.ID, "action-submit").click()
    notice_says(desk, "联络员已保存")
    assert "联络员乙" in desk.find_element(By.ID, "officers-table").text
    shot(desk, "17-admin-officers")
    desk.find_element(By.ID, "logout").click()


def test_a_unit_without_cases_sees_empty_charts_that_say_so(platform: PlatformProcess, desk: WebDriver) -> None:
    sign_in(desk, platform.base_url, "chen.fagai")  # 发改局: no case of this module is its
    signed_in(desk)
    go(desk, "#/dashboard")
    for chart in ("chart-weeks", "chart-units", "chart-regions"):
        box = wait(desk).until(EC.visibility_of_element_located((By.ID, chart)))
        assert box.text == "暂无数据" and box.get_attribute("data-empty") == "true"
    shot(desk, "12b-dashboard-empty")


async def test_not_found_and_server_error_pages_are_in_chinese(platform: PlatformProcess, desk: WebDriver) -> None:
    desk.get(f"{platform.base_url}/console/no-such-page")
    assert wait(desk).until(lambda d: d.find_element(By.ID, "error-title")).text == "页面不存在"
    assert "Not Found" not in desk.find_element(By.TAG_NAME, "body").text
    shot(desk, "19-not-found")
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        page = await client.get("/console/static/no-such-file.js", headers={"accept": "text/html"})
        assert page.status_code == 404 and "页面不存在" in page.text
        assert page.headers["content-type"].startswith("text/html")
        script = await client.get("/console/static/no-such-file.js")  # a script tag does not ask for a page
        assert script.status_code == 404 and "页面不存在" not in script.text
    sign_in(desk, platform.base_url, "li.si")
    signed_in(desk)
    go(desk, "#/no-such-page")  # inside the console: its own words, not another page
    assert wait(desk).until(EC.visibility_of_element_located((By.ID, "not-found"))).text == "页面不存在"


async def test_the_server_error_page_reads_in_chinese() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from shared import error_pages

    async def broken(_: Any) -> Any:
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/broken", broken)], exception_handlers=error_pages.HANDLERS)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        page = await client.get("/broken", headers={"accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 500 and "系统出错了" in page.text and "boom" not in page.text
        api = await client.get("/broken")
        assert api.json() == {"error": "系统出错了，请稍后再试"} and "boom" not in api.text


NEXT_YEAR = """year: 2041
source: 国务院办公厅关于2041年部分节假日安排的通知（测试）
holidays:
  - {from: 2041-01-01, to: 2041-01-01}
  - {from: 2041-10-01, to: 2041-10-07}
workdays:
  - 2041-09-29
"""


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


async def test_the_yearly_calendar_task_from_the_warning_to_the_applied_year(
        ns: Namespace, desk: WebDriver, tmp_path: Path) -> None:
    """2 November 2040 on the platform's clock, 2041 unknown: the gauge and the banner warn; the administrator
    applies the checked year from the console, without a restart; any service reading the file takes it."""
    calendar_file = tmp_path / "calendar.yaml"
    (tmp_path / "holidays").mkdir()
    (tmp_path / "holidays" / "2040.yaml").write_text(NEXT_YEAR.replace("2041", "2040").replace("09-29", "09-30"),
                                                     encoding="utf-8")  # this year is known: next year is the task
    console = PlatformProcess(ns, "services.console", tmp_path, QHWY_CLOCK_START="2040-11-02T09:00:00+08:00",
                              QHWY_CALENDAR_FILE=str(calendar_file), QHWY_HOLIDAYS_DIR=str(tmp_path / "holidays"),
                              QHWY_CALENDAR_RELOAD_SECONDS="0.5",
                              QHWY_CONSOLE_CALENDAR_CHECK_SECONDS="1").start()
    try:
        await console.wait_healthy(90)
        base = console.base_url
        async with httpx.AsyncClient(base_url=base) as client:
            scraped = (await client.get("/metrics")).text
        assert metric(scraped, 'qhwy_calendar_next_year_missing{year="2041"}') == 1.0, scraped
        assert metric(scraped, "qhwy_calendar_next_year_days_left") == 60.0  # 2 November -> 1 January

        sign_in(desk, base, "li.si")  # a leader is told, and told whom to ask
        signed_in(desk)
        banner = wait(desk).until(EC.visibility_of_element_located((By.ID, "banner"))).text
        assert "2041 年节假日安排尚未导入" in banner and "60 天" in banner and "提醒系统管理员" in banner
        shot(desk, "20-calendar-banner-leader")
        sign_in(desk, base, "chen.fagai")  # a unit handler is not
        signed_in(desk)
        assert not desk.find_element(By.ID, "banner").is_displayed()

        sign_in(desk, base, "zhang.admin")
        signed_in(desk)
        assert "2041 年节假日安排尚未导入" in wait(desk).until(EC.visibility_of_element_located((By.ID, "banner"))).text
        go(desk, "#/calendar")
        assert "2041" in wait(desk).until(EC.visibility_of_element_located((By.ID, "calendar-missing"))).text
        desk.execute_script("arguments[0].value = arguments[1]", desk.find_element(By.ID, "year-text"), NEXT_YEAR)
        desk.find_element(By.ID, "year-note").send_keys("国办发明电2040年安排")
        desk.find_element(By.ID, "year-check").click()
        wait(desk).until(lambda d: "校验通过" in d.find_element(By.ID, "year-result").text)
        desk.find_element(By.CSS_SELECTOR, "#year-result button[data-apply]").click()
        notice_says(desk, "2041 年节假日安排已应用")
        wait(desk).until(lambda d: not d.find_element(By.ID, "banner").is_displayed())
        years = wait(desk).until(EC.visibility_of_element_located((By.ID, "calendar-years"))).text
        assert "2041" in years and "张管理" in years and "在工作台应用" in years
        trail = desk.find_element(By.ID, "calendar-audit").text
        assert "应用" in trail and "校验" in trail and "张管理" in trail
        no_ids(desk.find_element(By.ID, "view").text)
        shot(desk, "21-calendar-applied")

        # another service's calendar (here: one built in this process from the same settings) has the year
        calendar = build_calendar(CalendarSettings(calendar_file=calendar_file), on_missing_year=None)
        assert not calendar.is_working_day(date(2041, 10, 2)) and calendar.is_working_day(date(2041, 9, 29))
        deadline = time.monotonic() + 10
        while True:  # the gauge follows at the console's next look
            async with httpx.AsyncClient(base_url=base) as client:
                scraped = (await client.get("/metrics")).text
            if metric(scraped, 'qhwy_calendar_next_year_missing{year="2041"}') == 0.0:
                break
            assert time.monotonic() < deadline, scraped
            await asyncio.sleep(0.5)
        admin_token = issue_token(TEST_SECRET, sub="zhang.admin", role="admin")
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {admin_token}"}) as client:
            unknown = await client.post("/api/v1/console/calendar/apply", json={"audit_id": "nope"})
            assert unknown.status_code == 404, unknown.text
            leader = issue_token(TEST_SECRET, sub="li.si", role="leader")
            refused = await client.post("/api/v1/console/calendar/apply", json={"audit_id": "nope"},
                                        headers={"authorization": f"Bearer {leader}"})
            assert refused.status_code == 403
        assert "2041" in calendar_file.read_text(encoding="utf-8")
    finally:
        assert console.stop() == 0, console.logs()[-3000:]


async def test_repeated_bad_sign_ins_are_refused_for_a_while(platform: PlatformProcess, desk: WebDriver) -> None:
    # last in the module: the client address (127.0.0.1) is refused too once it has failed five times
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        for _ in range(5):
            answer = await client.post("/api/v1/console/login", json={"username": "wang.wu", "password": "guess"})
            assert answer.status_code in (401, 429), answer.text
        refused = await client.post("/api/v1/console/login", json={"username": "wang.wu", "password": PASSWORD})
        assert refused.status_code == 429 and "登录失败次数过多" in refused.json()["error"], refused.text
    sign_in(desk, platform.base_url, "wang.wu")  # the right password, still refused until the window passes
    assert "登录失败次数过多" in wait(desk).until(lambda d: d.find_element(By.ID, "login-error").text)
    shot(desk, "18-login-throttled")
