"""The simulated upstream's HTTP app: every route, conditional requests and the faults.

:func:`create_upstream_app` assembles a Starlette app from the loaded data, the replay
speed, a fault spec and a seed. Routes answer in the real wire formats (MLB Stats API,
ESPN site API, The Odds API v4); ``/pressbox/...`` routes are the simulator's own (id maps,
health, fault counters) and never fail on purpose. Every JSON answer carries an ``ETag``
(a digest of the body) and a ``Last-Modified`` (when the data last changed in the replay),
and a matching ``If-None-Match`` or a fresh enough ``If-Modified-Since`` gets ``304``.

Faults (see :mod:`.faults` and ``docs/upstream.md``) act at two levels: an outer ASGI
middleware does what happens to the connection (latency, 5xx, 429 with ``Retry-After``,
hanging, connection reset), and the routes do what happens to the content (truncated body,
schema drift, a stalled game, duplicated or reordered plays, a corrected play).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import gzip
import hashlib
import math
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pressbox.feeds.upstream import booth, drift, espn, gumbo, ids, push
from pressbox.feeds.upstream.data import MlbGame, UpstreamData
from pressbox.feeds.upstream.faults import CLEAN, NO_FAULTS, Decision, FaultInjector, FaultSpec
from pressbox.feeds.upstream.replay import Replay, Timeline
from pressbox.types import JSON, Clock

MAX_DIFFS: Final = 40
"""A ``diffPatch`` spanning more steps than this answers with the full document instead,
as the real API does when the client is far behind."""

_DOC_CACHE: Final = 256
_GZIP_MIN: Final = 1024
"""Bodies from this size (bytes) are gzipped for clients that accept it."""
_FAULT_FREE_PREFIX: Final = "/pressbox/"


class _Reset(Exception):
    """Raised where no transport can be reached to drop the connection (in-memory tests)."""


@dataclass(slots=True)
class _Encoded:
    """A clean feed document as sent: its JSON body, ETag and (once asked) gzip body."""

    body: bytes
    etag: str
    gzipped: bytes | None = None


@dataclass(slots=True)
class _Correction:
    """An earlier play rescored from update ``first`` to update ``last`` (both included).

    Being tied to updates (not to requests) keeps every answer consistent: the document at
    an update is the same whenever it is asked for, so a diff from it is right.
    """

    at_bat: int
    variant: int
    first: int
    until: float
    last: int | None = None


def _events_of(doc: dict[str, JSON]) -> tuple[list[JSON] | None, list[JSON] | None]:
    """A feed document's ``metaData.gameEvents`` and ``logicalEvents``."""
    info = doc.get("metaData")
    if not isinstance(info, dict):
        return None, None
    game_events, logical_events = info.get("gameEvents"), info.get("logicalEvents")
    return (
        game_events if isinstance(game_events, list) else None,
        logical_events if isinstance(logical_events, list) else None,
    )


