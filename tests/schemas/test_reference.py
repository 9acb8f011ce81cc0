from schemas.enums import Level
from schemas.reference import find_level, find_occupation, get_occupation, occupations

PROGRAMME = [
    "人工智能",
    "物联网",
    "大数据",
    "云计算",
    "数字化管理",
    "智能制造",
    "工业互联网",
    "虚拟现实",
    "区块链",
    "集成电路",
]


def test_the_ten_occupations_of_the_programme_in_order() -> None:
    assert [o.short_zh for o in occupations()] == PROGRAMME


def test_every_occupation_has_names_in_both_languages_and_a_known_code_status() -> None:
    for occ in occupations():
        assert occ.name_zh and occ.name_en and occ.slug
        assert occ.code_2015_status in {"confirmed", "reported", "unsure", "unknown"}
        assert (occ.code_2015 is None) == (occ.code_2015_status == "unknown")


def test_weights_of_every_level_add_up_to_one_hundred() -> None:
    for occ in occupations():
        for level in Level:
            assert sum(a.weight(level) for a in occ.knowledge_areas) == 100, (occ.slug, level)


def test_area_codes_are_unique_within_an_occupation() -> None:
    for occ in occupations():
        codes = [a.code for a in occ.knowledge_areas]
        assert len(codes) == len(set(codes))


def test_occupations_are_found_by_slug_chinese_name_and_code() -> None:
    ai = get_occupation("ai")
    assert find_occupation("人工智能") is ai
    assert find_occupation("人工智能工程技术人员") is ai
    assert find_occupation("2-02-10-09") is ai
    assert find_occupation("AI") is ai
    assert find_occupation("人工智能训练师") is None


def test_levels_are_found_in_chinese_and_english() -> None:
    assert find_level("初级") is Level.JUNIOR
    assert find_level("Senior") is Level.SENIOR
    assert find_level("五级") is None
