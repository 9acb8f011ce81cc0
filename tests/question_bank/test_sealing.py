"""Sealed papers (试卷保密): sealed in a real database, unreadable until k custodians open them,
gone from the SQLite file, back exactly as they were once opened."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col, select

from certify.infra.errors import PaperNotFound
from certify.infra.shamir import Share
from question_bank.assembly.plan import Infeasible
from question_bank.bank import bank_items, import_bank, import_items
from question_bank.catalogue import ItemSearch, item_history, search_items
from question_bank.paper_catalogue import paper_document, paper_qti
from question_bank.papers import assemble_papers, load_pool, paper_view, write_paper_pdfs
from question_bank.samples import sample_files
from question_bank.sealing import (
    KeysWithheld,
    PaperSealed,
    Sealed,
    SealError,
    open_seal,
    parse_share,
    seal_papers,
    share_text,
)
from schemas.tables import (
    AuditEntry,
    Item,
    ItemImage,
    ItemVersion,
    Paper,
    PaperDocument,
    PaperItem,
    PaperSeal,
    Sitting,
    utcnow,
)
from tests.conftest import Database
from tests.helpers import institution, snapshot
from tests.question_bank.test_papers import blueprint

CUSTODIANS = ["张保管", "李保管", "王保管"]


@pytest.fixture
def forms(database: Database) -> tuple[Database, list[str]]:
    for path in sample_files():
        if path.name.startswith("ai-"):
            import_bank(database.engine, path)
    report = assemble_papers(database.engine, blueprint())
    return database, [p.code for p in report.papers]


def _seal(
    database: Database,
    codes: list[str],
    *,
    opens_in: timedelta,
    lasts: timedelta = timedelta(hours=2),
    lead: int = 0,
):  # type: ignore[no-untyped-def]
    opens_at = utcnow() + opens_in
    return seal_papers(
        database.engine,
        codes,
        custodians=CUSTODIANS,
        threshold=2,
        opens_at=opens_at,
        ends_at=opens_at + lasts,
        print_lead_minutes=lead,
        actor="admin",
    )


def sealed_by_hand(session: Session, version: ItemVersion) -> PaperSeal:
    """``version`` held by a seal of the province's, made by hand (no paper need show it) and
    emptied as sealing empties a version: the option letters kept. Committed."""
    opens = utcnow() + timedelta(days=30)
    seal = PaperSeal(
        threshold=2, custodians=[], opens_at=opens, ends_at=opens + timedelta(hours=2),
        nonce=b"", ciphertext=b"", sealed_by="test",
    )  # fmt: skip
    session.add(seal)
    session.flush()
    version.sealed_by, version.stem, version.key, version.rubric = seal.id, "", "", ""
    version.options = dict.fromkeys(version.options, "")
    session.add(version)
    session.commit()
    return seal


def _texts(database: Database, codes: list[str]) -> list[str]:
    """Every stem, option, premise and rubric of the papers that no other item of the bank
    also has (an option such as "docker run" may be another item's too)."""
    out, pks = [], set()
    for code in codes:
        for q in paper_view(database.engine, code).questions:
            out += [q.stem, *q.options.values(), *q.premises, q.key, q.rubric]
            pks.add(q.item_version_pk)
    with Session(database.engine) as session:
        others = session.exec(select(ItemVersion).where(col(ItemVersion.id).not_in(pks)))
        elsewhere = "\n".join(
            "\n".join([v.stem, *v.options.values(), *v.premises, v.key, v.rubric]) for v in others
        )
    return [t for t in out if len(t) >= 8 and t not in elsewhere]


def _versions(database: Database, code: str) -> list[ItemVersion]:
    with Session(database.engine) as session:
        paper = session.exec(select(Paper).where(Paper.code == code)).one()
        pks = session.exec(select(PaperItem.item_version_id).where(PaperItem.paper_id == paper.id))
        return list(session.exec(select(ItemVersion).where(col(ItemVersion.id).in_(list(pks)))))


def test_a_sealed_paper_is_refused_everywhere_and_opens_back_as_it_was(
    forms: tuple[Database, list[str]], tmp_path: Path
) -> None:
    database, codes = forms
    before = {c: paper_view(database.engine, c) for c in codes}
    key_pdf = paper_document(database.engine, codes[0], "key")  # rendered and stored before
    sealed = _seal(database, codes, opens_in=timedelta(seconds=-1))
    assert [name for name, _ in sealed.shares] == CUSTODIANS
    assert sealed.documents == 1 and sealed.versions == len(
        {q.item_version_pk for v in before.values() for q in v.questions}
    )
    for code in codes:
        with pytest.raises(PaperSealed):
            paper_view(database.engine, code)
        with pytest.raises(PaperSealed):
            paper_document(database.engine, code, "paper")
        with pytest.raises(PaperSealed):
            paper_qti(database.engine, code)
        with pytest.raises(PaperSealed):
            write_paper_pdfs(database.engine, code, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with Session(database.engine) as session:
        assert session.exec(select(PaperDocument)).first() is None
    letters = {q.item_version_pk: set(q.options) for q in before[codes[0]].questions}
    for v in _versions(database, codes[0]):  # the option letters stay: the item's shape
        assert (v.stem, v.key, v.rubric) == ("", "", "") and set(v.options.values()) <= {""}
        assert set(v.options) == letters[v.id or 0]

    opened = open_seal(
        database.engine, sealed.seal_id, [s for _, s in sealed.shares[1:]], actor="admin"
    )
    assert opened.custodians == CUSTODIANS[1:]
    assert {c: paper_view(database.engine, c) for c in codes} == before
    # the paper is back; its key is withheld until the session ends, except for grading
    assert paper_document(database.engine, codes[0], "paper")
    with pytest.raises(KeysWithheld):
        paper_document(database.engine, codes[0], "key")
    with pytest.raises(KeysWithheld):
        paper_qti(database.engine, codes[0])
    written = write_paper_pdfs(database.engine, codes[0], tmp_path / "print")
    assert [p.name for p in written] == [f"{codes[0]}-试卷.pdf"]
    with Session(database.engine) as session:
        stored = session.exec(
            select(PaperDocument.content).where(PaperDocument.kind == "key")
        ).one()
        assert bytes(stored) == key_pdf  # the PDF rendered before sealing, byte for byte
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]
    assert actions[-2:] == ["papers.seal", "papers.open"]


def test_the_database_file_holds_none_of_a_sealed_papers_texts(
    forms: tuple[Database, list[str]],
) -> None:
    database, codes = forms
    if database.backend != "sqlite":
        pytest.skip("the file on disk is SQLite's; PostgreSQL's storage is documented")
    texts = _texts(database, codes)
    views = [paper_view(database.engine, c) for c in codes]
    assert {q.rubric for v in views for q in v.questions} & set(texts)  # rubrics are looked for
    assert {q.key for v in views for q in v.questions if len(q.key) > 1} & set(texts)  # and keys
    paper_document(database.engine, codes[0], "paper")
    path = Path(database.engine.url.database or "")
    assert len(_on_disk(path, texts)) == len(texts)  # the check can see them
    _seal(database, codes, opens_in=timedelta(days=1))
    assert _on_disk(path, texts) == []


def _on_disk(path: Path, texts: list[str]) -> list[str]:
    """The texts found in the database file or its write-ahead log, as UTF-8 (text columns)
    or as JSON writes them (options and premises)."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    return [t for t in texts if t.encode() in data or json.dumps(t)[1:-1].encode() in data]


def test_opening_takes_the_threshold_of_the_right_shares(
    forms: tuple[Database, list[str]],
) -> None:
    database, codes = forms
    sealed = _seal(database, codes, opens_in=timedelta(minutes=30), lead=60)  # printing early
    mine = [s for _, s in sealed.shares]
    with pytest.raises(SealError, match="需要 2 位保管人"):
        open_seal(database.engine, sealed.seal_id, mine[:1])
    with pytest.raises(SealError, match="给了两次"):
        open_seal(database.engine, sealed.seal_id, [mine[0], mine[0]])
    seal_id, share = parse_share(mine[1])
    with pytest.raises(SealError, match="不是密封"):
        open_seal(database.engine, sealed.seal_id, [mine[0], share_text(seal_id + 1, share)])
    forged = share_text(seal_id, type(share)(share.x, bytes(b ^ 1 for b in share.y)))
    with pytest.raises(SealError, match="不符"):
        open_seal(database.engine, sealed.seal_id, [mine[0], forged])
    typo = mine[1][:-1] + ("A" if mine[1][-1] != "A" else "B")
    with pytest.raises(SealError, match="校验"):
        open_seal(database.engine, sealed.seal_id, [mine[0], typo])
    with pytest.raises(PaperSealed):
        paper_view(database.engine, codes[1])
    head, x, body = mine[0].split("-", 2)
    typed = f"{head}-{x}-{body.replace('-', ' ').lower()}"  # as a person may type it
    open_seal(database.engine, sealed.seal_id, [mine[2], typed])
    assert paper_view(database.engine, codes[1]).questions
    with pytest.raises(SealError, match="已于"):
        open_seal(database.engine, sealed.seal_id, mine)
    with Session(database.engine) as session:
        refused = session.exec(
            select(AuditEntry).where(AuditEntry.action == "papers.open_refused")
        ).all()
        opened = session.exec(select(AuditEntry).where(AuditEntry.action == "papers.open")).one()
    assert len(refused) == 6
    assert opened.detail["custodians"] == [CUSTODIANS[2], CUSTODIANS[0]]


def test_held_versions_stay_out_of_assembly_exports_and_the_banks_pages(
    forms: tuple[Database, list[str]],
) -> None:
    database, codes = forms
    held = {v.id for c in codes for v in _versions(database, c)}
    sealed = _seal(database, codes, opens_in=timedelta(seconds=-1))
    exported = {i.item_id for i in bank_items(database.engine)}
    with Session(database.engine) as session:
        held_codes = set(
            session.exec(
                select(Item.code)
                .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
                .where(col(ItemVersion.id).in_(held))
            )
        )
    assert not exported & held_codes
    one = sorted(held_codes)[0]
    history = item_history(database.engine, one)
    assert history.latest.held == "sealed" and history.latest.data.key == ""
    rows = search_items(database.engine, ItemSearch(text=one)).rows
    assert rows[0].stem == "〔已密封 / sealed〕"
    # a new assembly leaves them out, and says so when the bank is short for it
    with Session(database.engine) as session:
        assert not {p.version_pk for p in load_pool(session, blueprint())} & held
    with pytest.raises(Infeasible, match="密封"):
        assemble_papers(database.engine, blueprint(code="AI-J-OTHER"))
    open_seal(database.engine, sealed.seal_id, [s for _, s in sealed.shares[:2]])
    history = item_history(database.engine, one)
    assert (
        history.latest.held == "keys" and history.latest.data.key == "" and history.latest.data.stem
    )


def test_a_seal_that_makes_no_sense_changes_nothing(forms: tuple[Database, list[str]]) -> None:
    database, codes = forms
    now = utcnow()
    cases = [
        {"custodians": ["甲"], "threshold": 2},
        {"custodians": ["甲", "甲"], "threshold": 2},
        {"custodians": CUSTODIANS, "threshold": 4},
        {"custodians": CUSTODIANS, "threshold": 1},
        {"custodians": CUSTODIANS, "threshold": 2, "ends_at": now - timedelta(hours=1)},
    ]
    for case in cases:
        with pytest.raises(SealError, match="nothing was sealed"):
            seal_papers(
                database.engine,
                codes,
                custodians=case["custodians"],
                threshold=case["threshold"],
                opens_at=now - timedelta(hours=2),
                ends_at=case.get("ends_at", now + timedelta(hours=2)),
            )
    with pytest.raises(PaperNotFound):
        seal_papers(
            database.engine,
            [*codes, "NO-SUCH"],
            custodians=CUSTODIANS,
            threshold=2,
            opens_at=now,
            ends_at=now + timedelta(hours=1),
        )
    far = now + timedelta(days=400)
    with pytest.raises(SealError, match="within a year"):
        seal_papers(
            database.engine,
            codes,
            custodians=CUSTODIANS,
            threshold=2,
            opens_at=far,
            ends_at=far + timedelta(hours=2),
        )
    before = snapshot(database.engine)
    with pytest.raises(SealError, match=f"also on 1 other paper\\(s\\) \\({codes[1]}\\)"):
        _seal(database, codes[:1], opens_in=timedelta(hours=1))  # 1B shows items of 1A
    assert snapshot(database.engine) == before
    assert paper_view(database.engine, codes[1]).questions
    sealed = _seal(database, codes, opens_in=timedelta(hours=1))
    with pytest.raises(SealError, match="已经密封过"):
        _seal(database, codes[:1], opens_in=timedelta(hours=1))
    with pytest.raises(SealError, match="最早可在"):
        open_seal(database.engine, sealed.seal_id, [s for _, s in sealed.shares])
    with pytest.raises(PaperSealed):
        paper_view(database.engine, codes[0])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_altered_byte_of_a_seal_is_refused_and_changes_nothing(
    forms: tuple[Database, list[str]], data: st.DataObject
) -> None:
    """One seal for the whole test; each example alters one byte of its nonce or ciphertext,
    is refused with the right shares, and puts the byte back."""
    database, codes = forms
    with Session(database.engine) as session:
        made = session.exec(select(PaperSeal)).first()
    if made is None:  # the first example: this database's seal, and its shares kept here
        _SEALED[database.url] = _seal(database, codes, opens_in=timedelta(seconds=-1))
    shares = [s for _, s in _SEALED[database.url].shares[:2]]
    with Session(database.engine) as session:
        seal = session.exec(select(PaperSeal)).one()
    field = data.draw(st.sampled_from(["nonce", "ciphertext"]))
    original = getattr(seal, field)
    at = data.draw(st.integers(0, len(original) - 1))
    flip = data.draw(st.integers(1, 255))
    altered = original[:at] + bytes([original[at] ^ flip]) + original[at + 1 :]
    with Session(database.engine) as session:
        session.execute(update(PaperSeal).values(**{field: altered}))
        session.commit()
    try:
        with pytest.raises(SealError, match="altered"):
            open_seal(database.engine, seal.id or 0, shares)
        with pytest.raises(PaperSealed):
            paper_view(database.engine, codes[0])
    finally:
        with Session(database.engine) as session:
            session.execute(update(PaperSeal).values(**{field: original}))
            session.commit()


_SEALED: dict[str, Sealed] = {}
"""The seal the test above made in the database (by its URL) it runs on."""


@settings(max_examples=200, deadline=None)
@given(
    seal_id=st.integers(1, 10**9 - 1),
    x=st.integers(1, 255),
    y=st.binary(min_size=32, max_size=32),
    at=st.integers(0, 10_000),
    letter=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
)
def test_a_share_reads_back_as_written_and_a_changed_letter_fails_its_check(
    seal_id: int, x: int, y: bytes, at: int, letter: str
) -> None:
    text = share_text(seal_id, Share(x, y))
    assert parse_share(text) == (seal_id, Share(x, y))
    head, number, body = text.split("-", 2)
    positions = [i for i, c in enumerate(body) if c != "-"]
    i = positions[at % len(positions)]
    if body[i] == letter:
        return
    changed = f"{head}-{number}-{body[:i]}{letter}{body[i + 1 :]}"
    with pytest.raises(SealError):
        parse_share(changed)


def test_grading_waits_for_a_key_correction_sealed_by_its_own_side_only(
    forms: tuple[Database, list[str]],
) -> None:
    """An item corrected by a newer version of the same shape is scored with the newer key.
    While that version is sealed its key is unknown: grading a sitting of the older version
    stops when the province or the sitting's own institution sealed it, passes it over when
    another institution did (which cannot hold up anyone's grading), and a hand-in's
    provisional score always passes it over."""
    from certify.grading.service import effective_keys, keys_for
    from question_bank.bank import import_items, to_item_data

    database, _ = forms
    institution(database.engine, "甲机构")
    with Session(database.engine) as session:
        item, v1 = session.exec(
            select(Item, ItemVersion)
            .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
            .where(ItemVersion.type == "single")
            .order_by(col(Item.code))
        ).first()  # type: ignore[misc]
        corrected = to_item_data(item, v1)
        other = next(letter for letter in sorted(v1.options) if letter != v1.key)
    import_items(database.engine, "correction", [corrected.model_copy(update={"key": other})])
    with Session(database.engine) as session:
        v2 = session.exec(
            select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.version == 2)
        ).one()
        assert effective_keys(session)[v1.id or 0].key == other  # the correction scores v1
        seal = sealed_by_hand(session, v2)
        mine, theirs = (
            Sitting(code="A", institution="甲机构"),
            Sitting(code="B", institution="乙机构"),
        )
        needed = {v1.id or 0}
        with pytest.raises(SealError, match=item.code):  # the province's seal
            keys_for(session, mine, needed)
        assert keys_for(session, mine, needed, provisional=True)[v1.id or 0].key == v1.key
        seal.institution = "甲机构"
        session.add(seal)
        session.flush()
        with pytest.raises(SealError, match=item.code):  # its own institution's
            keys_for(session, mine, needed)
        assert keys_for(session, theirs, needed)[v1.id or 0].key == v1.key  # another's


def test_no_migration_below_sealing_while_a_seal_is_unopened(
    forms: tuple[Database, list[str]],
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from certify.infra import db

    database, codes = forms
    sealed = _seal(database, codes, opens_in=timedelta(seconds=-1))
    with pytest.raises(RuntimeError, match="not opened yet"):
        db.downgrade(database.engine, "0023")
    assert db.current_revision(database.engine) == db.head_revision()
    with database.engine.connect() as conn:  # nothing of the later revisions' downgrades stays
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    open_seal(database.engine, sealed.seal_id, [s for _, s in sealed.shares[:2]])
    db.downgrade(database.engine, "0023")
    with database.engine.connect() as conn:  # the texts stay, the seal goes
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM item_version WHERE stem = ''").scalar() == 0
        )
    db.upgrade(database.engine)
    assert paper_view(database.engine, codes[0]).questions


def test_the_images_only_sealed_items_show_are_sealed_with_them(
    forms: tuple[Database, list[str]],
) -> None:
    """An image that only the sealed papers' items show leaves ``item_image`` for the seal and
    comes back at the opening; one that another item shows stays (it is readable there)."""
    from question_bank.images import check_image, marker, store_images
    from tests.question_bank.test_images import picture

    database, codes = forms
    only, shared = check_image(picture(colour=1)), check_image(picture(colour=2))
    senior = next(i for i in bank_items(database.engine) if i.level.value == "senior")
    import_items(  # an item on no paper of the seal shows the shared picture
        database.engine,
        "elsewhere",
        [senior.model_copy(update={"stem": f"{senior.stem} {marker(shared.sha256)}"})],
    )
    with Session(database.engine) as session:  # the papers' items show the one, one of them both
        store_images(session, [only, shared])
        versions = list({v.id: v for c in codes for v in _versions(database, c)}.values())
        for n, version in enumerate(versions):
            version.stem += " " + marker(only.sha256, "图一")
            if n == 0:
                version.stem += " " + marker(shared.sha256)
            session.add(version)
        session.commit()
    sealed = _seal(database, codes, opens_in=timedelta(seconds=-1))
    with Session(database.engine) as session:
        kept = set(session.exec(select(ItemImage.sha256)))
    assert only.sha256 not in kept and shared.sha256 in kept
    if database.backend == "sqlite":
        assert only.data not in Path(database.engine.url.database or "").read_bytes()
    open_seal(database.engine, sealed.seal_id, [s for _, s in sealed.shares[:2]])
    with Session(database.engine) as session:
        back = session.get(ItemImage, only.sha256)
    assert back is not None and bytes(back.data) == only.data
    assert paper_document(database.engine, codes[0], "paper").startswith(b"%PDF-")


def test_an_image_two_seals_show_stays_for_the_one_opened_first(
    forms: tuple[Database, list[str]],
) -> None:
    """An option of the junior papers and a stem of the senior ones show the same picture:
    neither seal takes it — the senior one finds it in the junior option (JSON), the junior one
    in the senior seal's list — so opening the junior seal first finds it in the bank."""
    from question_bank.images import check_image, marker, store_images
    from tests.question_bank.test_images import picture

    database, junior = forms
    senior = [p.code for p in assemble_papers(database.engine, blueprint("senior")).papers]
    both = check_image(picture(colour=3))
    with Session(database.engine) as session:
        store_images(session, [both])
        choice = next(
            v for c in junior for v in _versions(database, c) if v.options and v.type == "single"
        )
        letter = sorted(choice.options)[0]
        choice.options = {
            **choice.options,
            letter: f"{choice.options[letter]} {marker(both.sha256)}",
        }
        session.add(choice)
        stem = _versions(database, senior[0])[0]
        stem.stem += " " + marker(both.sha256)
        session.add(stem)
        session.commit()
    _seal(database, senior, opens_in=timedelta(hours=1))
    first = _seal(database, junior, opens_in=timedelta(seconds=-1))
    with Session(database.engine) as session:
        assert session.get(ItemImage, both.sha256) is not None  # in the bank still
    open_seal(database.engine, first.seal_id, [s for _, s in first.shares[:2]])
    shown = [q for c in junior for q in paper_view(database.engine, c).questions]
    assert any(both.sha256 in text for q in shown for text in q.options.values())
    with Session(database.engine) as session:
        assert session.get(ItemImage, both.sha256) is not None
