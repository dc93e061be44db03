from cardscan import Scanner
from cardscan.testing import make_pan


def scan(data: bytes):
    return Scanner(key=b"t").scan_bytes(data)


def test_track1_with_sentinels(rng) -> None:
    pan = make_pan("4", 16, rng)
    track = f"%B{pan}^SMITH/JANE A^2912101000000000000000000000000?"
    data = f"POS dump: {track} end".encode()
    (f,) = scan(data)
    assert f.kind == "track1" and f.confidence == 100 and f.severity == "critical"
    same = data[f.location.offset:f.location.offset + f.location.length] == track.encode()
    assert same, "span does not cover the track"


def test_track2_with_and_without_sentinel(rng) -> None:
    pan = make_pan("5412", 16, rng)
    for track in (f";{pan}=29121010000012300000?", f"{pan}=2912101000001230"):
        data = f"raw={track}\n".encode()
        (f,) = scan(data)
        assert f.kind == "track2"
        same = data[f.location.offset:f.location.offset + f.location.length] == track.encode()
        assert same, "span does not cover the track"


def test_not_track_data(rng) -> None:
    pan = make_pan("4", 16, rng)
    # '=' followed by too few digits is a key=value, not a track.
    (f,) = scan(f"card {pan}=12 ".encode())
    assert f.kind == "pan"
    # 'B' glued before a PAN without the track-1 tail is just a letter.
    (f,) = scan(f"card B{pan} end".encode())
    assert f.kind == "pan"
