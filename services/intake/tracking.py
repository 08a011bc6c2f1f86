"""The routes that read a case (CONTRACT.md section 3, version 2) and the proofs behind them.

GET  /api/v1/cases?tracking_no=&phone_last4=   the enterprise's view (or &code= a one-time code, or ?token= the
                                                signed link on the receipt); every proof answers a token the
                                                tracking page uses for its next calls (rating)
POST /api/v1/cases/codes {"tracking_no"}        a one-time code to the contact phone (same answer either way)
GET  /api/v1/cases/{case_id}                   staff, within role and unit; anyone else 404
POST /api/v1/internal/proofs                    rating checks an enterprise's proof here (service token), so
                                                that one guessing budget covers every route that takes a proof
GET  /dev/sms                                   development only: the SMS simulator's inbox
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from services.intake import access, domain
from services.intake.settings import IntakeSettings
from services.intake.sms import GatewaySms, SimulatedSms, Sms
from services.intake.store import IntakeStore
from shared.auth import require_role
from shared.http import HttpError, client_address, endpoint, json_response, read_json, staff_of
from shared.runtime import ServiceContext

NOT_FOUND = "未找到该问题件"
WRONG_PROOF = "查询编号或验证信息不正确"
TOO_MANY = "验证失败次数过多，为保护企业信息，请{minutes}分钟后再试，或使用发送到登记手机的验证码查询"
CODE_SENT = "如查询编号正确，验证码已发送至登记的联系电话，{minutes}分钟内有效"
SMS_BUDGET_PER_ADDRESS = 10  # codes an address may ask for per proof window


@dataclass
class Proof:
    tracking_no: str = ""
    phone_last4: str = ""
    code: str = ""
    token: str = ""

    @classmethod
    def of(cls, values: Any) -> "Proof":
        def text(name: str, limit: int) -> str:
            value = values.get(name)
            return str(value).strip()[:limit] if value is not None else ""

        return cls(tracking_no=access.normalise_tracking_no(values.get("tracking_no")),
                   phone_last4=text("phone_last4", 8), code=text("code", 12), token=text("token", 2048))

    def missing(self) -> list[dict[str, str]]:
        if self.token:
            return []
        problems = []
        if not self.tracking_no:
            problems.append({"field": "tracking_no", "msg": "required", "message": "请提供查询编号"})
        if not (self.phone_last4 or self.code):
            problems.append({"field": "phone_last4", "msg": "required",
                             "message": "请提供联系电话后四位，或发送到登记手机的验证码"})
        elif self.phone_last4 and not (len(self.phone_last4) == 4 and self.phone_last4.isdigit()):
            problems.append({"field": "phone_last4", "msg": "4 digits", "message": "联系电话后四位应为4位数字"})
        elif self.code and not (len(self.code) == access.CODE_DIGITS and self.code.isdigit()):
            problems.append({"field": "code", "msg": f"{access.CODE_DIGITS} digits",
                             "message": f"验证码应为{access.CODE_DIGITS}位数字"})
        return problems


class EnterpriseAccess:
    def __init__(self, ctx: ServiceContext, store: IntakeStore, own: IntakeSettings):
        self.ctx, self.store, self.own = ctx, store, own
        self.secret = ctx.jwt_secret
        self.sms = (GatewaySms(own.sms_url, own.sms_token.get_secret_value() if own.sms_token else None, ctx.log)
                    if own.sms_url else SimulatedSms(ctx.log))
        self.refused = Counter("qhwy_intake_proofs_refused", "Enterprise proofs refused, by reason",
                               ["reason"], registry=ctx.registry)

    # ------------------------------------------------------------------ the guessing budget

    def address(self, request: Request) -> str:
        return client_address(request, self.ctx.settings.trusted_proxies)

    async def _refuse_if_spent(self, limits: dict[str, int], window: access.Window) -> None:
        spent = await self.store.budget_spent(list(limits))
        if any(spent.get(key, 0) >= limit for key, limit in limits.items()):
            self.refused.labels("throttled").inc()
            minutes = max(1, -(-window.retry_after // 60))
            raise HttpError(429, TOO_MANY.format(minutes=minutes), headers={"retry-after": str(window.retry_after)},
                            retry_after=window.retry_after)

    async def _spend(self, keys: list[str], window: access.Window) -> None:
        expires = self.ctx.clock() + timedelta(seconds=window.retry_after + self.own.proof_window_seconds)
        await self.store.spend_budget(keys, expires)

    # ------------------------------------------------------------------ proofs

    async def prove(self, proof: Proof, address: str) -> dict[str, Any]:
        """The registration the proof opens; 404 for a wrong proof, 429 once the budget is spent."""
        now = self.ctx.clock()
        if proof.token:
            claim = access.verify_track_token(self.secret, proof.token, now)
            registration = await self.store.registrations.get(claim.case_id) if claim else None
            if registration is None:
                self.refused.labels("bad_link").inc()
                raise HttpError(404, "链接无效或已过期，请用查询编号重新查询")
            return registration
        window = access.window_at(now, self.own.proof_window_seconds)
        by_address = window.key("a", address)
        by_number = window.key("t", proof.tracking_no)
        # a one-time code has its own attempt limit: it stays usable when someone spends the number's budget
        limits = {by_address: self.own.proof_limit_per_address}
        if not proof.code:
            limits[by_number] = self.own.proof_limit_per_tracking_no
        await self._refuse_if_spent(limits, window)
        registration = await self.store.registration_by_tracking_no(proof.tracking_no)
        if proof.code:
            stored = await self.store.code(proof.tracking_no)
            right = access.code_matches(stored, proof.tracking_no, proof.code, self.secret, now,
                                        self.own.code_max_attempts)
            if stored is not None:
                await self.store.code_attempted(proof.tracking_no, used=right)
        else:
            right = domain.phone_matches(registration, proof.phone_last4)
        if registration is None or not right:
            await self._spend(list(limits), window)
            self.refused.labels("wrong_code" if proof.code else "wrong_digits").inc()
            self.ctx.log.warning("proof_refused", tracking_no=proof.tracking_no, address=address,
                                 kind="code" if proof.code else "phone_last4")
            raise HttpError(404, WRONG_PROOF)  # the same answer whether or not the number exists
        return registration

    def proof_token(self, registration: dict[str, Any]) -> str:
        return access.issue_track_token(self.secret, case_id=registration["_id"],
                                        tracking_no=registration["tracking_no"], now=self.ctx.clock(),
                                        ttl_seconds=self.own.proof_token_ttl_seconds)

    def receipt_token(self, case_id: str, tracking_no: str) -> str:
        return access.issue_track_token(self.secret, case_id=case_id, tracking_no=tracking_no, now=self.ctx.clock(),
                                        ttl_seconds=self.own.receipt_ttl_days * 86400)

    # ------------------------------------------------------------------ routes

    async def track(self, request: Request) -> Any:
        proof = Proof.of(request.query_params)
        missing = proof.missing()
        if missing:
            raise HttpError(422, "；".join(m["message"] for m in missing), detail=missing,
                            fields=[m["field"] for m in missing])
        registration = await self.prove(proof, self.address(request))
        doc = await self.store.cases.get(registration["_id"]) or registration
        return {**access.enterprise_view(doc, self.ctx.org, self.ctx.settings.tz),
                "proof_token": self.proof_token(registration)}

    async def send_code(self, request: Request) -> Any:
        raw = await read_json(request, max_bytes=4096)
        tracking = access.normalise_tracking_no(raw.get("tracking_no") if isinstance(raw, dict) else None)
        if not tracking:
            raise HttpError(422, "请提供查询编号", detail=[{"field": "tracking_no", "msg": "required"}],
                            fields=["tracking_no"])
        now = self.ctx.clock()
        window = access.window_at(now, self.own.proof_window_seconds)
        resend = access.window_at(now, self.own.code_resend_seconds)
        by_address, by_number = window.key("s", self.address(request)), resend.key("c", tracking)
        await self._refuse_if_spent({by_address: SMS_BUDGET_PER_ADDRESS}, window)
        if (await self.store.budget_spent([by_number])).get(by_number, 0) >= 1:
            raise HttpError(429, f"验证码刚刚发送过，请{resend.retry_after}秒后再试",
                            headers={"retry-after": str(resend.retry_after)}, retry_after=resend.retry_after)
        await self._spend([by_address], window)
        await self._spend([by_number], resend)
        registration = await self.store.registration_by_tracking_no(tracking)
        phone = ((registration or {}).get("submission") or {}).get("enterprise", {}).get("contact_phone", "")
        digits = "".join(ch for ch in phone if ch.isdigit())[-11:]
        minutes = max(1, self.own.code_ttl_seconds // 60)
        if registration is not None and len(digits) == 11 and digits.startswith("1"):  # SMS reaches mobiles only
            code = access.new_code()
            await self.store.save_code({"_id": tracking, "hash": access.code_hash(tracking, code, self.secret),
                                        "expires_at": now + timedelta(seconds=self.own.code_ttl_seconds),
                                        "attempts": 0, "used": False, "sent_at": now})
            await self.sms.send(Sms(phone=digits, text=access.code_message(code, self.ctx.org.county.name, minutes),
                                    sent_at=now, purpose="proof_code", reference=tracking))
        return {"message": CODE_SENT.format(minutes=minutes)}  # the same answer whether or not the number exists

    async def add_supplement(self, request: Request) -> Any:
        """补充说明: the enterprise, with a proof, adds detail to a case screened unclear -> case.supplemented."""
        raw = await read_json(request, max_bytes=64_000)
        if not isinstance(raw, dict):
            raise HttpError(422, "请求内容应为对象")
        content = raw.get("content")
        if not isinstance(content, str) or not content.strip():
            raise HttpError(422, "请填写补充说明", detail=[{"field": "content", "msg": "required"}],
                            fields=["content"])
        if len(content) > domain.SUPPLEMENT_MAX_CHARS:
            raise HttpError(422, f"补充说明最多{domain.SUPPLEMENT_MAX_CHARS}字",
                            detail=[{"field": "content", "msg": "too long"}], fields=["content"])
        proof = Proof.of(raw)
        missing = proof.missing()
        if missing:
            raise HttpError(422, "；".join(m["message"] for m in missing), detail=missing,
                            fields=[m["field"] for m in missing])
        registration = await self.prove(proof, self.address(request))
        view = await self.store.cases.get(registration["_id"])
        case_id = registration["_id"]
        try:
            applied = await self.store.registrations.apply(
                case_id, f"supplement:{case_id}:{len(registration.get('supplements') or []) + 1}",
                lambda doc: domain.supplement(view, doc or registration, content.strip(), now=self.ctx.clock()))
        except domain.SupplementRefused as exc:
            raise HttpError(409, str(exc))
        await self.ctx.emit(self.store.registrations, case_id, applied.events)
        self.ctx.log.info("case_supplemented", case_id=case_id, round=len(applied.doc.get("supplements") or []))
        return json_response({"message": "补充说明已提交，将在1个工作日内重新研判", "tracking_no":
                              registration["tracking_no"]}, 202)

    async def internal_proof(self, request: Request) -> Any:
        """rating asks here, passing on its caller's address, so both share one budget."""
        require_role(staff_of(request, self.secret, allow_service=True), "service")
        raw = await read_json(request, max_bytes=8192)
        if not isinstance(raw, dict):
            raise HttpError(422, "请求内容应为对象")
        proof = Proof.of(raw)
        missing = proof.missing()
        if missing:
            raise HttpError(422, "；".join(m["message"] for m in missing), detail=missing)
        registration = await self.prove(proof, str(raw.get("address") or "unknown")[:64])
        return {"case_id": registration["_id"], "tracking_no": registration["tracking_no"],
                "proof_token": self.proof_token(registration)}

    async def staff_case(self, request: Request) -> Any:
        if not request.headers.get("authorization"):
            raise HttpError(404, NOT_FOUND)  # anonymous: the same answer whether or not the case exists
        staff = staff_of(request, self.secret)
        doc = await self.store.case(request.path_params["case_id"])
        if doc is None or not access.staff_may_read(staff, doc):
            raise HttpError(404, NOT_FOUND)
        return access.staff_view(staff, domain.case_view(doc))

    async def sms_inbox(self, _: Request) -> Any:
        assert isinstance(self.sms, SimulatedSms)
        return {"note": "开发环境短信模拟器：以下短信未真正发出", "messages": self.sms.inbox()}

    async def forget(self) -> None:
        await self.store.forget_spent_budgets(self.ctx.clock())

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/api/v1/cases", endpoint(self.track), methods=["GET"]),
            Route("/api/v1/cases/codes", endpoint(self.send_code), methods=["POST"]),
            Route("/api/v1/cases/supplements", endpoint(self.add_supplement), methods=["POST"]),
            Route("/api/v1/cases/{case_id}", endpoint(self.staff_case), methods=["GET"]),
            Route("/api/v1/internal/proofs", endpoint(self.internal_proof), methods=["POST"]),
        ]
        if self.ctx.settings.env == "development" and isinstance(self.sms, SimulatedSms):
            routes.append(Route("/dev/sms", endpoint(self.sms_inbox), methods=["GET"]))
        return routes


def idempotency_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
