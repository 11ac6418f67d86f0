"""Weather documents, MLB's weather block and Retrosheet info records, in one vocabulary."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from pressbox.errors import FeedParseError
from pressbox.feeds.weather import Weather, from_gumbo, from_retrosheet, read_weather

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "mlb-gumbo"


def test_read_weather_document():
    """The upstream's weather document reads into Retrosheet terms."""
    weather = read_weather(
        {
            "gameId": "718594",
            "temperatureF": 72,
            "windSpeedMph": 7,
            "windDirection": "ToCF",
            "sky": "sunny",
            "precipitation": "none",
            "fieldCondition": "dry",
            "observedAt": "2023-04-13T17:05:00Z",
        }
    )
    assert weather == Weather(
        temperature_f=72,
        wind_speed_mph=7,
        wind_direction="tocf",
        sky="sunny",
        precipitation="none",
        field_condition="dry",
        observed_at="2023-04-13T17:05:00Z",
    )
    assert weather.to_dict()["wind_direction"] == "tocf"


def test_missing_fields_are_unknown():
    """Every field but gameId is optional and defaults to unknown."""
    assert read_weather({"gameId": 1}) == Weather()


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({}, "missing field 'gameId'"),
        ({"gameId": 1, "sky": "purple"}, "sky: 'purple' is not one of"),
        ({"gameId": 1, "windSpeedMph": -4}, "negative wind speed"),
        ({"gameId": 1, "temperatureF": "warm"}, "temperatureF: expected an integer"),
        ({"gameId": 1, "windDirection": 3}, "windDirection: expected a string"),
    ],
    ids=["gameId", "sky", "speed", "temperature", "direction"],
)
def test_bad_weather_documents(doc, reason):
    """A drifted weather document raises FeedParseError naming the field."""
    with pytest.raises(FeedParseError) as info:
        read_weather(doc, source="weather.json")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "feed_live_744914.json.gz",
            Weather(
                temperature_f=69,
                wind_speed_mph=8,
                wind_direction="tocf",
                sky="sunny",
                precipitation="none",
            ),
        ),
        (
            "feed_live_718594.json.gz",
            Weather(
                temperature_f=72,
                wind_speed_mph=0,
                wind_direction="calm",
                sky="dome",
                precipitation="none",
                field_condition="dry",
            ),
        ),
        (
            "feed_live_599359_inprogress_20191015_223732.json.gz",
            Weather(
                temperature_f=64,
                wind_speed_mph=4,
                wind_direction="tolf",
                sky="sunny",
                precipitation="none",
            ),
        ),
    ],
)
def test_from_real_gumbo_weather(name, expected):
    """MLB's weather blocks of the captured feeds read into Retrosheet terms."""
    doc = orjson.loads(gzip.decompress((FIXTURES / name).read_bytes()))
    assert from_gumbo(doc["gameData"]["weather"]) == expected


def test_unknown_gumbo_wordings_are_unknown():
    """Wordings MLB may add become unknown, not errors; a block that is not one is refused."""
    weather = from_gumbo({"condition": "Hazy", "temp": "80", "wind": "Breezy"})
    assert (weather.sky, weather.wind_direction, weather.wind_speed_mph) == (
        "unknown",
        "unknown",
        None,
    )
    with pytest.raises(FeedParseError, match="expected an object"):
        from_gumbo("sunny")


def test_from_retrosheet_info():
    """Retrosheet's 0 degrees and -1 mph mean unknown."""
    assert from_retrosheet(
        {
            "temp": "61",
            "winddir": "fromlf",
            "windspeed": "12",
            "sky": "overcast",
            "precip": "drizzle",
            "fieldcond": "wet",
        }
    ) == Weather(61, 12, "fromlf", "overcast", "drizzle", "wet")
    assert from_retrosheet({"temp": "0", "windspeed": "-1"}) == Weather()
    with pytest.raises(FeedParseError, match="info,sky"):
        from_retrosheet({"sky": "green"})
    with pytest.raises(FeedParseError, match="info,temp"):
        from_retrosheet({"temp": "hot"})


def test_weather_rejects_values_outside_the_vocabulary():
    """A Weather cannot be built with a value Retrosheet does not use."""
    with pytest.raises(ValueError, match="sky"):
        Weather(sky="purple")
