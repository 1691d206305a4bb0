"""The docstrings' runnable examples (SimPy's style: each module shows how it is used) run here, so an
example that goes stale fails the suite: two had (the catalog's gpu_count printed as 8 where it is 8.0, and
SavedTensors' example used names it never defined)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import calibration
import hardware_catalog
import planner

#: modules whose import needs what CI may lack, or that run a program on import
SKIP = {"planner.__main__", "calibration.__main__"}


def _modules():
    for pkg in (planner, hardware_catalog, calibration):
        yield pkg.__name__
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if m.name not in SKIP:
                yield m.name


MODULES = sorted(_modules())


@pytest.mark.parametrize("name", [m for m in MODULES if doctest.DocTestFinder().find(importlib.import_module(m))
                                  and any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(m)))])
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert res.failed == 0, f"{name}: {res.failed} of {res.attempted} docstring examples failed"


def test_the_examples_are_found():
    """The finder sees the modules that carry examples (the test above cannot pass vacuously)."""
    with_examples = [m for m in MODULES if any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(m)))]
    assert {"planner.units", "hardware_catalog.catalog", "planner.simulate.answers"} <= set(with_examples)
    assert len(with_examples) >= 15
