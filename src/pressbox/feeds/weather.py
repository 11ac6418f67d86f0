"""Game-time weather, normalized to the vocabulary of Retrosheet's ``info`` records.

Retrosheet describes every game with ``temp`` (°F, 0 = unknown), ``winddir``, ``windspeed``
(mph, -1 = unknown), ``sky``, ``precip`` and ``fieldcond``; :class:`Weather` keeps those
fields and values so that models fitted on Retrosheet read live weather the same way. Three
readers produce it:

- :func:`read_weather`: the weather document the simulated upstream serves::

      {"gameId": "718594", "temperatureF": 72, "windSpeedMph": 0, "windDirection": "tocf",
       "sky": "dome", "precipitation": "none", "fieldCondition": "dry",
       "observedAt": "2023-04-13T17:05:00Z"}

  every field but ``gameId`` optional (unknown), the values those of Retrosheet below;
- :func:`from_gumbo`: MLB's ``gameData.weather`` (``{"condition": "Sunny", "temp": "69",
  "wind": "8 mph, Out To CF"}``);
- :func:`from_retrosheet`: the ``info`` records of a Retrosheet game.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Final

from pressbox.errors import FeedParseError
from pressbox.feeds.parse import Reader
from pressbox.types import JSON

__all__ = [
    "FIELD_CONDITIONS",
    "PRECIPITATION",
    "SKIES",
    "WIND_DIRECTIONS",
    "Weather",
    "from_gumbo",
    "from_retrosheet",
    "read_weather",
]

WIND_DIRECTIONS: Final = frozenset(
    {
        "fromcf",
        "fromlf",
        "fromrf",
        "ltor",
        "rtol",
        "tocf",
        "tolf",
        "torf",
        "calm",
        "varies",
        "unknown",
    }
)
"""Retrosheet's wind directions (``to``: blowing out toward a field, ``from``: blowing in),
plus ``calm`` and ``varies``, which MLB's feed reports."""

SKIES: Final = frozenset({"cloudy", "dome", "night", "overcast", "sunny", "unknown"})
PRECIPITATION: Final = frozenset({"drizzle", "none", "rain", "showers", "snow", "unknown"})
FIELD_CONDITIONS: Final = frozenset({"dry", "soaked", "wet", "unknown"})

_GUMBO_WIND: Final[dict[str, str]] = {
    "out to cf": "tocf",
    "out to lf": "tolf",
    "out to rf": "torf",
    "in from cf": "fromcf",
    "in from lf": "fromlf",
    "in from rf": "fromrf",
    "l to r": "ltor",
    "r to l": "rtol",
    "calm": "calm",
    "none": "calm",
    "varies": "varies",
}

_GUMBO_SKY: Final[dict[str, tuple[str, str]]] = {
    "sunny": ("sunny", "none"),
    "clear": ("sunny", "none"),
    "partly cloudy": ("cloudy", "none"),
    "cloudy": ("cloudy", "none"),
    "overcast": ("overcast", "none"),
    "dome": ("dome", "none"),
    "roof closed": ("dome", "none"),
    "drizzle": ("overcast", "drizzle"),
    "rain": ("overcast", "rain"),
    "showers": ("overcast", "showers"),
    "snow": ("overcast", "snow"),
}
"""MLB's ``condition`` → (sky, precipitation)."""

