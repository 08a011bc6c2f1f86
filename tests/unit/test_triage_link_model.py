"""services.triage.link_model and its use by followups.link: where the rules find no link, a fitted logistic
model may find one; never one the rules rule out. Weights here are set by hand, so every figure is worked out
by hand."""

from math import exp

import pytest

from services.triage.followups import Earlier, Probe, identity_keys, link, ruled_out
from services.triage.link_model import EVIDENCE, LinkModel, evidence, feature_names, load_link_model

ONE = identity_keys("开化县某某纸业有限公司", "91330824MA2XXXXXX1", "138****1234")
OTHER = identity_keys("开化县另一家机械有限公司", None, "13900005678")
# another enterprise's report, same region and unit: 0.5 per unit and region agreeing, -2 to start
MODEL = LinkModel(intercept=-2.0, weights={"other.unit": 1.5, "other.region": 1.5, "other.similarity": 2.0},
                  threshold=0.8)


def old(**kw) -> Earlier:
    fields = dict(case_id="c1", identity=ONE, department="jiaotong", region="huabu", matters=(), closed=False,
                  similarity=0.25, age_days=20.0)
    return Earlier(**{**fields, **kw})


def test_probability_is_the_logistic_of_the_weighted_evidence():
    probe = Probe(OTHER, "jiaotong", "huabu")
    seen = evidence(probe, old())
    assert seen["unit"] == 1.0 and seen["region"] == 1.0 and seen["similarity"] == 0.25 and seen["weeks"] == 1.0
    # -2 + 1.5 + 1.5 + 2 * 0.25 = 1.5
    assert MODEL.probability(seen, same=False) == pytest.approx(1 / (1 + exp(-1.5)))
    # the same evidence of one enterprise has no weight here: the intercept alone
    assert MODEL.probability(seen, same=True) == pytest.approx(1 / (1 + exp(2.0)))
    assert len(feature_names()) == 2 * len(EVIDENCE) + 1


def test_the_model_links_what_the_rules_miss_when_likely_enough():
    probe = Probe(OTHER, "jiaotong", "huabu")
    assert link(probe, [old()], model=None) is None  # the rules: another enterprise, no shared thing or matter
    found = link(probe, [old()], model=MODEL)  # p = 0.8176 >= 0.8
    assert (found.case_id, found.kind, found.same_enterprise) == ("c1", "duplicate", False)
    assert found.confidence == 0.73  # 0.7 + 0.29 * (0.8176 - 0.8) / 0.2, linked without an officer (>= 0.6)
    assert found.why == "不同企业、同一承办单位、同一属地、表述相近（综合判断）"
    # less of the same wording: -2 + 3 + 0.2 = 1.2, p = 0.769 < 0.8
    assert link(probe, [old(similarity=0.1)], model=MODEL) is None


def test_the_model_never_links_what_the_rules_rule_out():
    probe = Probe(OTHER, "jiaotong", "huabu", places=("东岸村",))
    assert ruled_out(probe, old(closed=True))  # another enterprise's closed case: no recurrence of it
    assert link(probe, [old(closed=True, similarity=0.9)], model=MODEL) is None
    assert ruled_out(probe, old(places=("下界首村",)))  # another named place
    assert link(probe, [old(places=("下界首村",), similarity=0.5)], model=MODEL) is None  # else p = 0.88
    assert ruled_out(Probe(ONE, "jiaotong", "majin"), old())  # another region, no matter in common
    assert not ruled_out(Probe(ONE, "jiaotong", "huabu"), old(closed=True))  # the same enterprise's: a recurrence


def test_the_rules_decide_when_they_find_a_link():
    follow_up = Probe(ONE, "jiaotong", "huabu", ("农村公路建设与养护",), follow_up=True)
    sure = old(matters=("农村公路建设与养护",), similarity=0.0, age_days=40.0)
    # MODEL gives one enterprise's pairs 0.12; the rules' "同一企业就同一事项再次反映" stands
    found = link(follow_up, [sure], model=MODEL)
    assert found is not None and found.why == "同一企业就同一事项再次反映" and found.confidence >= 0.9


def test_the_shipped_model_loads_and_reads_as_fitted():
    model = load_link_model()
    assert model is not None and 0.5 <= model.threshold < 1
    assert set(model.weights) == set(feature_names())
