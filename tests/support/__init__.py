"""Code shared by the tests: ports, the SMTP inbox, seeding helpers, corpus paths.

Tests import from here, never from another test module or a conftest.py (see
tests/unit/test_test_imports.py); fixtures shared by several folders live in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