_MPH: Final = re.compile(r"^\s*(\d+)\s*mph\s*(?:,\s*(.*?))?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Weather:
    """The weather at a game, in Retrosheet's terms.

    Attributes:
        temperature_f: Degrees Fahrenheit, ``None`` when unknown.
        wind_speed_mph: Miles per hour, ``None`` when unknown.
        wind_direction: One of :data:`WIND_DIRECTIONS`.
        sky: One of :data:`SKIES`.
        precipitation: One of :data:`PRECIPITATION`.
        field_condition: One of :data:`FIELD_CONDITIONS`.
        observed_at: When the observation was made (ISO 8601), if the source says.
    """

    temperature_f: int | None = None
    wind_speed_mph: int | None = None
    wind_direction: str = "unknown"
    sky: str = "unknown"
    precipitation: str = "unknown"
    field_condition: str = "unknown"
    observed_at: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (
            ("wind_direction", WIND_DIRECTIONS),
            ("sky", SKIES),
            ("precipitation", PRECIPITATION),
            ("field_condition", FIELD_CONDITIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {sorted(allowed)}")
        if self.wind_speed_mph is not None and self.wind_speed_mph < 0:
            raise ValueError(f"negative wind speed {self.wind_speed_mph}")

    def to_dict(self) -> dict[str, object]:
        """The plain-dict form, with the field names of the Python attributes."""
        return asdict(self)


def read_weather(doc: JSON, *, source: str = "weather") -> Weather:
    """Read the weather document of the simulated upstream.

    Raises:
        FeedParseError: A field has the wrong type or a value outside the vocabulary.
    """
    r = Reader(source)
    root = r.obj(doc, "")
    r.field(root, "gameId", "")
    values: dict[str, str] = {}
    for key, name, allowed in (
        ("windDirection", "wind_direction", WIND_DIRECTIONS),
        ("sky", "sky", SKIES),
        ("precipitation", "precipitation", PRECIPITATION),
        ("fieldCondition", "field_condition", FIELD_CONDITIONS),
    ):
        value = (r.opt_str(root, key, "") or "unknown").lower()
        if value not in allowed:
            raise r.error(key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        values[name] = value
    speed = r.opt_int(root, "windSpeedMph", "")
    if speed is not None and speed < 0:
        raise r.error("windSpeedMph", f"negative wind speed {speed}")
    return Weather(
        temperature_f=r.opt_int(root, "temperatureF", ""),
        wind_speed_mph=speed,
        observed_at=r.opt_str(root, "observedAt", ""),
        **values,
    )


def from_gumbo(weather: JSON, *, source: str = "gumbo") -> Weather:
    """Read MLB's ``gameData.weather`` block.

    Unknown conditions and wind texts become ``"unknown"`` rather than errors: MLB adds
    wordings now and then, and weather is never worth refusing a game for.

    Raises:
        FeedParseError: The block is not an object, or ``temp`` is not a number.
    """
    r = Reader(source)
    block = r.obj(weather, "gameData.weather")
    temperature = r.opt_int(block, "temp", "gameData.weather")
    condition = (r.opt_str(block, "condition", "gameData.weather") or "").strip().lower()
    sky, precipitation = _GUMBO_SKY.get(condition, ("unknown", "unknown"))
    speed: int | None = None
    direction = "unknown"
    wind = r.opt_str(block, "wind", "gameData.weather")
    match = _MPH.match(wind) if wind else None
    if match:
        speed = int(match.group(1))
        direction = _GUMBO_WIND.get((match.group(2) or "").lower(), "unknown")
    return Weather(
        temperature_f=temperature,
        wind_speed_mph=speed,
        wind_direction=direction,
        sky=sky,
        precipitation=precipitation,
        field_condition="dry" if sky == "dome" else "unknown",
    )


def from_retrosheet(info: Mapping[str, str], *, source: str = "retrosheet") -> Weather:
    """Read the weather fields of a Retrosheet game's ``info`` records.

    Args:
        info: ``info`` record keys to values (``{"temp": "72", "winddir": "tocf", ...}``).
        source: The game's name in errors.

    Raises:
        FeedParseError: A number that is not one, or a value outside Retrosheet's vocabulary.
    """

    def number(key: str, unknown: int) -> int | None:
        text = info.get(key, "").strip()
        if not text:
            return None
        try:
            value = int(text)
        except ValueError as exc:
            raise FeedParseError(source, f"info,{key}: {text!r} is not a number") from exc
        return None if value == unknown else value

    def word(key: str, allowed: frozenset[str]) -> str:
        value = info.get(key, "").strip().lower() or "unknown"
        if value not in allowed:
            raise FeedParseError(
                source, f"info,{key}: {value!r} is not one of {', '.join(sorted(allowed))}"
            )
        return value

    # Retrosheet writes 0 for an unknown temperature and -1 for an unknown wind speed.
    return Weather(
        temperature_f=number("temp", 0),
        wind_speed_mph=number("windspeed", -1),
        wind_direction=word("winddir", WIND_DIRECTIONS),
        sky=word("sky", SKIES),
        precipitation=word("precip", PRECIPITATION),
        field_condition=word("fieldcond", FIELD_CONDITIONS),
    )
