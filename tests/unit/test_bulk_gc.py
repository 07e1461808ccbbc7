"""fewer_collections: the young-generation threshold while this package's own processes send."""

from __future__ import annotations

import gc
from typing import Iterator

import pytest

from amplitude_legacy._bulk_gc import BULK_GC_THRESHOLD, fewer_collections


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """Python's default thresholds for the test; whatever the process had, back after."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_raised_inside_and_restored_after(thresholds: tuple[int, int, int]) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (BULK_GC_THRESHOLD, *thresholds[1:])
    assert gc.get_threshold() == thresholds


def test_restored_when_the_block_raises(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a send failed")
    assert gc.get_threshold() == thresholds


def test_a_higher_threshold_is_left_alone(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(100_000, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 100_000
    assert gc.get_threshold()[0] == 100_000


def test_a_change_made_meanwhile_is_kept(thresholds: tuple[int, int, int]) -> None:
    """Someone else set thresholds inside the block: theirs stay, ours are not put back."""
    with fewer_collections():
        gc.set_threshold(2_000, 10, 10)
    assert gc.get_threshold() == (2_000, 10, 10)
