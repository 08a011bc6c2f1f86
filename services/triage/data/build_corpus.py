"""Build the labelled triage corpus (corpus.jsonl) from the hand-written statements and the gazetteer.

    .venv/bin/python -m services.triage.data.build_corpus

Deterministic (fixed seed): running it again gives the same file, which is committed. Every statement is
written once by hand (statements_*.yaml); a case is a statement as it arrives from one channel, from one
enterprise, at one place. The dev split holds whole statements (every case made from a statement, and its
duplicates, is in one split), so the classifier is measured on wordings it has never seen.
"""

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SEED = 20260302
DEV_SHARE = 0.25
START = datetime.fromisoformat("2026-01-05T08:30:00+08:00")

# How each channel frames what it passes on (the text a case arrives with).
FRAMES: dict[str, list[str]] = {
    "qrcode": ["{t}", "{t}。", "您好，{t}，麻烦尽快处理。", "{t}，谢谢！"],
    "hotline": ["来电人反映：{t}。来电人要求尽快处理。", "企业来电称：{t}。", "来电反映{t}，请相关部门核实处理。"],
    "liaison": ["助企联络员走访时企业反映：{t}。", "走访记录：{t}。企业希望尽快解决。"],
    "forum": ["在钱江源亲清半月谈活动中企业提出：{t}。", "半月谈现场企业代表反映{t}。"],
    "deputy": ["县人大代表转交企业诉求：{t}。", "人大代表反映：{t}，建议相关部门研究解决。"],
    "cppcc": ["政协委员反映：{t}。", "政协委员走访企业了解到：{t}。"],
    "chamber": ["县商会反映会员企业诉求：{t}。", "行业协会转来会员企业问题：{t}。"],
    "industry_chain": ["产业链牵头单位收集的问题：{t}。", "链长制工作专班反映：{t}。"],
    "city_platform": ["市“企呼我应”平台交办：{t}。请按期办结并反馈。", "市平台转办件：{t}。"],
}
CHANNEL_WEIGHTS = {"qrcode": 30, "hotline": 25, "liaison": 15, "forum": 5, "deputy": 5, "cppcc": 4, "chamber": 6,
                   "industry_chain": 4, "city_platform": 6}
BRANDS = ["金盛", "钱源", "华发", "恒达", "凯丰", "芹江", "东升", "明辉", "绿源", "天成", "宏远", "新安",
          "瑞丰", "鑫旺", "博创", "开元", "顺达", "兴业", "佳和", "永信", "晨光", "汇通", "嘉禾", "锦程",
          "中天", "海诚", "华鑫", "正泰", "联创", "富春", "清源", "和美", "盛世", "德胜", "安达", "源泉",
          "山语", "云溪", "澄江", "碧峰"]
TRADES = ["纸业", "硅业", "电子科技", "食品", "茶业", "机械制造", "新材料", "化工", "建材", "物流", "旅游开发",
          "农业开发", "水产养殖", "纺织", "木业", "家居", "医疗器械", "贸易", "建设工程", "光电", "生物科技",
          "环保科技", "汽车配件"]
PEOPLE = ["张女士", "李先生", "王女士", "刘先生", "陈女士", "杨先生", "赵女士", "周先生", "吴女士", "徐先生",
          "个人来电"]
