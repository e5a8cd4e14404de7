// The live socket: one small ES module. Pages work without it; with it, they
// receive {id, type, data} frames and re-dispatch each as a DOM event
// ("live:<type>") on document, so page scripts stay decoupled from the socket.
const LAST_ID_KEY = "timebank.live.lastId";

function labels() {
  const t = document.getElementById("live-labels");
  return {
    connected: t ? t.dataset.connected : "live: connected",
    disconnected: t ? t.dataset.disconnected : "live: reconnecting",
  };
}

function setStatus(text, state) {
  const el = document.querySelector("[data-live-status]");
  if (el) {
    el.textContent = text;
    el.dataset.state = state;
  }
  document.documentElement.dataset.live = state;
}

function appendToFeed(frame) {
  const feed = document.querySelector("[data-live-feed]");
  if (!feed) return;
  const li = document.createElement("li");
  li.textContent = `#${frame.id} ${frame.type}`;
  feed.prepend(li);
  while (feed.children.length > 20) feed.lastElementChild.remove();
}

export function connect() {
  const path = document.body.dataset.wsPath || "/ws/live/";
  let delay = 500;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = sessionStorage.getItem(LAST_ID_KEY);
    const url = `${scheme}://${location.host}${path}${since ? `?since=${since}` : ""}`;
    const ws = new WebSocket(url);
    ws.addEventListener("open", () => {
      delay = 500;
      setStatus(labels().connected, "open");
    });
    ws.addEventListener("message", (msg) => {
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (typeof frame.id === "number") {
        sessionStorage.setItem(LAST_ID_KEY, String(frame.id));
        appendToFeed(frame);
      }
      document.dispatchEvent(new CustomEvent(`live:${frame.type}`, { detail: frame }));
      document.dispatchEvent(new CustomEvent("live:frame", { detail: frame }));
    });
    ws.addEventListener("close", (ev) => {
      setStatus(labels().disconnected, "closed");
      if (ev.code === 4401) return; // credential rejected: reconnecting will not help
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  open();
}

connect();

// Regions marked data-refresh-on="type1 type2" are re-fetched from the server
// and swapped in place when such an event arrives: the server stays the only
// truth, and a plain reload shows the same thing.
const pending = new Map();
async function refreshRegion(el) {
  const key = el.id;
  if (!key || pending.get(key)) return;
  pending.set(key, true);
  try {
    const resp = await fetch(location.href, { headers: { "X-Live-Refresh": "1" }, credentials: "same-origin" });
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = doc.getElementById(key);
    if (fresh) {
      el.innerHTML = fresh.innerHTML;
      startCountdowns(el);
    }
  } finally {
    pending.delete(key);
  }
}

document.addEventListener("live:frame", (ev) => {
  const type = ev.detail.type;
  document.querySelectorAll("[data-refresh-on]").forEach((el) => {
    const types = el.dataset.refreshOn.split(/\s+/);
    if (types.includes(type) || types.some((t) => t.endsWith(".*") && type.startsWith(t.slice(0, -1)))) {
      refreshRegion(el);
    }
  });
  if (type === "shift.seats_changed") {
    const d = ev.detail.data;
    document.querySelectorAll(`[data-shift-seats="${d.shift}"]`).forEach((el) => {
      el.textContent = String(d.seats_left);
    });
  }
});

// <time data-countdown="ISO"> shows minutes:seconds left, for offers on hold.
function startCountdowns(root) {
  root.querySelectorAll("time[data-countdown]").forEach((el) => {
    const until = Date.parse(el.dataset.countdown);
    const tick = () => {
      const left = Math.max(0, Math.round((until - Date.now()) / 1000));
      el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left > 0) setTimeout(tick, 1000);
    };
    tick();
  });
}
startCountdowns(document);
