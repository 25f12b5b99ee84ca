"""What the guide's tests need installed."""
from __future__ import annotations


def require(module: str):
    """The guide's tools are part of `make test` (docs-deps): their absence fails, it never skips."""
    import importlib.util
    assert importlib.util.find_spec(module), f"{module} is not installed: run make docs-deps"
