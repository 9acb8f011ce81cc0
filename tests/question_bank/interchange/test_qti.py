"""QTI 3.0 packages in and out: round trips, the 1EdTech XSD, what is refused."""

import io
import zipfile
from html import escape
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from certify.infra.errors import InputError
from question_bank.interchange.common import Placement, Question, flat_text, html_text
from question_bank.interchange.qti import NS, _holes, _markup, _text, read_qti, write_qti
from question_bank.validate import validate_rows
from schemas.items import ItemData
from tests.helpers import item
from tests.question_bank.strategies import banks

XSD = Path(__file__).resolve().parent.parent / "data" / "qti3" / "qtiv3p0"
AI = Placement(occupation="ai", level="senior", area="3")


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / "imsqti_asiv3p0_sbacv1p0_v1p0.xsd")))


def _members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _every_type() -> list[ItemData]:
    return [
        item(item_id="Q-1", stem="中文：哪个是空值？\n第二行"),
        item(item_id="Q-2", type="multiple", key="AB"),
        item(item_id="Q-3", type="true_false", options={}, key="T"),
        item(item_id="Q-4", type="fill", options={}, stem="激活函数 ______ 与 ___", key="ReLU|修正线性单元;3.14±0.01"),
        item(item_id="5-Q", type="fill", options={}, stem="π ≈ ______", key="3.14±0.01"),
        item(item_id="Q-6", type="subjective", options={}, key="参考答案", rubric="要点一 2 分"),
        item(item_id="Q-7", type="matching", options={"A": "监督", "B": "无监督", "C": "强化"},
             premises=["线性回归", "K 均值", "Q 学习", "决策树"], key="ABCA", points=2),
    ]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks())
def test_any_bank_exports_to_qti_and_imports_back_the_same_items(bank: list[ItemData]) -> None:
    checked = validate_rows("b.zip", read_qti("b.zip", write_qti(bank), Placement()))
    assert checked.problems == []
    assert [i for _, i in checked.items] == bank


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks())
def test_every_exported_item_validates_against_the_qti_3_xsd(
    schema: etree.XMLSchema, bank: list[ItemData]
) -> None:
    for name, data in _members(write_qti(bank)).items():
        if name.startswith("items/"):
            assert schema.validate(etree.fromstring(data)), (name, schema.error_log)


def test_each_interaction_and_template_is_written(schema: etree.XMLSchema) -> None:
    members = _members(write_qti(_every_type()))
    texts = {name: data.decode() for name, data in members.items() if name.startswith("items/")}
    for name, text in texts.items():
        assert schema.validate(etree.fromstring(text.encode())), (name, schema.error_log)
    assert "match_correct" in texts["items/Q-1.xml"]
    assert 'max-choices="0"' in texts["items/Q-2.xml"]
    assert texts["items/Q-4.xml"].count("qti-text-entry-interaction") == 2
    assert "qti-sum" in texts["items/Q-4.xml"]
    assert "map_response" in texts["items/_5-Q.xml"]
    assert "qti-extended-text-interaction" in texts["items/Q-6.xml"]
    assert 'view="scorer"' in texts["items/Q-6.xml"]
    assert "qti-match-interaction" in texts["items/Q-7.xml"]
    assert "<qti-value>P4 A</qti-value>" in texts["items/Q-7.xml"]
    assert 'mapped-value="0.5"' in texts["items/Q-7.xml"]  # 2 points, 4 premises
    assert "map_response" in texts["items/Q-7.xml"]
    assert b"imsqti_item_xmlv3p0" in members["imsmanifest.xml"]


def test_a_package_from_elsewhere_is_read_and_its_order_interaction_refused() -> None:
    package = _members(write_qti(_every_type()[:1]))
    foreign = io.BytesIO()
    match_item = (
        '<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="m1" '
        'title="排序" adaptive="false" time-dependent="false"><qti-item-body>'
        '<qti-order-interaction response-identifier="RESPONSE"/>'
        "</qti-item-body></qti-assessment-item>"
    )
    manifest = package["imsmanifest.xml"].replace(
        b'<resource identifier="certify-metadata"',
        b'<resource identifier="R-m1" type="imsqti_item_xmlv3p0" href="items/m1.xml">'
        b'<file href="items/m1.xml"/></resource><resource identifier="certify-metadata"',
    )
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("imsmanifest.xml", manifest)
        z.writestr("items/Q-1.xml", package["items/Q-1.xml"])
        z.writestr("items/m1.xml", match_item)
    rows = read_qti("f.zip", foreign.getvalue(), AI)
    checked = validate_rows("f.zip", rows)
    assert [(i.item_id, i.type.value, i.key, i.knowledge_area) for _, i in checked.items] == [
        ("Q-1", "single", "B", "3")
    ]
    assert checked.items[0][1].stem == "中文：哪个是空值？\n第二行"
    assert [(p.row, p.code, p.field) for p in checked.problems] == [
        (2, "unsupported_type", "«排序»: qti-item-body")
    ]


