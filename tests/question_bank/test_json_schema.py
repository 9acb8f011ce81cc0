"""The published JSON Schema agrees with what export writes and the samples contain."""

import json
from importlib import resources
from pathlib import Path

import jsonschema
from hypothesis import given, settings

from question_bank.formats import write_items
from question_bank.samples import sample_files
from schemas.items import ItemData
from tests.question_bank.strategies import banks

SCHEMA = json.loads(resources.files("schemas").joinpath("json/bank.schema.json").read_text("utf-8"))


def test_the_schema_is_itself_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_sample_file_matches_the_schema() -> None:
    for path in sample_files():
        jsonschema.validate(json.loads(path.read_text("utf-8")), SCHEMA)


@settings(max_examples=40, deadline=None)
@given(bank=banks())
def test_every_exported_bank_matches_the_schema(tmp_path_factory, bank: list[ItemData]) -> None:
    path = Path(tmp_path_factory.mktemp("schema")) / "bank.json"
    write_items(path, bank)
    jsonschema.validate(json.loads(path.read_text("utf-8")), SCHEMA)


def test_a_bank_with_its_images_matches_the_schema(tmp_path: Path) -> None:
    from question_bank.images import marker
    from tests.helpers import item
    from tests.question_bank.test_images import PICTURES, RED, TEAL

    path = tmp_path / "bank.json"
    bank = [item(stem=marker(RED.sha256, "图"), options={"A": marker(TEAL.sha256), "B": "乙"})]
    write_items(path, bank, images=PICTURES)
    document = json.loads(path.read_text("utf-8"))
    assert sorted(document["images"]) == sorted([RED.sha256, TEAL.sha256])
    jsonschema.validate(document, SCHEMA)
