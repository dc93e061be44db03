"""Remediation tests use the real S3 endpoint and databases of tests/conftest.py."""
