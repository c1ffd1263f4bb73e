"""`kruispunt bench ingest --json` keeps its output contract (small sizes: not a timing test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kruispunt.ingest.adapters import REGISTRY

pytestmark = pytest.mark.slow


def test_bench_ingest_prints_the_contract_keys() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "ingest", "--json",
         "--reads", "4000", "--batch", "500", "--runs", "1", "--soak", "0"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("reads_per_s", "store_ceiling_reads_per_s", "ratio", "peak_rss_mb"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(
        result["reads_per_s"] / result["store_ceiling_reads_per_s"], abs=0.01
    )
    assert result["reads_per_run"] == 4000
    # Each vendor adapter's decode rate on its documented payload.
    assert set(result["adapters"]) == set(REGISTRY)  # every format has a shipped sample
    for key, rate in result["adapters"].items():
        assert isinstance(rate, int | float) and rate > 0, key


def test_bench_hits_prints_the_contract_keys() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "hits", "--json", "--entries", "2000",
         "--background", "200", "--probes", "10", "--match-sizes", "1000,2000"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("p50_ms", "p95_ms", "p99_ms", "background_reads_per_s", "peak_rss_mb"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["hotlist_entries"] == 2000
    assert result["probes_received"] == result["probes"] == 10
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]


def test_bench_policy_prints_the_contract_keys() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "policy", "--json", "--requests", "300",
         "--users", "12", "--grants", "20", "--reads", "5000"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("guard_p50_us", "decide_p50_us", "decide_p95_us", "policy_check_p95_ms",
                "baseline_plate_query_p50_us"):  # fmt: skip
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["decide_p50_us"] <= result["decide_p95_us"]
    assert result["meets_target"] == (result["policy_check_p95_ms"] < result["target_ms"])
    # Some consultations reach past the first month without an authorisation: refused.
    assert result["refused"].get("nothing_readable", 0) > 0


def test_bench_ingest_on_postgresql_and_jetstream_keeps_the_contract() -> None:
    from tests.backends import require_nats, require_postgres

    env = {**os.environ, "KRUISPUNT_DATABASE_URL": require_postgres(),
           "KRUISPUNT_BUS_URL": require_nats()}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "ingest", "--json", "--reads", "3000",
         "--batch", "300", "--runs", "1", "--soak", "0", "--sustained-s", "2"],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("reads_per_s", "store_ceiling_reads_per_s", "ratio", "peak_rss_mb",
                "processed_per_s"):  # fmt: skip
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(
        result["reads_per_s"] / result["store_ceiling_reads_per_s"], abs=0.01
    )
    assert result["log"] == "nats jetstream" and result["reads_per_run"] == 3000
    assert set(result["workers_scaling"]) == {"1", "2"}
    assert all(v > 0 for v in result["workers_scaling"].values())
    assert result["sustained"]["target_reads_per_s"] == 5000


def test_bench_search_prints_the_contract_keys() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "search", "--json", "--sizes", "20000,40000",
         "--exact", "40", "--partial", "20", "--place", "5", "--convoys", "1"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert [s["reads"] for s in result["sizes"]] == [20000, 40000]
    for size in result["sizes"]:
        for key in ("exact_p95_ms", "partial_p95_ms", "place_time_p95_ms", "convoy_s",
                    "disk_mb", "peak_rss_mb"):  # fmt: skip
            assert isinstance(size[key], int | float) and size[key] > 0, key
        assert size["stored"] >= size["reads"]  # the planted companion's reads on top
        assert size["exact_p50_ms"] <= size["exact_p95_ms"]
        assert size["convoy_companion_found"] is True  # the convoy query finds the plant
    assert result["sizes"][1]["disk_mb"] > result["sizes"][0]["disk_mb"]


def _unregistered(tmp: Path, keys: tuple[str, ...]) -> str | None:
    """Why a node cannot run these processors yet (None: it can)."""
    from kruispunt.config import load_config
    from kruispunt.node import Node

    overrides: dict[str, dict[str, Any]] = {"store": {"url": f"sqlite:///{tmp}/probe.sqlite"},
                 "processors": {"enabled": ["traffic_counts", *keys]}}  # fmt: skip
    try:
        Node(load_config(None, env={}, overrides=overrides))
    except ValueError as exc:
        return str(exc)
    return None


def test_bench_enforcement_prints_the_contract_keys(tmp_path: Path) -> None:
    why = _unregistered(tmp_path, ("section_control", "lez"))
    if why is not None:
        pytest.skip(f"bench enforcement needs the section_control and lez processors: {why}")
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "enforcement", "--json", "--reads", "6000",
         "--density", "1500", "--runs", "1", "--clients", "8"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("reads_per_s", "baseline_reads_per_s", "ratio", "bytes_per_open_passage",
                "peak_rss_mb", "processed_per_s"):  # fmt: skip
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(
        result["reads_per_s"] / result["baseline_reads_per_s"], abs=0.01
    )
    assert result["cost_pct"] == pytest.approx((1 - result["ratio"]) * 100, abs=0.2)
    assert result["meets_target"] == (result["cost_pct"] < result["target_cost_pct"])
    assert {"section_control", "lez"} <= set(result["processors"])
    assert not {"section_control", "lez"} & set(result["baseline_processors"])
    assert result["reads_per_run"] == 6000 and result["offences"] >= 0
