"""Where a play's poll waited, read off the wire between the pipeline and the upstream.

A capture of the upstream's port during a game night (``tcpdump -i lo -s 400 -w up.pcap
"tcp port PORT"``, the port from ``upstream.json`` in ``--workdir``) holds, per game, the
push channel's notifications (WebSocket text frames from the upstream), the pipeline's
``GET`` requests and the upstream's answers. For every notification the poller fetches on
(all but those of pitches alone: :func:`~pressbox.feeds.poller.pitch_only`,
``PollPolicy.push_pitches``) this reports:

- ``reaction``: the notification on the wire to the pipeline's next ``GET`` of that game
  (time spent inside the pipeline before it asks);
- ``answer``: that ``GET`` to the first bytes of its answer (the upstream and loopback).

Run: ``python -m pressbox.bench.wire up.pcap --port PORT [--json OUT]``.

Written by hand: no maintained Python library reads pcap files without pulling in a
packet-dissection framework (scapy) far larger than the dozen lines needed for
Ethernet/IPv4/TCP here.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from pressbox.errors import PressboxError
from pressbox.feeds.poller import pitch_only

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_LINK_HEADER = {1: 14, 113: 16}
"""Link-layer header length by pcap link type: Ethernet (tcpdump on ``lo``), Linux cooked."""
_GAME_IN_PATH = re.compile(rb"/(?:game|gameday)/(\d+)")


class CaptureError(PressboxError):
    """The file is not a capture this reader understands."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment with a payload."""

    t: float
    src: int
    dst: int
    payload: bytes


def segments(data: bytes) -> Iterator[Segment]:
    """The TCP segments with a payload of a pcap file (IPv4 over Ethernet or cooked)."""
    if len(data) < 24:
        raise CaptureError("not a pcap file: shorter than its 24-byte header")
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (_MAGIC_US, _MAGIC_NS):
        raise CaptureError(f"not a little-endian pcap file (magic {magic:#x}); pcapng is not read")
    link = struct.unpack("<I", data[20:24])[0]
    if link not in _LINK_HEADER:
        raise CaptureError(f"link type {link} not read (Ethernet 1 and Linux cooked 113 are)")
    scale = 1e-9 if magic == _MAGIC_NS else 1e-6
    skip = _LINK_HEADER[link]
    at = 24
    while at + 16 <= len(data):
        sec, frac, caught, _ = struct.unpack("<IIII", data[at : at + 16])
        frame = data[at + 16 : at + 16 + caught]
        at += 16 + caught
        ip = frame[skip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue  # not IPv4 TCP
        tcp = ip[(ip[0] & 15) * 4 :]
        if len(tcp) < 20:
            continue
        src, dst = struct.unpack("!HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload:
            yield Segment(sec + frac * scale, src, dst, payload)


def _ws_text(payload: bytes) -> bytes | None:
    """The payload of an unmasked WebSocket text frame (the server's), or ``None``."""
    if len(payload) < 2 or payload[0] != 0x81 or payload[1] & 0x80:
        return None
    size = payload[1] & 0x7F
    start = 2 if size < 126 else 4 if size == 126 else 10
    return payload[start:]


def _brings_fetch(body: bytes) -> bool:
    """A notification the poller fetches on (what :func:`pitch_only` does not exclude)."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # cut by the capture's snap length, or not a notification
    return isinstance(message, dict) and not pitch_only(message)


def _quantiles(values: list[float]) -> dict[str, float | int]:
    # Not gamenight.summary: that one reads whole-millisecond histograms, and an answer
    # on loopback takes about one millisecond.
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def ms(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"count": len(ordered), "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": ms(1.0)}


def analyse(data: bytes, port: int) -> dict[str, dict[str, float | int]]:
    """``reaction`` and ``answer`` (milliseconds) of every play notification in a capture.

    Args:
        data: The pcap file's bytes.
        port: The upstream's port (its side of every connection).
    """
    channel_game: dict[int, bytes] = {}
    asking: dict[int, bytes] = {}
    notes: dict[bytes, list[float]] = defaultdict(list)
    gets: dict[bytes, list[float]] = defaultdict(list)
    answers: dict[bytes, list[float]] = defaultdict(list)
    for seg in segments(data):
        if seg.dst == port and seg.payload.startswith(b"GET "):
            line = seg.payload.split(b"\r\n", 1)[0]
            match = _GAME_IN_PATH.search(line)
            if match is None:
                continue
            if b"/push/" in line:
                channel_game[seg.src] = match.group(1)
            else:
                gets[match.group(1)].append(seg.t)
                asking[seg.src] = match.group(1)
        elif seg.src == port:
            if seg.dst in channel_game:
                body = _ws_text(seg.payload)
                if body is not None and _brings_fetch(body):
                    notes[channel_game[seg.dst]].append(seg.t)
            elif seg.payload.startswith(b"HTTP/1.1 ") and seg.dst in asking:
                answers[asking.pop(seg.dst)].append(seg.t)
    reaction: list[float] = []
    answer: list[float] = []
    # Segments come in capture order, so every list is sorted by time.
    for game, times in notes.items():
        asked_at, answered_at = gets[game], answers[game]
        for t in times:
            i = bisect_left(asked_at, t)
            if i == len(asked_at):
                continue
            asked = asked_at[i]
            reaction.append(asked - t)
            j = bisect_left(answered_at, asked)
            if j < len(answered_at):
                answer.append(answered_at[j] - asked)
    return {"reaction": _quantiles(reaction), "answer": _quantiles(answer)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pressbox.bench.wire", description=__doc__)
    parser.add_argument("capture", type=Path, help="pcap file of the upstream's port")
    parser.add_argument("--port", type=int, required=True, help="the upstream's port")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    try:
        figures = analyse(args.capture.read_bytes(), args.port)
    except (OSError, CaptureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, row in figures.items():
        print(name, " ".join(f"{k} {v}" for k, v in row.items()))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
