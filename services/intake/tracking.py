"""The enterprise's proofs (CONTRACT.md section 3, version 2): the last four phone digits, a one-time code sent
to the contact phone, or the signed link on its receipt; every proof answers a token the tracking page uses for
its next calls (rating). Wrong proofs share one guessing budget per tracking number and per address, whichever
route takes them (rating checks its proofs through intake). The routes are in routes.py.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request

from services.intake import access, domain
from services.intake.settings import IntakeSettings
from services.intake.sms import GatewaySms, SimulatedSms, Sms, SmsSender
from services.intake.store import IntakeStore
from shared.http import client_address
from shared.refusal import Refusal
from shared.runtime import ServiceContext

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

    def refuse_if_incomplete(self, *, name_fields: bool = True) -> None:
        """422 naming what is missing or malformed (`fields` too, unless the caller is a service)."""
        missing = self.missing()
        if missing:
            fields = {"fields": [m["field"] for m in missing]} if name_fields else {}
            raise Refusal(422, "；".join(m["message"] for m in missing), detail=missing, **fields)


class EnterpriseAccess:
    """The proofs and their guessing budget, the one-time codes and the signed links (one per process)."""

    def __init__(self, ctx: ServiceContext, store: IntakeStore, own: IntakeSettings) -> None:
        self.ctx, self.store, self.own = ctx, store, own
        self.secret = ctx.jwt_secret
        token = own.sms_token.get_secret_value() if own.sms_token else None
        self.sms: SmsSender = GatewaySms(own.sms_url, token, ctx.log) if own.sms_url else SimulatedSms(ctx.log)
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
            raise Refusal(429, TOO_MANY.format(minutes=minutes), headers={"retry-after": str(window.retry_after)},
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
                raise Refusal(404, "链接无效或已过期，请用查询编号重新查询")
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
            raise Refusal(404, WRONG_PROOF)  # the same answer whether or not the number exists
        return registration

    def proof_token(self, registration: dict[str, Any]) -> str:
        return access.issue_track_token(self.secret, case_id=registration["_id"],
                                        tracking_no=registration["tracking_no"], now=self.ctx.clock(),
                                        ttl_seconds=self.own.proof_token_ttl_seconds)

    def receipt_token(self, case_id: str, tracking_no: str) -> str:
        return access.issue_track_token(self.secret, case_id=case_id, tracking_no=tracking_no, now=self.ctx.clock(),
                                        ttl_seconds=self.own.receipt_ttl_days * 86400)

    # ------------------------------------------------------------------ one-time codes

    async def send_code(self, tracking: str, address: str) -> str:
        """A one-time code to the case's contact phone (mobiles only). The answer is the same whether or not the
        number exists; 429 when the address, or anyone for this number, asked too often."""
        now = self.ctx.clock()
        window = access.window_at(now, self.own.proof_window_seconds)
        resend = access.window_at(now, self.own.code_resend_seconds)
        by_address, by_number = window.key("s", address), resend.key("c", tracking)
        await self._refuse_if_spent({by_address: SMS_BUDGET_PER_ADDRESS}, window)
        if (await self.store.budget_spent([by_number])).get(by_number, 0) >= 1:
            raise Refusal(429, f"验证码刚刚发送过，请{resend.retry_after}秒后再试",
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
        return CODE_SENT.format(minutes=minutes)
