"""shared.org: the organisation file and its cross-reference checks."""

import copy
from importlib import resources

import pytest
import yaml
from pydantic import ValidationError

from shared.org import Organisation, load_organisation

CODED = ("regions", "departments", "categories", "channels", "complexity", "screening", "rating_levels",
         "oversight", "escalation_levels")

# A small organisation of another county: quick to parse, for the many variations below.
SMALL = {
    "county": {"code": "demo", "name": "示例县"},
    "regions": [{"code": "r1", "name": "一镇", "kind": "town"}],
    "departments": [{"code": "d1", "name": "一局", "duties": ["供电"]}, {"code": "d2", "name": "二局"}],
    "categories": [{"code": "c1", "name": "其他", "departments": ["d2"]}],
    "escalation_levels": [{"level": 1, "code": "unit", "name": "承办单位"},
                          {"level": 2, "code": "leader", "name": "领导"}],
    "complexity": [{"code": "simple", "days": 1, "name": "简单"}],
    "screening": [{"code": "accepted", "name": "受理"}],
    "channels": [{"code": "web", "name": "网站", "extra_note": "allowed"}],
    "rating_levels": [{"code": "ok", "name": "满意", "satisfied": True}],
}


@pytest.fixture(scope="module")
def raw_default() -> dict:
    return yaml.safe_load(resources.files("shared.data").joinpath("kaihua.yaml").read_text(encoding="utf-8"))


def write(tmp_path, data: dict):
    path = tmp_path / "org.yaml"
    path.write_text(yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True),
                    encoding="utf-8")
    return path


def test_packaged_default_loads(org):
    assert isinstance(org, Organisation)
    assert org.county.code == "kaihua" and org.county.name == "开化县"
    assert org.county.city == "衢州市" and org.county.province == "浙江省"
    assert len(org.regions) == 16
    assert len(org.departments) == 25
    assert len(org.categories) == 19
    assert len(org.channels) == 9
    assert [c.code for c in org.screening] == ["accepted", "non_business", "unclear", "duplicate"]
    assert [(c.code, c.days) for c in org.complexity] == [("simple", 1), ("general", 2), ("complex", 3)]
    assert [lvl.level for lvl in org.escalation_levels] == [1, 2, 3, 4]
    assert [o.code for o in org.oversight] == ["jiwei", "zuzhibu"]


def test_default_loads_fresh_each_time_equal():
    assert load_organisation() == load_organisation()


@pytest.mark.parametrize("field", CODED)
def test_codes_unique_in_default(org, field):
    codes = [item.code for item in getattr(org, field)]
    assert codes and len(codes) == len(set(codes))


def test_escalation_levels_unique(org):
    levels = [lvl.level for lvl in org.escalation_levels]
    assert len(levels) == len(set(levels))


def test_every_category_names_known_departments(org):
    for category in org.categories:
        assert category.departments, category.code
        assert set(category.departments) <= org.department_codes


def test_every_department_has_duties(org):
    for dept in org.departments:
        assert dept.duties, dept.code
        assert len(dept.duties) == len(set(dept.duties)), dept.code


def test_derived_lookups(org):
    assert org.channel_codes == {"qrcode", "hotline", "liaison", "forum", "deputy", "cppcc", "chamber",
                                 "industry_chain", "city_platform"}
    assert "majin" in org.region_codes and "kaifaqu" in org.region_codes and len(org.region_codes) == 16
    assert "gongdian" in org.department_codes and len(org.department_codes) == 25
    assert org.department("gongdian").name == "国网开化县供电公司"
    assert org.department("gongdian").duties == ("供电", "电力增容", "停电", "电费")
    assert org.complexity_of("general").days == 2
    assert org.fallback_category.code == "other"
    assert org.fallback_category.departments == ("yingshang",)
    assert org.top_escalation_level == 4
    satisfied = {r.code for r in org.rating_levels if r.satisfied}
    assert satisfied == {"very_satisfied", "satisfied", "basically_satisfied"}


def test_unknown_code_lookup_raises(org):
    with pytest.raises(StopIteration):
        org.department("nope")
    with pytest.raises(StopIteration):
        org.complexity_of("nope")


def test_organisation_is_frozen_and_hashable(org):
    with pytest.raises(ValidationError):
        org.county = org.county
    hash(org)  # triage caches keyword tables per organisation


def test_unchanged_copy_loads_from_path(tmp_path, raw_default, org):
    assert load_organisation(write(tmp_path, raw_default)) == org


def test_path_may_be_a_string(tmp_path, raw_default):
    assert load_organisation(str(write(tmp_path, raw_default))).county.code == "kaihua"


def test_category_naming_unknown_department_raises(tmp_path, raw_default):
    data = copy.deepcopy(raw_default)
    data["categories"][0]["departments"] = ["caizheng", "nosuchdept", "alsomissing"]
    with pytest.raises(ValidationError, match=r"category policy names unknown departments "
                                              r"\['alsomissing', 'nosuchdept'\]"):
        load_organisation(write(tmp_path, data))


def test_removing_a_department_that_a_category_names_raises(tmp_path, raw_default):
    data = copy.deepcopy(raw_default)
    data["departments"] = [d for d in data["departments"] if d["code"] != "jinrong"]
    with pytest.raises(ValidationError, match=r"category financing names unknown departments \['jinrong'\]"):
        load_organisation(write(tmp_path, data))


def test_duplicate_region_codes_raise(tmp_path, raw_default):
    data = copy.deepcopy(raw_default)
    data["regions"].append({"code": "majin", "name": "另一个马金", "kind": "town"})
    with pytest.raises(ValidationError, match="duplicate codes in regions"):
        load_organisation(write(tmp_path, data))


@pytest.mark.parametrize("field", ["regions", "departments", "channels", "complexity", "screening", "rating_levels"])
def test_duplicate_codes_raise(tmp_path, field):
    data = copy.deepcopy(SMALL)
    data[field].append(copy.deepcopy(data[field][0]))
    with pytest.raises(ValidationError, match=f"duplicate codes in {field}"):
        load_organisation(write(tmp_path, data))


@pytest.mark.parametrize("field, key", [("categories", "code"), ("escalation_levels", "code"),
                                        ("escalation_levels", "level")])
def test_duplicates_in_categories_and_escalation_levels_raise(tmp_path, field, key):
    data = copy.deepcopy(SMALL)
    duplicate = copy.deepcopy(data[field][-1])
    duplicate["name"] = "重复"
    if key == "level":
        duplicate["code"] = "another_code"
    elif field == "escalation_levels":
        duplicate["level"] = 99
    data[field].append(duplicate)
    with pytest.raises(ValidationError):
        load_organisation(write(tmp_path, data))


@pytest.mark.parametrize("field", ["county", "regions", "departments", "escalation_levels", "complexity",
                                   "screening", "channels", "rating_levels"])
def test_missing_required_section_raises(tmp_path, field):
    data = copy.deepcopy(SMALL)
    del data[field]
    with pytest.raises(ValidationError) as info:
        load_organisation(write(tmp_path, data))
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_a_small_other_county_loads(tmp_path):
    data = copy.deepcopy(SMALL)
    org = load_organisation(write(tmp_path, data))
    assert org.channel_codes == {"web"}
    assert org.department("d2").duties == ()
    assert org.fallback_category.departments == ("d2",)
    assert org.top_escalation_level == 2
    assert org.oversight == ()
    assert org.channels[0].model_extra == {"extra_note": "allowed"}
