"""Phases timed outside a request: what the ingest workers sum per job."""

import time

from ragway import timing


def test_collect_sums_phases_and_nests():
    with timing.collect() as phases:
        with timing.phase("parse"), timing.phase("ocr"):
            time.sleep(0.02)
        with timing.phase("parse"):
            time.sleep(0.01)
    assert set(phases) == {"parse", "ocr"}
    assert phases["parse"] >= phases["ocr"] + 0.01 >= 0.03
    with timing.phase("parse"):  # outside: nothing is recorded anywhere
        pass
    assert phases["parse"] < 1
