// The booth dashboard: the game-night grid (#/) and one game's view (#/game/{id}).
//
// It talks to pressbox's HTTP API only (same origin, no other host): REST reads under /v1/
// and Server-sent events for live updates. Anything missing renders as a dash whose
// title says why; nothing here throws to the screen. Updates are keyed by their `seq`
// (the update's position in its game, docs/events.md), so a play that arrives twice is
// kept once and a hole in the sequence is filled from the REST history.

const DASH = "\u2014";
const RETRY_MS = [1000, 2000, 3000, 5000];
const STALE_POLL_MS = 10000;
const MATCHUP_MIN_MS = 4000;
const MATCHUP_SETTLE_MS = 1000;
const MAX_STREAM_GAMES = 50;

// ------------------------------------------------------------------ small helpers

/** Build an element: el("div", {class: "x", text: "y"}, child, ...). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A dash standing for a value that is unavailable; hovering or focusing it tells why. */
function dash(reason) {
  const why = reason || "unavailable";
  return el("span", {
    class: "dash",
    title: why,
    tabindex: 0,
    "aria-label": `unavailable: ${why}`,
    dataset: { reason: why },
    text: DASH,
  });
}

const pct = (p) => `${Math.round(p * 100)}%`;
const signedPct = (p) => `${p >= 0 ? "+" : "\u2212"}${Math.abs(p * 100).toFixed(1)}%`;
const num = (x, digits = 1) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : null);

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"];
  const v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}

