"""A paper as a QTI 3.0 test: the package of its items, as :func:`~.qti.write_qti` writes them,
with a ``qti-assessment-test`` that holds them in the paper's order.

Each part of the paper (理论知识, 专业能力) is a test part with one section, its time limit,
and its questions in printed order; each question's reference carries the weight that turns the
item's own score into the paper's points for it. Outcome processing sums each part
(``SCORE_<part>``), decides it against the part's pass mark (``PASS_<part>``) and sums the paper
(``SCORE``). The items are the exact versions the paper holds, so the package also imports back
into a bank (``certify bank import --format qti``) as those versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from question_bank.formats import format_number
from question_bank.images import CheckedImage
from question_bank.interchange.qti import NS, item_href, qti_identifier, write_qti, xml_document
from schemas.enums import ItemType
from schemas.items import ItemData
from schemas.papers import PaperPart, PaperView

WEIGHT = "W"


def item_scale(item: ItemData) -> float:
    """The most an item scores by its own response processing: 1 for choice and true/false
    (``match_correct``), 1 per blank for fill (``map_response``, bounded at 1 each), its own
    points for a subjective item (marked by a rater)."""
    if item.type is ItemType.FILL:
        return float(len(item.fill_blanks))
    if item.type is ItemType.SUBJECTIVE:
        return item.points
    return 1.0


def _declare(identifier: str, base: str, maximum: float | None = None) -> str:
    top = "" if maximum is None else f' normal-maximum="{format_number(maximum)}"'
    default = "0" if base == "float" else "false"
    return (
        f'<qti-outcome-declaration identifier="{identifier}" cardinality="single" '
        f'base-type="{base}"{top}><qti-default-value><qti-value>{default}</qti-value>'
        "</qti-default-value></qti-outcome-declaration>"
    )


def _part(part: PaperPart, items: Mapping[int, ItemData]) -> str:
    refs = ""
    for q in part.questions:
        item = items[q.item_version_pk]
        weight = format_number(q.points / item_scale(item))
        refs += (
            f'<qti-assessment-item-ref identifier="{qti_identifier(item.item_id)}" '
            f'href="../{item_href(item)}" category="{q.type.value}">'
            f'<qti-weight identifier="{WEIGHT}" value="{weight}"/></qti-assessment-item-ref>'
        )
    seconds = part.time_limit_minutes * 60
    return (
        f'<qti-test-part identifier="P-{part.part}" title="{escape(part.title)}" '
        'navigation-mode="nonlinear" submission-mode="simultaneous">'
        f'<qti-time-limits max-time="{seconds}"/>'
        f'<qti-assessment-section identifier="S-{part.part}" title="{escape(part.title)}" '
        f'visible="true">{refs}</qti-assessment-section></qti-test-part>'
    )


def _processing(parts: list[PaperPart]) -> str:
    rules = ""
    for part in parts:
        rules += (
            f'<qti-set-outcome-value identifier="SCORE_{part.part}"><qti-sum>'
            f'<qti-test-variables variable-identifier="SCORE" weight-identifier="{WEIGHT}" '
            f'section-identifier="S-{part.part}"/></qti-sum></qti-set-outcome-value>'
            f'<qti-set-outcome-value identifier="PASS_{part.part}"><qti-gte>'
            f'<qti-variable identifier="SCORE_{part.part}"/>'
            f'<qti-base-value base-type="float">{format_number(part.pass_mark)}</qti-base-value>'
            "</qti-gte></qti-set-outcome-value>"
        )
    total = "".join(f'<qti-variable identifier="SCORE_{p.part}"/>' for p in parts)
    rules += f'<qti-set-outcome-value identifier="SCORE"><qti-sum>{total}</qti-sum>'
    rules += "</qti-set-outcome-value>"
    return f"<qti-outcome-processing>{rules}</qti-outcome-processing>"


def assessment_test(view: PaperView, items: Mapping[int, ItemData]) -> bytes:
    """The ``qti-assessment-test`` of ``view``; ``items`` by item version (its
    ``item_version_pk``) must hold every question's item. Raises KeyError otherwise."""
    parts = [p for p in view.parts if p.questions]
    declarations = _declare("SCORE", "float", sum(p.total_points for p in parts))
    for part in parts:
        declarations += _declare(f"SCORE_{part.part}", "float", part.total_points)
        declarations += _declare(f"PASS_{part.part}", "boolean")
    title = f"{view.title} {view.code}"
    document = (
        f'<qti-assessment-test xmlns="{NS}" identifier="{qti_identifier(view.code)}" '
        f'title="{escape(title)}" tool-name="certify">{declarations}'
        + "".join(_part(p, items) for p in parts)
        + _processing(parts)
        + "</qti-assessment-test>"
    )
    return xml_document(document)


def write_paper_qti(
    view: PaperView,
    items: Mapping[int, ItemData],
    images: Mapping[str, CheckedImage] | None = None,
) -> bytes:
    """A QTI 3.0 content package of the paper ``view``: its items (``items`` by item version)
    and its test, ``tests/<code>.xml``."""
    ordered = [items[q.item_version_pk] for q in view.questions]
    path = f"tests/{qti_identifier(view.code)}.xml"
    test = (qti_identifier(view.code), path, assessment_test(view, items))
    return write_qti(ordered, test, images)