class SimulatedUpstream:
    """The simulator's state shared by the routes (data, replay clock, faults, caches).

    Args:
        data: The loaded games and reference data.
        replay: The replay clock.
        injector: Where each request's faults come from.
        max_diffs: See :data:`MAX_DIFFS`.
        replay_day: The replayed day, or ``None`` when every game replays from now.
    """

    def __init__(
        self,
        data: UpstreamData,
        replay: Replay,
        injector: FaultInjector,
        max_diffs: int = MAX_DIFFS,
        replay_day: str | None = None,
    ) -> None:
        self.data = data
        self.replay_day = replay_day
        self.start_time = replay.clock.time()
        self.replay = replay
        self.injector = injector
        self.max_diffs = max_diffs
        self._moments: dict[int, list[dt.datetime]] = {}
        self._codes: dict[int, list[str]] = {}
        self._points: dict[int, list[gumbo.Point]] = {}
        self._checkpoints: dict[int, dict[int, object]] = {}
        self.encoded: OrderedDict[tuple[int, int], _Encoded] = OrderedDict()
        self._docs: OrderedDict[tuple[int, int], dict[str, JSON]] = OrderedDict()
        self.corrections: dict[int, list[_Correction]] = {}
        self._steps: dict[int, list[bytes]] = {}
        self._meta: dict[int, list[tuple[list[JSON] | None, list[JSON] | None]]] = {}
        self.documents_built = 0
        """Feed documents built so far (cache misses of :meth:`document`)."""
        self.push_open = True
        """The push channel takes subscribers (``/pressbox/push?open=0`` closes it)."""

    @property
    def clock(self) -> Clock:
        """The replay's clock."""
        return self.replay.clock

    def game(self, pk: int) -> MlbGame | None:
        """The game with this ``gamePk``."""
        return self.data.games.get(pk)

    def moments(self, mg: MlbGame) -> list[dt.datetime]:
        """Game time of each point of a game (cached)."""
        if mg.pk not in self._moments:
            self._moments[mg.pk] = gumbo.moments(mg)
        return self._moments[mg.pk]

    def timecodes(self, mg: MlbGame) -> list[str]:
        """``timeStamp`` of each point of a game (cached)."""
        if mg.pk not in self._codes:
            self._codes[mg.pk] = [gumbo.timecode(m) for m in self.moments(mg)]
        return self._codes[mg.pk]

    def published(self, mg: MlbGame) -> int:
        """Updates of the game out now (:func:`.gumbo.points`: pitches and events)."""
        return self.replay.published(str(mg.pk))

    def points(self, mg: MlbGame) -> list[gumbo.Point]:
        """The updates of a game (cached)."""
        if mg.pk not in self._points:
            self._points[mg.pk] = gumbo.points(mg)
        return self._points[mg.pk]

    def events_out(self, mg: MlbGame, c: int) -> int:
        """Events of the game out once ``c`` updates are."""
        return self.points(mg)[c - 1][0] if c > 0 else 0

    def document(self, mg: MlbGame, n: int) -> dict[str, JSON]:
        """The clean feed document at point ``n`` (cached; never mutate it)."""
        key = (mg.pk, n)
        doc = self._docs.get(key)
        if doc is None:
            self.documents_built += 1
            doc = gumbo.feed_document(
                mg,
                self.data,
                n,
                times=self.moments(mg),
                checkpoints=self._checkpoints.setdefault(mg.pk, {}),
            )
            self._docs[key] = doc
            if len(self._docs) > _DOC_CACHE:
                self._docs.popitem(last=False)
        else:
            self._docs.move_to_end(key)
        return doc

    def prepare(self, mg: MlbGame) -> int:
        """Work out a game's clean feed ahead of its replay: each update's RFC 6902 step
        from the one before (encoded) and its ``gameEvents``/``logicalEvents``.

        The real feed is served from caches in front of the Stats API; a simulator that
        builds each document as it is asked for spends its core on that while it should
        be answering. With the steps prepared, a clean ``diffPatch`` answer is the steps of
        its span joined, and a push notification reads its events from a list.

        Returns:
            The number of updates prepared.
        """
        steps: list[bytes] = [b""]
        meta: list[tuple[list[JSON] | None, list[JSON] | None]] = []
        previous: dict[str, JSON] | None = None
        for n in range(len(self.points(mg)) + 1):
            doc = self.document(mg, n)
            meta.append(_events_of(doc))
            if previous is not None:
                steps.append(orjson.dumps(gumbo.diff_patch([previous, doc])[0]))
            previous = doc
        self._steps[mg.pk] = steps
        self._meta[mg.pk] = meta
        self._docs.clear()
        return len(steps) - 1

    def prepared_steps(self, mg: MlbGame, start: int, end: int) -> bytes | None:
        """The clean ``diffPatch`` body from update ``start`` to ``end``, when prepared."""
        steps = self._steps.get(mg.pk)
        if steps is None or end >= len(steps):
            return None
        return b"[" + b",".join(steps[start + 1 : end + 1]) + b"]"

    def notification_events(
        self, mg: MlbGame, n: int
    ) -> tuple[list[JSON] | None, list[JSON] | None]:
        """``gameEvents`` and ``logicalEvents`` of update ``n`` (the feed's ``metaData``)."""
        meta = self._meta.get(mg.pk)
        if meta is not None and n < len(meta):
            return meta[n]
        return _events_of(self.document(mg, n))

    def remember(self, key: tuple[int, int], encoded: _Encoded) -> _Encoded:
        """Keep the encoded body of a clean document (a small LRU)."""
        self.encoded[key] = encoded
        while len(self.encoded) > _DOC_CACHE:
            self.encoded.popitem(last=False)
        return encoded

    def last_modified(self, mg: MlbGame, n: int) -> float:
        """Unix seconds at which point ``n`` of the game was published."""
        return self.replay.wall_time(str(mg.pk), n)


