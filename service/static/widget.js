/*
 * ossqa docs-site widget.
 *
 *   <script src="https://HOST/widget.js" data-project="NAME" async></script>
 *
 * Optional attributes on the tag: data-api (API base, default: where this file came from),
 * data-title, data-placeholder, data-theme ("light" | "dark"; default: follow the host page),
 * data-accent (a CSS colour).
 *
 * Defines <ossqa-widget project="NAME" api="https://HOST"> (shadow DOM) and mounts one.
 * Safety: text from documents and from the model is only ever put in the page through
 * textContent / createElement; links are kept only for http(s) and mailto URLs. No innerHTML,
 * no secrets: the API decides which sites may use which project (ALLOWED_ORIGINS).
 */
(() => {
  "use strict";

  const TAG = "ossqa-widget";
  if (window.customElements.get(TAG)) return; // the tag was included twice

  const script =
    document.currentScript || document.querySelector('script[src*="widget.js"][data-project]');
  const scriptUrl = new URL(script && script.src ? script.src : "/widget.js", location.href);
  const DEFAULT_API = new URL(".", scriptUrl).href.replace(/\/+$/, "");
  const MAX_QUESTION = 2000;

  // ---------------------------------------------------------------- safe rendering helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  /** An absolute http(s)/mailto URL, or "" (javascript:, data:, relative junk are dropped). */
  function safeHref(url) {
    if (typeof url !== "string" || !url.trim()) return "";
    try {
      const parsed = new URL(url.trim());
      return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : "";
    } catch (_) {
      return "";
    }
  }

  function link(href, label, className) {
    const safe = safeHref(href);
    if (!safe) return el("span", { className: className || "", text: label });
    return el("a", {
      href: safe,
      target: "_blank",
      rel: "noopener noreferrer nofollow",
      className: className || "",
      text: label,
    });
  }

  const INLINE = new RegExp(
    [
      "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)", // 1,2 code span
      "\\[([^\\]\\n]+)\\]\\(([^)\\s]+)(?:\\s+\"[^\"\\n]*\")?\\)", // 3,4 [text](url)
      "\\*\\*([^*\\n]+?)\\*\\*", // 5 bold
      "(?<![\\w])__([^_\\n]+?)__(?![\\w])", // 6 bold (not inside words: snake__case)
      "\\*([^*\\s][^*\\n]*?)\\*", // 7 em
      "(?<![\\w])_([^_\\s][^_\\n]*?)_(?![\\w])", // 8 em
      "\\[(\\d{1,3}(?:\\s*,\\s*\\d{1,3})*)\\]", // 9 citation marker(s)
      "<(https?://[^>\\s]+)>", // 10 autolink
      "(https?://[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?'\"])", // 11 bare URL
    ].join("|"),
    "g",
  );

  /** Inline markdown into `parent`, as text nodes and elements only. */
  function renderInline(text, parent, cites) {
    const re = new RegExp(INLINE.source, "g"); // own lastIndex: this function recurses
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      last = re.lastIndex;
      if (m[2] !== undefined) parent.append(el("code", { text: m[2] }));
      else if (m[3] !== undefined) {
        const a = link(m[4], "", "");
        renderInline(m[3], a, cites);
        parent.append(a);
      } else if (m[5] !== undefined || m[6] !== undefined) {
        const b = el("strong");
        renderInline(m[5] !== undefined ? m[5] : m[6], b, cites);
        parent.append(b);
      } else if (m[7] !== undefined || m[8] !== undefined) {
        const i = el("em");
        renderInline(m[7] !== undefined ? m[7] : m[8], i, cites);
        parent.append(i);
      } else if (m[9] !== undefined) {
        const nums = m[9].split(",").map((s) => parseInt(s.trim(), 10));
        const sup = el("sup", { className: "cite" });
        nums.forEach((n, k) => {
          const c = cites.get(n);
          if (k) sup.append(document.createTextNode(","));
          if (c && safeHref(c.url)) {
            const a = link(c.url, `[${n}]`, "");
            a.setAttribute("title", c.title || c.path || "");
            a.setAttribute("aria-label", `source ${n}: ${c.title || c.path || ""}`);
            sup.append(a);
          } else sup.append(document.createTextNode(`[${n}]`));
        });
        parent.append(sup);
      } else if (m[10] !== undefined) parent.append(link(m[10], m[10], ""));
      else if (m[11] !== undefined) parent.append(link(m[11], m[11], ""));
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  }

  /** Block markdown (fences, headings, lists, quotes, paragraphs) into a fragment. */
  function renderMarkdown(src, cites) {
    const out = document.createDocumentFragment();
    const lines = String(src || "").replace(/\r\n?/g, "\n").split("\n");
    let para = [];
    let list = null;
    const flushPara = () => {
      if (!para.length) return;
      const p = el("p");
      para.forEach((line, k) => {
        if (k) p.append(el("br"));
        renderInline(line, p, cites);
      });
      out.append(p);
      para = [];
    };
    const flushList = () => {
      if (list) out.append(list);
      list = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = /^\s*(```+|~~~+)\s*([\w+-]*)/.exec(line);
      if (fence) {
        flushPara();
        flushList();
        const body = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) body.push(lines[i]);
        const code = el("code", { text: body.join("\n") });
        if (fence[2]) code.setAttribute("data-lang", fence[2]);
        out.append(el("pre", { tabindex: "0" }, code));
        continue;
      }
      const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading) {
        flushPara();
        flushList();
        const h = el("p", { className: "h" });
        const strong = el("strong");
        renderInline(heading[2], strong, cites);
        h.append(strong);
        out.append(h);
        continue;
      }
      const item = /^\s*(?:([-*+])|(\d{1,3})[.)])\s+(.*)$/.exec(line);
      if (item) {
        flushPara();
        const tag = item[1] ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== tag) {
          flushList();
          list = el(tag);
          if (item[2] && item[2] !== "1") list.setAttribute("start", item[2]);
        }
        const li = el("li");
        renderInline(item[3], li, cites);
        list.append(li);
        continue;
      }
      const quote = /^\s*>\s?(.*)$/.exec(line);
      if (quote) {
        flushPara();
        flushList();
        const q = el("blockquote");
        renderInline(quote[1], q, cites);
        out.append(q);
        continue;
      }
      if (!line.trim()) {
        flushPara();
        flushList();
        continue;
      }
      if (list && /^\s{2,}\S/.test(line)) {
        list.lastChild.append(document.createTextNode(" "));
        renderInline(line.trim(), list.lastChild, cites);
        continue;
      }
      flushList();
      para.push(line);
    }
    flushPara();
    flushList();
    return out;
  }

  // ---------------------------------------------------------------- server-sent events

  /** Feeds decoded text; calls onEvent(name, data) per event (spec line rules, any EOL). */
  function sseParser(onEvent) {
    let buf = "";
    let data = [];
    let name = "";
    const line = (l) => {
      if (l === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        data = [];
        name = "";
        return;
      }
      if (l.startsWith(":")) return;
      const colon = l.indexOf(":");
      const field = colon < 0 ? l : l.slice(0, colon);
      let value = colon < 0 ? "" : l.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") name = value;
    };
    return {
      push(text) {
        buf += text;
        // A lone "\r" at the very end may be half of "\r\n": wait for the next chunk.
        const eol = /\r\n|\r(?!$)|\n/g;
        let start = 0;
        let m;
        while ((m = eol.exec(buf)) !== null) {
          line(buf.slice(start, m.index));
          start = eol.lastIndex;
        }
        buf = buf.slice(start);
      },
      end() {
        if (buf) line(buf.replace(/\r$/, ""));
        line("");
        buf = "";
      },
    };
  }

  // ---------------------------------------------------------------- theme

  function parseRgb(value) {
    const m = /rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?/.exec(value || "");
    if (!m) return null;
    let alpha = m[4] === undefined ? 1 : parseFloat(m[4]) / (m[4].endsWith("%") ? 100 : 1);
    return { r: +m[1], g: +m[2], b: +m[3], a: alpha };
  }

  /** "dark" when the host page shows a dark background, else "light". */
  function hostTheme() {
    for (const node of [document.body, document.documentElement]) {
      if (!node) continue;
      const c = parseRgb(getComputedStyle(node).backgroundColor);
      if (c && c.a > 0.5) {
        const lum = (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255;
        return lum < 0.5 ? "dark" : "light";
      }
    }
    // No background set: the browser paints white unless the page opts into dark.
    const scheme = getComputedStyle(document.documentElement).colorScheme || "";
    const prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    return scheme.includes("dark") && prefersDark ? "dark" : "light";
  }

  // ---------------------------------------------------------------- styles

  const CSS = `
:host { all: initial; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC", sans-serif;
  --accent: #2563eb; --accent-fg: #fff; --bg: #ffffff; --fg: #111827; --muted: #6b7280;
  --border: #e5e7eb; --bubble: #f3f4f6; --user: #dbeafe; --code: #f3f4f6; --shadow: 0 12px 32px rgba(0,0,0,.18); }
:host([data-ossqa-theme="dark"]) { --accent: #60a5fa; --accent-fg: #0b1220; --bg: #111827; --fg: #f3f4f6;
  --muted: #9ca3af; --border: #374151; --bubble: #1f2937; --user: #1e3a8a; --code: #0b1220;
  --shadow: 0 12px 32px rgba(0,0,0,.6); }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
button { font: inherit; cursor: pointer; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.launcher { display: inline-flex; align-items: center; gap: 8px; min-height: 48px; padding: 0 18px;
  border: 0; border-radius: 24px; background: var(--accent); color: var(--accent-fg); box-shadow: var(--shadow);
  font-weight: 600; }
.launcher svg { width: 20px; height: 20px; fill: currentColor; }
.panel { position: fixed; right: 20px; bottom: 84px; width: min(420px, calc(100vw - 40px));
  height: min(620px, calc(100vh - 110px)); display: flex; flex-direction: column; background: var(--bg);
  color: var(--fg); border: 1px solid var(--border); border-radius: 14px; box-shadow: var(--shadow); overflow: hidden; }
header { display: flex; align-items: center; gap: 4px; padding: 10px 10px 10px 16px; border-bottom: 1px solid var(--border); }
header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 650; }
.icon { min-width: 40px; min-height: 40px; border: 0; border-radius: 8px; background: transparent; color: var(--fg); font-size: 20px; }
.icon:hover { background: var(--bubble); }
.log { flex: 1; overflow-y: auto; padding: 14px 16px; display: flex; flex-direction: column; gap: 12px; overscroll-behavior: contain; }
.hint { color: var(--muted); margin: 0; }
.msg { max-width: 100%; padding: 10px 12px; border-radius: 12px; background: var(--bubble); overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; max-width: 85%; background: var(--user); white-space: pre-wrap; }
.msg p { margin: 0 0 8px; } .msg p:last-child { margin-bottom: 0; }
.msg ul, .msg ol { margin: 4px 0 8px; padding-left: 22px; }
.msg pre { margin: 6px 0; padding: 8px 10px; background: var(--code); border: 1px solid var(--border); border-radius: 8px; overflow-x: auto; font-size: 13px; }
.msg code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
.msg :not(pre) > code { background: var(--code); padding: 1px 4px; border-radius: 4px; }
.msg blockquote { margin: 4px 0; padding-left: 10px; border-left: 3px solid var(--border); color: var(--muted); }
.msg a { color: var(--accent); }
sup.cite { font-size: 0.75em; margin-left: 1px; }
sup.cite a { text-decoration: none; }
.notice { font-weight: 600; margin-bottom: 6px; }
.status { color: var(--muted); font-style: italic; }
.error { color: #dc2626; } :host([data-ossqa-theme="dark"]) .error { color: #f87171; }
.sources { margin: 10px 0 0; padding: 8px 0 0; border-top: 1px solid var(--border); font-size: 13px; }
.sources h3 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.sources ol { margin: 0; padding-left: 0; list-style: none; }
.sources li { margin: 2px 0; } .sources .quote { display: block; color: var(--muted); font-size: 12px; }
.rate { display: flex; align-items: center; gap: 6px; margin-top: 8px; font-size: 13px; color: var(--muted); }
.rate button { display: inline-flex; align-items: center; justify-content: center; min-width: 40px; min-height: 36px;
  border: 1px solid var(--border); border-radius: 18px; background: var(--bg); color: var(--muted); }
.rate svg { width: 18px; height: 18px; fill: currentColor; }
.rate button[aria-pressed="true"] { color: var(--accent); }
.rate button[aria-pressed="true"] { border-color: var(--accent); background: var(--user); }
.rate button:disabled { cursor: default; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--border); }
textarea { flex: 1; resize: none; min-height: 44px; max-height: 140px; padding: 10px 12px; border: 1px solid var(--border);
  border-radius: 10px; background: var(--bg); color: var(--fg); font: inherit; font-size: 16px; }
.send { min-width: 64px; min-height: 44px; border: 0; border-radius: 10px; background: var(--accent); color: var(--accent-fg); font-weight: 600; }
.send:disabled { opacity: .5; cursor: default; }
.foot { margin: 0; padding: 0 12px 8px; font-size: 11px; color: var(--muted); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 520px) {
  :host { right: 12px; bottom: 12px; }
  .panel { inset: 0; width: 100vw; height: 100vh; height: 100dvh; border-radius: 0; border: 0; }
  :host([data-open]) .launcher { display: none; }
}
@media (prefers-reduced-motion: no-preference) { .panel { animation: pop .14s ease-out; } }
@keyframes pop { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }
`;

  function addStyles(root) {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS); // constructable sheets also work under a strict style-src CSP
      root.adoptedStyleSheets = [sheet];
    } catch (_) {
      root.append(el("style", { text: CSS }));
    }
  }

  // Material "thumb_up" (Apache-2.0); drawn rather than emoji so it renders without emoji fonts.
  const THUMB =
    "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function svgIcon(d, flip) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    if (flip) svg.setAttribute("transform", "rotate(180)");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute(
      "d",
      "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z",
    );
    svg.append(path);
    return svg;
  }

  // ---------------------------------------------------------------- the element

  class OssqaWidget extends HTMLElement {
    constructor() {
      super();
      this.conversationId = null;
      this.turn = 0;
      this.busy = false;
      this.inflight = null;
      this.root = this.attachShadow({ mode: "open" });
      addStyles(this.root);
    }

    get project() {
      return this.getAttribute("project") || "";
    }

    get api() {
      return (this.getAttribute("api") || DEFAULT_API).replace(/\/+$/, "");
    }

    connectedCallback() {
      if (this.launcher) return;
      const project = this.project;
      const title = this.getAttribute("title-text") || `Ask the ${project} docs`;
      this.launcher = el(
        "button",
        { type: "button", className: "launcher", "aria-expanded": "false", "aria-controls": "ossqa-panel", part: "launcher" },
        chatIcon(),
        el("span", { text: "Ask" }),
      );
      this.launcher.setAttribute("aria-label", title);
      this.closeBtn = el("button", { type: "button", className: "icon close", "aria-label": "Close", text: "×" });
      this.resetBtn = el("button", { type: "button", className: "icon reset", "aria-label": "New conversation", title: "New conversation", text: "↺" });
      this.log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
      this.input = el("textarea", {
        id: "ossqa-q",
        rows: "1",
        maxlength: String(MAX_QUESTION),
        placeholder: this.getAttribute("placeholder") || "Ask a question…",
        enterkeyhint: "send",
        autocomplete: "off",
      });
      this.sendBtn = el("button", { type: "submit", className: "send", text: "Send" });
      this.form = el(
        "form",
        {},
        el("label", { className: "sr", for: "ossqa-q", text: "Your question" }),
        this.input,
        this.sendBtn,
      );
      this.panel = el(
        "section",
        { className: "panel", id: "ossqa-panel", role: "dialog", "aria-labelledby": "ossqa-title", hidden: true, part: "panel" },
        el("header", {}, el("h2", { id: "ossqa-title", text: title }), this.resetBtn, this.closeBtn),
        this.log,
        this.form,
        el("p", { className: "foot", text: "Answers come from the docs and can be wrong: check the sources." }),
      );
      this.root.append(this.launcher, this.panel);
      this.showHint();

      this.launcher.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
      this.closeBtn.addEventListener("click", () => this.close());
      this.resetBtn.addEventListener("click", () => this.reset());
      this.form.addEventListener("submit", (e) => {
        e.preventDefault();
        this.submit();
      });
      this.input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      });
      this.input.addEventListener("input", () => this.autosize());
      this.panel.addEventListener("keydown", (e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          this.close();
        }
      });
      this.watchTheme();
    }

    disconnectedCallback() {
      if (this.themeObserver) this.themeObserver.disconnect();
      if (this.inflight) this.inflight.abort();
    }

    // -- theme follows the host page, live
    watchTheme() {
      const apply = () => {
        const fixed = this.getAttribute("theme");
        this.setAttribute("data-ossqa-theme", fixed === "dark" || fixed === "light" ? fixed : hostTheme());
      };
      apply();
      const accent = this.getAttribute("accent");
      if (accent && window.CSS && CSS.supports("color", accent)) this.style.setProperty("--accent", accent);
      this.themeObserver = new MutationObserver(apply);
      const opts = { attributes: true, attributeFilter: ["class", "style", "data-theme", "data-bs-theme", "data-md-color-scheme"] };
      this.themeObserver.observe(document.documentElement, opts);
      if (document.body) this.themeObserver.observe(document.body, opts);
      if (window.matchMedia) {
        const mq = window.matchMedia("(prefers-color-scheme: dark)");
        if (mq.addEventListener) mq.addEventListener("change", apply);
      }
    }

    open() {
      this.panel.hidden = false;
      this.setAttribute("data-open", "");
      this.launcher.setAttribute("aria-expanded", "true");
      this.input.focus();
    }

    close() {
      this.panel.hidden = true;
      this.removeAttribute("data-open");
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.focus();
    }

    reset() {
      if (this.inflight) this.inflight.abort();
      this.conversationId = null;
      this.turn = 0;
      this.log.replaceChildren();
      this.showHint();
      this.input.focus();
    }

    showHint() {
      this.log.append(el("p", { className: "hint", text: `Ask anything about ${this.project}. Answers cite their sources.` }));
    }

    autosize() {
      this.input.style.height = "auto";
      this.input.style.height = `${Math.min(this.input.scrollHeight, 140)}px`;
    }

    scrollDown() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    setBusy(busy) {
      this.busy = busy;
      this.sendBtn.disabled = busy;
      this.log.setAttribute("aria-busy", busy ? "true" : "false");
    }

    submit() {
      const question = this.input.value.trim().slice(0, MAX_QUESTION);
      if (!question || this.busy) return;
      this.input.value = "";
      this.autosize();
      const hint = this.log.querySelector(".hint");
      if (hint) hint.remove();
      this.log.append(el("div", { className: "msg user", text: question }));
      const bubble = el("div", { className: "msg bot", "aria-busy": "true" });
      const body = el("div", { className: "body" }, el("p", { className: "status", text: "Searching the docs…" }));
      bubble.append(body);
      this.log.append(bubble);
      this.scrollDown();
      this.ask(question, bubble, body);
    }

    async ask(question, bubble, body) {
      this.setBusy(true);
      const controller = new AbortController();
      this.inflight = controller;
      let text = "";
      let final = null;
      let frame = 0;
      const paint = () => {
        frame = 0;
        body.replaceChildren(renderMarkdown(text, new Map()));
        this.scrollDown();
      };
      try {
        const url = `${this.api}/ask?project=${encodeURIComponent(this.project)}`;
        const payload = { project: this.project, question, stream: true, channel: "widget" };
        if (this.conversationId) payload.conversation_id = this.conversationId;
        const res = await fetch(url, {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify(payload),
          signal: controller.signal,
        });
        if (!res.ok) throw new Error(await errorMessage(res));
        const type = res.headers.get("content-type") || "";
        if (!type.includes("text/event-stream") || !res.body) {
          final = await res.json();
        } else {
          let failure = "";
          const parser = sseParser((name, data) => {
            let ev;
            try {
              ev = JSON.parse(data);
            } catch (_) {
              return;
            }
            const kind = (ev && ev.type) || name;
            if (kind === "token" && typeof ev.text === "string") {
              text += ev.text;
              if (!frame) frame = requestAnimationFrame(paint);
            } else if (kind === "final") final = ev;
            else if (kind === "error") failure = ev.error || ev.message || "The answer failed.";
          });
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.push(decoder.decode(value, { stream: true }));
          }
          parser.push(decoder.decode());
          parser.end();
          if (frame) cancelAnimationFrame(frame);
          if (!final) throw new Error(failure || "The answer was cut off. Please try again.");
        }
        this.showFinal(question, bubble, body, final);
      } catch (err) {
        if (frame) cancelAnimationFrame(frame);
        if (err && err.name === "AbortError") return;
        body.replaceChildren(renderMarkdown(text, new Map()));
        body.append(el("p", { className: "error", role: "alert", text: (err && err.message) || "Something went wrong." }));
      } finally {
        bubble.setAttribute("aria-busy", "false");
        if (this.inflight === controller) this.inflight = null;
        this.setBusy(false);
        this.scrollDown();
      }
    }

    showFinal(question, bubble, body, final) {
      const cites = new Map();
      for (const c of final.citations || []) cites.set(Number(c.n), c);
      const parts = [];
      if (final.refused) parts.push(el("p", { className: "notice", text: "The docs don't seem to cover this." }));
      const answer = typeof final.answer === "string" ? final.answer : "";
      if (answer) parts.push(renderMarkdown(answer, cites));
      if (final.error) parts.push(el("p", { className: "error", role: "alert", text: final.error }));
      body.replaceChildren(...parts);

      const list = final.refused && (final.closest || []).length ? final.closest : final.citations || [];
      if (list.length) {
        const ol = el("ol");
        for (const c of list) {
          const label = `[${c.n}] ${c.title || c.path || "source"}`;
          const li = el("li", {}, link(c.url, label, "source"));
          if (c.quote) li.append(el("span", { className: "quote", text: `“${String(c.quote).slice(0, 240)}”` }));
          ol.append(li);
        }
        bubble.append(el("div", { className: "sources" }, el("h3", { text: final.refused ? "Closest pages" : "Sources" }), ol));
      }

      if (final.conversation_id) this.conversationId = final.conversation_id;
      const turn = this.turn++;
      if (final.conversation_id) bubble.append(this.ratingRow(question, answer, final.conversation_id, turn));
    }

    ratingRow(question, answer, conversationId, turn) {
      const row = el("div", { className: "rate", role: "group", "aria-label": "Was this answer helpful?" });
      const label = el("span", { text: "Helpful?" });
      const up = el("button", { type: "button", "aria-label": "Helpful", "aria-pressed": "false", title: "👍 Helpful" }, svgIcon(THUMB, false));
      const down = el("button", { type: "button", "aria-label": "Not helpful", "aria-pressed": "false", title: "👎 Not helpful" }, svgIcon(THUMB, true));
      const send = async (rating, btn) => {
        up.disabled = down.disabled = true;
        btn.setAttribute("aria-pressed", "true");
        try {
          const res = await fetch(`${this.api}/feedback?project=${encodeURIComponent(this.project)}`, {
            method: "POST",
            mode: "cors",
            credentials: "omit",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({
              project: this.project,
              conversation_id: conversationId,
              rating,
              turn,
              question: question.slice(0, 4000),
              answer: answer.slice(0, 20000),
              channel: "widget",
            }),
          });
          if (!res.ok) throw new Error(await errorMessage(res));
          label.textContent = "Thanks for the feedback!";
        } catch (err) {
          up.disabled = down.disabled = false;
          btn.setAttribute("aria-pressed", "false");
          label.textContent = `Feedback not sent: ${(err && err.message) || "error"}`;
        }
      };
      up.addEventListener("click", () => send("up", up));
      down.addEventListener("click", () => send("down", down));
      row.append(label, up, down);
      return row;
    }
  }

  async function errorMessage(res) {
    if (res.status === 429) {
      const wait = res.headers.get("Retry-After");
      return `Too many questions right now; try again in ${wait || "a few"} seconds.`;
    }
    try {
      const body = await res.json();
      if (body && typeof body.error === "string") return body.error;
    } catch (_) {
      /* not JSON */
    }
    return `The service answered ${res.status}.`;
  }

  window.customElements.define(TAG, OssqaWidget);

  // Mount one widget for the <script data-project> tag, unless the page placed its own.
  function mount() {
    if (!script || !script.dataset.project || document.querySelector(TAG)) return;
    const widget = document.createElement(TAG);
    widget.setAttribute("project", script.dataset.project);
    widget.setAttribute("api", script.dataset.api || DEFAULT_API);
    for (const [attr, key] of [["title-text", "title"], ["placeholder", "placeholder"], ["theme", "theme"], ["accent", "accent"]]) {
      if (script.dataset[key]) widget.setAttribute(attr, script.dataset[key]);
    }
    document.body.append(widget);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
