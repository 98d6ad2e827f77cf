from __future__ import annotations

from pathlib import Path

import pytest
from lms_runtime.settings import ServiceSettings, SettingsError, load_settings
from pydantic import SecretStr


class Settings(ServiceSettings):
    database_url: str
    database_password: SecretStr | None = None


BASE = {"LMS_ENV": "production", "LMS_DATABASE_URL": "postgresql+psycopg://svc@db/svc"}


def test_valid_environment(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    settings = load_settings(Settings, {**BASE, "LMS_DATABASE_PASSWORD_FILE": str(secret), "LMS_PORT": "9000"})
    assert settings.port == 9000
    assert settings.database_password is not None
    assert settings.database_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_every_problem_is_named_in_one_message() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(Settings, {"LMS_PORT": "eighty", "LMS_LOG_LEVEL": "loud"})
    message = str(error.value)
    assert "\n" not in message
    for variable in ("LMS_ENV: required, not set", "LMS_DATABASE_URL: required, not set", "LMS_PORT", "LMS_LOG_LEVEL"):
        assert variable in message


def test_a_plain_secret_is_refused_outside_dev() -> None:
    with pytest.raises(SettingsError, match="LMS_DATABASE_PASSWORD: a secret must come from a file outside dev"):
        load_settings(Settings, {**BASE, "LMS_DATABASE_PASSWORD": "plain"})
    dev = load_settings(Settings, {**BASE, "LMS_ENV": "dev", "LMS_DATABASE_PASSWORD": "plain"})
    assert dev.database_password is not None


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SettingsError, match=f"LMS_DATABASE_PASSWORD_FILE: cannot read {missing}"):
        load_settings(Settings, {**BASE, "LMS_DATABASE_PASSWORD_FILE": str(missing)})


def test_the_drain_defaults_to_three_seconds_and_may_be_turned_off() -> None:
    assert load_settings(Settings, BASE).drain_seconds == 3.0
    assert load_settings(Settings, {**BASE, "LMS_DRAIN_SECONDS": "0"}).drain_seconds == 0.0


@pytest.mark.parametrize("value", ["-1", "inf", "soon"])
def test_a_drain_that_is_not_a_finite_number_of_seconds_is_refused(value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(Settings, {**BASE, "LMS_DRAIN_SECONDS": value})
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("LMS_DRAIN_SECONDS: ")
