// OpenBook web chat: talks to the native API (/api/chat streams server-sent events: meta, delta, done).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { key: localStorage.getItem("openbook.key") || "", conversation: null };

function headers(extra) {
  return Object.assign({ "Authorization": "Bearer " + state.key }, extra || {});
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({}, options, { headers: headers((options || {}).headers) }));
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res.status === 204 ? null : res.json();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showError(message) {
  const m = el("div", "msg assistant error", message);
  $("messages").appendChild(m);
}

// Renders answer text with each [n] as a button that opens the cited passage.
function renderAnswer(container, text, citations) {
  container.textContent = "";
  const byN = new Map((citations || []).map((c) => [c.n, c]));
  const parts = text.split(/(\[\d+\])/);
  for (const part of parts) {
    const m = /^\[(\d+)\]$/.exec(part);
    if (m && byN.has(Number(m[1]))) {
      const b = el("button", "cite", part);
      b.type = "button";
      b.addEventListener("click", () => showPassage(byN.get(Number(m[1]))));
      container.appendChild(b);
    } else container.appendChild(document.createTextNode(part));
  }
}

function where(c) {
  let s = c.source;
  if (c.page) s += " p." + c.page;
  if (c.headings && c.headings.length) s += " › " + c.headings.join(" › ");
  return s;
}

function showPassage(c) {
  $("passage").hidden = false;
  $("passage-title").textContent = "[" + c.n + "] " + c.source;
  $("passage-where").textContent = (c.page ? "page " + c.page + " · " : "") + (c.headings || []).join(" › ");
  $("passage-text").textContent = c.text;
}

function addUser(text) {
  const m = el("div", "msg user", text);
  $("messages").appendChild(m);
  return m;
}

function addAssistant() {
  const m = el("div", "msg assistant");
  const body = el("div", "body");
  m.appendChild(body);
  $("messages").appendChild(m);
  return { m, body };
}

function finishAssistant(view, result) {
  const a = result.answer;
  renderAnswer(view.body, a.answer, a.citations);
  if (!a.found) {
    view.m.classList.add("not-found");
    view.m.insertBefore(el("div", "badge", "Not in the documents"), view.body);
  }
  if (result.rewrite && result.rewrite !== "none") view.m.appendChild(el("div", "rewrite", "searched for: " + result.retrievalQuery));
  if (a.citations && a.citations.length) {
    const s = el("div", "sources");
    for (const c of a.citations) {
      const b = el("button", "cite", "[" + c.n + "] " + where(c));
      b.type = "button";
      b.addEventListener("click", () => showPassage(c));
      s.appendChild(b);
    }
    view.m.appendChild(s);
  }
  view.m.dataset.done = "true";
}

// Reads a text/event-stream response, calling onEvent(name, data) per event.
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let i;
    while ((i = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      let name = "message", data = "";
      for (const line of raw.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

async function ask(question) {
  addUser(question);
  const view = addAssistant();
  view.m.dataset.done = "false";
  const res = await fetch("/api/chat", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ message: question, conversationId: state.conversation, model: $("model").value || null, stream: true }),
  });
  if (!res.ok) {
    let message = res.status + "";
    try { message = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    view.m.remove();
    showError(message);
    return;
  }
  let text = "";
  await readEvents(res, (name, data) => {
    if (name === "meta") {
      state.conversation = data.conversationId;
    } else if (name === "delta") {
      text += data.text;
      view.body.textContent = text;
      $("messages").scrollTop = $("messages").scrollHeight;
    } else if (name === "done") {
      finishAssistant(view, data);
    }
  });
  await loadConversations();
}

async function loadConversations() {
  const list = await api("/api/conversations");
  const ul = $("conversations");
  ul.textContent = "";
  for (const c of list) {
    const li = el("li", c.id === state.conversation ? "active" : "", c.title);
    li.title = c.title;
    li.addEventListener("click", () => openConversation(c.id));
    ul.appendChild(li);
  }
}

async function openConversation(id) {
  const detail = await api("/api/conversations/" + encodeURIComponent(id));
  state.conversation = id;
  $("messages").textContent = "";
  for (const m of detail.messages) {
    if (m.role === "user") addUser(m.content);
    else finishAssistant(addAssistant(), { answer: { answer: m.content, found: m.found !== false, citations: m.citations } });
  }
  await loadConversations();
}

async function useKey() {
  try {
    const me = await api("/api/me");
    $("who").textContent = me.name + " · " + (me.groups.length ? me.groups.join(", ") : "public documents") + (me.admin ? " · admin" : "");
    $("upload").hidden = !me.admin;
    const models = await api("/v1/models");
    $("model").textContent = "";
    for (const m of models.data) {
      const o = el("option", "", m.id);
      o.value = m.id;
      $("model").appendChild(o);
    }
    await loadConversations();
  } catch (e) {
    $("who").textContent = e.message;
  }
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.key = $("api-key").value.trim();
  localStorage.setItem("openbook.key", state.key);
  useKey();
});

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = $("question").value.trim();
  if (!q) return;
  $("question").value = "";
  $("send").disabled = true;
  try { await ask(q); } catch (err) { showError(err.message); } finally { $("send").disabled = false; }
});

$("new-chat").addEventListener("click", () => {
  state.conversation = null;
  $("messages").textContent = "";
  loadConversations();
});

$("close-passage").addEventListener("click", () => { $("passage").hidden = true; });

$("upload-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData();
  for (const f of $("upload-files").files) form.append("files", f);
  form.append("collection", $("upload-collection").value.trim() || "default");
  form.append("acl", $("upload-acl").value.trim());
  try {
    const job = await api("/api/documents", { method: "POST", body: form });
    $("upload-status").textContent = "job " + job.id.slice(0, 8) + ": " + job.status;
    const poll = async () => {
      const j = await api("/api/jobs/" + job.id);
      $("upload-status").textContent = "job " + j.id.slice(0, 8) + ": " + j.status + (j.error ? " — " + j.error : "");
      if (j.status === "queued" || j.status === "running") setTimeout(poll, 1000);
    };
    setTimeout(poll, 500);
  } catch (err) {
    $("upload-status").textContent = err.message;
  }
});

if (state.key) { $("api-key").value = state.key; useKey(); }
