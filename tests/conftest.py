"""Shared fixtures. Tests never print a full PAN: see cardscan.testing."""
from __future__ import annotations

import random

import pytest


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261128)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mask card numbers in failure reports: a failing test must not leak.

    Tests plant fresh Luhn-valid numbers; pytest prints fixture values,
    assertion operands and captured output when a test fails. Everything in
    the report goes through cardscan's own redaction before it is shown.
    """
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.longrepr is not None:
        from cardscan.testing import scrub

        report.longrepr = scrub(str(report.longrepr))
    if report.sections:
        from cardscan.testing import scrub

        report.sections = [(title, scrub(content)) for title, content in report.sections]
