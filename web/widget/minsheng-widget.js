/*!
 * 民生助手 (Minsheng Assistant) web chat widget.
 *
 * Embedding (no build step):
 *   <script src="https://ASSISTANT-HOST/webhooks/webchat/widget.js"></script>
 *   <script>MinshengWidget.init({ title: "民生助手", language: "zh" });</script>
 *
 * It speaks Rasa's socket.io protocol (session_request / session_confirm, user_uttered,
 * bot_uttered) and falls back to Rasa's REST webhook when socket.io cannot connect. Everything
 * it draws lives in a Shadow DOM, and every piece of text from the server or the resident is
 * inserted as text (never as HTML). Options are documented in DEFAULTS below and in README.md.
 */
(function (global) {
  "use strict";

  var VERSION = "1.0.0";
  var doc = global.document;
  // The URL this script was loaded from: the default server is its origin.
  var SCRIPT_SRC = (doc && doc.currentScript && doc.currentScript.src) || "";
  // The socket.io client: a local `io` in the served bundle (widget.js), else a global one.
  var ioFactory = typeof io === "function" ? io : typeof global.io === "function" ? global.io : null;
  var BUNDLED_CSS = typeof MINSHENG_WIDGET_CSS === "string" ? MINSHENG_WIDGET_CSS : null;

  // UI chrome only. What the assistant says comes from the server (the Rasa domain).
  var I18N = {
    zh: {
      title: "民生助手",
      subtitle: "政务·养老·医疗·文旅 智能咨询",
      launcher: "在线咨询",
      openLabel: "打开民生助手在线咨询",
      close: "关闭",
      closeLabel: "关闭对话窗口",
      placeholder: "请输入您的问题",
      inputLabel: "输入您的问题",
      send: "发送",
      human: "转人工",
      humanLabel: "转人工客服",
      elder: "大字模式",
      elderLabel: "大字模式：放大字体、提高对比度并可朗读",
      readAloud: "朗读",
      stopReading: "停止",
      helpful: "有帮助",
      notHelpful: "没帮助",
      thanks: "感谢您的反馈",
      feedbackFailed: "反馈没有提交成功，请稍后再试",
      typing: "民生助手正在输入…",
      you: "您说：",
      bot: "民生助手说：",
      suggestions: "建议问题",
      log: "对话记录",
      image: "图片",
      attachment: "附件",
      statusConnecting: "正在连接…",
      statusOnline: "在线",
      statusReconnecting: "连接中断，正在重新连接…",
      statusRest: "在线（备用通道）",
      sendFailed: "消息没有发送成功，请检查网络后重试。",
      noReply: "暂时没有收到回复，请稍后再试。",
      unavailable: "服务暂时不可用，请稍后再试。",
      rateLimited: "您发送得太快了，请稍等一会儿再发。",
      hint: "回车发送，Shift+回车换行，Esc 关闭"
    },
    en: {
      title: "Minsheng Assistant",
      subtitle: "Government services, elderly care, health, culture & tourism",
      launcher: "Chat with us",
      openLabel: "Open the Minsheng Assistant chat",
      close: "Close",
      closeLabel: "Close the chat window",
      placeholder: "Type your question",
      inputLabel: "Your question",
      send: "Send",
      human: "Talk to a person",
      humanLabel: "Transfer to a human agent",
      elder: "Large text",
      elderLabel: "Large text mode: bigger text, higher contrast, read aloud",
      readAloud: "Read aloud",
      stopReading: "Stop",
      helpful: "Helpful",
      notHelpful: "Not helpful",
      thanks: "Thank you for your feedback",
      feedbackFailed: "Your feedback could not be sent; please try again later",
      typing: "The assistant is typing…",
      you: "You said:",
      bot: "Assistant said:",
      suggestions: "Suggested questions",
      log: "Conversation",
      image: "Image",
      attachment: "Attachment",
      statusConnecting: "Connecting…",
      statusOnline: "Online",
      statusReconnecting: "Connection lost, reconnecting…",
      statusRest: "Online (fallback)",
      sendFailed: "Your message could not be sent. Please check your connection and retry.",
      noReply: "No reply yet, please try again later.",
      unavailable: "The service is unavailable right now, please try again later.",
      rateLimited: "You are sending messages too quickly; please wait a moment.",
      hint: "Enter to send, Shift+Enter for a new line, Esc to close"
    }
  };

  var DEFAULTS = {
    serverUrl: null, // the Rasa server; default: where this script came from
    socketPath: "/webhooks/webchat/socket.io", // "/socket.io" for Rasa's stock channel
    restPath: "/webhooks/rest/webhook",
    feedbackPath: "/webhooks/webchat/feedback",
    title: null, // default: the language's title
    subtitle: null,
    language: "zh", // "zh" or "en" (UI chrome only)
    strings: null, // overrides of single UI strings
    colors: null, // { primary: "#1f5fa8" }
    position: "right", // or "left"
    open: false, // open the panel at start (a stored open/closed state wins)
    elderMode: false, // start in 适老化 mode (a stored choice wins)
    greeting: "/greet", // payload sent once when a new conversation opens; null for none
    fallbackAfterMs: 5000, // switch to REST when socket.io has not connected by then
    replyTimeoutMs: 30000,
    historyLimit: 100,
    storageKey: "minsheng-widget",
    // socket.io's own default: HTTP long-polling first, then an upgrade to a websocket. Where
    // a proxy blocks websockets the upgrade fails quietly and polling carries the conversation;
    // where socket.io cannot connect at all, the REST fallback does.
    transports: ["polling", "websocket"]
  };

  var DEFAULTS_PRIMARY = "#1f5fa8";
  // Bot messages that get thumbs up/down: answers with a source line or a knowledge entry id,
  // and these responses (the knowledge answer and the honest "no answer").
  var ANSWER_RESPONSES = ["utter_knowledge_answer", "utter_knowledge_none"];
  var CITATION = /^\s*(依据|来源|出处)[：:]/;
  var LINK = /\[([^\]\n]{1,200})\]\((https?:\/\/[^\s)]{1,2000})\)|(https?:\/\/[^\s<>"'，。；、）)\]]{1,2000})/g;
  var SESSION_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
  var MESSAGE_ID = /^[A-Za-z0-9_-]{8,64}$/;

  // --- small helpers -----------------------------------------------------------------------

  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i];
      if (source && typeof source === "object") {
        for (var key in source) {
          if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined) {
            target[key] = source[key];
          }
        }
      }
    }
    return target;
  }

  function el(tag, className, text) {
    var node = doc.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
    close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z",
    up: "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z",
    down: "M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1 6.6-6.6c.4-.4.6-.9.6-1.4V5a2 2 0 0 0-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z",
    speaker: "M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z",
    person: "M12 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10zm0 2c-3.3 0-10 1.7-10 5v3h20v-3c0-3.3-6.7-5-10-5z",
    doc: "M6 2h9l5 5v15H6V2zm8 1.5V8h4.5L14 3.5zM8 11v1.5h10V11H8zm0 3v1.5h10V14H8zm0 3v1.5h7V17H8z"
  };

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = doc.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = doc.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    var cryptoObj = global.crypto || global.msCrypto;
    if (cryptoObj && cryptoObj.getRandomValues) {
      cryptoObj.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var hex = "";
    for (var j = 0; j < bytes.length; j++) hex += (bytes[j] + 256).toString(16).slice(1);
    return hex;
  }

  // A 53-bit string hash (cyrb53), as 14 hex digits: names an answer that came without an id.
  function textHash(text) {
    var h1 = 0xdeadbeef;
    var h2 = 0x41c6ce57;
    for (var i = 0; i < text.length; i++) {
      var ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    var value = 4294967296 * (2097151 & h2) + (h1 >>> 0);
    return ("00000000000000" + value.toString(16)).slice(-14);
  }

  function safeUrl(raw) {
    if (typeof raw !== "string" || raw.length > 2000) return null;
    try {
      var url = new URL(raw, global.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // --- colours (WCAG 2.1 relative luminance and contrast) --------------------------------

  function parseColor(value) {
    if (typeof value !== "string") return null;
    var m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value.trim());
    if (!m) return null;
    var hex = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    return [0, 2, 4].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
  }

  function toHex(rgb) {
    return "#" + rgb.map(function (c) {
      return (Math.round(Math.max(0, Math.min(255, c))) + 256).toString(16).slice(1);
    }).join("");
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    var la = luminance(a);
    var lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  // Darkens `rgb` until it reaches `ratio` against `background`.
  function ensureContrast(rgb, background, ratio) {
    var current = rgb.slice();
    for (var i = 0; i < 40 && contrast(current, background) < ratio; i++) {
      current = current.map(function (c) { return c * 0.9; });
    }
    return current;
  }

  function palette(primaryValue, elder) {
    var white = [255, 255, 255];
    var primary = parseColor(primaryValue) || parseColor(DEFAULTS_PRIMARY);
    var target = elder ? 7 : 4.5;
    // White text on the brand colour when the colour is dark enough (darkened if needed);
    // a light brand colour keeps its hue with near-black text.
    var onWhite = contrast(primary, white);
    var onBlack = contrast(primary, [17, 17, 17]);
    var fill;
    var onFill;
    if (onWhite >= target || onWhite >= onBlack) {
      fill = ensureContrast(primary, white, target);
      onFill = white;
    } else {
      fill = primary;
      onFill = [17, 17, 17];
      if (contrast(fill, onFill) < target) onFill = [0, 0, 0];
    }
    // Links and chip text sit on white and on the light bubble (#f1f4f8 / #e6ebf2).
    var link = ensureContrast(primary, [230, 235, 242], target);
    return { primary: toHex(fill), onPrimary: toHex(onFill), link: toHex(link) };
  }

  // --- storage -------------------------------------------------------------------------------

  function Storage(key) {
    this.key = key;
    this.memory = null;
  }

  Storage.prototype.load = function () {
    try {
      var raw = global.localStorage.getItem(this.key);
      var value = raw ? JSON.parse(raw) : null;
      return value && typeof value === "object" ? value : {};
    } catch (e) {
      return this.memory || {};
    }
  };

  Storage.prototype.save = function (state) {
    this.memory = state;
    try {
      global.localStorage.setItem(this.key, JSON.stringify(state));
    } catch (e) {
      // Private browsing or a full quota: the conversation still works, it just is not kept.
    }
  };

  // --- messages from the server --------------------------------------------------------------

  function buttonList(value) {
    if (!Array.isArray(value)) return [];
    var out = [];
    value.forEach(function (b) {
      if (!b || typeof b !== "object" || typeof b.title !== "string" || !b.title) return;
      if (typeof b.payload === "string" && b.payload) {
        out.push({ title: b.title.slice(0, 200), payload: b.payload.slice(0, 2000) });
      } else if (safeUrl(b.url)) {
        out.push({ title: b.title.slice(0, 200), url: safeUrl(b.url) });
      }
    });
    return out.slice(0, 12);
  }

  // One bot message (Rasa's socket.io or REST shape) as a history entry, or null.
  function normalizeBotMessage(data) {
    if (!data || typeof data !== "object") return null;
    var meta = data.metadata && typeof data.metadata === "object" ? data.metadata : {};
    var text = typeof data.text === "string" ? data.text : "";
    var custom = data.custom && typeof data.custom === "object" ? data.custom : null;
    if (!text && custom && typeof custom.text === "string") text = custom.text;
    var buttons = buttonList(data.quick_replies).concat(buttonList(data.buttons));
    if (custom) buttons = buttons.concat(buttonList(custom.buttons));
    var image = null;
    var files = [];
    var attachment = data.attachment && typeof data.attachment === "object" ? data.attachment : null;
    if (typeof data.image === "string") image = safeUrl(data.image);
    if (attachment) {
      var payload = attachment.payload && typeof attachment.payload === "object" ? attachment.payload : {};
      var src = safeUrl(payload.src || payload.url);
      if (attachment.type === "image" && src) {
        image = image || src;
      } else if (src) {
        files.push({ url: src, title: typeof payload.title === "string" ? payload.title.slice(0, 200) : "" });
      }
    }
    if (!text && !buttons.length && !image && !files.length) return null;
    var kbId = typeof meta.kb_id === "string" ? meta.kb_id : typeof data.kb_id === "string" ? data.kb_id : null;
    var messageId = typeof meta.message_id === "string" && MESSAGE_ID.test(meta.message_id) ? meta.message_id : null;
    var response = typeof meta.response === "string" ? meta.response : "";
    var lines = text.split("\n");
    var hasCitation = lines.some(function (line) { return CITATION.test(line); });
    return {
      kind: "bot",
      text: text.slice(0, 20000),
      buttons: buttons,
      image: image,
      files: files,
      messageId: messageId,
      kbId: kbId && kbId.length <= 128 ? kbId : null,
      answer: hasCitation || !!kbId || ANSWER_RESPONSES.indexOf(response) >= 0,
      chosen: null,
      feedback: null
    };
  }

  // --- the widget ----------------------------------------------------------------------------

  function Widget(options) {
    this.options = options;
    var lang = I18N[options.language] ? options.language : "zh";
    this.lang = lang;
    this.t = assign({}, I18N[lang], options.strings || {});
    this.serverUrl = options.serverUrl;
    this.storage = new Storage(options.storageKey + ":" + this.serverUrl);
    var stored = this.storage.load();
    this.state = {
      sessionId: typeof stored.sessionId === "string" && SESSION_ID.test(stored.sessionId) ? stored.sessionId : null,
      history: Array.isArray(stored.history) ? stored.history.filter(function (e) {
        return e && (e.kind === "user" || e.kind === "bot") && typeof e.text === "string";
      }) : [],
      elder: typeof stored.elder === "boolean" ? stored.elder : !!options.elderMode,
      open: typeof stored.open === "boolean" ? stored.open : !!options.open
    };
    this.socket = null;
    this.confirmed = false; // session_confirm received on the current connection
    this.everConnected = false;
    this.fallback = false; // REST is in use
    this.pending = [];
    this.waiting = 0;
    this.replyTimer = null;
    this.fallbackTimer = null;
    this.speaking = null;
  }

  Widget.prototype.mount = function () {
    var self = this;
    var t = this.t;
    var host = doc.createElement("minsheng-widget");
    host.setAttribute("data-version", VERSION);
    var shadow = host.attachShadow({ mode: "open" });
    this.host = host;
    this.shadow = shadow;

    if (BUNDLED_CSS) {
      var style = el("style");
      style.textContent = BUNDLED_CSS;
      shadow.appendChild(style);
    } else {
      var link = el("link");
      link.rel = "stylesheet";
      link.href = this.options.cssUrl;
      shadow.appendChild(link);
    }

    var root = el("div", "root");
    root.setAttribute("lang", this.lang === "en" ? "en" : "zh-CN");
    if (this.options.position === "left") root.classList.add("left");
    this.root = root;

    var launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-label", t.openLabel);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "ms-panel");
    launcher.appendChild(icon("chat"));
    launcher.appendChild(el("span", "", t.launcher));
    launcher.addEventListener("click", function () { self.open(); });
    this.launcher = launcher;

    var panel = el("section", "panel");
    panel.id = "ms-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.setAttribute("aria-labelledby", "ms-title");
    panel.hidden = true;
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape" || event.key === "Esc") {
        event.stopPropagation();
        self.close();
      }
    });
    this.panel = panel;

    var header = el("div", "header");
    var heading = el("div", "heading");
    var title = el("h2", "title", this.options.title || t.title);
    title.id = "ms-title";
    var status = el("span", "status", t.statusConnecting);
    status.setAttribute("role", "status");
    this.statusEl = status;
    heading.appendChild(title);
    heading.appendChild(status);
    var elderButton = el("button", "elder-toggle", t.elder);
    elderButton.type = "button";
    elderButton.title = t.elderLabel;
    elderButton.setAttribute("aria-pressed", "false");
    elderButton.addEventListener("click", function () { self.setElderMode(!self.state.elder); });
    this.elderButton = elderButton;
    var closeButton = el("button", "close");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", t.closeLabel);
    closeButton.title = t.close;
    closeButton.appendChild(icon("close"));
    closeButton.addEventListener("click", function () { self.close(); });
    header.appendChild(heading);
    header.appendChild(elderButton);
    header.appendChild(closeButton);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-label", t.log);
    log.tabIndex = 0;
    this.log = log;

    var typing = el("div", "typing");
    typing.hidden = true;
    var dots = el("span", "dots");
    dots.setAttribute("aria-hidden", "true");
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    typing.appendChild(dots);
    typing.appendChild(el("span", "", t.typing));
    this.typing = typing;

    var form = el("form", "composer");
    form.setAttribute("novalidate", "");
    var label = el("label", "sr-only", t.inputLabel);
    label.htmlFor = "ms-input";
    var input = el("textarea", "input");
    input.id = "ms-input";
    input.rows = 1;
    input.maxLength = 2000;
    input.placeholder = t.placeholder;
    input.setAttribute("enterkeyhint", "send");
    input.setAttribute("autocomplete", "off");
    input.addEventListener("keydown", function (event) {
      var composing = event.isComposing || event.keyCode === 229;
      if (event.key === "Enter" && !event.shiftKey && !composing) {
        event.preventDefault();
        self.submitInput();
      }
    });
    input.addEventListener("input", function () { self.autosize(); });
    this.input = input;
    var send = el("button", "send", t.send);
    send.type = "submit";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submitInput();
    });
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);

    var actions = el("div", "actions");
    var human = el("button", "human");
    human.type = "button";
    human.setAttribute("aria-label", t.humanLabel);
    human.appendChild(icon("person"));
    human.appendChild(el("span", "", t.human));
    human.addEventListener("click", function () {
      self.send("/request_human", t.human);
    });
    actions.appendChild(human);
    actions.appendChild(el("span", "hint", t.hint));

    panel.appendChild(header);
    panel.appendChild(log);
    panel.appendChild(typing);
    panel.appendChild(form);
    panel.appendChild(actions);
    root.appendChild(launcher);
    root.appendChild(panel);
    shadow.appendChild(root);
    (doc.body || doc.documentElement).appendChild(host);

    this.applyElderMode();
    this.state.history.forEach(function (entry) { self.renderEntry(entry); });
    // Announce only what arrives from now on, not the restored history.
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-relevant", "additions");
    if (this.state.open) this.open(false);
    this.connect();
  };

  // --- panel ---------------------------------------------------------------------------------

  Widget.prototype.open = function (focus) {
    this.state.open = true;
    this.root.classList.add("open");
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.persist();
    this.scrollToEnd();
    if (focus !== false) this.input.focus();
    if (!this.state.history.length && this.options.greeting && !this.greeted) {
      this.greeted = true;
      this.send(this.options.greeting, null);
    }
  };

  Widget.prototype.close = function () {
    this.state.open = false;
    this.root.classList.remove("open");
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.stopReading();
    this.persist();
    this.launcher.focus();
  };

  Widget.prototype.setElderMode = function (on) {
    this.state.elder = !!on;
    this.applyElderMode();
    this.persist();
    this.scrollToEnd();
  };

  Widget.prototype.applyElderMode = function () {
    var elder = this.state.elder;
    this.root.classList.toggle("elder", elder);
    this.elderButton.setAttribute("aria-pressed", elder ? "true" : "false");
    var colors = palette((this.options.colors || {}).primary || DEFAULTS_PRIMARY, elder);
    this.root.style.setProperty("--ms-primary", colors.primary);
    this.root.style.setProperty("--ms-on-primary", colors.onPrimary);
    this.root.style.setProperty("--ms-link", colors.link);
    if (!elder) this.stopReading();
    var readers = this.log.querySelectorAll(".read");
    var canSpeak = this.canSpeak();
    for (var i = 0; i < readers.length; i++) readers[i].hidden = !(elder && canSpeak);
  };

  Widget.prototype.autosize = function () {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 200) + "px";
  };

  Widget.prototype.scrollToEnd = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.setStatus = function () {
    var t = this.t;
    var text;
    var connected = this.socket && this.socket.connected && this.confirmed;
    if (connected) text = t.statusOnline;
    else if (this.fallback) text = t.statusRest;
    else if (this.everConnected) text = t.statusReconnecting;
    else text = t.statusConnecting;
    this.statusEl.textContent = text;
    this.root.setAttribute("data-transport", connected ? "socket" : this.fallback ? "rest" : "connecting");
  };

  Widget.prototype.persist = function () {
    var history = this.state.history.slice(-this.options.historyLimit);
    this.state.history = history;
    this.storage.save({
      v: 1,
      sessionId: this.state.sessionId,
      history: history,
      elder: this.state.elder,
      open: this.state.open
    });
  };

  Widget.prototype.sessionId = function () {
    if (!this.state.sessionId) {
      this.state.sessionId = randomId();
      this.persist();
    }
    return this.state.sessionId;
  };

  // --- transport -----------------------------------------------------------------------------

  // Switches to REST if socket.io is not (back) in a session within fallbackAfterMs.
  Widget.prototype.armFallback = function () {
    var self = this;
    if (this.fallbackTimer) return;
    this.fallbackTimer = global.setTimeout(function () {
      self.fallbackTimer = null;
      if (!self.confirmed) self.useFallback();
    }, this.options.fallbackAfterMs);
  };

  Widget.prototype.connect = function () {
    var self = this;
    this.setStatus();
    this.armFallback();
    if (!ioFactory) {
      this.useFallback();
      return;
    }
    var socket;
    try {
      socket = ioFactory(this.serverUrl, {
        path: this.options.socketPath,
        transports: this.options.transports,
        tryAllTransports: true,
        reconnection: true,
        reconnectionDelay: 1000,
        reconnectionDelayMax: 15000,
        timeout: Math.max(2000, this.options.fallbackAfterMs - 500)
      });
    } catch (e) {
      this.useFallback();
      return;
    }
    this.socket = socket;
    socket.on("connect", function () {
      self.everConnected = true;
      self.confirmed = false;
      socket.emit("session_request", { session_id: self.sessionId() });
      self.setStatus();
    });
    socket.on("session_confirm", function (sessionId) {
      var id = typeof sessionId === "string" ? sessionId : sessionId && sessionId.session_id;
      if (typeof id === "string" && SESSION_ID.test(id)) {
        self.state.sessionId = id;
        self.persist();
      }
      self.confirmed = true;
      self.fallback = false;
      self.setStatus();
      self.flushPending();
    });
    socket.on("bot_uttered", function (data) { self.receive(data); });
    socket.on("disconnect", function () {
      self.confirmed = false;
      self.setStatus();
      self.armFallback();
    });
    socket.on("connect_error", function () {
      self.confirmed = false;
      self.setStatus();
    });
  };

  Widget.prototype.useFallback = function () {
    this.fallback = true;
    this.setStatus();
    this.flushPending();
  };

  Widget.prototype.flushPending = function () {
    var queue = this.pending;
    this.pending = [];
    for (var i = 0; i < queue.length; i++) this.transmit(queue[i]);
  };

  Widget.prototype.transmit = function (message) {
    var socketReady = this.socket && this.socket.connected && this.confirmed;
    if (socketReady) {
      this.socket.emit("user_uttered", {
        message: message,
        session_id: this.sessionId(),
        metadata: { widget: VERSION, language: this.lang }
      });
    } else if (this.fallback) {
      this.sendRest(message);
    } else {
      this.pending.push(message);
    }
  };

  Widget.prototype.sendRest = function (message) {
    var self = this;
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? global.setTimeout(function () { controller.abort(); }, this.options.replyTimeoutMs) : null;
    global.fetch(this.serverUrl + this.options.restPath, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        sender: this.sessionId(),
        message: message,
        metadata: { widget: VERSION, language: this.lang }
      }),
      signal: controller ? controller.signal : undefined
    }).then(function (reply) {
      if (!reply.ok) throw new Error("HTTP " + reply.status);
      return reply.json();
    }).then(function (messages) {
      if (timer) global.clearTimeout(timer);
      if (!Array.isArray(messages)) throw new Error("unexpected reply");
      self.doneWaiting();
      messages.forEach(function (data) { self.receive(data, true); });
    }).catch(function () {
      if (timer) global.clearTimeout(timer);
      self.doneWaiting();
      self.notice(self.t.sendFailed);
    });
  };

  // --- sending and receiving -----------------------------------------------------------------

  Widget.prototype.submitInput = function () {
    var text = this.input.value.replace(/^\s+|\s+$/g, "");
    if (!text) return;
    this.input.value = "";
    this.autosize();
    this.send(text, text);
  };

  // Sends `message` (text or a /payload); `shown` is what the resident's bubble says (null: none).
  Widget.prototype.send = function (message, shown) {
    if (typeof message !== "string" || !message) return;
    if (shown) this.add({ kind: "user", text: String(shown).slice(0, 2000) });
    this.startWaiting();
    this.transmit(message.slice(0, 4000));
  };

  Widget.prototype.startWaiting = function () {
    var self = this;
    this.waiting += 1;
    this.typing.hidden = false;
    this.scrollToEnd();
    global.clearTimeout(this.replyTimer);
    this.replyTimer = global.setTimeout(function () {
      if (self.waiting > 0) {
        self.waiting = 0;
        self.typing.hidden = true;
        self.notice(self.t.noReply);
      }
    }, this.options.replyTimeoutMs);
  };

  Widget.prototype.doneWaiting = function () {
    this.waiting = Math.max(0, this.waiting - 1);
    if (!this.waiting) {
      this.typing.hidden = true;
      global.clearTimeout(this.replyTimer);
    }
  };

  Widget.prototype.receive = function (data, viaRest) {
    if (!viaRest && this.waiting) {
      this.waiting = 0;
      this.typing.hidden = true;
      global.clearTimeout(this.replyTimer);
    }
    var error = data && data.metadata && typeof data.metadata === "object" ? data.metadata.error : null;
    if (error === "rate_limited" || error === "unavailable") {
      this.notice(error === "rate_limited" ? this.t.rateLimited : this.t.unavailable);
      return;
    }
    var entry = normalizeBotMessage(data);
    if (entry) this.add(entry);
  };

  Widget.prototype.add = function (entry) {
    this.state.history.push(entry);
    this.persist();
    this.renderEntry(entry);
    this.scrollToEnd();
  };

  Widget.prototype.notice = function (text) {
    var node = el("p", "notice", text);
    node.setAttribute("role", "status");
    this.log.appendChild(node);
    this.scrollToEnd();
  };

  // --- rendering (text only: nothing from the server or the resident becomes HTML) ------------

  function appendLinkified(parent, text) {
    var last = 0;
    var match;
    LINK.lastIndex = 0;
    while ((match = LINK.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(doc.createTextNode(text.slice(last, match.index)));
      var href = safeUrl(match[2] || match[3]);
      var label = match[1] || match[3];
      if (href) {
        var a = el("a", "", label);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        parent.appendChild(a);
      } else {
        parent.appendChild(doc.createTextNode(match[0]));
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) parent.appendChild(doc.createTextNode(text.slice(last)));
  }

  Widget.prototype.renderEntry = function (entry) {
    var self = this;
    var t = this.t;
    var wrap = el("div", "msg " + entry.kind);
    wrap.appendChild(el("span", "sr-only", entry.kind === "user" ? t.you : t.bot));
    var bubble = el("div", "bubble");
    wrap.appendChild(bubble);
    if (entry.kind === "user") {
      bubble.appendChild(el("p", "text", entry.text));
      this.log.appendChild(wrap);
      return wrap;
    }
    if (entry.messageId) wrap.setAttribute("data-message-id", entry.messageId);
    if (entry.kbId) wrap.setAttribute("data-kb-id", entry.kbId);
    var body = [];
    var citations = [];
    entry.text.split("\n").forEach(function (line) {
      (CITATION.test(line) ? citations : body).push(line);
    });
    var bodyText = body.join("\n").replace(/^\n+|\n+$/g, "");
    if (bodyText) {
      bodyText.split(/\n{2,}/).forEach(function (paragraph) {
        var p = el("p", "text");
        appendLinkified(p, paragraph);
        bubble.appendChild(p);
      });
    }
    citations.forEach(function (line) {
      var c = el("p", "citation");
      c.appendChild(icon("doc"));
      var span = el("span");
      appendLinkified(span, line.trim());
      c.appendChild(span);
      bubble.appendChild(c);
    });
    // URLs are checked again here: the history comes back from localStorage.
    var imageUrl = safeUrl(entry.image);
    if (imageUrl) {
      var img = el("img", "image");
      img.alt = t.image;
      img.loading = "lazy";
      img.referrerPolicy = "no-referrer";
      img.src = imageUrl;
      bubble.appendChild(img);
    }
    (Array.isArray(entry.files) ? entry.files : []).forEach(function (file) {
      var fileUrl = file && safeUrl(file.url);
      if (!fileUrl) return;
      var p = el("p", "text");
      var a = el("a", "", String(file.title || t.attachment));
      a.href = fileUrl;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      p.appendChild(a);
      bubble.appendChild(p);
    });
    if (!bubble.childNodes.length) bubble.hidden = true;

    var buttons = buttonList(entry.buttons);
    if (buttons.length) {
      var chips = el("div", "chips");
      chips.setAttribute("role", "group");
      chips.setAttribute("aria-label", t.suggestions);
      buttons.forEach(function (button, index) {
        var chip = el("button", "chip", button.title);
        chip.type = "button";
        if (entry.chosen !== null && entry.chosen !== undefined) {
          chip.disabled = true;
          if (entry.chosen === index) chip.setAttribute("aria-pressed", "true");
        }
        chip.addEventListener("click", function () {
          if (button.url) {
            global.open(button.url, "_blank", "noopener,noreferrer");
            return;
          }
          entry.chosen = index;
          var all = chips.querySelectorAll("button");
          for (var i = 0; i < all.length; i++) all[i].disabled = true;
          chip.setAttribute("aria-pressed", "true");
          self.send(button.payload, button.title);
          self.persist();
        });
        chips.appendChild(chip);
      });
      wrap.appendChild(chips);
    }

    var tools = el("div", "tools");
    if (entry.answer) this.renderFeedback(entry, tools);
    var read = el("button", "tool read");
    read.type = "button";
    read.appendChild(icon("speaker"));
    var readLabel = el("span", "", t.readAloud);
    read.appendChild(readLabel);
    read.hidden = !(this.state.elder && this.canSpeak());
    read.addEventListener("click", function () { self.toggleReading(entry, read, readLabel); });
    tools.appendChild(read);
    wrap.appendChild(tools);
    this.log.appendChild(wrap);
    return wrap;
  };

  Widget.prototype.renderFeedback = function (entry, tools) {
    var self = this;
    var t = this.t;
    var up = el("button", "tool feedback up");
    var down = el("button", "tool feedback down");
    var thanks = el("span", "thanks");
    thanks.setAttribute("role", "status");
    [[up, "up", t.helpful], [down, "down", t.notHelpful]].forEach(function (spec) {
      var button = spec[0];
      button.type = "button";
      button.setAttribute("aria-label", spec[2]);
      button.title = spec[2];
      button.setAttribute("data-rating", spec[1]);
      button.setAttribute("aria-pressed", entry.feedback === spec[1] ? "true" : "false");
      button.appendChild(icon(spec[1]));
      button.addEventListener("click", function () {
        self.sendFeedback(entry, spec[1], up, down, thanks);
      });
      tools.appendChild(button);
    });
    if (entry.feedback) thanks.textContent = t.thanks;
    tools.appendChild(thanks);
  };

  Widget.prototype.sendFeedback = function (entry, rating, up, down, thanks) {
    var self = this;
    if (entry.feedback === rating) return;
    var body = { sender: this.sessionId(), rating: rating };
    if (entry.messageId) body.message_id = entry.messageId;
    else body.answer_hash = textHash(entry.text);
    if (entry.kbId) body.kb_id = entry.kbId;
    up.disabled = true;
    down.disabled = true;
    global.fetch(this.serverUrl + this.options.feedbackPath, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (reply) {
      if (!reply.ok) throw new Error("HTTP " + reply.status);
      entry.feedback = rating;
      self.persist();
      up.setAttribute("aria-pressed", rating === "up" ? "true" : "false");
      down.setAttribute("aria-pressed", rating === "down" ? "true" : "false");
      thanks.textContent = self.t.thanks;
    }).catch(function () {
      thanks.textContent = self.t.feedbackFailed;
    }).then(function () {
      up.disabled = false;
      down.disabled = false;
    });
  };

  // --- read aloud (适老化), where the browser has speech synthesis ----------------------------

  Widget.prototype.canSpeak = function () {
    return !!(global.speechSynthesis && typeof global.SpeechSynthesisUtterance === "function");
  };

  Widget.prototype.toggleReading = function (entry, button, label) {
    var self = this;
    if (!this.canSpeak()) return;
    if (this.speaking && this.speaking.button === button) {
      this.stopReading();
      return;
    }
    this.stopReading();
    var spoken = entry.text.replace(LINK, function (all, title) { return title || ""; });
    var utterance = new global.SpeechSynthesisUtterance(spoken);
    utterance.lang = this.lang === "en" ? "en-US" : "zh-CN";
    utterance.rate = 0.9;
    var done = function () {
      if (self.speaking && self.speaking.utterance === utterance) self.stopReading(true);
    };
    utterance.onend = done;
    utterance.onerror = done;
    this.speaking = { utterance: utterance, button: button, label: label };
    button.setAttribute("aria-pressed", "true");
    label.textContent = this.t.stopReading;
    global.speechSynthesis.speak(utterance);
  };

  Widget.prototype.stopReading = function (finished) {
    var current = this.speaking;
    if (!current) return;
    this.speaking = null;
    current.button.setAttribute("aria-pressed", "false");
    current.label.textContent = this.t.readAloud;
    if (!finished && this.canSpeak()) global.speechSynthesis.cancel();
  };

  // --- public API ----------------------------------------------------------------------------

  var instance = null;

  function resolveOptions(options) {
    var merged = assign({}, DEFAULTS, options || {});
    var base = "";
    if (SCRIPT_SRC) {
      try {
        base = new URL(SCRIPT_SRC).origin;
      } catch (e) {
        base = "";
      }
    }
    var server = typeof merged.serverUrl === "string" && merged.serverUrl ? merged.serverUrl : base;
    merged.serverUrl = String(server || global.location.origin).replace(/\/+$/, "");
    merged.cssUrl = merged.cssUrl || merged.serverUrl + "/webhooks/webchat/widget.css";
    merged.historyLimit = Math.max(10, Math.min(500, Number(merged.historyLimit) || 100));
    merged.fallbackAfterMs = Math.max(500, Number(merged.fallbackAfterMs) || 5000);
    merged.replyTimeoutMs = Math.max(3000, Number(merged.replyTimeoutMs) || 30000);
    return merged;
  }

  function publicApi(widget) {
    return {
      open: function () { widget.open(); },
      close: function () { widget.close(); },
      setElderMode: function (on) { widget.setElderMode(on); },
      send: function (text) { widget.send(String(text), String(text)); },
      get sessionId() { return widget.state.sessionId; },
      get transport() { return widget.root.getAttribute("data-transport"); }
    };
  }

  var MinshengWidget = {
    version: VERSION,
    init: function (options) {
      if (instance) return publicApi(instance);
      var widget = new Widget(resolveOptions(options));
      instance = widget;
      if (doc.readyState === "loading") {
        doc.addEventListener("DOMContentLoaded", function () { widget.mount(); });
      } else {
        widget.mount();
      }
      return publicApi(widget);
    },
    // Pure helpers, exposed for tests and for portals that want to check their colours.
    _normalizeBotMessage: normalizeBotMessage,
    _contrast: function (a, b) { return contrast(parseColor(a), parseColor(b)); },
    _palette: palette
  };

  global.MinshengWidget = MinshengWidget;
})(typeof window !== "undefined" ? window : this);