function mmss(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function ageText(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function guard(fn) {
  // One bad document must never take the page down: log it and keep what is shown.
  return (...args) => {
    try {
      return fn(...args);
    } catch (err) {
      console.warn("pressbox: render skipped", err);
      return undefined;
    }
  };
}

// ------------------------------------------------------------------ REST

/**
 * GET (or POST) JSON from the API. Never throws: answers {ok, data, reason, status}.
 * A 404, a non-2xx answer, {"available": false}, a timeout or no server all give ok=false
 * with a reason a person can read.
 */
async function api(path, { method = "GET", body, timeoutMs = 6000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(path, {
      method,
      cache: "no-store",
      signal: ctl.signal,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const reason = (data && (data.reason || data.error)) || `HTTP ${res.status}`;
      return { ok: false, status: res.status, reason, data };
    }
    if (data && data.available === false) {
      return { ok: false, status: res.status, reason: data.reason || "unavailable", data };
    }
    return { ok: true, status: res.status, data };
  } catch {
    return { ok: false, status: 0, reason: "the server does not answer", data: null };
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ live stream

/**
 * An EventSource that always comes back. The browser reconnects by itself (sending
 * Last-Event-ID) after a dropped connection; when it gives up (an HTTP error such as a
 * 404 while a restarted server has not caught up yet) a new one is opened after a short
 * wait, carrying the last event id as ?last_event_id=.
 */
class LiveStream {
  constructor(url, { onMessage, onState, onReopen, onRefused }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.onReopen = onReopen || (() => {});
    this.onRefused = onRefused || (() => {});
    this.lastId = null;
    this.attempt = 0;
    this.es = null;
    this.timer = null;
    this.closed = false;
    this.broken = false;
    this.open();
  }

  open() {
    if (this.closed) return;
    let url = this.url;
    if (this.lastId) {
      url += `${url.includes("?") ? "&" : "?"}last_event_id=${encodeURIComponent(this.lastId)}`;
    }
    const es = new EventSource(url);
    this.es = es;
    const handle = (kind) => (event) => {
      if (event.lastEventId) this.lastId = event.lastEventId;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(kind, data);
    };
    es.addEventListener("snapshot", handle("snapshot"));
    es.addEventListener("update", handle("update"));
    es.onopen = () => {
      this.attempt = 0;
      this.onState("live");
      if (this.broken) {
        this.broken = false;
        this.onReopen();
      }
    };
    es.onerror = () => {
      this.broken = true;
      this.onState("reconnecting");
      if (es.readyState === EventSource.CLOSED && !this.closed) {
        const wait = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
        this.attempt += 1;
        this.onRefused(this.attempt);
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.open(), wait);
      }
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
  }
}

function setConn(state) {
  const node = document.getElementById("conn");
  if (!node) return;
  node.dataset.state = state;
  node.textContent = { live: "live", reconnecting: "reconnecting…", connecting: "connecting…", idle: "not live" }[state] || state;
}

// ------------------------------------------------------------------ shared renderers

function teamNames(game, update) {
  const info = update && update.state && update.state.info;
  return {
    home: (info && info.home) || (game && game.home) || "HOME",
    away: (info && info.away) || (game && game.away) || "AWAY",
    homeName: info && info.home_name,
    awayName: info && info.away_name,
  };
}

const STATUS_RANK = { scheduled: 0, live: 1, final: 2 };

/** The game's status: the latest update's, unless the archive's row is further on. */
function statusOf(game, update) {
  const fromUpdate = update && update.state && update.state.status;
  const fromRow = game && game.status;
  if (fromUpdate && fromRow) return STATUS_RANK[fromRow] > STATUS_RANK[fromUpdate] ? fromRow : fromUpdate;
  return fromUpdate || fromRow || "scheduled";
}

function periodText(update, game) {
  const state = update && update.state;
  const status = statusOf(game, update);
  if (status === "final") {
    const innings = state && state.info && state.info.innings;
    const period = state && state.period;
    return period && innings && period !== innings && state.sport === "mlb" ? `Final/${period}` : "Final";
  }
  if (!state) return status === "scheduled" ? "Upcoming" : null;
  const sit = state.situation;
  if (sit && sit.type === "baseball") {
    return `${sit.half === "top" ? "\u25B2 Top" : "\u25BC Bot"} ${sit.inning}`;
  }
  if (sit && sit.type === "football") {
    const q = sit.quarter > 4 ? `OT${sit.quarter > 5 ? sit.quarter - 4 : ""}` : `Q${sit.quarter}`;
    return `${q} \u00B7 ${mmss(sit.clock_seconds)}`;
  }
  return state.clock || (state.period ? `Period ${state.period}` : null);
}

function basesNode(bases, big = false) {
  const on = (i) => Boolean(bases && bases[i]);
  const label = ["first", "second", "third"].filter((_, i) => on(i));
  return el(
    "span",
    {
      class: `bases${big ? " big" : ""}`,
      role: "img",
      "aria-label": label.length ? `runners on ${label.join(", ")}` : "bases empty",
      dataset: { bases: [0, 1, 2].map((i) => (on(i) ? "1" : "0")).join("") },
    },
    el("span", { class: `base b2${on(1) ? " on" : ""}` }),
    el("span", { class: `base b3${on(2) ? " on" : ""}` }),
    el("span", { class: `base b1${on(0) ? " on" : ""}` }),
  );
}

function outsNode(outs) {
  return el(
    "span",
    { class: "outs", "aria-label": `${outs} out${outs === 1 ? "" : "s"}`, dataset: { outs } },
    [0, 1, 2].map((i) => el("span", { class: `dot${i < outs ? " on" : ""}` })),
    el("span", { class: "sr", text: ` ${outs} out${outs === 1 ? "" : "s"}` }),
  );
}

function yardText(sit, names) {
  if (sit.yard_line == null) return null;
  const own = sit.possession === "home" ? names.home : names.away;
  const opp = sit.possession === "home" ? names.away : names.home;
  if (sit.yard_line === 50) return "50";
  return sit.yard_line < 50 ? `${own} ${sit.yard_line}` : `${opp} ${100 - sit.yard_line}`;
}

function situationNodes(update, game, big = false) {
  const state = update && update.state;
  const sit = state && state.situation;
  if (!sit || statusOf(game, update) !== "live") return [];
  const names = teamNames(game, update);
  if (sit.type === "baseball") {
    return [
      basesNode(sit.bases, big),
      outsNode(sit.outs),
      el("span", { class: "count", "aria-label": "count", text: `${sit.balls ?? 0}-${sit.strikes ?? 0}` }),
    ];
  }
  if (sit.type === "football") {
    const poss = sit.possession === "home" ? names.home : sit.possession === "away" ? names.away : null;
    const dd = sit.down ? `${ordinal(sit.down)} & ${sit.distance ?? DASH}` : "No down";
    const spot = yardText(sit, names);
    return [
      poss ? el("span", { class: `chip ${sit.possession}`, title: `${poss} ball` }) : null,
      el("span", { class: "down", text: poss ? `${poss} ball` : "" }),
      el("span", { class: "dd", text: dd }),
      spot ? el("span", { class: "spot", text: `at ${spot}` }) : dash("no yard line in this update"),
    ];
  }
  return [];
}

/** The away | home WP bar, labelled with both percentages as text. */
function wpBar(update, names, why) {
  const wp = update && update.wp;
  if (!wp || typeof wp.home !== "number") {
    const reason = why || (update ? "no win probability in this update" : "no update yet");
    return el(
      "div",
      { class: "wpbar unavailable", dataset: { homeWp: "" } },
      el("span", { text: "WP " }),
      dash(reason),
    );
  }
  const home = Math.max(0, Math.min(1, wp.home));
  const away = 1 - home;
  return el(
    "div",
    {
      class: "wpbar",
      role: "img",
      "aria-label": `win probability: ${names.away} ${pct(away)}, ${names.home} ${pct(home)}`,
      dataset: { homeWp: home.toFixed(4) },
    },
    el("span", { class: "away", style: `width:${away * 100}%`, text: away >= 0.12 ? `${names.away} ${pct(away)}` : "" }),
    el("span", { class: "home", style: `width:${home * 100}%`, text: home >= 0.12 ? `${names.home} ${pct(home)}` : "" }),
  );
}

// ------------------------------------------------------------------ grid view

class GridView {
  constructor(root) {
    this.root = root;
    this.games = new Map(); // id -> {game, update}
    this.cards = new Map(); // id -> card element
    this.stream = null;
    this.streamKey = "";
    this.excluded = new Set();
    this.timers = [];
    this.start();
  }

  async start() {
    this.root.replaceChildren(el("h1", { class: "sr", text: "Game night" }), el("p", { class: "calm", text: "Loading games\u2026" }));
    // Until the first list arrives (a server starting up may shed requests for a moment)
    // ask again every two seconds; after that every fifteen.
    while (!this.closed && !(await this.loadGames())) await new Promise((r) => setTimeout(r, 2000));
    this.timers.push(setInterval(() => this.loadGames(), 15000));
  }

  async loadGames() {
    const answer = await api("/v1/games");
    if (this.closed) return false;
    if (!answer.ok) {
      if (this.games.size === 0) {
        this.root.replaceChildren(
          el("p", { class: "calm" }, "No games yet ", dash(answer.reason), el("span", { class: "dash-reason", text: answer.reason })),
        );
        setConn(answer.status === 0 ? "reconnecting" : "connecting");
      }
      return this.games.size > 0;
    }
    const before = this.shape();
    for (const game of answer.data.games || []) {
      const held = this.games.get(game.game_id);
      if (held) held.game = game;
      else this.games.set(game.game_id, { game, update: null });
    }
    // Rebuild the sections only when a game came or changed section, so that the focus
    // stays where it is; otherwise redraw the cards in place.
    if (this.shape() !== before || !this.root.querySelector(".card")) this.layout();
    else for (const id of this.games.keys()) this.renderCard(id);
    await this.recheckExcluded();
    this.follow();
    return true;
  }

  shape() {
    return [...this.games].map(([id, held]) => `${id}:${statusOf(held.game, held.update)}`).join(",");
  }

  follow() {
    // Finals get no more plays: only live and upcoming games are streamed. A game the
    // stream refuses (no update in a restarted log yet) is left out until it has one.
    const ids = [...this.games.values()]
      .filter((g) => statusOf(g.game, g.update) !== "final" && !this.excluded.has(g.game.game_id))
      .slice(0, MAX_STREAM_GAMES)
      .map((g) => g.game.game_id)
      .sort();
    const key = ids.join(",");
    if (this.excluded.size && !this.recheckTimer) {
      // Ask again soon for the games left out: a restarted server streams them once its
      // processors have caught up.
      this.recheckTimer = setTimeout(async () => {
        this.recheckTimer = null;
        await this.recheckExcluded();
        if (!this.closed) this.follow();
      }, 3000);
    }
    if (key === this.streamKey) return;
    if (this.stream) this.stream.close();
    this.stream = null;
    this.streamKey = key;
    if (!ids.length) {
      setConn(this.excluded.size ? "reconnecting" : "idle");
      return;
    }
    this.stream = new LiveStream(`/v1/stream?games=${encodeURIComponent(key)}`, {
      onMessage: (kind, data) => this.onUpdate(data),
      onState: setConn,
      onReopen: () => this.loadGames(),
      onRefused: (count) => count >= 2 && this.findRefused(ids),
    });
  }

  /** Ask each streamed game's snapshot; leave out those the server has no update for. */
  async findRefused(ids) {
    if (this.probing) return;
    this.probing = true;
    try {
      for (const id of ids) {
        const answer = await api(`/v1/games/${encodeURIComponent(id)}`);
        if (this.closed) return;
        if (!answer.ok && answer.status !== 0 && answer.status !== 503) this.excluded.add(id);
      }
      this.follow();
    } finally {
      this.probing = false;
    }
  }

  async recheckExcluded() {
    for (const id of [...this.excluded]) {
      const answer = await api(`/v1/games/${encodeURIComponent(id)}`);
      if (this.closed) return;
      if (answer.ok) this.excluded.delete(id);
    }
  }

  onUpdate(update) {
    if (!update || !update.game_id) return;
    const held = this.games.get(update.game_id);
    if (!held) return;
    if (update.available === false || !update.state) return;
    if (held.update && held.update.seq >= update.seq) return;
    const before = statusOf(held.game, held.update);
    held.update = update;
    if (statusOf(held.game, update) !== before) {
      this.layout();
      this.follow();
    } else this.renderCard(update.game_id);
  }

  layout() {
    const sections = { live: [], final: [], scheduled: [] };
    for (const [id, held] of this.games) {
      const status = statusOf(held.game, held.update);
      (sections[status] || sections.live).push(id);
    }
    const block = (title, ids, name) =>
      ids.length
        ? el(
            "section",
            { "aria-label": title, dataset: { section: name } },
            el("h2", { text: title }),
            el("div", { class: "grid" }, ids.map((id) => this.renderCard(id, true))),
          )
        : null;
    this.root.replaceChildren(
      el("h1", { class: "sr", text: "Game night" }),
      block("Live", sections.live, "live") || el("p", { class: "calm", text: "No game is live right now." }),
      block("Final", sections.final, "final"),
      block("Upcoming", sections.scheduled, "scheduled"),
    );
  }

  renderCard(id, fresh = false) {
    const held = this.games.get(id);
    const { game, update } = held;
    const names = teamNames(game, update);
    const state = update && update.state;
    const status = statusOf(game, update);
    // The archive's row is further on than the last update held (a restarted in-process
    // log that lacks the game's latest updates): its score and status win.
    const behind = Boolean(update && typeof game.last_seq === "number" && game.last_seq > update.seq);
    const homeScore = state && !behind ? state.home_score : game.home_score;
    const awayScore = state && !behind ? state.away_score : game.away_score;
    const period = periodText(update, game);
    const card = el(
      "a",
      {
        class: `card ${status}`,
        href: `#/game/${encodeURIComponent(id)}`,
        dataset: { game: id, status, seq: update ? update.seq : 0 },
        "aria-label": `${names.away} ${awayScore ?? ""} at ${names.home} ${homeScore ?? ""}, ${period || status}. Open game.`,
      },
      el(
        "div",
        { class: "teams" },
        el("span", { class: "team" }, el("span", { class: "chip away" }), names.away, el("span", { class: "name", text: names.awayName || "" })),
        el("span", { class: "score away", dataset: { score: awayScore ?? "" } }, awayScore ?? dash("no score yet")),
        el("span", { class: "team" }, el("span", { class: "chip home" }), names.home, el("span", { class: "name", text: names.homeName || "" })),
        el("span", { class: "score home", dataset: { score: homeScore ?? "" } }, homeScore ?? dash("no score yet")),
      ),
      el(
        "div",
        { class: "meta" },
        el("span", { class: status === "final" ? "status-final" : "period" }, period ?? dash("no update yet")),
        situationNodes(update, game),
      ),
      status === "scheduled" ? null : behind ? wpBar(null, names, "the latest win probability is not in the live log") : wpBar(update, names),
      el(
        "div",
        { class: "lastplay" },
        behind ? dash("the latest play is not in the live log") : state ? state.last_play || update.text || "" : status === "scheduled" ? game.date || "" : dash("no play yet"),
      ),
    );
    const old = this.cards.get(id);
    this.cards.set(id, card);
    if (!fresh && old && old.isConnected) {
      const hadFocus = document.activeElement === old;
      old.replaceWith(card);
      if (hadFocus) card.focus();
    }
    return card;
  }

  close() {
    this.closed = true;
    if (this.stream) this.stream.close();
    this.timers.forEach(clearInterval);
    clearTimeout(this.recheckTimer);
  }
}

// ------------------------------------------------------------------ game view

function playFromUpdate(u) {
  return {
    seq: u.seq,
    kind: u.kind,
    text: u.text,
    home_score: u.state ? u.state.home_score : null,
    away_score: u.state ? u.state.away_score : null,
    home_wp: u.wp && typeof u.wp.home === "number" ? u.wp.home : null,
    wpa: u.wpa,
    leverage: u.leverage,
    key_play: Boolean(u.key_play),
  };
}

let uPlotLoad = null;
function loadUPlot() {
  // The charting library is installed by the project's set-up into vendor/; without it the
  // chart is a dash, and everything else still works.
  uPlotLoad ??= import("./vendor/uPlot.esm.js").then((m) => m.default).catch(() => null);
  return uPlotLoad;
}

class GameView {
  constructor(root, id) {
    this.root = root;
    this.id = id;
    this.game = null;
    this.latest = null;
    this.plays = new Map(); // seq -> play
    this.wp = new Map(); // seq -> home WP from the archive's series
    this.keyPlays = [];
    this.stale = null;
    this.matchup = { ok: false, loading: true };
    this.matchupAt = 0;
    this.decision = null;
    this.timers = [];
    this.chart = null;
    this.cursorSeq = null;
    this.reconciling = null;
    this.reconcileAgain = false;
    this.lastReceived = null;
    this.connState = "connecting";
    this.build();
    this.start();
  }

  build() {
    this.nodes = {
      scorebug: el("section", { id: "scorebug", class: "scorebug", "aria-label": "Score" }),
      badges: el("div", { id: "badges", class: "badges", role: "status", "aria-live": "polite" }),
      chart: el("div", { id: "wp-chart", class: "chart", tabindex: 0, "aria-label": "Win probability chart. Arrow keys step through the plays." }),
      readout: el("div", { id: "wp-readout", class: "readout", "aria-live": "polite" }),
      keyPlays: el("ol", { id: "key-plays", class: "keyplays" }),
      situation: el("div", { id: "situation", class: "situation-row" }),
      leverage: el("div", { id: "leverage", class: "leverage" }),
      matchup: el("div", { id: "matchup" }),
      decision: el("div", { id: "fourth-down", class: "decision" }),
      plays: el("ol", { id: "plays", class: "plays", "aria-label": "Every play, latest first", tabindex: 0 }),
    };
    const n = this.nodes;
    this.sidePanel = el("section", { class: "panel", id: "matchup-panel" }, el("h3", { text: "Batter vs pitcher" }), n.matchup);
    this.root.replaceChildren(
      el("p", {}, el("a", { href: "#/", text: "\u2190 All games" })),
      n.scorebug,
      n.badges,
      el(
        "div",
        { class: "layout" },
        el(
          "div",
          {},
          el("section", { class: "panel" }, el("h3", { text: "Win probability" }), n.chart, n.readout),
          el("section", { class: "panel" }, el("h3", { text: "Key plays" }), n.keyPlays),
        ),
        el(
          "div",
          {},
          el("section", { class: "panel" }, el("h3", { text: "Situation" }), n.situation),
          el("section", { class: "panel" }, el("h3", { text: "Leverage now" }), n.leverage),
          this.sidePanel,
          el("section", { class: "panel" }, el("h3", { text: "Plays" }), n.plays),
        ),
      ),
    );
    this.renderMatchup();
    n.chart.addEventListener("keydown", (e) => this.onChartKey(e));
    n.chart.addEventListener("mousemove", () => {
      this.pinned = null;
    });
    n.scorebug.replaceChildren(el("p", { class: "calm", text: "Loading game\u2026" }));
  }

  async start() {
    const snap = await api(`/v1/games/${encodeURIComponent(this.id)}`);
    if (this.closed) return;
    if (!snap.ok && snap.status === 404) {
      this.nodes.scorebug.replaceChildren(
        el("p", { class: "calm" }, `No game ${this.id} here (yet). `, dash(snap.reason), " Checking again shortly."),
      );
      this.timers.push(setTimeout(() => this.start(), 5000));
      return;
    }
    if (snap.data) {
      this.game = snap.data.game || null;
      if (snap.data.update) this.accept(snap.data.update, "snapshot");
    }
    if (this.isFinal()) this.finish();
    else this.stream = new LiveStream(`/v1/stream/games/${encodeURIComponent(this.id)}`, {
      onMessage: (kind, data) => this.onMessage(kind, data),
      onState: (state) => {
        this.connState = state;
        setConn(state);
        this.renderBadges();
      },
      onReopen: () => this.reconcile(),
    });
    this.reconcile();
    this.loadKeyPlays();
    this.pollStale();
    this.timers.push(setInterval(() => this.pollStale(), STALE_POLL_MS));
    this.timers.push(setInterval(() => this.renderBadges(), 1000));
    this.timers.push(setInterval(() => this.loadKeyPlays(), 15000));
    // A hole that a refused or failed read left open is tried again, also after the game
    // has ended and no update comes to trigger it.
    this.timers.push(setInterval(() => this.hasHoles() && this.reconcile(), 5000));
    this.render();
  }

  isFinal() {
    return statusOf(this.game, this.latest) === "final";
  }

  /** A final game gets no more plays: stop listening (a restarted log may not know it). */
  finish() {
    if (this.stream) this.stream.close();
    this.stream = null;
    this.connState = "idle";
    setConn("idle");
  }

  onMessage(kind, data) {
    if (!data || data.available === false || !data.state) return;
    if (data.game_id !== this.id) return;
    this.accept(data, kind);
    if (this.isFinal()) this.finish();
    this.render();
  }

  /** Take one update (from the stream or the snapshot); fill holes from the history. */
  accept(update, kind) {
    this.lastReceived = Date.now();
    if (!this.latest || update.seq >= this.latest.seq) this.latest = update;
    if (!this.plays.has(update.seq)) this.plays.set(update.seq, playFromUpdate(update));
    // A hole below the newest seq (a snapshot after a gap, a restarted server): fetch it.
    if (this.hasHoles()) this.reconcile();
    if (kind === "update") this.maybeMatchup();
    if (kind === "update" && (update.key_play || this.keyPlays.length === 0)) this.loadKeyPlays();
  }

  hasHoles() {
    return Boolean(this.latest) && this.plays.size < this.latest.seq;
  }

  async reconcile() {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = (async () => {
      do {
        this.reconcileAgain = false;
        await this.fillHistory();
      } while (this.reconcileAgain && !this.closed);
    })();
    try {
      await this.reconciling;
    } finally {
      this.reconciling = null;
    }
  }

  async fillHistory() {
    // `since` counts positions in the live log, which restart at 1 with an in-process log;
    // the whole game (a few hundred plays at most) is read and merged by each play's seq.
    let since = 0;
    for (let page = 0; page < 20; page += 1) {
      const answer = await api(`/v1/games/${encodeURIComponent(this.id)}/plays?since=${since}&limit=1000`);
      if (this.closed || !answer.ok) break;
      const plays = answer.data.plays || [];
      for (const p of plays) if (!this.plays.has(p.seq)) this.plays.set(p.seq, { ...p, key_play: Boolean(p.key_play) });
      if (plays.length < 1000) break;
      since = plays[plays.length - 1].seq;
    }
    const series = await api(`/v1/games/${encodeURIComponent(this.id)}/wp`);
    if (this.closed) return;
    if (series.ok) for (const point of series.data.points || []) this.wp.set(point.seq, point.home);
    this.render();
  }

  async loadKeyPlays() {
    const now = Date.now();
    if (this.keyAt && now - this.keyAt < 1500) return;
    this.keyAt = now;
    const answer = await api(`/v1/games/${encodeURIComponent(this.id)}/key-plays?n=8`);
    if (this.closed) return;
    this.keyPlays = answer.ok ? answer.data.plays || [] : [];
    this.keyReason = answer.ok ? null : answer.reason;
    this.renderKeyPlays();
    this.renderChart();
  }

  async pollStale() {
    const answer = await api(`/v1/graphics/${encodeURIComponent(this.id)}`);
    if (this.closed) return;
    this.stale = answer.ok && answer.data.stale ? { age: answer.data.age_s, reason: answer.data.reason } : null;
    this.renderBadges();
  }

  maybeMatchup(force = false) {
    if (!this.latest || this.latest.sport !== "mlb") return;
    if (force) {
      this.readMatchup();
      return;
    }
    if (this.matchupTimer) return;
    // Ingest fetches the matchup when the play is published, so it lands a moment after
    // the update: read a little later, and at most once per MATCHUP_MIN_MS. The last
    // update of a burst is always followed by a read.
    const now = Date.now();
    const due = Math.max(now + MATCHUP_SETTLE_MS, this.matchupAt + MATCHUP_MIN_MS);
    this.matchupTimer = setTimeout(() => {
      this.matchupTimer = null;
      if (!this.closed) this.readMatchup();
    }, due - now);
  }

  async readMatchup() {
    const now = Date.now();
    this.matchupAt = now;
    const answer = await api(`/v1/games/${encodeURIComponent(this.id)}/matchup`);
    if (this.closed) return;
    if (answer.ok) this.matchup = answer;
    else if (answer.status === 404 && answer.data && answer.data.error === "unknown_game") this.matchup = { ok: false, reason: "matchup data unavailable: unknown game" };
    else if (answer.status === 404) {
      // No such endpoint on this server: ask again once a minute, not on every play.
      this.matchup = { ok: false, reason: "matchup data unavailable (no matchup endpoint on this server)" };
      this.matchupAt = now + 60000 - MATCHUP_MIN_MS;
    }
    else this.matchup = { ok: false, reason: `matchup data unavailable: ${answer.reason}` };
    this.renderMatchup();
  }

  async maybeDecision() {
    const u = this.latest;
    const sit = u && u.state && u.state.situation;
    if (!sit || sit.type !== "football" || sit.down !== 4 || u.state.status !== "live") {
      this.decision = null;
      this.renderDecision();
      return;
    }
    if (this.decisionSeq === u.seq) return;
    this.decisionSeq = u.seq;
    const body = {
      quarter: Math.min(5, Math.max(1, sit.quarter)),
      clock_seconds: sit.clock_seconds,
      possession: sit.possession || "home",
      down: sit.down,
      distance: sit.distance,
      yard_line: sit.yard_line,
      home_score: u.state.home_score,
      away_score: u.state.away_score,
      home_timeouts: sit.home_timeouts ?? 3,
      away_timeouts: sit.away_timeouts ?? 3,
    };
    const answer = await api(`/v1/wp/${encodeURIComponent(u.sport)}`, { method: "POST", body });
    if (this.closed) return;
    this.decision = answer.ok && answer.data.decision ? { ok: true, data: answer.data.decision } : { ok: false, reason: answer.ok ? "no decision for this state" : answer.reason };
    this.renderDecision();
  }

  // -------------------------------------------------------------- rendering

  render() {
    if (this.closed || this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      guard(() => this.renderScorebug())();
      guard(() => this.renderBadges())();
      guard(() => this.renderSituation())();
      guard(() => this.renderPlays())();
      guard(() => this.renderChart())();
      guard(() => this.renderKeyPlays())();
      guard(() => this.renderSide())();
    });
  }

  renderScorebug() {
    const u = this.latest;
    const names = teamNames(this.game, u);
    const state = u && u.state;
    const homeScore = state ? state.home_score : this.game && this.game.home_score;
    const awayScore = state ? state.away_score : this.game && this.game.away_score;
    const wp = u && u.wp;
    this.nodes.scorebug.replaceChildren(
      el("div", { class: "side away" }, el("span", { class: "chip away" }), el("span", {}, names.away, el("br"), el("span", { class: "name", text: names.awayName || "" }))),
      el("div", { class: "big", id: "away-score", dataset: { score: awayScore ?? "" } }, awayScore ?? dash("no score yet")),
      el(
        "div",
        { class: "mid" },
        periodText(u, this.game) ?? dash("no update yet"),
        el("small", {}, wp && typeof wp.home === "number" ? `${names.home} ${pct(wp.home)} to win` : dash("no win probability yet")),
      ),
      el("div", { class: "big", id: "home-score", dataset: { score: homeScore ?? "" } }, homeScore ?? dash("no score yet")),
      el("div", { class: "side home" }, el("span", {}, names.home, el("br"), el("span", { class: "name", text: names.homeName || "" })), el("span", { class: "chip home" })),
    );
    this.nodes.scorebug.dataset.seq = u ? u.seq : 0;
    this.nodes.scorebug.dataset.homeWp = wp && typeof wp.home === "number" ? wp.home.toFixed(4) : "";
  }

  renderBadges() {
    const badges = [];
    const u = this.latest;
    const emitted = u && (u.ts_emit || u.ts_ingest);
    const age = emitted ? Math.max(0, Date.now() / 1000 - emitted) : null;
    if (u && u.state && u.state.status === "final") badges.push(el("span", { class: "badge final", text: "Final" }));
    if (this.stale) {
      const shown = this.stale.age ?? age;
      badges.push(
        el("span", { class: "badge stale", id: "stale-badge", title: this.stale.reason || "no new data from the source", text: `Stale \u00B7 data ${shown != null ? ageText(shown) : DASH} old` }),
      );
    } else if (this.connState === "reconnecting" && this.lastReceived) {
      badges.push(
        el("span", { class: "badge stale", id: "stale-badge", title: "the live connection dropped; reconnecting by itself", text: `Reconnecting \u00B7 data ${age != null ? ageText(age) : DASH} old` }),
      );
    }
    this.nodes.badges.replaceChildren(...badges);
  }

  renderSituation() {
    const u = this.latest;
    const nodes = situationNodes(u, this.game, true);
    const status = statusOf(this.game, u);
    if (nodes.length) this.nodes.situation.replaceChildren(...nodes);
    else if (status === "final") this.nodes.situation.replaceChildren(el("span", { class: "calm", text: "Game over" }));
    else this.nodes.situation.replaceChildren(dash(u ? "no situation in this update" : "no update yet"));
    const lev = u && num(u.leverage, 2);
    if (lev === null || status === "final") {
      this.nodes.leverage.replaceChildren(status === "final" ? el("span", { class: "calm", text: "Game over" }) : dash("no leverage in this update"));
    } else {
      const l = u.leverage;
      const word = l >= 2 ? "high" : l >= 0.85 ? "medium" : "low";
      this.nodes.leverage.replaceChildren(lev, el("small", { text: `${word} (1.00 = average)` }));
    }
  }

  sortedPlays() {
    return [...this.plays.values()].sort((a, b) => a.seq - b.seq);
  }

  renderPlays() {
    const plays = this.sortedPlays();
    const list = this.nodes.plays;
    const keep = list.scrollTop;
    const names = teamNames(this.game, this.latest);
    const rows = [];
    const max = plays.length ? plays[plays.length - 1].seq : 0;
    for (let seq = max; seq >= 1; seq -= 1) {
      const p = this.plays.get(seq);
      if (!p) {
        rows.push(el("li", { class: "missing", dataset: { seq, missing: "1" } }, el("span", { class: "seq", text: seq }), dash("this play is not in the live log any more"), el("span")));
        continue;
      }
      rows.push(
        el(
          "li",
          { class: p.key_play ? "key" : "", dataset: { seq: p.seq } },
          el("span", { class: "seq", text: p.seq }),
          el("span", { class: "text", text: p.text }),
          el("span", { class: "wpa" + (typeof p.wpa === "number" ? (p.wpa >= 0 ? " home" : " away") : "") }, typeof p.wpa === "number" ? `${p.wpa >= 0 ? names.home : names.away} ${signedPct(Math.abs(p.wpa))}` : ""),
        ),
      );
    }
    list.dataset.count = rows.length;
    if (!rows.length) {
      const known = this.game && this.game.last_seq > 0;
      rows.push(el("li", {}, dash(known ? "this game's plays are not in the live log (the server was restarted); the chart comes from the archive" : "no play yet")));
    }
    list.replaceChildren(...rows);
    list.scrollTop = keep;
  }

  chartData() {
    const seqs = new Set([...this.wp.keys(), ...[...this.plays.values()].filter((p) => p.home_wp != null).map((p) => p.seq)]);
    const xs = [...seqs].sort((a, b) => a - b);
    const key = new Set(this.keyPlays.map((p) => p.seq));
    for (const p of this.plays.values()) if (p.key_play) key.add(p.seq);
    const ys = xs.map((s) => {
      const p = this.plays.get(s);
      const v = p && p.home_wp != null ? p.home_wp : this.wp.get(s);
      return v == null ? null : v * 100;
    });
    const marks = xs.map((s, i) => (key.has(s) ? ys[i] : null));
    return [xs, ys, marks];
  }

  async renderChart() {
    const data = this.chartData();
    const uPlot = await loadUPlot();
    if (this.closed) return;
    if (!uPlot) {
      this.nodes.chart.replaceChildren(dash("chart library not installed (run the project's set-up)"));
      return;
    }
    if (!data[0].length) {
      if (!this.chart) this.nodes.chart.replaceChildren(dash("no win probability yet"));
      return;
    }
    const names = teamNames(this.game, this.latest);
    this.chartX = data[0];
    Object.assign(this.nodes.chart.dataset, { points: data[0].length, first: data[0][0], last: data[0][data[0].length - 1] });
    if (this.cursorSeq == null) this.showPlay(data[0][data[0].length - 1]);
    if (this.chart) {
      // Keep the chosen play under the cursor while new plays rescale the chart (setData
      // moves the cursor to whatever play is now under its pixel).
      this.chart.setData(data);
      if (this.pinned != null) {
        // uPlot redraws in a microtask queued by setData; point again after it.
        const again = () => this.pinned != null && this.pointAt(this.pinned);
        queueMicrotask(again);
        requestAnimationFrame(again);
      }
      return;
    }
    this.nodes.chart.replaceChildren();
    const width = Math.max(320, this.nodes.chart.clientWidth || 800);
    const axis = { stroke: "#b8c2cc", grid: { stroke: "#2a313a", width: 1 }, ticks: { stroke: "#3a4350" }, font: "16px system-ui, sans-serif" };
    this.chart = new uPlot(
      {
        width,
        height: 300,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 12 } },
        scales: { x: { time: false }, y: { range: [0, 100] } },
        axes: [
          { ...axis, label: "play", labelFont: "16px system-ui, sans-serif", incrs: [1, 2, 5, 10, 20, 25, 50, 100] },
          { ...axis, values: (u, ticks) => ticks.map((t) => `${t}%`), splits: () => [0, 25, 50, 75, 100], size: 64 },
        ],
        series: [
          { label: "play" },
          { label: `${names.home} win probability`, stroke: "#56b4e9", width: 3, fill: "rgba(86,180,233,0.12)", points: { show: false } },
          { label: "key play", stroke: "#f0e442", width: 0, paths: () => null, points: { show: true, size: 14, width: 3, stroke: "#f0e442", fill: "#0b0d10" } },
        ],
        hooks: {
          setCursor: [(u) => this.onCursor(u.cursor.idx)],
          draw: [
            (u) => {
              // The even line: above it the home team is favoured.
              const ctx = u.ctx;
              const y = u.valToPos(50, "y", true);
              ctx.save();
              ctx.strokeStyle = "#b8c2cc";
              ctx.setLineDash([6, 6]);
              ctx.beginPath();
              ctx.moveTo(u.bbox.left, y);
              ctx.lineTo(u.bbox.left + u.bbox.width, y);
              ctx.stroke();
              ctx.restore();
            },
          ],
        },
      },
      data,
      this.nodes.chart,
    );
    this.resize = () => this.chart && this.chart.setSize({ width: Math.max(320, this.nodes.chart.clientWidth), height: 300 });
    window.addEventListener("resize", this.resize);
  }

  /** Show the play under the chart's cursor (hover, keyboard, or a focused key play). */
  onCursor(idx) {
    // A play chosen from the keyboard or the key-plays list stays shown until the mouse
    // moves over the chart again.
    if (this.pinned != null || idx == null || !this.chartX) return;
    const seq = this.chartX[idx];
    this.cursorSeq = seq;
    this.showPlay(seq);
  }

  showPlay(seq) {
    const names = teamNames(this.game, this.latest);
    const p = this.plays.get(seq) || this.keyPlays.find((k) => k.seq === seq);
    const wp = p && p.home_wp != null ? p.home_wp : this.wp.get(seq);
    const parts = [el("b", { text: `Play ${seq}` }), ": "];
    parts.push(p ? p.text : dash("this play's text is not in the live log"));
    parts.push(el("br"));
    parts.push(`${names.home} WP `, wp != null ? el("b", { text: pct(wp) }) : dash("no WP for this play"));
    parts.push(" \u00B7 WPA ", p && typeof p.wpa === "number" ? el("b", { text: `${signedPct(p.wpa)} ${names.home}` }) : dash("no WPA for this play"));
    parts.push(" \u00B7 leverage ", p && typeof p.leverage === "number" ? el("b", { text: p.leverage.toFixed(2) }) : dash("no leverage for this play"));
    this.nodes.readout.replaceChildren(...parts);
    this.nodes.readout.dataset.seq = seq;
  }

  pointAt(seq) {
    if (!this.chart || !this.chartX) return;
    const idx = this.chartX.indexOf(seq);
    if (idx < 0) return;
    const y = this.chart.data[1][idx];
    this.pinned = seq;
    this.chart.setCursor({ left: this.chart.valToPos(seq, "x"), top: this.chart.valToPos(y ?? 50, "y") });
    this.cursorSeq = seq;
    this.showPlay(seq);
  }

  onChartKey(event) {
    if (!this.chartX || !this.chartX.length) return;
    let idx = this.cursorSeq == null ? this.chartX.length - 1 : this.chartX.indexOf(this.cursorSeq);
    if (event.key === "ArrowLeft") idx = Math.max(0, idx - 1);
    else if (event.key === "ArrowRight") idx = Math.min(this.chartX.length - 1, idx + 1);
    else if (event.key === "Home") idx = 0;
    else if (event.key === "End") idx = this.chartX.length - 1;
    else return;
    event.preventDefault();
    this.pointAt(this.chartX[idx]);
  }

  renderKeyPlays() {
    const names = teamNames(this.game, this.latest);
    const list = this.keyPlays.slice().sort((a, b) => a.seq - b.seq);
    // Rebuild only when the list changed, and keep the focus on the play that had it.
    const signature = `${names.home}|${this.keyReason}|${list.map((p) => `${p.seq}:${p.wpa}`).join(",")}`;
    if (signature === this.keySignature) return;
    this.keySignature = signature;
    const focused = this.nodes.keyPlays.contains(document.activeElement) ? document.activeElement.closest("li")?.dataset.seq : null;
    if (!list.length) {
      this.nodes.keyPlays.replaceChildren(el("li", {}, dash(this.keyReason || "no key play yet")));
      return;
    }
    this.nodes.keyPlays.replaceChildren(
      ...list.map((p) =>
        el(
          "li",
          { dataset: { seq: p.seq } },
          el(
            "button",
            {
              class: "kp",
              type: "button",
              "aria-label": `Play ${p.seq}: ${p.text}. WPA ${typeof p.wpa === "number" ? signedPct(p.wpa) : "unknown"} for ${names.home}.`,
              onfocus: () => this.pointAt(p.seq),
              onmouseenter: () => this.pointAt(p.seq),
              onclick: () => this.pointAt(p.seq),
            },
            el("span", { class: "seq", text: p.seq }),
            el("span", { class: "text", text: p.text }),
            el("span", { class: "wpa " + (typeof p.wpa === "number" && p.wpa >= 0 ? "home" : "away") }, typeof p.wpa === "number" ? `${p.wpa >= 0 ? names.home : names.away} ${signedPct(Math.abs(p.wpa))}` : dash("no WPA")),
          ),
        ),
      ),
    );
    if (focused) {
      const again = this.nodes.keyPlays.querySelector(`li[data-seq="${focused}"] .kp`);
      if (again) again.focus({ preventScroll: true });
    }
  }

  renderSide() {
    const sport = this.latest ? this.latest.sport : this.game && this.game.sport;
    const football = sport === "nfl" || sport === "ncaaf";
    const title = this.sidePanel.querySelector("h3");
    if (football) {
      title.textContent = "Fourth down";
      if (this.sidePanel.lastChild !== this.nodes.decision) this.sidePanel.replaceChildren(title, this.nodes.decision);
      this.maybeDecision();
    } else {
      title.textContent = "Batter vs pitcher";
      // Rebuilt only when an answer comes (maybeMatchup), so a focused dash keeps its focus.
      if (this.sidePanel.lastChild !== this.nodes.matchup) {
        this.sidePanel.replaceChildren(title, this.nodes.matchup);
        this.renderMatchup();
      }
      if (!this.matchupAt) this.maybeMatchup(true);
    }
  }

  renderMatchup() {
    const m = this.matchup;
    const node = this.nodes.matchup;
    if (m.loading) {
      node.replaceChildren(el("p", { class: "calm", text: "Loading\u2026" }));
      return;
    }
    if (!m.ok) {
      node.replaceChildren(
        el("dl", { class: "kv" }, el("dt", { text: "Batter" }), el("dd", {}, dash(m.reason)), el("dt", { text: "Pitcher" }), el("dd", {}, dash(m.reason)), el("dt", { text: "Head to head" }), el("dd", {}, dash(m.reason))),
        el("p", { class: "dash-reason", text: m.reason }),
      );
      return;
    }
    const d = m.data;
    const field = (value, why) => (value === null || value === undefined || value === "" ? dash(why) : String(value));
    const batting = (s) => (s ? [s.avg, s.obp, s.slg].every((x) => x != null) ? `${s.avg}/${s.obp}/${s.slg}` + (s.hr != null ? `, ${s.hr} HR` : "") + (s.pa != null ? `, ${s.pa} PA` : "") : null : null);
    const pitching = (s) => (s ? [s.era != null ? `${s.era} ERA` : null, s.ip != null ? `${s.ip} IP` : null, s.so != null ? `${s.so} K` : null, s.bb != null ? `${s.bb} BB` : null].filter(Boolean).join(", ") || null : null);
    const h2h = d.head_to_head || null;
    const h2hText = h2h && h2h.ab != null && h2h.h != null ? `${h2h.h}-for-${h2h.ab}` + (h2h.hr ? `, ${h2h.hr} HR` : "") + (h2h.bb ? `, ${h2h.bb} BB` : "") + (h2h.so ? `, ${h2h.so} K` : "") : null;
    // A stale value is shown (stale beats nothing) with its age; the reason is on hover.
    const staleNote = (part) => (part && part.stale ? el("span", { class: "stale-note", title: part.reason || "refresh failed", text: typeof part.age_s === "number" ? `stale \u00b7 ${ageText(part.age_s)}` : "stale" }) : null);
    const who = (person, role) => el("span", { class: `${role}-name` }, field(person.name, `no ${role} known`), person.team ? el("span", { class: "name", text: ` ${person.team}` }) : null);
    const b = d.batter || {};
    const p = d.pitcher || {};
    let h2hNode;
    if (h2hText) h2hNode = el("span", { class: "h2h-line", text: h2hText });
    else if (h2h && h2h.reason === "first meeting") h2hNode = el("span", { class: "h2h-line first-meeting", text: "First meeting" });
    else h2hNode = dash((h2h && h2h.reason) || "no head-to-head history");
    node.replaceChildren(
      el(
        "dl",
        { class: "kv", dataset: { batter: b.id || "", pitcher: p.id || "" } },
        el("dt", { text: "Batter" }),
        el("dd", {}, who(b, "batter"), " ", el("span", { class: "season-line batter-line" }, field(batting(b.season), b.reason || "no season line to date")), " ", staleNote(b)),
        el("dt", { text: "Pitcher" }),
        el("dd", {}, who(p, "pitcher"), " ", el("span", { class: "season-line pitcher-line" }, field(pitching(p.season), p.reason || "no season line to date")), " ", staleNote(p)),
        el("dt", { text: "Head to head" }),
        el("dd", {}, h2hNode, " ", staleNote(h2h)),
      ),
    );
  }

  renderDecision() {
    const node = this.nodes.decision;
    const d = this.decision;
    if (!d) {
      node.replaceChildren(el("p", { class: "calm", text: "Not a fourth down." }));
      return;
    }
    if (!d.ok) {
      node.replaceChildren(el("p", {}, "Fourth-down call ", dash(d.reason)));
      return;
    }
    const options = [
      ["go", "Go for it", d.data.go],
      ["punt", "Punt", d.data.punt],
      ["field_goal", "Field goal", d.data.field_goal],
    ];
    node.replaceChildren(
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", { text: "Option" }), el("th", { text: "Offense WP" }))),
        el(
          "tbody",
          {},
          options.map(([key, label, wp]) =>
            el(
              "tr",
              { class: d.data.recommendation === key ? "call" : "", dataset: { option: key } },
              el("td", { text: d.data.recommendation === key ? `\u2714 ${label}` : label }),
              el("td", {}, typeof wp === "number" ? pct(wp) : dash(key === "punt" ? "no punt this close" : "out of field-goal range")),
            ),
          ),
        ),
      ),
      el("p", {}, "Call: ", el("b", { text: (options.find((o) => o[0] === d.data.recommendation) || [null, String(d.data.recommendation)])[1] }), typeof d.data.margin === "number" ? ` by ${(d.data.margin * 100).toFixed(1)} WP points` : ""),
    );
  }

  close() {
    this.closed = true;
    if (this.stream) this.stream.close();
    clearTimeout(this.matchupTimer);
    this.timers.forEach((t) => {
      clearInterval(t);
      clearTimeout(t);
    });
    if (this.resize) window.removeEventListener("resize", this.resize);
    if (this.chart) this.chart.destroy();
  }
}

// ------------------------------------------------------------------ routing

let current = null;

function route() {
  const main = document.getElementById("main");
  if (current) current.close();
  const match = location.hash.match(/^#\/game\/([^/?#]+)/);
  try {
    current = match ? new GameView(main, decodeURIComponent(match[1])) : new GridView(main);
  } catch (err) {
    console.warn("pressbox: view failed", err);
    main.replaceChildren(el("p", { class: "calm" }, "This view is unavailable ", dash(String(err))));
  }
  document.title = match ? `pressbox \u00B7 ${decodeURIComponent(match[1])}` : "pressbox \u00B7 game night";
}

function tick() {
  const node = document.getElementById("wallclock");
  if (node) node.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

window.addEventListener("unhandledrejection", (event) => {
  console.warn("pressbox: unhandled", event.reason);
  event.preventDefault();
});
window.addEventListener("hashchange", route);
setInterval(tick, 1000);
tick();
route();