# --------------------------------------------------------------------------- responses


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _http_date(seconds: float) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def _not_modified(request: Request, etag: str, last_modified: float) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip() for t in inm.split(",")}
        return etag in tags or f"W/{etag}" in tags or "*" in tags
    ims = request.headers.get("if-modified-since")
    if ims is not None:
        try:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
        return math.floor(last_modified) <= since
    return False


def _decision(request: Request) -> Decision:
    decision = request.scope.get("state", {}).get("pressbox.fault")
    return decision if isinstance(decision, Decision) else CLEAN


def json_response(
    request: Request,
    payload: JSON,
    *,
    last_modified: float,
    drift_kind: str = "generic",
    status: int = 200,
    cache_seconds: int = 5,
    cache_key: tuple[int, int] | None = None,
    body: bytes | None = None,
) -> Response:
    """Encode a payload with the content faults of the request and conditional headers.

    Args:
        request: The request (its fault decision is in the scope state).
        payload: The JSON value to send (copied before a drift changes it).
        last_modified: Unix seconds when the data last changed.
        drift_kind: Which drift family applies (``"gumbo"``, ``"diff"``, ``"espn"``...).
        status: Status code of a normal answer.
        cache_seconds: ``Cache-Control: max-age``.
        cache_key: ``(gamePk, update)`` when ``payload`` is the clean cached feed document,
            whose encoded and gzipped bodies are then cached too.
        body: ``payload`` already encoded (then ``payload`` is not used; no drift applies).

    Returns:
        A ``200`` (or ``status``) with ``ETag`` and ``Last-Modified``, or a ``304``; gzip
        encoded above 1 KB for clients that accept it.
    """
    decision = _decision(request)
    upstream = _upstream(request)
    encoded: _Encoded | None = None
    if body is None and decision.drift is not None and status == 200:
        payload = drift.apply(orjson.loads(orjson.dumps(payload)), drift_kind, decision.drift)
        cache_key = None
    if body is not None:
        etag = _etag(body)
    elif cache_key is not None:
        encoded = upstream.encoded.get(cache_key)
        if encoded is None:
            body = orjson.dumps(payload)
            encoded = upstream.remember(cache_key, _Encoded(body, _etag(body)))
        body, etag = encoded.body, encoded.etag
    else:
        body = orjson.dumps(payload)
        etag = _etag(body)
    headers = {
        "ETag": etag,
        "Last-Modified": _http_date(last_modified),
        "Cache-Control": f"max-age={cache_seconds}",
        "Vary": "Accept-Encoding",
    }
    if status == 200 and _not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    if decision.truncate is not None:
        body = body[: max(1, int(len(body) * decision.truncate))]
        encoded = None
    if len(body) >= _GZIP_MIN and "gzip" in request.headers.get("accept-encoding", ""):
        if encoded is not None:
            if encoded.gzipped is None:
                encoded.gzipped = gzip.compress(body, compresslevel=5, mtime=0)
            body = encoded.gzipped
        else:
            body = gzip.compress(body, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(request: Request, status: int, message: str) -> Response:
    body = orjson.dumps({"messageNumber": status, "message": message, "timestamp": _now(request)})
    return Response(body, status_code=status, media_type="application/json")


def _now(request: Request) -> str:
    upstream: SimulatedUpstream = request.app.state.upstream
    return dt.datetime.fromtimestamp(upstream.clock.time(), dt.UTC).isoformat()


def _upstream(request: Request) -> SimulatedUpstream:
    upstream: SimulatedUpstream = request.app.state.upstream
    return upstream


def _int(value: str | None, default: int | None = None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return default
    return int(value)


# --------------------------------------------------------------------------- MLB game feed


def _game_or_404(request: Request) -> MlbGame | Response:
    upstream = _upstream(request)
    pk = _int(request.path_params.get("pk"))
    mg = upstream.game(pk) if pk is not None else None
    if mg is None:
        return _error(request, 404, f"Object not found: gamePk {request.path_params.get('pk')}")
    return mg


def _game_point(request: Request, mg: MlbGame) -> int:
    """Events out for this request, after the stall fault had its say."""
    upstream = _upstream(request)
    decision = _decision(request)
    if decision.stall is not None:
        upstream.replay.stall(str(mg.pk), decision.stall)
    n = upstream.published(mg)
    _track_corrections(request, mg, n)
    return n


def _track_corrections(request: Request, mg: MlbGame, n: int) -> None:
    """End expired corrections of the game and start one when the fault fires.

    A new correction shows from the next update on (so that clients see it as a change),
    and is restored after its duration, from the update after the current one.
    """
    upstream = _upstream(request)
    now = upstream.clock.monotonic()
    kept: list[_Correction] = []
    for corr in upstream.corrections.get(mg.pk, []):
        if corr.last is None and now >= corr.until:
            if n < corr.first:
                continue
            corr.last = n
        kept.append(corr)
    decision = _decision(request)
    active = any(c.last is None for c in kept)
    if decision.correction is not None and not active and n < len(upstream.points(mg)):
        plays = upstream.document(mg, n)["liveData"]["plays"]["allPlays"]
        complete = [p for p in plays[:-1] if p["about"]["isComplete"]]
        if complete:
            target = complete[decision.correction % len(complete)]
            kept.append(
                _Correction(
                    at_bat=target["about"]["atBatIndex"],
                    variant=decision.correction,
                    first=n + 1,
                    until=now + upstream.injector.spec.duration("correction"),
                )
            )
    upstream.corrections[mg.pk] = kept


def _document_at(request: Request, mg: MlbGame, n: int, *, last: bool) -> dict[str, JSON]:
    """The document at update ``n`` with the corrections showing there and, for the last
    document of an answer, this request's duplicated or swapped plays (a copy if changed)."""
    upstream = _upstream(request)
    decision = _decision(request)
    doc = upstream.document(mg, n)
    # The final document is the official record: every correction is settled by then.
    final = n >= len(upstream.points(mg))
    showing = [
        c
        for c in upstream.corrections.get(mg.pk, [])
        if not final and c.first <= n and (c.last is None or n <= c.last)
    ]
    glitch = last and (decision.dup is not None or decision.reorder is not None)
    if not showing and not glitch:
        return doc
    doc = dict(orjson.loads(orjson.dumps(doc)))
    for corr in showing:
        drift.correct_play(doc, corr.at_bat, corr.variant)
    if last and decision.dup is not None:
        drift.duplicate_play(doc, decision.dup)
    if last and decision.reorder is not None:
        drift.reorder_plays(doc, decision.reorder)
    return doc


def _served_document(request: Request, mg: MlbGame, n: int) -> dict[str, JSON]:
    """The document at ``n`` as this request gets it."""
    return _document_at(request, mg, n, last=True)


async def feed_live(request: Request) -> Response:
    """``/api/v1.1/game/{gamePk}/feed/live[?timecode=...]``."""
    mg = _game_or_404(request)
    if isinstance(mg, Response):
        return mg
    upstream = _upstream(request)
    n = _game_point(request, mg)
    wanted = request.query_params.get("timecode")
    if wanted:
        codes = upstream.timecodes(mg)[: n + 1]
        if wanted not in codes:
            return _error(request, 404, f"No data for timecode {wanted}")
        n = codes.index(wanted)
    doc = _served_document(request, mg, n)
    clean = doc is upstream.document(mg, n)
    return json_response(
        request,
        doc,
        last_modified=upstream.last_modified(mg, n),
        drift_kind="gumbo",
        cache_key=(mg.pk, n) if clean else None,
    )


async def feed_timestamps(request: Request) -> Response:
    """``/api/v1.1/game/{gamePk}/feed/live/timestamps``: every timecode published so far."""
    mg = _game_or_404(request)
    if isinstance(mg, Response):
        return mg
    upstream = _upstream(request)
    n = _game_point(request, mg)
    codes = upstream.timecodes(mg)[: n + 1]
    return json_response(request, codes, last_modified=upstream.last_modified(mg, n))


async def feed_diff_patch(request: Request) -> Response:
    """``/api/v1.1/game/{gamePk}/feed/live/diffPatch?startTimecode=...[&endTimecode=...]``.

    Answers ``[]`` when nothing changed, a list of ``{"diff": [ops]}`` (one RFC 6902 patch
    per published point), or the full document when the start is unknown or too far back.
    """
    mg = _game_or_404(request)
    if isinstance(mg, Response):
        return mg
    upstream = _upstream(request)
    n = _game_point(request, mg)
    codes = upstream.timecodes(mg)
    end_code = request.query_params.get("endTimecode")
    if end_code and end_code in codes[: n + 1]:
        n = codes.index(end_code)
    start_code = request.query_params.get("startTimecode", "")
    last_modified = upstream.last_modified(mg, n)
    if start_code not in codes[: n + 1]:
        doc = _served_document(request, mg, n)
        return json_response(request, doc, last_modified=last_modified, drift_kind="gumbo")
    start = codes.index(start_code)
    if n - start > upstream.max_diffs:
        doc = _served_document(request, mg, n)
        return json_response(request, doc, last_modified=last_modified, drift_kind="gumbo")
    if start == n:
        return json_response(request, [], last_modified=last_modified, drift_kind="diff")
    decision = _decision(request)
    clean = (
        decision.drift is None
        and decision.dup is None
        and decision.reorder is None
        and not upstream.corrections.get(mg.pk)
    )
    prepared = upstream.prepared_steps(mg, start, n) if clean else None
    if prepared is not None:
        return json_response(
            request, None, last_modified=last_modified, drift_kind="diff", body=prepared
        )
    docs = [_document_at(request, mg, k, last=False) for k in range(start, n)]
    docs.append(_served_document(request, mg, n))
    patches = gumbo.diff_patch(docs)
    return json_response(request, patches, last_modified=last_modified, drift_kind="diff")


async def game_part(request: Request) -> Response:
    """``/api/v1/game/{gamePk}/linescore``, ``/boxscore`` and ``/playByPlay``: parts of the
    live feed (``liveData.linescore``, ``.boxscore``, ``.plays``)."""
    mg = _game_or_404(request)
    if isinstance(mg, Response):
        return mg
    upstream = _upstream(request)
    n = _game_point(request, mg)
    part = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    doc = _served_document(request, mg, n)
    payload = dict(doc["liveData"]["plays" if part == "playByPlay" else part])
    payload["copyright"] = gumbo.COPYRIGHT
    return json_response(request, payload, last_modified=upstream.last_modified(mg, n))


# --------------------------------------------------------------------------- schedule


def _parse_date(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


async def schedule(request: Request) -> Response:
    """``/api/v1/schedule?sportId=1&date=...`` (also ``startDate``/``endDate``, ``gamePk``,
    ``teamId`` and ``hydrate=weather,officials,probablePitcher,linescore``)."""
    upstream = _upstream(request)
    q = request.query_params
    date = _parse_date(q.get("date"))
    start = _parse_date(q.get("startDate")) or date
    end = _parse_date(q.get("endDate")) or date
    if (q.get("date") and date is None) or (q.get("startDate") and start is None):
        return _error(request, 400, f"Invalid date: {q.get('date') or q.get('startDate')}")
    pk = _int(q.get("gamePk"))
    team = _int(q.get("teamId"))
    hydrate = {h.strip() for h in (q.get("hydrate") or "").split(",") if h.strip()}
    games = []
    for mg in upstream.data.games.values():
        info = mg.game.info
        if start is not None and info.date < start:
            continue
        if end is not None and info.date > end:
            continue
        if start is None and upstream.replay_day is not None and info.date != upstream.replay_day:
            continue
        if pk is not None and mg.pk != pk:
            continue
        if team is not None and team not in (
            ids.team_ref(info.home).mlb_id,
            ids.team_ref(info.away).mlb_id,
        ):
            continue
        games.append(mg)
    payload = booth.schedule_document(upstream, games, hydrate)
    modified = max((upstream.last_modified(g, upstream.published(g)) for g in games), default=0)
    return json_response(
        request, payload, last_modified=modified or upstream.clock.time(), drift_kind="schedule"
    )


# --------------------------------------------------------------------------- booth


def _booth_route(
    build: Callable[[SimulatedUpstream, Request], JSON | None], what: str
) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        upstream = _upstream(request)
        payload = build(upstream, request)
        if payload is None:
            return _error(request, 404, f"Object not found: {what}")
        return json_response(request, payload, last_modified=upstream.start_time, cache_seconds=60)

    endpoint.__doc__ = f"The {what} endpoint."
    return endpoint


async def espn_summary(request: Request) -> Response:
    """``/apis/site/v2/sports/football/nfl/summary?event=ID``."""
    upstream = _upstream(request)
    event = request.query_params.get("event", "")
    game = upstream.data.nfl.get(event)
    if game is None:
        body = orjson.dumps({"code": 404, "message": f"event {event!r} not found"})
        return Response(body, status_code=404, media_type="application/json")
    decision = _decision(request)
    key = f"nfl:{event}"
    if decision.stall is not None:
        upstream.replay.stall(key, decision.stall)
    n = upstream.replay.published(key)
    payload = espn.summary_document(game, n, booth.nfl_pickcenter(upstream.data, game))
    if decision.dup is not None:
        drift.duplicate_espn_play(payload, decision.dup)
    if decision.reorder is not None:
        drift.reorder_espn_plays(payload, decision.reorder)
    return json_response(
        request,
        payload,
        last_modified=upstream.replay.wall_time(key, n),
        drift_kind="espn",
    )


async def generic_plays(request: Request) -> Response:
    """``/generic/v1/games/{eid}/plays``: an NFL game as the flat generic play list."""
    upstream = _upstream(request)
    eid = request.path_params["game_id"]
    game = upstream.data.nfl.get(eid)
    if game is None:
        return _error(request, 404, f"Object not found: game {eid}")
    key = f"nfl:{eid}"
    decision = _decision(request)
    if decision.stall is not None:
        upstream.replay.stall(key, decision.stall)
    n = upstream.replay.published(key)
    return json_response(
        request, espn.generic_document(game, n), last_modified=upstream.replay.wall_time(key, n)
    )


async def espn_scoreboard(request: Request) -> Response:
    """``/apis/site/v2/sports/football/nfl/scoreboard?dates=YYYYMMDD``."""
    upstream = _upstream(request)
    date = _parse_date(request.query_params.get("dates"))
    games = [g for g in upstream.data.nfl.values() if date is None or g.date == date]
    payload = espn.scoreboard_document(
        [(g, upstream.replay.published(f"nfl:{g.eid}")) for g in games]
    )
    return json_response(request, payload, last_modified=upstream.clock.time(), drift_kind="espn")


# --------------------------------------------------------------------------- pressbox's own


async def pressbox_health(request: Request) -> Response:
    """``/pressbox/health``: liveness, with the fault counters."""
    upstream = _upstream(request)
    return Response(
        orjson.dumps(
            {
                "ok": True,
                "games": len(upstream.data.games),
                "nflGames": len(upstream.data.nfl),
                "speed": upstream.replay.speed,
                "faults": str(upstream.injector.spec),
                "seed": upstream.injector.seed,
                "requests": upstream.injector.requests,
                "faultCounts": {k: v for k, v in upstream.injector.counts.items() if v},
            }
        ),
        media_type="application/json",
    )


async def pressbox_games(request: Request) -> Response:
    """``/pressbox/games``: the ``gamePk`` ↔ Retrosheet id map, with each game's progress."""
    upstream = _upstream(request)
    out = []
    for mg in upstream.data.games.values():
        n = upstream.published(mg)
        out.append(
            {
                "gamePk": mg.pk,
                "retrosheetId": mg.game.game_id,
                "date": mg.game.info.date,
                "away": mg.game.info.away,
                "home": mg.game.info.home,
                "events": len(mg.game.events),
                "eventsOut": upstream.events_out(mg, n),
                "updates": len(upstream.points(mg)),
                "published": n,
                "stalled": upstream.replay.stalled(str(mg.pk)),
            }
        )
    nfl = [
        {"event": g.eid, "away": g.away, "home": g.home, "date": g.date, "events": len(g.events),
         "published": upstream.replay.published(f"nfl:{g.eid}")}
        for g in upstream.data.nfl.values()
    ]  # fmt: skip
    return Response(orjson.dumps({"mlb": out, "nfl": nfl}), media_type="application/json")


async def pressbox_push(request: Request) -> Response:
    """``/pressbox/push[?open=0|1]``: the push channel's state; ``open=0`` closes every
    channel and refuses new ones (an outage of the push service), ``open=1`` reopens it."""
    upstream = _upstream(request)
    wanted = request.query_params.get("open")
    if wanted in ("0", "1"):
        upstream.push_open = wanted == "1"
    elif wanted is not None:
        return _error(request, 400, f"open must be 0 or 1, not {wanted!r}")
    return Response(orjson.dumps({"open": upstream.push_open}), media_type="application/json")


async def pressbox_players(request: Request) -> Response:
    """``/pressbox/players[?retrosheetId=...|?id=...]``: the player id map."""
    upstream = _upstream(request)
    rid = request.query_params.get("retrosheetId")
    pid = _int(request.query_params.get("id"))
    people = list(upstream.data.people.values())
    if rid is not None:
        people = [upstream.data.person(rid)]
    elif pid is not None:
        back = ids.retro_id_of_player(pid)
        people = [upstream.data.person(back)] if back else []
    body = [{"id": p.pid, "retrosheetId": p.retro_id, "fullName": p.full_name} for p in people]
    return Response(orjson.dumps(body), media_type="application/json")


# --------------------------------------------------------------------------- transport faults


async def _drop_connection(send: Send, receive: Receive) -> None:
    """Close the TCP connection without an answer (an RST where the OS allows it).

    uvicorn hands the app its request cycle's bound ``send``; the cycle holds the
    asyncio transport, which is the only way to drop a connection from inside ASGI.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise _Reset("connection reset by the simulated upstream")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns the close into an RST; where the OS refuses, a plain close will do.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Wait for uvicorn to see the connection lost, so it does not try to answer with a 500.
    with anyio.move_on_after(1.0):
        while (await receive())["type"] != "http.disconnect":
            pass


async def _hang(seconds: float, receive: Receive) -> None:
    """Hold the request without answering until ``seconds`` pass or the client leaves."""
    with anyio.move_on_after(seconds):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return


class FaultMiddleware:
    """Draws each request's faults and applies those that concern the connection.

    Args:
        app: The wrapped app.
        upstream: The simulator state (its injector draws the decisions).
    """

    def __init__(self, app: ASGIApp, upstream: SimulatedUpstream) -> None:
        self.app = app
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_FAULT_FREE_PREFIX):
            await self.app(scope, receive, send)
            return
        decision = self.upstream.injector.decide()
        scope.setdefault("state", {})["pressbox.fault"] = decision
        if decision.latency:
            await anyio.sleep(decision.latency)
        if decision.reset:
            await _drop_connection(send, receive)
            return
        if decision.hang is not None:
            await _hang(decision.hang, receive)
            return
        if decision.status is not None:
            await self._status(decision, send)
            return
        await self.app(scope, receive, send)

    async def _status(self, decision: Decision, send: Send) -> None:
        status = decision.status or 500
        headers = [(b"content-type", b"application/json")]
        if status == 429:
            retry = max(1, math.ceil(decision.retry_after))
            headers.append((b"retry-after", str(retry).encode()))
            body = orjson.dumps({"messageNumber": 429, "message": "Too Many Requests"})
        elif status == 503:
            if decision.retry_after > 0:
                retry = max(1, math.ceil(decision.retry_after))
                headers.append((b"retry-after", str(retry).encode()))
            body = orjson.dumps({"messageNumber": 503, "message": "Service Unavailable"})
        else:
            body = orjson.dumps({"messageNumber": 500, "message": "Internal Server Error"})
        headers.append((b"content-length", str(len(body)).encode()))
        start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- assembly


class _UpstreamApp(Starlette):
    """Starlette with the fault layer *outside* its middleware stack.

    The fault layer must get the server's own ``send`` (to reach the connection for a
    reset), and Starlette's error middleware wraps ``send`` in a closure.
    """

    fault_layer: ASGIApp | None = None

    async def call_routes(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the normal Starlette stack (middleware, routing)."""
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        layer = self.fault_layer
        if layer is None:
            await self.call_routes(scope, receive, send)
        else:
            await layer(scope, receive, send)


def create_upstream_app(
    data: UpstreamData,
    *,
    speed: float = 60.0,
    faults: FaultSpec = NO_FAULTS,
    seed: int = 0,
    clock: Clock | None = None,
    date: str | None = None,
    max_diffs: int = MAX_DIFFS,
) -> Starlette:
    """Build the simulated upstream.

    Args:
        data: Games and reference data from :func:`.data.load_data`.
        speed: Game seconds per real second (``0``: every event out at once).
        faults: The faults to inject (none by default).
        seed: Seed of the fault decisions (same seed, same sequence of outcomes).
        clock: Time source (default: the process's monotonic and wall clocks).
        date: Replay this day (``YYYY-MM-DD``): its games start staggered by their first
            pitch, earlier games are final, later ones scheduled. ``None`` replays every
            loaded game from now, staggered by first-pitch time of day.
        max_diffs: See :data:`MAX_DIFFS`.

    Returns:
        The Starlette app; its ``state.upstream`` is the :class:`SimulatedUpstream`.

    Raises:
        ValueError: ``speed`` is negative or ``date`` is not ``YYYY-MM-DD``.
    """
    if clock is None:
        from pressbox.resilience.clock import MonotonicClock

        clock = MonotonicClock()
    if date is not None and _parse_date(date) != date:
        raise ValueError(f"replay date must be YYYY-MM-DD, not {date!r}")
    timelines = _timelines(data, date)
    replay = Replay(clock, speed, timelines)
    upstream = SimulatedUpstream(data, replay, FaultInjector(faults, seed), max_diffs, date)
    routes = [
        Route("/api/v1/schedule", schedule),
        Route("/api/v1/schedule/games", schedule),
        Route("/api/v1.1/game/{pk}/feed/live", feed_live),
        Route("/api/v1.1/game/{pk}/feed/live/timestamps", feed_timestamps),
        Route("/api/v1.1/game/{pk}/feed/live/diffPatch", feed_diff_patch),
        Route("/api/v1/game/{pk}/linescore", game_part),
        Route("/api/v1/game/{pk}/boxscore", game_part),
        Route("/api/v1/game/{pk}/playByPlay", game_part),
        Route("/api/v1/teams", _booth_route(booth.teams, "teams")),
        Route("/api/v1/teams/{team_id}/roster", _booth_route(booth.roster, "team roster")),
        Route("/api/v1/people/{person_id}", _booth_route(booth.person, "person")),
        Route("/api/v1/people/{person_id}/stats", _booth_route(booth.stats, "player stats")),
        Route("/api/v1/standings", _booth_route(booth.standings, "standings")),
        Route(
            "/api/v1/venues/{venue_id}/parkFactors",
            _booth_route(booth.park_factors, "park factors"),
        ),
        Route("/v4/sports/{sport}/odds", _booth_route(booth.odds, "odds")),
        Route("/odds/v1/games/{game_id}", _booth_route(booth.odds_document, "odds")),
        Route(
            "/weather/v1/games/{game_id}",
            _booth_route(booth.weather_flat_document, "game weather"),
        ),
        Route("/generic/v1/games/{game_id}/plays", generic_plays),
        Route("/apis/site/v2/sports/football/nfl/summary", espn_summary),
        Route("/apis/site/v2/sports/football/nfl/scoreboard", espn_scoreboard),
        Route("/pressbox/health", pressbox_health),
        Route("/pressbox/games", pressbox_games),
        Route("/pressbox/players", pressbox_players),
        Route("/pressbox/push", pressbox_push),
        WebSocketRoute(push.PUSH_PATH, push.gameday_push),
    ]
    app = _UpstreamApp(routes=routes)
    app.state.upstream = upstream
    app.state.push_tick = push.DEFAULT_TICK
    app.fault_layer = FaultMiddleware(app.call_routes, upstream)
    return app


def _since_midnight_et(moment: dt.datetime, date: str) -> float:
    """Seconds from midnight (US Eastern) of the game's date to its start: when every game
    replays from now, games are staggered by this, so a 7:05 PM Pacific game comes after a
    1:05 PM Eastern one."""
    midnight = dt.datetime.fromisoformat(date).replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    return (moment - midnight).total_seconds()


def _timelines(data: UpstreamData, date: str | None) -> list[tuple[str, Timeline]]:
    out: list[tuple[str, Timeline]] = []
    if date is None:
        day_starts = [
            _since_midnight_et(mg.start_utc, mg.game.info.date) for mg in data.games.values()
        ]
        first = min(day_starts, default=0.0)
        for mg, start in zip(data.games.values(), day_starts, strict=True):
            gaps = gumbo.point_gaps(mg)
            out.append((str(mg.pk), Timeline.from_gaps(start - first, gaps)))
    else:
        today = [mg for mg in data.games.values() if mg.game.info.date == date]
        first_utc = min((mg.start_utc for mg in today), default=None)
        for mg in data.games.values():
            info = mg.game.info
            if info.date < date:
                offset = -math.inf
            elif info.date > date or first_utc is None:
                offset = math.inf
            else:
                offset = (mg.start_utc - first_utc).total_seconds()
            out.append((str(mg.pk), Timeline.from_gaps(offset, gumbo.point_gaps(mg))))

    nfl_today = [g for g in data.nfl.values() if date is None or g.date == date]
    first_kickoff = min((g.start_utc for g in nfl_today), default=None)
    first_tod = min((_since_midnight_et(g.start_utc, g.date) for g in nfl_today), default=0.0)
    for g in data.nfl.values():
        gaps = espn.play_gaps(g)
        if date is None:
            offset = _since_midnight_et(g.start_utc, g.date) - first_tod
        elif g.date < date:
            offset = -math.inf
        elif g.date > date or first_kickoff is None:
            offset = math.inf
        else:
            offset = (g.start_utc - first_kickoff).total_seconds()
        out.append((f"nfl:{g.eid}", Timeline.from_gaps(offset, gaps)))
    return out
