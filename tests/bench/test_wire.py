"""The wire reader: play notifications, the GET they bring, its answer."""

from __future__ import annotations

import struct
from pathlib import Path

import orjson
import pytest

from pressbox.bench.wire import CaptureError, analyse, main, segments

UP = 8000
PUSH = 50001  # the pipeline's end of game 1's push channel
HTTP = 50002  # its end of an HTTP connection


def _frame(src: int, dst: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", src, dst, 0, 0, 5 << 4, 0x18, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6, 0,
                     b"\x7f\0\0\x01", b"\x7f\0\0\x01")  # fmt: skip
    return b"\0" * 12 + b"\x08\x00" + ip + tcp + payload


def _pcap(packets: list[tuple[float, int, int, bytes]]) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for t, src, dst, payload in packets:
        frame = _frame(src, dst, payload)
        out.append(struct.pack("<IIII", int(t), round((t % 1) * 1e6), len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def _note(events: list[str]) -> bytes:
    body = orjson.dumps({"gamePk": 1, "gameEvents": events})
    return bytes([0x81, len(body)]) + body


def _capture() -> bytes:
    return _pcap(
        [
            (100.000, PUSH, UP, b"GET /api/v1/game/push/subscribe/gameday/1 HTTP/1.1\r\n\r\n"),
            (100.100, UP, PUSH, _note(["ball"])),  # a pitch alone: no fetch, not counted
            (100.200, UP, PUSH, _note(["field_out"])),
            (100.250, HTTP, UP, b"GET /api/v1.1/game/1/feed/live/diffPatch?x=1 HTTP/1.1\r\n"),
            (100.252, UP, HTTP, b"HTTP/1.1 200 OK\r\n\r\n{}"),
            (101.000, UP, PUSH, _note(["single"])),
            (101.010, HTTP, UP, b"GET /api/v1.1/game/1/feed/live/diffPatch?x=2 HTTP/1.1\r\n"),
            (101.030, UP, HTTP, b"HTTP/1.1 200 OK\r\n\r\n{}"),
        ]
    )


def test_reaction_and_answer_of_play_notifications() -> None:
    figures = analyse(_capture(), UP)
    assert figures["reaction"]["count"] == 2
    assert figures["reaction"]["max"] == pytest.approx(50.0, abs=0.01)
    assert figures["reaction"]["p50"] == pytest.approx(50.0, abs=0.01)
    assert figures["answer"]["count"] == 2
    assert figures["answer"]["max"] == pytest.approx(20.0, abs=0.01)


def test_segments_skip_frames_without_payload() -> None:
    data = _capture()
    assert len(list(segments(data))) == 8
    assert len(list(segments(_pcap([(1.0, HTTP, UP, b"")])))) == 0


def test_not_a_capture_is_refused_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CaptureError, match="not a little-endian pcap"):
        analyse(b"\x0a\x0d\x0d\x0a" + b"\0" * 40, UP)
    with pytest.raises(CaptureError, match="shorter"):
        analyse(b"abc", UP)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all, but long enough to have a header")
    assert main([str(bad), "--port", str(UP)]) == 2
    assert "not a little-endian pcap" in capsys.readouterr().err


def test_command_writes_json(tmp_path: Path) -> None:
    capture = tmp_path / "up.pcap"
    capture.write_bytes(_capture())
    out = tmp_path / "wire.json"
    assert main([str(capture), "--port", str(UP), "--json", str(out)]) == 0
    assert orjson.loads(out.read_bytes())["reaction"]["count"] == 2
