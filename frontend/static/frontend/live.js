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
