"""The blueprint's JSON Schema and documented examples stay true to the code."""

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from question_bank.blueprints import parse_blueprint
from schemas.blueprint import Blueprint

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads(
    resources.files("schemas").joinpath("json/blueprint.schema.json").read_text("utf-8")
)


def test_the_published_schema_is_the_models_schema() -> None:
    generated = Blueprint.model_json_schema()
    assert SCHEMA["$defs"] == generated["$defs"] and SCHEMA["properties"] == generated["properties"]
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def _doc_examples() -> list[str]:
    text = (ROOT / "docs" / "blueprints.md").read_text("utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_docs_show_an_example_per_level_and_each_is_valid() -> None:
    examples = [yaml.safe_load(e) for e in _doc_examples()]
    assert {e["level"] for e in examples} == {"junior", "intermediate", "senior"}
    for example in examples:
        jsonschema.validate(example, SCHEMA)
        parse_blueprint(example)


def test_the_documented_examples_are_the_shipped_sample_blueprints() -> None:
    shipped = sorted((ROOT / "question_bank" / "samples" / "blueprints").glob("*.yaml"))
    assert sorted(p.read_text("utf-8") for p in shipped) == sorted(_doc_examples())
