"""Remediation: apply a manifest safely (``cardscan remediate``; docs/remediation.md).

* :mod:`.runner`: select, group by object, journal, audit, verify;
* remediators (registry group ``cardscan.remediators``): :mod:`.files`,
  :mod:`.s3`, :mod:`.sql`, :mod:`.smb`;
* :mod:`.containers` and :mod:`.office`: content rewritten with the card
  numbers masked; :mod:`.spans`: checking and masking one finding's bytes;
* :mod:`.journal` (crash safety, audit log), :mod:`.backup` (encrypted backups).
"""
from __future__ import annotations

from .base import ACTIONS, STATUSES, Context, Options, Remediator, Result
from .runner import Report, remediate
from .select import Selection

__all__ = ["ACTIONS", "STATUSES", "Context", "Options", "Remediator", "Report", "Result", "Selection", "remediate"]
