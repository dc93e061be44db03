from cardscan.engine.filters import is_hex_token, is_low_entropy, is_phone


def test_hex_token_and_uuid() -> None:
    sha = b"sha=9f86d081884c7d6594111111111111111a4b0b822cd15d6c15b0f00a08"
    i = sha.index(b"4111")
    assert is_hex_token(sha, i, i + 16, 0, len(sha))
    uuid = b"id 4111111111111111-abcd-4ef0-9abc-def012345678"
    assert is_hex_token(uuid, 3, 19, 0, len(uuid))
    plain = b"card: 4111111111111111;"
    assert not is_hex_token(plain, 6, 22, 0, len(plain))
    # Letters on both sides but not a hex token: still a card.
    glued = b"x4111111111111111y"
    assert not is_hex_token(glued, 1, 17, 0, len(glued))


def test_phone_prefixes() -> None:
    assert is_phone(b"call +")
    assert is_phone(b"tel:")
    assert not is_phone(b"card: ")


def test_low_entropy() -> None:
    assert is_low_entropy("5500000000000004")
    assert is_low_entropy("4000000000000002")
    assert is_low_entropy("1234567890123456")
    assert is_low_entropy("9876543210987654")
    assert not is_low_entropy("4556737586899855")


def test_low_entropy_spares_random_pans(rng) -> None:
    from cardscan.testing import make_pan

    hits = sum(is_low_entropy(make_pan("4", 16, rng)) for _ in range(20000))
    assert hits < 20  # < 0.1%
