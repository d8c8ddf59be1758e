// Small DOM helpers: every text goes in as a text node (never as HTML), so job data cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Creates an element: `h("a", { href: "#/x", class: "link" }, "text", child)`.
 * Attribute values false/undefined/null are left out; `on<event>` keys add listeners.
 */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A text hidden on screen but read by screen readers. */
export function srOnly(text) {
  return h("span", { class: "visually-hidden" }, text);
}

/**
 * Runs `fn` now and again `intervalMs` after each run ends (never two at once), skipping runs
 * while the tab is hidden. `stop()` ends it; `now()` runs it at once (or right after the run in flight).
 */
export function poll(fn, intervalMs) {
  let timer;
  let stopped = false;
  let running = false;
  let again = false;
  const tick = async () => {
    clearTimeout(timer);
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (document.hidden) {
      timer = setTimeout(tick, intervalMs);
      return;
    }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(tick, again ? 0 : intervalMs);
      again = false;
    }
  };
  const onVisible = () => {
    if (!document.hidden) void tick();
  };
  document.addEventListener("visibilitychange", onVisible);
  void tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    },
    now: () => void tick(),
  };
}
