"""`.env.example` documents every setting, with the default the code really uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from bot.settings import BotSettings, LogSettings
from index.settings import IndexSettings

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def documented() -> dict[str, str]:
    pairs = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def env_names(field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    return [str(choice) for choice in getattr(alias, "choices", [])]


def shown(default: object) -> str:
    """A default as a line of `.env` writes it (None and empty sets: nothing)."""
    if default is None or default == frozenset():
        return ""
    if hasattr(default, "get_secret_value"):
        return ""
    return str(default)


def test_every_setting_is_documented_with_its_real_default() -> None:
    lines = documented()
    fields = {**BotSettings.model_fields, **LogSettings.model_fields}
    seen = set()
    for name, field in fields.items():
        (env,) = env_names(field)
        seen.add(env)
        assert env in lines, f"{env} ({name}) is missing from .env.example"
        default = shown(field.get_default(call_default_factory=True))
        value = lines[env]
        # 30 and 30.0, 24 and 24.0 are the same default.
        if default.replace(".", "", 1).isdigit() and value.replace(".", "", 1).isdigit():
            assert float(value) == float(default), env
        else:
            assert value == default, f"{env}: .env.example says {value!r}, code {default!r}"
    assert set(lines) <= seen, f"documented but unknown: {sorted(set(lines) - seen)}"


def test_a_redis_password_in_the_url_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.common import load_settings
    from bot.redaction import redact

    monkeypatch.setenv("STORYBOT_REDIS_URL", "redis://:hunter2%40redis-pass@10.0.0.5:6379/0")
    settings = load_settings(IndexSettings)
    assert "redis-pass" not in redact(f"cannot reach {settings.redis_url}")
    # As the client decodes it, too.
    assert "redis-pass" not in redact("AUTH hunter2@redis-pass")


@pytest.mark.parametrize("wrong", ["inf", "nan", "0", "-1", "100000", "soon"])
def test_a_chroma_timeout_must_be_a_number_of_seconds(
    wrong: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHROMA_TIMEOUT", wrong)
    with pytest.raises(ValidationError, match="CHROMA_TIMEOUT"):
        IndexSettings(_env_file=None)
