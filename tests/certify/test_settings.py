"""Settings: declared once, read from defaults, then the environment, then explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from certify.certificates.issuance import DEFAULT_PROVINCE
from certify.infra.settings import BY_NAME, SETTINGS, Settings, SettingsError
from cli import cli


def test_overrides_win_over_the_environment_which_wins_over_the_defaults() -> None:
    environ = {"CERTIFY_RATE_LIMIT": "7", "CERTIFY_DATA_DIR": "/srv/web", "CERTIFY_PROVINCE": "11"}
    settings = Settings.load(environ, rate_limit=3, province=None)
    assert settings.rate_limit == 3  # the override
    assert settings.data_dir == Path("/srv/web") and settings.province == "11"  # environment
    assert settings.api_rate_limit == 6_000 and settings.secure_cookies is False  # defaults


def test_values_from_the_environment_take_their_declared_types() -> None:
    settings = Settings.load(
        {
            "CERTIFY_MAX_UPLOAD_MB": "0.5",
            "CERTIFY_SECURE_COOKIES": "1",
            "CERTIFY_ALLOW_UNPINNED_ROOT": "off",
            "CERTIFY_TRUST_LIST": "trust.json",
            "CERTIFY_TRUSTED_PROXIES": " 2 ",
        }
    )
    assert settings.max_upload_mb == 0.5 and settings.trusted_proxies == 2
    assert settings.secure_cookies is True and settings.allow_unpinned_root is False
    assert settings.trust_list == Path("trust.json")


def test_an_empty_variable_counts_as_unset() -> None:
    settings = Settings.load({"CERTIFY_RATE_LIMIT": "", "CERTIFY_TRUST_LIST": ""})
    assert settings.rate_limit == 120 and settings.trust_list is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CERTIFY_RATE_LIMIT", "abc", "整数"),
        ("CERTIFY_API_RATE_LIMIT", "-1", "≥ 0"),
        ("CERTIFY_MAX_UPLOAD_MB", "0", "> 0"),
        ("CERTIFY_MAX_UPLOAD_MB", "inf", "> 0"),
        ("CERTIFY_SECURE_COOKIES", "maybe", "1 or 0"),
        ("CERTIFY_PROVINCE", "SD", "two digits"),
    ],
)
def test_a_value_that_cannot_be_used_is_refused_naming_its_variable(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError, match=variable) as caught:
        Settings.load({variable: value})
    assert expected in caught.value.diagnostics() and " / " in caught.value.diagnostics()


def test_overrides_are_checked_as_the_environment_is() -> None:
    with pytest.raises(SettingsError, match="CERTIFY_RATE_LIMIT"):
        Settings.load({}, rate_limit=-5)
    with pytest.raises(SettingsError, match="CERTIFY_TRUSTED_PROXIES"):
        Settings.load({}).replace(trusted_proxies="two")
    with pytest.raises(SettingsError, match="no such settings: rate_limits"):
        Settings.load({}, rate_limits=3)
    assert Settings.load({}, data_dir="notices", rate_limit="5").rate_limit == 5


def test_secrets_never_show() -> None:
    settings = Settings.load(
        {"CERTIFY_WEB_SECRET": "s3cret-web", "CERTIFY_KEY_PASSPHRASE": "s3cret-pass"}
    )
    assert "s3cret" not in repr(settings)
    with pytest.raises(SettingsError) as caught:
        Settings.load({}).replace(web_secret=42)
    assert "42" not in caught.value.diagnostics()


def test_every_setting_has_a_certify_variable_and_help() -> None:
    assert len({s.variable for s in SETTINGS}) == len(SETTINGS)
    assert all(s.variable.startswith("CERTIFY_") and s.help and s.used_by for s in SETTINGS)


def test_the_declared_province_is_the_issuers_default() -> None:
    assert BY_NAME["province"].default == DEFAULT_PROVINCE


def test_the_commands_read_the_database_from_the_environment_and_db_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTIFY_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    assert (tmp_path / "env.db").exists()
    assert (
        CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'db.db'}", "init"]).exit_code == 0
    )
    assert (tmp_path / "db.db").exists()


def test_a_bad_setting_stops_a_command_with_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTIFY_PROVINCE", "370")
    result = CliRunner().invoke(cli, ["reference"])
    assert result.exit_code == 1 and "CERTIFY_PROVINCE" in result.stderr
    assert "Traceback" not in result.output
