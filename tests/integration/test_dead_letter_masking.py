"""Poison submissions carrying a phone, an e-mail address, an ID number and names land on the submissions
dead-letter topic masked: in the payload (field by field when it is JSON, as text when it is not, digit runs in
bytes that are not UTF-8), and in the record's key. The dead-letter topic is read by more people than intake's
private store, so it must not keep what that store keeps."""

import base64
import json
from collections.abc import AsyncIterator

import pytest

from tests.integration.harness import Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

POISON = {  # a valid submission except for its channel: refused at the edge, dead-lettered whole
    "submission_id": "dlq-mask-1",
    "channel": "carrier-pigeon",
    "submitted_at": "2026-03-02T09:15:00+08:00",
    "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91350100M000100Y43",
                   "contact_name": "张三", "contact_phone": "13800001234"},
    "content": "请回电139 1234 5678或发邮件zhang.san@example.com，身份证11010519491231002X",
    "reporter": {"kind": "enterprise", "name": "李小四"},
}
CUT_SHORT = ('{"submission_id": "dlq-mask-2", "enterprise": {"name": "某公司", "contact_name": "王五", '
             '"contact_phone": "+86 137-0000-5678"}, "content": "邮箱wangwu@example.com').encode()
GBK = "联系电话13600009999，".encode("gbk") + b"\xff"


@pytest.fixture(scope="module")
async def intake(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.intake", tmp_path_factory.mktemp("intake-logs")).start()
    try:
        await proc.wait_healthy(150)
        yield proc
    finally:
        assert proc.stop() == 0, f"intake did not stop cleanly; see {proc.log_path}"


async def test_poison_submissions_are_dead_lettered_masked(ns: Namespace, intake: PlatformProcess) -> None:
    bootstrap = ns.infra["QHWY_KAFKA_BOOTSTRAP"]
    async with TopicReader(bootstrap, ns.topic("qhwy.submissions.dlq.v1")) as dlq:
        async with Producer(bootstrap) as producer:
            await producer.send(ns.topic("qhwy.submissions.v1"), POISON, key=POISON["submission_id"])
            await producer.send(ns.topic("qhwy.submissions.v1"), CUT_SHORT, key="13800001234")  # a phone as key
            await producer.send(ns.topic("qhwy.submissions.v1"), GBK, key="gbk-1")
        letters = await dlq.wait_for(lambda v: len(v) >= 3, timeout=90, what="3 dead letters")
        records = list(dlq.records)
    by_key = {letter["key"]: letter for letter in letters}
    assert set(by_key) == {"dlq-mask-1", "138****1234", "gbk-1"}

    # JSON: field by field; the enterprise's name and credit code stay, the people's data does not
    assert json.loads(by_key["dlq-mask-1"]["payload"]) == {
        "submission_id": "dlq-mask-1",
        "channel": "carrier-pigeon",
        "submitted_at": "2026-03-02T09:15:00+08:00",
        "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91350100M000100Y43",
                       "contact_name": "张*", "contact_phone": "138****1234"},
        "content": "请回电139****5678或发邮件z***@example.com，身份证**************002X",
        "reporter": {"kind": "enterprise", "name": "李**"},
    }
    assert "channel" in by_key["dlq-mask-1"]["reason"]

    # not JSON: as text, with the personal keys' values still recognised
    assert by_key["138****1234"]["payload"] == (
        '{"submission_id": "dlq-mask-2", "enterprise": {"name": "某公司", "contact_name": "王*", '
        '"contact_phone": "137****5678"}, "content": "邮箱w***@example.com')

    # not UTF-8: every byte kept but the phone's digits
    assert base64.b64decode(by_key["gbk-1"]["payload_base64"]) == "联系电话136****9999，".encode("gbk") + b"\xff"

    # nothing of it anywhere in the records, keys included
    for secret in (b"13800001234", b"1234 5678", b"zhang.san", b"11010519491231002", "张三".encode(),
                   "李小四".encode(), b"0000-5678", b"wangwu", "王五".encode(), b"13600009999"):
        for record in records:
            assert secret not in record.value and secret not in (record.key or b""), secret
    assert {record.key for record in records} == {b"dlq-mask-1", b"138****1234", b"gbk-1"}
