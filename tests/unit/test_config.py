"""Configuration: `newsline init`, the TOML file, NEWSLINE_* overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsline.cli import app
from newsline.config import DEFAULT_HASHTAGS, ConfigError, load_settings
from newsline.db.migrate import current


def test_init_writes_a_commented_config_and_creates_the_database(tmp_path: Path) -> None:
    config = tmp_path / "site" / "newsline.toml"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "init",
            "--slug",
            "usconservative",
            "--name",
            "The America One News",
            "--timezone",
            "America/Chicago",
        ],
    )
    assert result.exit_code == 0, result.output
    text = config.read_text(encoding="utf-8")
    assert text.count("#") > 20, "the sample explains itself"
    settings = load_settings(config)
    (channel,) = settings.channels
    assert (channel.slug, channel.display_name, channel.hometown, channel.timezone) == (
        "usconservative", "The America One News", "Remer,MN", "America/Chicago",
    )  # fmt: skip
    assert [h.tag for h in channel.hashtags] == [t for t, _ in DEFAULT_HASHTAGS]
    assert all(h.description for h in channel.hashtags)
    assert settings.database_url == f"sqlite:///{(config.parent / 'newsline.db').resolve()}"
    assert current(settings.database_url) is not None
    # Running it again keeps the operator's file.
    config.write_text(text.replace("Remer,MN", "Bemidji,MN"), encoding="utf-8")
    again = runner.invoke(app, ["--config", str(config), "init"])
    assert again.exit_code == 0 and "keeping it" in again.output
    assert load_settings(config).channels[0].hometown == "Bemidji,MN"


def test_environment_overrides_the_file_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "newsline.toml"
    config.write_text(
        "[fetch]\nallow_private = false\nper_host_concurrency = 3\n", encoding="utf-8"
    )
    monkeypatch.setenv("NEWSLINE_FETCH__ALLOW_PRIVATE", "true")
    monkeypatch.setenv("NEWSLINE_FETCH__CONNECT_TO", "*:443:127.0.0.1:8443, *:80:127.0.0.1:8080")
    monkeypatch.setenv("NEWSLINE_FETCH__CA_BUNDLE", "/tmp/ca.pem")
    settings = load_settings(config)
    assert settings.fetch.allow_private is True
    assert settings.fetch.per_host_concurrency == 3  # the file's other keys stay
    assert settings.fetch.connect_to == ["*:443:127.0.0.1:8443", "*:80:127.0.0.1:8080"]
    assert str(settings.fetch.ca_bundle) == "/tmp/ca.pem"
    monkeypatch.setenv("NEWSLINE_CONFIG", str(config))
    assert load_settings().fetch.allow_private is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fetch\n", "not valid TOML"),
        ("colour = 'blue'\n", "colour"),
        ('[[channels]]\nslug = "news"\ndisplay_name = "N"\ntimezone = "Mars/Olympus"\n', "IANA"),
        ('[[channels]]\nslug = "News Site"\ndisplay_name = "N"\n', "lower-case"),
        (
            '[[channels]]\nslug = "a"\ndisplay_name = "A"\n[[channels]]\nslug = "a"\ndisplay_name = "B"\n',
            "unique",
        ),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "newsline.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_missing_explicit_config_is_an_error_and_the_cli_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="newsline init"):
        load_settings(tmp_path / "nope.toml")
    result = CliRunner().invoke(
        app, ["--config", str(tmp_path / "nope.toml"), "publications", "list"]
    )
    assert result.exit_code == 1 and "does not exist" in " ".join(result.output.split())


def test_a_misspelt_setting_in_any_section_is_named_not_silently_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "newsline.toml"
    config.write_text(
        'database_url = "sqlite:///x.db"\n'
        "[fetch]\nmin_host_dealy = 5\nretries = 1\n"
        '[web]\nbase_url = "https://news.example"\ndatabase_url = "sqlite:///y.db"\n'
        '[[channels]]\nslug = "news"\ndisplay_name = "News"\nhometwon = "Remer,MN"\n'
        '[[channels.hashtags]]\ntag = "politics"\nkeywrds = ["senate"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("NEWSLINE_SCHEDULER__ENABLD", "false")
    with caplog.at_level("WARNING", logger="newsline.config"):
        settings = load_settings(config)
    assert settings.fetch.retries == 1  # the rest of the file still counts
    named = sorted(
        r.getMessage().split("unknown setting ")[1].split(",")[0] for r in caplog.records
    )
    assert named == [
        "channels[0].hashtags[0].keywrds",
        "channels[0].hometwon",
        "fetch.min_host_dealy",
        "scheduler.enabld",
        "web.database_url",  # a top-level key written after [web] lands in it
    ]
    # A section that refuses unknown keys (the top level) still does, with one line.
    config.write_text('databse_url = "sqlite:///x.db"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="databse_url"):
        load_settings(config)
