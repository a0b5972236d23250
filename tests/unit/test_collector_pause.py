"""The pause of the cyclic collector around bulk work (services/bulk.collector_paused): what the
batch keeps is not scanned again by the next young collection, and nothing is leaked."""
from __future__ import annotations

import gc

from workflow.services.bulk import collector_paused


def test_what_the_batch_keeps_goes_to_the_oldest_generation_unscanned():
    """Left young, it would be scanned by the next young collection and promoted one
    generation at a time (the middle one's collections are made rare here, so that a plain
    pause leaves it in the middle generation)."""
    assert gc.isenabled()
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(thresholds[0], 1_000_000, 1_000_000)
    try:
        with collector_paused():
            assert not gc.isenabled()
            kept = [[i] for i in range(1_000)]
        assert gc.isenabled()
        [[i] for i in range(1_000)]  # enough to set off a young collection
        assert any(o is kept for o in gc.get_objects(generation=2))
        assert not any(o is kept for o in gc.get_objects(generation=1))
    finally:
        gc.set_threshold(*thresholds)


def test_cyclic_garbage_made_in_the_pause_is_still_collected():
    class Node:
        pass
    with collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
    assert gc.collect() >= 2  # a full collection finds the cycle: delayed, not leaked


def test_a_nested_pause_leaves_the_outer_one_in_force():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pauses_that_moved_enough_objects_end_with_a_full_collection(monkeypatch):
    """Moved objects do not set off Python's own full collections: after enough of them the
    pause runs one, so cyclic garbage of a process doing only bulk work is collected."""
    import weakref

    from workflow.services import bulk

    class Node:
        pass
    monkeypatch.setattr(bulk, "FULL_COLLECTION_AFTER", 5_000)
    monkeypatch.setattr(bulk, "_moved", 0)
    with collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
    assert gone() is not None  # moved, not collected: fewer than 5,000 objects so far
    with collector_paused():
        kept = [[i] for i in range(10_000)]
    assert gone() is None and bulk._moved == 0
    del kept
