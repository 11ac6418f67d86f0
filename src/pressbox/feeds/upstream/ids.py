"""Stable integer ids for the simulated upstream, and the MLB team reference table.

The MLB Stats API names everything by integer (``gamePk``, player and team ids); Retrosheet
names things by short strings. The mappings here are pure and reversible, so that any
client can go back to the Retrosheet id without asking the server (which also serves the
maps, see ``docs/upstream.md``):

* ``gamePk`` = ``base36(home team code) * 10**9 + int(yyyymmdd + game number)``:
  ``ANA201504100`` → ``13798 * 10**9 + 201504100`` = ``13798201504100``.
* player id = the Retrosheet id read as a base-38 number over ``-0-9a-z`` with digit
  values 1..37 (0 is never used, so the length is kept): ``troum001`` → a 12-13 digit
  integer, always below ``2**53`` so JavaScript clients keep it exact. An id outside that
  alphabet or longer than 8 characters gets a hashed id at or above ``10**13``.
* team ids are the real MLB team ids for the 30 franchises of 2015-2016
  (``NYA`` → 147); any other code gets ``base36(code)``.
* venue id = ``base36(site code)`` (Retrosheet ``ANA01`` → ``17882209``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

_ALPHABET: Final = "-0123456789abcdefghijklmnopqrstuvwxyz"
_BASE: Final = len(_ALPHABET) + 1
_MAX_LEN: Final = 8
_HASHED_FLOOR: Final = 10**13
_PK_SCALE: Final = 10**9


def _base36(text: str) -> int:
    return int(text, 36)


def game_pk(game_id: str) -> int:
    """The ``gamePk`` of a Retrosheet game id (``ANA201504100`` → ``13798201504100``).

    Raises:
        ValueError: The id is not a team code followed by 9 digits.
    """
    team, digits = game_id[:-9], game_id[-9:]
    if not team.isalnum() or not digits.isdigit():
        raise ValueError(f"not a Retrosheet game id: {game_id!r}")
    return _base36(team) * _PK_SCALE + int(digits)


def game_id_of_pk(pk: int) -> str:
    """The Retrosheet game id of a ``gamePk`` (the inverse of :func:`game_pk`).

    Raises:
        ValueError: ``pk`` is not positive.
    """
    if pk <= 0:
        raise ValueError(f"not a gamePk: {pk}")
    team_num, digits = divmod(pk, _PK_SCALE)
    return f"{_to_base36(team_num).upper()}{digits:09d}"


def _to_base36(value: int) -> str:
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = chars[rem] + out
    return out or "0"


def player_id(retro_id: str) -> int:
    """The integer player id of a Retrosheet player (or umpire) id."""
    text = retro_id.lower()
    if 0 < len(text) <= _MAX_LEN and all(c in _ALPHABET for c in text):
        value = 0
        for c in text:
            value = value * _BASE + _ALPHABET.index(c) + 1
        return value
    digest = hashlib.blake2b(retro_id.encode(), digest_size=6).digest()
    return _HASHED_FLOOR + int.from_bytes(digest, "big")


def retro_id_of_player(pid: int) -> str | None:
    """The Retrosheet id of a player id from :func:`player_id`; ``None`` for hashed ids."""
    if pid <= 0 or pid >= _HASHED_FLOOR:
        return None
    out = ""
    while pid:
        pid, digit = divmod(pid, _BASE)
        if digit == 0:
            return None
        out = _ALPHABET[digit - 1] + out
    return out


def venue_id(site: str) -> int:
    """The venue id of a Retrosheet site code (``ANA01``)."""
    return _base36(site) if site.isalnum() else player_id(site)


@dataclass(frozen=True, slots=True)
class TeamRef:
    """Reference data of one franchise, as the Stats API spells it.

    Attributes:
        code: Retrosheet code (``NYA``).
        mlb_id: MLB team id (``147``).
        abbreviation: The Stats API's abbreviation (``NYY``).
        league_id: 103 American League, 104 National League.
        division_id: 200 AL West, 201 AL East, 202 AL Central, 203 NL West,
            204 NL East, 205 NL Central.
        timezone: IANA zone of the home park, for start times given in local time.
    """

    code: str
    mlb_id: int
    abbreviation: str
    league_id: int
    division_id: int
    timezone: str


_ET, _CT, _MT, _PT = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

TEAMS: Final[dict[str, TeamRef]] = {
    t.code: t
    for t in (
        TeamRef("ANA", 108, "LAA", 103, 200, _PT),
        TeamRef("ARI", 109, "ARI", 104, 203, "America/Phoenix"),
        TeamRef("BAL", 110, "BAL", 103, 201, _ET),
        TeamRef("BOS", 111, "BOS", 103, 201, _ET),
        TeamRef("CHN", 112, "CHC", 104, 205, _CT),
        TeamRef("CIN", 113, "CIN", 104, 205, _ET),
        TeamRef("CLE", 114, "CLE", 103, 202, _ET),
        TeamRef("COL", 115, "COL", 104, 203, _MT),
        TeamRef("DET", 116, "DET", 103, 202, _ET),
        TeamRef("HOU", 117, "HOU", 103, 200, _CT),
        TeamRef("KCA", 118, "KC", 103, 202, _CT),
        TeamRef("LAN", 119, "LAD", 104, 203, _PT),
        TeamRef("WAS", 120, "WSH", 104, 204, _ET),
        TeamRef("NYN", 121, "NYM", 104, 204, _ET),
        TeamRef("OAK", 133, "OAK", 103, 200, _PT),
        TeamRef("PIT", 134, "PIT", 104, 205, _ET),
        TeamRef("SDN", 135, "SD", 104, 203, _PT),
        TeamRef("SEA", 136, "SEA", 103, 200, _PT),
        TeamRef("SFN", 137, "SF", 104, 203, _PT),
        TeamRef("SLN", 138, "STL", 104, 205, _CT),
        TeamRef("TBA", 139, "TB", 103, 201, _ET),
        TeamRef("TEX", 140, "TEX", 103, 200, _CT),
        TeamRef("TOR", 141, "TOR", 103, 201, _ET),
        TeamRef("MIN", 142, "MIN", 103, 202, _CT),
        TeamRef("PHI", 143, "PHI", 104, 204, _ET),
        TeamRef("ATL", 144, "ATL", 104, 204, _ET),
        TeamRef("CHA", 145, "CWS", 103, 202, _CT),
        TeamRef("MIA", 146, "MIA", 104, 204, _ET),
        TeamRef("NYA", 147, "NYY", 103, 201, _ET),
        TeamRef("MIL", 158, "MIL", 104, 205, _CT),
    )
}

LEAGUES: Final = {103: "American League", 104: "National League"}
DIVISIONS: Final = {
    200: "American League West",
    201: "American League East",
    202: "American League Central",
    203: "National League West",
    204: "National League East",
    205: "National League Central",
}

VENUES: Final = {
    "ANA01": "Angel Stadium of Anaheim",
    "ARI01": "Chase Field",
    "ATL02": "Turner Field",
    "BAL12": "Oriole Park at Camden Yards",
    "BOS07": "Fenway Park",
    "CHI11": "Wrigley Field",
    "CHI12": "U.S. Cellular Field",
    "CIN09": "Great American Ball Park",
    "CLE08": "Progressive Field",
    "DEN02": "Coors Field",
    "DET05": "Comerica Park",
    "HOU03": "Minute Maid Park",
    "KAN06": "Kauffman Stadium",
    "LOS03": "Dodger Stadium",
    "MIA02": "Marlins Park",
    "MIL06": "Miller Park",
    "MIN04": "Target Field",
    "NYC20": "Citi Field",
    "NYC21": "Yankee Stadium",
    "OAK01": "O.co Coliseum",
    "PHI13": "Citizens Bank Park",
    "PIT08": "PNC Park",
    "SAN02": "Petco Park",
    "SEA03": "Safeco Field",
    "SFO03": "AT&T Park",
    "STL10": "Busch Stadium",
    "STP01": "Tropicana Field",
    "ARL02": "Globe Life Park in Arlington",
    "TOR02": "Rogers Centre",
    "WAS11": "Nationals Park",
}
"""Park names of the 2015-2016 Retrosheet site codes (others are served by their code)."""


def team_ref(code: str) -> TeamRef:
    """The reference data of a Retrosheet team code; unknown codes get neutral values."""
    known = TEAMS.get(code)
    if known is not None:
        return known
    return TeamRef(code, _base36(code) if code.isalnum() else 0, code, 0, 0, _ET)


def team_code_of_id(team_id: int) -> str | None:
    """The Retrosheet code of an MLB team id (or of a ``base36`` fallback id)."""
    for ref in TEAMS.values():
        if ref.mlb_id == team_id:
            return ref.code
    return _to_base36(team_id).upper() if team_id > 0 else None
