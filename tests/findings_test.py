import logging
import pickle

import pytest

from cardscan import Finding, FingerprintKey, Location, Scanner, mask
from cardscan.findings import Cell, ErrorRecord, keyed_hash
from cardscan.testing import assert_no_pan, make_pan


def test_mask_never_shows_more_than_6_and_4() -> None:
    assert mask("4556737586899855") == "455673******9855"
    # Shorter PANs show fewer leading digits: at least 6 always stay hidden.
    assert mask("378282246310005") == "37828******0005"
    for n in range(12, 20):
        m = mask("1" * n)
        shown = len(m) - m.count("*")
        assert m.count("*") >= 6 and shown <= 10 and len(m) == n


def test_fingerprint_is_keyed_hmac() -> None:
    a = FingerprintKey(b"k1").fingerprint("4556737586899855")
    b = FingerprintKey(b"k2").fingerprint("4556737586899855")
    assert a.startswith("hmac-sha256:") and len(a) == len("hmac-sha256:") + 64
    assert a != b
    assert keyed_hash("4556737586899855", b"k1") == a
    import hashlib

    assert hashlib.sha256(b"4556737586899855").hexdigest() not in a


def test_key_from_environment_and_random_key(monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "from-env")
    assert FingerprintKey().key_id == FingerprintKey(b"from-env").key_id
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    k1, k2 = FingerprintKey(), FingerprintKey()
    assert k1.random and k1.key_id != k2.key_id
    assert "from-env" not in repr(FingerprintKey("from-env"))
    with pytest.raises(ValueError):
        FingerprintKey(b"")


def test_no_full_pan_in_repr_str_pickle_dict_or_log(rng, caplog) -> None:
    pans = [make_pan("4556", 16, rng), make_pan("37", 15, rng)]
    text = f"card {pans[0]} amex {pans[1]}".encode()
    findings = Scanner(key=b"k").scan_bytes(text)
    assert len(findings) == 2
    logger = logging.getLogger("cardscan.test")
    with caplog.at_level(logging.DEBUG):
        for f in findings:
            logger.debug("finding %r %s", f, f)
    blobs = [repr(findings), str(findings), pickle.dumps(findings), repr([f.to_dict() for f in findings]), caplog.text]
    for blob in blobs:
        assert_no_pan(blob, pans, "finding representations")


def test_round_trip_and_stable_id(rng) -> None:
    pan = make_pan("4556", 16, rng)
    (f,) = Scanner(key=b"k").scan_bytes(f"card {pan}".encode(), Location(uri="file:///x/y.txt"))
    again = Finding.from_dict(f.to_dict())
    assert again == f and again.id == f.id
    (g,) = Scanner(key=b"k").scan_bytes(f"card {pan}".encode(), Location(uri="file:///x/y.txt"))
    assert g.id == f.id
    (h,) = Scanner(key=b"k").scan_bytes(f"card {pan}".encode(), Location(uri="file:///x/z.txt"))
    assert h.id != f.id


def test_locations_for_members_s3_and_sql() -> None:
    loc = Location(uri="file:///data/backup.tar.gz", member=("exports/march.zip", "customers.xlsx"), line=3, column=9)
    assert loc.display() == "/data/backup.tar.gz!exports/march.zip!customers.xlsx:3:9"
    s3 = Location(uri="s3://bucket/logs/app.log", version="v1", offset=10)
    assert s3.display() == "s3://bucket/logs/app.log?versionId=v1@10"
    cell = Cell(table="payments", column="note", key=(("id", 7),), schema="public")
    sql = Location(uri="postgresql://app@db/shop", cell=cell, offset=4)
    assert sql.display() == "postgresql://app@db/shop#public.payments.note[id=7]"
    for l in (loc, s3, sql):
        assert Location.from_dict(l.to_dict()) == l
    err = ErrorRecord(loc, "limit", "expansion ratio over 200", "ratio")
    assert ErrorRecord.from_dict(err.to_dict()) == err


def test_exceptions_quoting_input_are_masked_in_error_records(rng) -> None:
    # Library exceptions (UnicodeDecodeError, parser errors) may quote the
    # bytes they choked on; the error record a sweep writes must not.
    from cardscan.run.worker import _exc_record

    pan = make_pan("4556", 16, rng)
    loc = Location(uri="file:///x/y.bin")
    try:
        raise ValueError(f"unexpected token near 'card={pan}'")
    except ValueError as exc:
        record = _exc_record(loc, exc)
    assert record.kind == "internal"
    assert_no_pan(record.message, [pan], "error record")
    assert_no_pan(repr(record), [pan], "error record repr")
