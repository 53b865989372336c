"""The store packing is exact in milliseconds: an item that exactly fills a budget that is not
a multiple of 0.1 s plays; validate warns about a store item that can never be placed (issue
10 item 9)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from signage.cli import app
from signage.driver import ItemKind
from signage.model import Item
from signage.plan.rotation import Filler, best_table, never_placed

runner = CliRunner()


def store(*durs: int) -> list[Item]:
    return [Item(f"s{i}", "st", ItemKind.TEXT, False, 1.0, d) for i, d in enumerate(durs)]


def test_item_exactly_filling_an_odd_budget_is_placed() -> None:
    f = Filler(store(29_650))
    assert [it.id for it in f.fill(29_650)] == ["s0"]
    assert f.fill(29_649) == []


def test_packing_never_exceeds_the_budget_by_a_millisecond() -> None:
    f = Filler(store(190, 150, 70))
    for budget in range(1, 2000, 7):
        got = sum(it.duration_ms for it in f.fill(budget))
        assert got <= budget


def test_never_placed() -> None:
    items = store(50_000, 27_500)
    assert [it.id for it in never_placed(items, [55_000])] == ["s0"]
    assert never_placed(items, [55_000, 52_000]) == []  # each fills one of the gaps best


def test_validate_and_plan_on_an_odd_budget(make_small_site) -> None:  # type: ignore[no-untyped-def]
    cfg: Path = make_small_site(max_gap=30.0, margin=0.35, store_s=(29.65,), af_s=(5.0,))
    res = runner.invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exit_code == 0, res.output
    assert "never plays" not in res.output
    res = runner.invoke(app, ["plan", "--config", str(cfg), "--from", "2026-12-01 10:00",
                              "--for", "2m", "--format", "json"])
    assert '"item": "st0"' in res.output, res.output[:2000]


def test_validate_warns_about_an_item_that_never_plays(make_small_site) -> None:  # type: ignore[no-untyped-def]
    cfg: Path = make_small_site(max_gap=60.0, margin=5.0, store_s=(50.0, 27.5), af_s=(5.0,))
    res = runner.invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "items[0].duration_s: store item 'st0' (50 s) never " \
        "plays on screen s1" in " ".join(res.output.split()), res.output


def test_best_table_is_the_fullest_packing_for_every_budget() -> None:
    """best[r] = the largest sum of durations (each repeatable) that is at most r, checked
    against a plain dynamic programme, for pools of odd, round, too long and zero durations."""
    pools = [(7,), (3, 5), (1000, 1500, 2750), (4, 60), (250, 70_000), (0, 9), (13, 17, 29)]
    for durations in pools:
        for limit in (0, 1, 59, 60, 61, 1000, 3001):
            fits = [False] * (limit + 1)
            fits[0] = True
            for x in range(1, limit + 1):
                fits[x] = any(0 < d <= x and fits[x - d] for d in durations)
            want = []
            last = 0
            for x in range(limit + 1):
                last = x if fits[x] else last
                want.append(last)
            assert list(best_table(durations, limit)) == want, (durations, limit)
