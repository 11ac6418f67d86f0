"""The REST endpoints under ``/v1/`` (data) and the public ones (health, readiness, metrics).

Handlers only read: the log and the archive through the :class:`~pressbox.service.Service`,
predictions through the two-layer cache. Input is validated by the declared types and
patterns before a handler runs; an answer about data that is missing is 200 with
``{"available": false, "reason": ...}``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import ValidationError

from pressbox.api.predict import Prediction, PredictionCache, encode_prediction, unavailable
from pressbox.api.runtime import Runtime
from pressbox.api.schemas import (
    GAME_ID_PATTERN,
    BaseballStateIn,
    ErrorBody,
    FootballStateIn,
    GameOut,
    GamesOut,
    Health,
    KeyPlaysOut,
    MatchupOut,
    PlayOut,
    PlaysOut,
    PredictionOut,
    PredictionsOut,
    Ready,
    SnapshotOut,
    WpOut,
    WpPoint,
    WpSeriesOut,
)
from pressbox.bus.base import update_stream
from pressbox.engine.events import (
    BaseballSituation,
    FootballSituation,
    GameInfo,
    GameState,
    Update,
    decode_update,
    to_dict,
)
from pressbox.engine.models import WinProbabilityModel
from pressbox.errors import BackendUnavailable, UnknownGame
from pressbox.service import Service
from pressbox.store.base import GameRecord
from pressbox.types import GameStatus, Sport

GameIdPath = Annotated[
    str, Path(pattern=GAME_ID_PATTERN, max_length=64, description="The game's id.")
]

_ERR = {"model": ErrorBody}
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_ERR, "description": "Malformed request."},
    401: {**_ERR, "description": "Missing or bad API key."},
    413: {**_ERR, "description": "Body too large."},
    422: {**_ERR, "description": "A parameter or the body is invalid."},
    429: {
        **_ERR,
        "description": "Over the key's rate limit; see Retry-After and RateLimit-*.",
    },
    431: {**_ERR, "description": "Headers too large."},
    503: {**_ERR, "description": "Overloaded, past the deadline, or a backend is down."},
}
GAME_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON_ERRORS,
    404: {**_ERR, "description": "No such game."},
}


async def runtime(request: Request) -> Runtime:
    """The app's runtime (set in the lifespan).

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, one
    hop to the thread pool and back for every request.
    """
    rt: Runtime = request.app.state.runtime
    return rt


Rt = Annotated[Runtime, Depends(runtime)]


def game_out(record: GameRecord) -> GameOut:
    """The API shape of an archived game."""
    info = record.info
    return GameOut(
        game_id=record.game_id,
        sport=record.sport,
        status=record.status,
        home=info.home if info else None,
        away=info.away if info else None,
        date=info.date if info else None,
        home_score=record.home_score,
        away_score=record.away_score,
        last_seq=record.last_seq,
    )


def play_out(update: Update) -> PlayOut:
    """The short form of an update."""
    return PlayOut(
        seq=update.seq,
        event_id=update.event_id,
        kind=update.kind,
        text=update.text,
        home_score=update.state.home_score,
        away_score=update.state.away_score,
        home_wp=update.wp.home if update.wp else None,
        wpa=update.wpa,
        leverage=update.leverage,
        key_play=update.key_play,
        ts_emit=update.ts_emit,
    )


async def known_game(service: Service, game_id: str) -> GameRecord | None:
    """The game's archived row; ``None`` for a game announced but not archived yet.

    Raises:
        UnknownGame: Neither the archive nor the log knows the game.
    """
    try:
        return await service.archive.game(game_id)
    except UnknownGame:
        if game_id in await service.games():
            return None
        raise


async def load_prediction(service: Service, sport: str, game_id: str) -> Prediction:
    """Compute a prediction from the game's latest update (the cache's loader).

    Raises:
        UnknownGame: No game of this sport has this id.
    """
    update = await service.snapshot(game_id)
    if update is None:
        record = await known_game(service, game_id)
        if record is not None and record.sport != sport:
            raise UnknownGame(game_id)
        return unavailable(sport, game_id, "the game has no update yet")
    if update.sport != sport:
        raise UnknownGame(game_id)
    return encode_prediction(update)


async def _models(service: Service, game_id: str, model: str | None) -> str | None:
    try:
        models = await service.archive.models(game_id)
    except UnknownGame:
        await known_game(service, game_id)  # announced but not archived yet: no WP
        return None
    named = [m for m in models if m]
    if model is not None:
        return model if model in named else None
    return named[-1] if named else None


router = APIRouter(prefix="/v1", responses=COMMON_ERRORS)


@router.get("/games", response_model=GamesOut, summary="Games, by sport and status")
async def list_games(
    rt: Rt,
    sport: Annotated[Sport | None, Query(description="Only this sport.")] = None,
    status: Annotated[GameStatus | None, Query(description="Only games in this status.")] = None,
) -> GamesOut:
    """Every archived game, by date then id."""
    records = await rt.service.archive.games(sport=sport, status=status)
    if not records:
        return GamesOut(available=False, reason="no game matches", games=[])
    return GamesOut(available=True, games=[game_out(r) for r in records])


@router.get(
    "/games/{game_id}", response_model=SnapshotOut, responses=GAME_ERRORS, summary="Snapshot"
)
async def game_snapshot(rt: Rt, game_id: GameIdPath) -> SnapshotOut:
    """The game's row and its latest update."""
    record = await known_game(rt.service, game_id)
    update = await rt.service.snapshot(game_id)
    game = game_out(record) if record is not None else None
    if update is None:
        return SnapshotOut(
            available=False, reason="the game has no update yet", game_id=game_id, game=game
        )
    return SnapshotOut(available=True, game_id=game_id, game=game, update=to_dict(update))