FOREIGN_MATCH = (
    '<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="m2" '
    'title="动物" adaptive="false" time-dependent="false">'
    '<qti-response-declaration identifier="RESPONSE" cardinality="multiple" '
    'base-type="directedPair"><qti-correct-response><qti-value>frog amph</qti-value>'
    "<qti-value>cat mamm</qti-value><qti-value>newt amph</qti-value></qti-correct-response>"
    "</qti-response-declaration><qti-item-body><p>Classify the animals.</p>"
    '<qti-match-interaction response-identifier="RESPONSE" max-associations="3">'
    '<qti-simple-match-set><qti-simple-associable-choice identifier="frog" match-max="1">frog'
    '</qti-simple-associable-choice><qti-simple-associable-choice identifier="cat" match-max="1">'
    '<b>cat</b></qti-simple-associable-choice><qti-simple-associable-choice identifier="newt" '
    'match-max="1">newt</qti-simple-associable-choice></qti-simple-match-set>'
    '<qti-simple-match-set><qti-simple-associable-choice identifier="mamm" match-max="3">mammal'
    '</qti-simple-associable-choice><qti-simple-associable-choice identifier="amph" '
    'match-max="3">amphibian</qti-simple-associable-choice><qti-simple-associable-choice '
    'identifier="ins" match-max="3">insect</qti-simple-associable-choice></qti-simple-match-set>'
    "</qti-match-interaction></qti-item-body></qti-assessment-item>"
)


def _foreign(item_xml: str) -> bytes:
    manifest = (
        '<manifest xmlns="http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1" identifier="M">'
        '<resources><resource identifier="R" type="imsqti_item_xmlv3p0" href="items/m.xml">'
        '<file href="items/m.xml"/></resource></resources></manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("imsmanifest.xml", manifest)
        z.writestr("items/m.xml", item_xml)
    return out.getvalue()


def test_a_match_interaction_from_elsewhere_reads_as_a_matching_item(
    schema: etree.XMLSchema,
) -> None:
    assert schema.validate(etree.fromstring(FOREIGN_MATCH.encode())), schema.error_log
    checked = validate_rows("f.zip", read_qti("f.zip", _foreign(FOREIGN_MATCH), AI))
    assert checked.problems == []
    [(_, found)] = checked.items
    assert found.type.value == "matching" and found.stem == "Classify the animals."
    assert found.premises == ["frog", "cat", "newt"]
    assert found.options == {"A": "mammal", "B": "amphibian", "C": "insect"}
    assert found.key == "BAB"
    no_pair = FOREIGN_MATCH.replace("<qti-value>cat mamm</qti-value>", "")
    rows = read_qti("f.zip", _foreign(no_pair), AI)
    assert [(p.code, p.field) for p in rows[0].problems] == [("no_answer", "«动物»: premise 2")]


XML_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc")),
        st.sampled_from(" \t\n\u00a0\u3000<&>\ufeff"),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(XML_TEXT)
def test_text_without_markup_reads_as_the_html_reader_reads_it(text: str) -> None:
    assert flat_text(text) == html_text(escape(text))[0]


PIECES = st.lists(
    st.tuples(
        st.sampled_from(["", "div", "span", "b", "br", "qti-prompt", "entry", "p", "i"]),
        XML_TEXT.map(escape),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(PIECES, PIECES)
def test_plain_markup_read_from_the_tree_reads_as_through_html(
    outer: list[tuple[str, str]], inner: list[tuple[str, str]]
) -> None:
    def markup(pieces: list[tuple[str, str]], nested: str = "") -> str:
        out = []
        for tag, text in pieces:
            if tag == "br":
                out.append(f"<br/>{text}")
            elif tag == "entry":
                out.append(f'<qti-text-entry-interaction expected-length="4"/>{text}')
            elif tag:
                out.append(f"<{tag}>{text}{nested}</{tag}>{text}")
            else:
                out.append(text)
        return "".join(out)

    body = etree.fromstring(
        f'<qti-item-body xmlns="{NS}">{markup(outer, markup(inner))}</qti-item-body>'.encode()
    )
    question = Question("f.zip", 1, "q")
    direct: list[int] = []
    via_html: list[int] = []
    html = escape(body.text or "") + "".join(_markup(c, question, via_html) for c in body)
    assert _text(question, body, "body", direct) == _holes(html_text(html)[0], via_html)
    assert direct == via_html


@pytest.mark.parametrize("sidecar", [b"{not json", b"[1, 2]"])
def test_metadata_that_is_not_a_json_object_refuses_the_package(sidecar: bytes) -> None:
    members = _members(write_qti(_every_type()[:1]))
    members["certify-items.json"] = sidecar
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(InputError) as refused:
        read_qti("m.zip", out.getvalue(), AI)
    assert (refused.value.code, refused.value.problem.field) == (
        "bad_metadata",
        "certify-items.json",
    )


def test_a_mapped_value_that_is_no_number_gives_no_points() -> None:
    members = _members(write_qti(_every_type()[4:5]))
    del members["certify-items.json"]
    members["items/_5-Q.xml"] = members["items/_5-Q.xml"].replace(
        b'mapped-value="1"', b'mapped-value="many"'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    (row,) = read_qti("x.zip", out.getvalue(), AI)
    assert (row.values["type"], row.values["key"]) == ("fill", "3.14")


def test_a_member_that_cannot_be_unpacked_refuses_the_package_by_name() -> None:
    package = bytearray(write_qti(_every_type()[:1]))
    member = bytes(package).find(b"items/Q-1.xml") + len("items/Q-1.xml")
    package[member : member + 8] = bytes(8)  # the compressed bytes damaged: a CRC error
    with pytest.raises(InputError) as refused:
        read_qti("d.zip", bytes(package), AI)
    assert (refused.value.code, refused.value.problem.field) == ("bad_package", "items/Q-1.xml")
