"""services.triage.learning: an officer's decision applies at once to cases worded like the corrected one."""

from services.triage import classifier, duplicates
from services.triage.learning import Correction, OfficerMemory

VOCABULARY = duplicates.Vocabulary.build(c["content"] for c in classifier.load_corpus("train"))


def test_nearest_correction_is_taken_and_a_new_decision_replaces_the_old():
    memory = OfficerMemory(VOCABULARY)
    memory.add(Correction("c1", "旧厂房屋顶改成光伏车棚不知道先找哪里办手续", "accepted", "jingxin", (), "simple"))
    found = memory.nearest("旧厂房屋顶想改成光伏车棚，先找哪里办手续")
    assert found is not None and found[0].department == "jingxin" and found[1] >= 0.5
    assert memory.nearest("员工子女入学名额不够") is None  # nothing alike
    memory.add(Correction("c1", "旧厂房屋顶改成光伏车棚不知道先找哪里办手续", "accepted", "fagai", (), "simple"))
    assert len(memory) == 1 and memory.nearest("旧厂房屋顶改成光伏车棚，先找哪里办手续")[0].department == "fagai"


def test_duplicates_and_unrouted_acceptances_are_not_remembered():
    memory = OfficerMemory(VOCABULARY)
    memory.add(Correction("d", "新车间增容报装没人回复", "duplicate", None, (), None))
    memory.add(Correction("a", "新车间增容报装没人回复", "accepted", None, (), None))
    assert len(memory) == 0 and memory.nearest("新车间增容报装没人回复") is None