@router.get(
    "/games/{game_id}/plays",
    response_model=PlaysOut,
    responses=GAME_ERRORS,
    summary="Plays after a sequence",
)
async def game_plays(
    rt: Rt,
    game_id: GameIdPath,
    since: Annotated[int, Query(ge=0, le=1_000_000_000, description="Last seq held.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="The most plays returned.")] = 200,
) -> PlaysOut:
    """The game's updates with ``seq > since``, in order."""
    stream = update_stream(game_id)
    last = await rt.service.bus.last_seq(stream)
    if last == 0:
        await known_game(rt.service, game_id)
        return PlaysOut(available=False, reason="the game has no update yet", game_id=game_id)
    entries = await rt.service.bus.read(stream, since + 1, limit=limit)
    plays = [play_out(decode_update(e.payload, source=stream)) for e in entries]
    return PlaysOut(available=True, game_id=game_id, plays=plays, last_seq=last)


@router.get(
    "/games/{game_id}/wp", response_model=WpSeriesOut, responses=GAME_ERRORS, summary="WP series"
)
async def game_wp(
    rt: Rt,
    game_id: GameIdPath,
    model: Annotated[str | None, Query(max_length=64, description="Model name.")] = None,
) -> WpSeriesOut:
    """The home team's WP after every update, for charts."""
    name = await _models(rt.service, game_id, model)
    if name is None:
        return WpSeriesOut(available=False, reason="no WP archived for this game", game_id=game_id)
    series = await rt.service.archive.wp_series(game_id, name)
    if not series:
        return WpSeriesOut(
            available=False, reason="no WP archived for this game", game_id=game_id, model=name
        )
    points = [WpPoint(seq=seq, home=home) for seq, home in series]
    return WpSeriesOut(available=True, game_id=game_id, model=name, points=points)


@router.get(
    "/games/{game_id}/key-plays",
    response_model=KeyPlaysOut,
    responses=GAME_ERRORS,
    summary="Key plays",
)
async def game_key_plays(
    rt: Rt,
    game_id: GameIdPath,
    n: Annotated[int, Query(ge=1, le=50, description="How many.")] = 5,
    model: Annotated[str | None, Query(max_length=64, description="Model name.")] = None,
) -> KeyPlaysOut:
    """The plays with the largest WP swings, largest first."""
    name = await _models(rt.service, game_id, model)
    if name is None:
        return KeyPlaysOut(available=False, reason="no WP archived for this game", game_id=game_id)
    updates = await rt.service.archive.key_plays(game_id, name, n)
    if not updates:
        return KeyPlaysOut(
            available=False, reason="no key plays for this game", game_id=game_id, model=name
        )
    return KeyPlaysOut(
        available=True, game_id=game_id, model=name, plays=[play_out(u) for u in updates]
    )


@router.get(
    "/games/{game_id}/matchup",
    response_model=MatchupOut,
    responses=GAME_ERRORS,
    summary="Batter vs pitcher",
)
async def game_matchup(rt: Rt, game_id: GameIdPath) -> MatchupOut:
    """The current batter and pitcher, their season lines to date and their history.

    Read from what ingest stored when the matchup last changed; never fetched here.
    """
    record = await known_game(rt.service, game_id)
    if record is not None and record.sport != "mlb":
        return MatchupOut(
            available=False, reason=f"not a baseball game ({record.sport})", game_id=game_id
        )
    blob = await rt.service.matchup(game_id)
    if blob is None:
        return MatchupOut(
            available=False,
            reason="no matchup yet: no play of this game has named a batter and pitcher",
            game_id=game_id,
        )
    try:
        # A record that is not a JSON object fails the ** with TypeError.
        out = MatchupOut.model_validate({**orjson.loads(blob), "game_id": game_id})
    except (orjson.JSONDecodeError, ValidationError, TypeError) as exc:
        return MatchupOut(
            available=False,
            reason=f"the stored matchup is unreadable ({type(exc).__name__})",
            game_id=game_id,
        )
    if out.as_of is not None:
        out.age_s = round(max(time.time() - out.as_of, 0.0), 1)
    return out


def _cache(rt: Runtime) -> PredictionCache:
    if rt.predictions is None:
        raise BackendUnavailable("the prediction cache is not running")
    return rt.predictions


_PREDICTION_DOC = (
    "Served from the two-layer cache as pre-encoded bytes; the body has the shape of "
    "PredictionOut (checked by the test suite), not validated per request."
)


@router.get(
    "/predict/{sport}/{game_id}",
    response_model=None,
    responses={
        **GAME_ERRORS,
        200: {"model": PredictionOut, "description": _PREDICTION_DOC},
    },
    summary="Win probability now",
)
async def predict(rt: Rt, sport: Sport, game_id: GameIdPath) -> Response:
    """Home, away and tie WP of a game, as of its latest update, with the staleness."""
    prediction = await _cache(rt).get(sport, game_id)
    return Response(
        prediction.body(time.time()),
        status_code=prediction.status,
        media_type="application/json",
    )


@router.get(
    "/predictions/latest",
    response_model=None,
    responses={200: {"model": PredictionsOut, "description": "Every live game's prediction."}},
    summary="Predictions of every live game",
)
async def predictions_latest(rt: Rt) -> Response:
    """The prediction of every live game (at most 500)."""
    records = (await rt.service.archive.games(status="live"))[:500]
    cache = _cache(rt)
    found = [await cache.get(r.sport, r.game_id) for r in records]
    now = time.time()
    bodies = [p.body(now) for p in found if p.status == 200]
    if not bodies:
        body = b'{"available":false,"reason":"no live game","predictions":[]}'
    else:
        body = b'{"available":true,"predictions":[' + b",".join(bodies) + b"]}"
    return Response(body, media_type="application/json")


def _analyst_state(sport: Sport, given: BaseballStateIn | FootballStateIn) -> GameState:
    if isinstance(given, BaseballStateIn):
        bases = tuple(f"r{i + 1}" if on else None for i, on in enumerate(given.bases))
        situation: BaseballSituation | FootballSituation = BaseballSituation(
            inning=given.inning,
            half=given.half,
            outs=given.outs,
            bases=(bases[0], bases[1], bases[2]),
        )
        info = GameInfo(
            home="HOME",
            away="AWAY",
            date="2000-01-01",
            innings=given.innings,
            extra_runner=given.extra_runner,
        )
        period = given.inning
    else:
        situation = FootballSituation(
            quarter=given.quarter,
            clock_seconds=given.clock_seconds,
            possession=given.possession,
            down=given.down,
            distance=given.distance,
            yard_line=given.yard_line,
            home_timeouts=given.home_timeouts,
            away_timeouts=given.away_timeouts,
        )
        info = GameInfo(home="HOME", away="AWAY", date="2000-01-01", innings=4)
        period = given.quarter
    return GameState(
        sport=sport,
        game_id="analyst",
        seq=1,
        status="live",
        info=info,
        home_score=given.home_score,
        away_score=given.away_score,
        period=period,
        situation=situation,
    )


def _fourth_down(model: WinProbabilityModel, given: FootballStateIn) -> dict[str, Any] | None:
    decide = getattr(model, "fourth_down", None)
    if decide is None or given.down != 4 or given.distance is None or given.yard_line is None:
        return None
    home = given.possession == "home"
    left = given.clock_seconds + max(0, 4 - given.quarter) * 900
    sd = given.home_score - given.away_score
    to_diff = given.home_timeouts - given.away_timeouts
    result = decide(
        float(left),
        sd if home else -sd,
        given.distance,
        given.yard_line,
        home=home,
        to_diff=to_diff if home else -to_diff,
    )
    out: dict[str, Any] = result.to_dict()
    return out


def _evaluate(
    model: WinProbabilityModel, sport: Sport, given: BaseballStateIn | FootballStateIn
) -> WpOut:
    state = _analyst_state(sport, given)
    wp = model.win_probability(state)
    decision = _fourth_down(model, given) if isinstance(given, FootballStateIn) else None
    return WpOut(
        available=True,
        sport=sport,
        home=wp.home,
        away=wp.away,
        tie=wp.tie,
        model=wp.model or f"{model.name}/{model.version}",
        leverage=model.leverage(state),
        decision=decision,
    )


@router.post("/wp/{sport}", response_model=WpOut, summary="WP of a typed-in state")
async def wp_for_state(
    rt: Rt,
    sport: Sport,
    given: Annotated[BaseballStateIn | FootballStateIn, Body(description="The situation.")],
) -> WpOut:
    """WP, leverage and (football, fourth down) the value of each option, for any state."""
    football = sport in ("nfl", "ncaaf")
    if football != isinstance(given, FootballStateIn):
        kind = "football" if football else "baseball"
        raise ValueError(f"a {sport} state must be a {kind} situation")
    model = await asyncio.to_thread(rt.service.model, sport)
    if model is None:
        return WpOut(available=False, reason=f"no {sport} model is available", sport=sport)
    try:
        return await asyncio.to_thread(_evaluate, model, sport, given)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the model cannot answer for this state: {exc}") from exc
    except Exception as exc:
        # The analyst sees why, never a 5xx: a model's failure is data that is missing.
        return WpOut(available=False, reason=f"the model failed: {exc}", sport=sport)


public = APIRouter()


@public.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process answers."""
    return Health()


@public.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "A backend does not answer."}},
    summary="Readiness",
)
async def readyz(rt: Rt) -> Response:
    """Whether the log, the archive, the key store and the cache answer."""
    checks = await rt.ping()
    ready = all(checks.values())
    body = Ready(ready=ready, checks=checks).model_dump_json().encode()
    return Response(body, status_code=200 if ready else 503, media_type="application/json")


@public.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics."}},
    summary="Prometheus metrics",
)
async def metrics(rt: Rt) -> Response:
    """Every metric of the process, in the Prometheus text format."""
    registry = rt.registry if rt.registry is not None else REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
