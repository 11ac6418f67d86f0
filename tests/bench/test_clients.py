"""The client processes' WebSocket frame splitter and SSE reader."""

from __future__ import annotations

import argparse
import socket
import sys
import time

import pytest

from pressbox.bench.run_clients import Counters, Loop, split_ws_frames


def _server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def test_complete_frames_are_split_and_a_partial_one_waits() -> None:
    """Short, 16-bit and 64-bit lengths are read; a partial frame stays in the buffer."""
    small, medium, large = b"x" * 5, b"y" * 300, b"z" * 70_000
    whole = _server_frame(0x1, small) + _server_frame(0x9, medium) + _server_frame(0x1, large)
    partial = _server_frame(0x1, b"tail")[:3]
    buf = bytearray(whole + partial)
    frames, used = split_ws_frames(buf)
    assert frames == [(0x1, small), (0x9, medium), (0x1, large)]
    assert used == len(whole)
    assert split_ws_frames(bytearray(partial)) == ([], 0)
    assert split_ws_frames(bytearray(_server_frame(0x1, medium)[:3])) == ([], 0)


def test_sse_events_are_parsed_once_and_counted_for_every_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections receiving the same bytes each count the update (the parse is shared);
    an event cut between two reads waits for its end; comments and retry lines are skipped."""
    from pressbox.bench import run_clients
    from pressbox.bench.run_clients import Conn, Counters, parse_sse, read_sse

    run_clients.C = Counters()
    monkeypatch.setattr(run_clients, "_PARSED", {})
    parsed: list[bytes] = []
    monkeypatch.setattr(
        run_clients, "parse_sse", lambda block: parsed.append(block) or parse_sse(block)
    )
    snap = b"retry: 1000\n\n: hello\n\nevent: snapshot\nid: g:4\ndata: {}\n\n"
    update = b'event: update\nid: g:5\ndata: {"ts_source":null,"ts_ingest":null}\n\n'
    assert parse_sse(snap) == [("snapshot", 4, b"{}")]
    conns = [Conn(i, "g") for i in range(3)]
    for conn in conns:
        conn.buf += snap
        read_sse(conn, 0.0)
        conn.buf += update[:20]
        read_sse(conn, 0.0)
        assert conn.last == 4  # half an event: nothing yet
        conn.buf += update[20:]
        read_sse(conn, 0.0)
    c = run_clients.C
    assert (c.snapshots, c.updates, c.lost, c.duplicates) == (3, 3, 0, 0)
    assert [conn.last for conn in conns] == [5, 5, 5]
    assert all(conn.ready and not conn.buf for conn in conns)
    assert parsed == [snap, update]  # once per distinct block, not once per connection


@pytest.mark.skipif(sys.platform != "linux", reason="kernel receive stamps are Linux's")
def test_receipt_is_the_kernels_and_display_the_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """An update that waits in the socket before the client reads it: play-to-display
    counts the wait, play-to-receipt (the kernel's stamp of the bytes) does not."""
    from pressbox.bench import run_clients

    c = Counters()
    c.measure_from = 0.0
    monkeypatch.setattr(run_clients, "C", c)
    monkeypatch.setattr(run_clients, "_PARSED", {})
    monkeypatch.setattr(run_clients, "_decoded", {})
    published = time.time()
    monkeypatch.setattr(run_clients, "PUBLISH", {"g": {100: published}})
    with socket.create_server(("127.0.0.1", 0)) as server:
        args = argparse.Namespace(
            keys="k",
            games="g",
            n=1,
            offset=0,
            port=server.getsockname()[1],
            proto="sse",
            stamps=True,
        )
        loop = Loop(args)
        conn = loop.conns[0]
        loop.open(conn)
        peer, _ = server.accept()
        with peer, loop.ep, conn.sock:
            loop.writable(conn)
            assert peer.recv(4096).startswith(b"GET /v1/stream/games/g?api_key=k ")
            peer.sendall(b"HTTP/1.0 200 OK\r\n\r\nevent: snapshot\nid: g:4\ndata: {}\n\n")
            loop.readable(conn, time.time())
            assert conn.ready
            update = f'{{"ts_source":100,"ts_ingest":{published},"ts_emit":{published}}}'
            peer.sendall(f"event: update\nid: g:5\ndata: {update}\n\n".encode())
            sent = time.time()
            time.sleep(0.1)  # the update waits in the socket, unread
            loop.readable(conn, time.time())
    assert c.updates == 1
    [(display, _)] = c.pub_ms.items()
    [(receipt, _)] = c.pub_rx_ms.items()
    [(deliver_receipt, _)] = c.emit_rx_ms.items()
    assert receipt <= int((sent - published) * 1000)
    assert display - receipt >= 99
    assert deliver_receipt == receipt  # emitted when published, in this test