LOCATED = ["我们是{p}的企业，", "企业位于{p}，", "{p}的", "我司在{p}，"]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def load_statements() -> dict[str, Any]:
    merged: dict[str, Any] = {"departments": {}}
    for path in sorted(HERE.glob("statements_*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key, value in data.items():
            if key == "departments":
                merged["departments"].update(value)
            else:
                merged[key] = value
    return merged


def load_places() -> dict[str, dict[str, list[str]]]:
    places = yaml.safe_load((HERE / "gazetteer.yaml").read_text(encoding="utf-8"))
    places.pop("not_places", None)  # phrases that are no place: nothing to draw a case's place from
    return places


class Builder:
    def __init__(self, rng: random.Random, places: dict[str, dict[str, list[str]]]):
        self.rng, self.places = rng, places
        self.regions = sorted(places)
        self.cases: list[dict[str, Any]] = []
        self.enterprises: list[tuple[str, str, str]] = []  # (name, uscc, region)

    def enterprise(self, region: str, person: bool = False) -> tuple[str, str | None, str]:
        if person:
            return self.rng.choice(PEOPLE), None, region
        if self.enterprises and self.rng.random() < 0.15:  # a returning enterprise with another problem
            known = [e for e in self.enterprises if e[2] == region]
            if known:
                return self.rng.choice(known)
        alias = self.rng.choice(self.places[region].get("aliases") or [""])
        where = alias if alias and self.rng.random() < 0.5 else ""
        name = f"开化县{where}{self.rng.choice(BRANDS)}{self.rng.choice(TRADES)}有限公司"
        uscc = "91330824" + "".join(self.rng.choice(USCC_CHARS) for _ in range(10))
        self.enterprises.append((name, uscc, region))
        return name, uscc, region

    def place(self, region: str) -> str:
        return self.rng.choice(self.places[region]["places"])

    def channel(self, exclude: str | None = None) -> str:
        names = [c for c in CHANNEL_WEIGHTS if c != exclude]
        return self.rng.choices(names, weights=[CHANNEL_WEIGHTS[c] for c in names])[0]

    def locate(self, text: str, region: str, name: str) -> tuple[str, str | None, str]:
        """Put the region somewhere a triage officer would find it: a place in the text, the name, or the hint."""
        if "{place}" in text:
            return text.replace("{place}", self.place(region)), None, text
        alias_in_name = any(a and a in name for a in self.places[region].get("aliases", []))
        roll = self.rng.random()
        if alias_in_name and roll < 0.6:
            return text, None, text
        if roll < 0.35:
            hint = self.rng.choice([region, self.places[region]["places"][0]])
            return text, hint, text
        prefix = self.rng.choice(LOCATED).format(p=self.place(region))
        return prefix + text, None, prefix + "{rest}"

    def add(self, *, group: str, split: str, text: str, labels: dict[str, Any], region: str, day: float,
            person: bool = False, channel: str | None = None, enterprise: tuple[str, str | None, str] | None = None,
            hint: str | None = None, locate: bool = True) -> dict[str, Any]:
        name, uscc, _ = enterprise or self.enterprise(region, person)
        content, region_hint = text, hint
        if locate:
            content, region_hint, _ = self.locate(text, region, name)
        channel = channel or self.channel()
        framed = self.rng.choice(FRAMES[channel]).format(t=content.rstrip("。"))
        case = {
            "id": f"c{len(self.cases) + 1:04d}", "split": split, "group": group, "channel": channel,
            "received_at": (START + timedelta(seconds=round(day * 86400))).isoformat(),
            "enterprise": {"name": name, "uscc": uscc}, "region_hint": region_hint, "content": framed,
            "label": {"screening": "accepted", "duplicate_of": None, "department": None, "co_departments": [],
                      "region": region, "complexity": None, **labels},
        }
        self.cases.append(case)
        return case


def load_extra() -> dict[str, Any]:
    path = HERE / "extra_train.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {"departments": {}, **(data or {})}


def statement_groups(statements: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(group id, statement, labels) for every statement."""
    groups: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for dept, items in sorted(statements["departments"].items()):
        for i, item in enumerate(items):
            groups.append((f"{prefix}{dept}-{i}", item, {"department": dept, "complexity": "simple"}))
    for kind in ("general", "complex"):
        for i, item in enumerate(statements.get(kind) or []):
            groups.append((f"{prefix}{kind}-{i}", item, {"department": item["d"], "co_departments": item["co"],
                                                         "complexity": kind}))
    for kind in ("non_business", "unclear"):
        for i, text in enumerate(statements.get(kind) or []):
            groups.append((f"{prefix}{kind}-{i}", {"t": text}, {"screening": kind, "region": None}))
    return groups


def build() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    statements = load_statements()
    builder = Builder(rng, load_places())
    groups = statement_groups(statements)

    # the dev split: a quarter of each kind's statements, chosen at random, never seen in training
    by_kind: dict[str, list[str]] = {}
    for gid, _, _ in groups:
        by_kind.setdefault(gid.rsplit("-", 1)[0], []).append(gid)
    dev = set()
    for gids in by_kind.values():
        dev.update(rng.sample(gids, max(1, round(len(gids) * DEV_SHARE))))

    emit(builder, rng, groups, lambda gid: "dev" if gid in dev else "train")
    # train-only statements, written later: drawn after every original case, so those (and the dev split) stay
    emit(builder, rng, statement_groups(load_extra(), prefix="extra-"), lambda gid: "train")
    return sorted(builder.cases, key=lambda c: c["received_at"])


def emit(builder: Builder, rng: random.Random, groups: list[tuple[str, dict[str, Any], dict[str, Any]]],
         split_of: Any) -> None:
    """The cases of each statement: two places for a business problem, one or two otherwise; some repeated."""
    for gid, item, labels in groups:
        split = split_of(gid)
        screening = labels.get("screening", "accepted")
        uses = 2 if screening == "accepted" else rng.choice([1, 1, 2])
        used_regions: list[str] = []
        for _ in range(uses):
            region = rng.choice([r for r in builder.regions if r not in used_regions])
            used_regions.append(region)
            day = rng.uniform(0, 50)
            person = screening == "non_business" and rng.random() < 0.6
            case = builder.add(group=gid, split=split, text=item["t"], region=region, day=day, person=person,
                               labels={**labels, "region": region if screening == "accepted" else labels.get("region")},
                               locate=screening != "unclear" or rng.random() < 0.5)
            # a later report of the same matter: another wording (or the same one through another channel)
            alt = item.get("a")
            if screening == "accepted" and (alt and rng.random() < 0.7 or not alt and rng.random() < 0.08):
                add_duplicate(builder, rng, case, item, alt or item["t"])


def add_duplicate(builder: Builder, rng: random.Random, original: dict[str, Any], item: dict[str, Any],
                  wording: str) -> None:
    label = original["label"]
    region = label["region"]
    enterprise = (original["enterprise"]["name"], original["enterprise"]["uscc"], region)
    text = wording
    # keep where the original said it was: its place in the text, or the same locating phrase
    for place in builder.places[region]["places"]:
        if place in original["content"] and "{place}" in item["t"]:
            text = wording.replace("{place}", place) if "{place}" in wording else f"{place}的{wording}"
            break
    text = text.replace("{place}", builder.place(region))
    day = (datetime.fromisoformat(original["received_at"]) - START).total_seconds() / 86400 + rng.uniform(0.2, 15)
    builder.add(group=original["group"], split=original["split"], text=text, region=region, day=day,
                channel=builder.channel(exclude=original["channel"]), enterprise=enterprise,
                hint=original["region_hint"], locate=False,
                labels={**label, "screening": "duplicate", "duplicate_of": original["id"]})


def main() -> None:
    cases = build()
    with (HERE / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for case in cases:
        key = f"{case['split']}:{case['label']['screening']}"
        counts[key] = counts.get(key, 0) + 1
    print(len(cases), "cases", dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
