"""The strict configuration tree and `kruispunt config check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kruispunt.cli import app
from kruispunt.config import ConfigError, load_config, sqlite_path


def test_defaults_are_the_embedded_node() -> None:
    cfg = load_config(None, env={})
    assert cfg.store.url.startswith("sqlite:///")
    assert cfg.retention.reads_days == 365


def test_environment_selects_the_store(tmp_path: Path) -> None:
    cfg = load_config(None, env={"KRUISPUNT_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
    assert sqlite_path(cfg.store.url) == tmp_path / "x.sqlite"


def test_unknown_and_bad_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[ingest]\nmax_batch_reads = 0\ncolour = "blue"\n[retention]\nreads_days = "a"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert "ingest.max_batch_reads" in message
    assert "ingest.colour" in message
    assert "retention.reads_days" in message


def test_config_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\nport = 9000\n")
    result = CliRunner().invoke(app, ["config", "check", str(good)])
    assert result.exit_code == 0 and '"port": 9000' in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    result = CliRunner().invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2


def test_a_processor_cannot_be_enabled_twice() -> None:
    with pytest.raises(ConfigError, match=r"processors\.enabled"):
        load_config(None, env={}, overrides={"processors": {"enabled": ["traffic_counts"] * 2}})
