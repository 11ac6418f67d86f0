"""A benchmark client process: many SSE or WebSocket connections on raw asyncio protocols.

Started by bench/fanout.py. Arguments: protocol (sse|ws), host, comma-separated ports,
comma-separated games, number of connections. It prints ``READY <n>`` once connected,
then answers commands read from stdin, one per line: ``RESET`` (zero the counters),
``REPORT`` (one JSON line: messages, bytes, first/last receipt times, latency histogram),
``QUIT``. Latency is receipt time minus the update's ``ts_ingest`` (same machine clock).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time

BUCKET_S = 0.0002  # histogram resolution: 0.2 ms


class Stats:
    def __init__(self) -> None:
        self.reset()
        self.connected = 0
        self.closed = 0

    def reset(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None
        self.hist: dict[int, int] = {}

    def saw(self, chunk: bytes, now: float) -> None:
        # Every update carries "ts_ingest":<seconds>; count and time each one.
        start = 0
        while True:
            i = chunk.find(b'"ts_ingest":', start)
            if i < 0:
                return
            j = i + 12
            k = j
            while k < len(chunk) and chunk[k] in b"0123456789.e-":
                k += 1
            start = k
            try:
                ts = float(chunk[j:k])
            except ValueError:
                continue
            self.messages += 1
            if self.first is None:
                self.first = now
            self.last = now
            bucket = int((now - ts) / BUCKET_S)
            self.hist[bucket] = self.hist.get(bucket, 0) + 1


STATS = Stats()


class SSE(asyncio.Protocol):
    def __init__(self, host: str, game: str) -> None:
        self.request = f"GET /v1/stream/games/{game} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)
        STATS.connected += 1

    def data_received(self, data: bytes) -> None:
        now = time.time()
        STATS.bytes += len(data)
        # Events end with a blank line; only whole events are read.
        buf = self.buf + data
        end = buf.rfind(b"\n\n")
        if end < 0:
            self.buf = buf
            return
        self.buf = buf[end + 2 :]
        STATS.saw(buf[: end + 2], now)

    def connection_lost(self, exc: Exception | None) -> None:
        STATS.closed += 1


class WS(asyncio.Protocol):
    def __init__(self, host: str, game: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET /v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.subscribe = json.dumps({"type": "subscribe", "game": game}).encode()
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)
        STATS.connected += 1

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        else:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(head + mask + body)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        STATS.bytes += len(data)
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            del self.buf[: end + 4]
            self.upgraded = True
            self._send(0x1, self.subscribe)
        buf = self.buf
        pos = 0
        texts = []
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if len(buf) - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode in (0x1, 0x0):
                texts.append(payload)
        del buf[:pos]
        if texts:
            STATS.saw(b"\n".join(texts), now)

    def connection_lost(self, exc: Exception | None) -> None:
        STATS.closed += 1


async def main() -> None:
    protocol, host, ports_arg, games_arg, count_arg = sys.argv[1:6]
    offset = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    ports = [int(p) for p in ports_arg.split(",")]
    games = games_arg.split(",")
    count = int(count_arg)
    loop = asyncio.get_running_loop()
    factory = SSE if protocol == "sse" else WS
    transports = []
    sem = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        game = games[(i + offset) % len(games)]
        port = ports[(i + offset) % len(ports)]
        async with sem:
            for attempt in range(5):
                try:
                    t, _ = await loop.create_connection(lambda: factory(host, game), host, port)
                    transports.append(t)
                    return
                except OSError:
                    await asyncio.sleep(0.2 * (attempt + 1))

    await asyncio.gather(*(one(i) for i in range(count)))
    print(f"READY {len(transports)}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "RESET":
            STATS.reset()
            print("OK", flush=True)
        elif line == "REPORT":
            report = {
                "messages": STATS.messages,
                "bytes": STATS.bytes,
                "first": STATS.first,
                "last": STATS.last,
                "hist": STATS.hist,
                "connected": STATS.connected,
                "closed": STATS.closed,
            }
            print(json.dumps(report), flush=True)
        elif line in ("QUIT", ""):
            break
    for t in transports:
        t.abort()


if __name__ == "__main__":
    asyncio.run(main())
