// The staff console: one page, hash routes, the owning services' JSON APIs called with the signed-in token.
// No rule lives here: what a role may see or do is what the API answers (a 403 is shown as it comes).
"use strict";

const TOKEN_KEY = "qhwy.console.token";
const state = { me: null, options: null };

// ------------------------------------------------------------------ small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const view = () => $("view");
const show = (...nodes) => view().replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));

class ApiError extends Error {
  constructor(status, body) {
    super(apiMessage(status, body));
    this.status = status;
    this.body = body;
  }
}

function apiMessage(status, body) {
  const base = (body && body.error) || ({ 401: "请重新登录", 403: "当前角色无权执行此操作", 404: "未找到",
    409: "操作冲突，请刷新后重试", 422: "请求内容有误" }[status] || `服务暂不可用（${status}）`);
  const detail = body && Array.isArray(body.detail) ? body.detail.map((d) => d.message || d.msg).filter(Boolean) : [];
  const prefix = status === 403 ? "无权限：" : "";
  return prefix + base + (detail.length ? "：" + detail.join("；") : "");
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let payload = null;
  try { payload = await response.json(); } catch (_) { payload = null; }
  if (response.status === 401 && !path.endsWith("/console/login")) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(apiMessage(401, payload));
    throw new ApiError(401, payload);
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

function showError(err) {
  const box = $("view-error");
  box.textContent = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  box.hidden = false;
}

function notice(text) {
  const box = $("view-notice");
  box.textContent = text;
  box.hidden = false;
}

function clearMessages() {
  $("view-error").hidden = true;
  $("view-notice").hidden = true;
}

// times in the county's time zone (QHWY_TIMEZONE, handed over by the page), whatever the browser's own
const TIME_FORMAT = new Intl.DateTimeFormat("sv-SE", { timeZone: document.body.dataset.tz || undefined,
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return TIME_FORMAT.format(d);
}

function fmtWorking(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds <= 0) return "已超期";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours ? `${hours} 小时 ${minutes} 分` : `${minutes} 分`;
}

const STATUS = { assigned: "待签收", accepted: "办理中", returned: "已退回", resolved: "已办结", closed: "已销号",
  reopened: "重新办理", awaiting: "待签收" };
const nameOf = (list, code) => ((list || []).find((x) => x.code === code) || {}).name || code || "";
const deptName = (code) => nameOf(state.options && state.options.departments, code);
const regionName = (code) => nameOf(state.options && state.options.regions, code);
const complexityName = (code) => nameOf(state.options && state.options.complexity, code);

function table(headers, rows, rowAttrs) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.length ? rows.map((cells, i) => h("tr", rowAttrs ? rowAttrs(i) : {}, cells.map((c) => h("td", {}, c))))
      : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "暂无数据"))));
}

// A small form asking for text before an action; resolves with the values or null when cancelled.
function askForm(title, fields, submitLabel) {
  return new Promise((resolve) => {
    const inputs = {};
    const form = h("form", { id: "action-form", class: "panel" }, h("h2", {}, title),
      fields.map((f) => {
        let input;
        if (f.type === "select") input = h("select", { id: `field-${f.name}` }, f.options.map((o) => h("option", { value: o.code }, o.name)));
        else if (f.type === "checkbox") input = h("input", { id: `field-${f.name}`, type: "checkbox" });
        else if (f.type === "date") input = h("input", { id: `field-${f.name}`, type: "date" });
        else if (f.type === "line") input = h("input", { id: `field-${f.name}`, value: f.value || "" });
        else input = h("textarea", { id: `field-${f.name}` });
        inputs[f.name] = input;
        return h("label", {}, f.label, " ", input);
      }),
      h("button", { type: "submit", class: "primary", id: "action-submit" }, submitLabel || "提交"),
      h("button", { type: "button", id: "action-cancel", onclick: () => { form.remove(); resolve(null); } }, "取消"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const values = {};
      for (const [name, input] of Object.entries(inputs)) values[name] = input.type === "checkbox" ? input.checked : input.value.trim();
      form.remove();
      resolve(values);
    });
    const old = $("action-form");
    if (old) old.remove();
    view().prepend(form);
    const first = form.querySelector("textarea, input, select");
    if (first) first.focus();
  });
}

// ------------------------------------------------------------------ sign-in, who am I, menu

function showLogin(message) {
  state.me = null;
  $("who").hidden = true;
  $("menu").hidden = true;
  show();
  clearMessages();
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const result = await api("POST", "/api/v1/console/login",
      { username: $("username").value.trim(), password: $("password").value });
    sessionStorage.setItem(TOKEN_KEY, result.token);
    $("password").value = "";
    await start();
  } catch (err) {
    $("login-error").textContent = err.message;
  }
}

function logout() {
  for (const key of Object.keys(sessionStorage)) if (key.startsWith("qhwy.console.")) sessionStorage.removeItem(key);
  location.hash = "";
  showLogin("已退出登录");
}

async function start() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  try {
    state.me = await api("GET", "/api/v1/console/me");
    state.options = await api("GET", "/api/v1/console/options");
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
    return;
  }
  $("login").hidden = true;
  $("who").hidden = false;
  $("who-name").textContent = state.me.name;
  $("who-role").textContent = state.me.role_name;
  $("who-unit").textContent = state.me.unit_name ? ` · ${state.me.unit_name}` : "";
  $("menu").replaceChildren(...state.me.menu.map((m) => h("a", { href: `#/${m.page}`, "data-page": m.page }, m.label)));
  $("menu").hidden = false;
  if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = `#/${state.me.menu[0].page}`;
  else route();
}

// ------------------------------------------------------------------ pages

const PAGES = {};

async function route() {
  if (!state.me) return;
  clearMessages();
  const [page, ...args] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const a of $("menu").querySelectorAll("a")) a.classList.toggle("active", a.dataset.page === page);
  const render = PAGES[page] || PAGES.search;
  show(h("p", { class: "muted" }, "加载中……"));
  try {
    await render(...args);
    if (state.flash) notice(state.flash);  // what the previous page did, confirmed on the page it led to
    state.flash = null;
  } catch (err) {
    show();
    showError(err);
  }
}

function caseLink(caseId, text) {
  return h("a", { href: `#/case/${encodeURIComponent(caseId)}`, class: "case-link" }, text || caseId);
}

// Unit handler: my unit's inbox, earliest deadline first (the API's order), with the handling actions.
PAGES.inbox = async () => {
  const data = await api("GET", "/api/v1/units/inbox?limit=100");
  const mine = state.me.unit;
  const rows = data.items.map((c) => [
    caseLink(c.case_id),
    c.department === mine || !mine ? "承办" : "协办",
    complexityName(c.complexity),
    fmtTime(c.due_at),
    h("span", { class: "time-left" }, fmtWorking(c.working_seconds_left)),
    STATUS[c.status] || c.status,
    h("span", { class: "actions" }, unitActions(c)),
  ]);
  show(h("h1", {}, "本单位待办（按办理时限排序）"),
    h("p", { class: "muted" }, "剩余时间按工作时间计算；协办件也在此列出。"),
    table(["案件", "承办/协办", "复杂度", "办理时限", "剩余工作时间", "状态", "操作"], rows,
      (i) => ({ class: data.items[i].overdue ? "overdue" : (data.items[i].working_seconds_left || 1e9) < 4 * 3600 ? "soon" : "",
        "data-case": data.items[i].case_id })));
};

function unitActions(c) {
  const act = (action, label, ask) => h("button", { type: "button", "data-action": action, onclick: async () => {
    let body = {};
    if (ask) {
      const values = await askForm(`${label}：${c.case_id}`, ask, label);
      if (!values) return;
      body = values;
      if (body.follow_up_at !== undefined) body.follow_up_at = body.follow_up_at ? [body.follow_up_at] : [];
      if (body.solution === "") delete body.solution;
    }
    try {
      await api("POST", `/api/v1/units/cases/${encodeURIComponent(c.case_id)}/${action}`, body);
      await route();
      notice(`${label}成功：${c.case_id}`);
    } catch (err) { showError(err); }
  } }, label);
  return [
    act("accept", "签收"),
    act("progress", "进展", [{ name: "note", label: "办理进展" }]),
    act("coordination", "协调", [{ name: "to", label: "请求", type: "select", options: [
      { code: "lead", name: "牵头单位协调" }, { code: "leadership", name: "提请领导协调" }] }, { name: "note", label: "协调事项" }]),
    act("return", "退回", [{ name: "reason", label: "退回理由" }]),
    act("resolve", "办结", [{ name: "resolution", label: "办理结果" },
      { name: "solution", label: "解决方案（复杂件列入问题清单时填写）" }, { name: "follow_up_at", label: "跟踪日期", type: "date" }]),
  ];
}

PAGES.problems = async () => {
  const data = await api("GET", "/api/v1/units/problem-list?limit=100");
  show(h("h1", {}, "问题清单（复杂件跟踪至销号）"),
    table(["案件", "承办单位", "解决方案", "跟踪日期", "办结时间"], data.items.map((c) => [
      caseLink(c.case_id), deptName(c.department), c.solution || "", (c.follow_up_at || []).join("、"), fmtTime(c.resolved_at)])));
};

// Triage officer: the review queue and one case with the automatic proposal, decided in one click.
PAGES.triage = async (caseId) => {
  if (caseId) return triageCase(caseId);
  const sort = sessionStorage.getItem("qhwy.console.sort") || "oldest";
  const data = await api("GET", `/api/v1/triage/queue?sort=${sort}&limit=100`);
  const select = h("select", { id: "queue-sort", onchange: (e) => { sessionStorage.setItem("qhwy.console.sort", e.target.value); route(); } },
    [["oldest", "等待最久"], ["newest", "最新"], ["confidence", "按置信度"]].map(([v, t]) => h("option", { value: v, selected: v === sort }, t)));
  show(h("h1", {}, `研判队列（${data.total} 件待研判）`), h("label", {}, "排序 ", select),
    table(["编号", "受理时间", "企业", "问题", "建议承办", "置信度"], data.items.map((c) => [
      h("a", { href: `#/triage/${encodeURIComponent(c.case_id)}`, class: "queue-case" }, c.tracking_no || c.case_id),
      fmtTime(c.registered_at), c.enterprise || "", (c.content || "").slice(0, 60),
      deptName((c.proposal || {}).department), c.min_confidence === null || c.min_confidence === undefined ? "" : c.min_confidence.toFixed(2)])));
};

async function triageCase(caseId) {
  const c = await api("GET", `/api/v1/triage/cases/${encodeURIComponent(caseId)}`);
  const p = c.proposal || {};
  const conf = p.confidence || {};
  const proposal = h("div", { class: "panel", id: "proposal" }, h("h2", {}, "自动研判建议"),
    table(["项目", "建议", "置信度"], [
      ["筛查", nameOf(state.options.screening, p.screening), conf.screening ?? ""],
      ["承办单位", deptName(p.department), conf.department ?? ""],
      ["协办单位", (p.co_departments || []).map(deptName).join("、"), ""],
      ["属地", regionName(p.region), conf.region ?? ""],
      ["复杂度", complexityName(p.complexity), conf.complexity ?? ""],
    ]), p.reason ? h("p", {}, p.reason) : null,
    p.duplicate_of ? h("p", {}, "疑似重复：", caseLink(p.duplicate_of)) : null);
  const similar = h("div", { class: "panel", id: "similar" }, h("h2", {}, "相似或重复案件"), h("p", { class: "muted" }, "查询中……"));
  const decide = (action, label, ask) => h("button", { type: "button", "data-decision": action, class: action === "accept" ? "primary" : "",
    onclick: async () => {
      let body = { action };
      if (ask) {
        const values = await askForm(`${label}：${c.tracking_no || c.case_id}`, ask, label);
        if (!values) return;
        Object.assign(body, values);
      }
      try {
        await api("POST", `/api/v1/triage/cases/${encodeURIComponent(caseId)}/claim`);
        const result = await api("POST", `/api/v1/triage/cases/${encodeURIComponent(caseId)}/decision`, body);
        state.flash = `已${label}：${c.tracking_no || caseId}（${(result.events || []).join("、")}）`;
        location.hash = "#/triage";
      } catch (err) { showError(err); }
    } }, label);
  show(
    h("h1", {}, `研判：${c.tracking_no || c.case_id}`),
    c.returned ? h("p", { class: "error" }, `承办单位退回：${deptName(c.returned.department)}，理由：${c.returned.reason}`) : null,
    h("div", { class: "columns" },
      h("div", { class: "panel" }, h("h2", {}, "企业反映"), h("p", {}, c.enterprise || ""), h("p", { id: "case-content" }, c.content || ""),
        h("p", { class: "muted" }, `渠道 ${c.channel || ""} · 受理 ${fmtTime(c.registered_at)}`)),
      proposal, similar),
    h("div", { class: "actions panel" },
      decide("accept", "采纳建议"),
      decide("reroute", "改派", [{ name: "department", label: "承办单位", type: "select", options: state.options.departments },
        { name: "reason", label: "改派理由" }]),
      decide("duplicate", "标为重复", [{ name: "duplicate_of", label: "重复的案件编号（case_id）", type: "line", value: p.duplicate_of || "" },
        { name: "reason", label: "理由" }]),
      decide("ask_detail", "要求补充", [{ name: "reason", label: "需要企业补充的内容" }]),
      decide("reject", "不予受理", [{ name: "reason", label: "理由" }])),
    h("p", {}, caseLink(c.case_id, "查看案件全过程")));
  // similar cases: triage's own comparison (similarity, same enterprise); until triage has it (404), the console's
  // search over the same enterprise
  try {
    const found = await api("GET", `/api/v1/triage/cases/${encodeURIComponent(caseId)}/similar`);
    similar.replaceChildren(h("h2", {}, "相似或重复案件"), table(["编号", "受理", "相似度", "同一企业", "问题", "承办单位", "属地"],
      (found.items || []).map((x) => [caseLink(x.case_id, x.tracking_no || x.case_id), fmtTime(x.registered_at),
        x.similarity === null || x.similarity === undefined ? "" : `${(x.similarity * 100).toFixed(0)}%`,
        x.same_enterprise ? "是" : "否", (x.content || "").slice(0, 50), deptName(x.department), regionName(x.region)])));
    return;
  } catch (err) {
    if (err.status !== 404) {
      similar.replaceChildren(h("h2", {}, "相似或重复案件"), h("p", { class: "error" }, err.message));
      return;
    }
  }
  try {
    const found = await api("GET", `/api/v1/console/search?q=${encodeURIComponent(c.enterprise || "")}&limit=10`);
    const others = found.items.filter((x) => x.case_id !== c.case_id);
    similar.replaceChildren(h("h2", {}, "相似或重复案件（同一企业）"), table(["编号", "受理", "问题"], others.map((x) => [
      caseLink(x.case_id, x.tracking_no || x.case_id), fmtTime(x.received_at), (x.content || "").slice(0, 50)])));
  } catch (err) {
    similar.replaceChildren(h("h2", {}, "相似或重复案件"), h("p", { class: "error" }, err.message));
  }
}

// Leader: escalated and overdue cases, boards by unit and by township.
PAGES.boards = async () => {
  const [deadlines, byUnit, byRegion] = await Promise.all([
    api("GET", "/api/v1/sla/deadlines?limit=200"),
    api("GET", "/api/v1/insight/figures?dimension=unit").catch((e) => ({ error: e })),
    api("GET", "/api/v1/insight/figures?dimension=region").catch((e) => ({ error: e })),
  ]);
  const flagged = deadlines.items.filter((d) => d.overdue || d.escalation_level > 0);
  const board = (title, data, name) => data.error ? h("p", { class: "error" }, data.error.message)
    : table([title, "受理", "超期件数", "提级督办", "按期办结率"], Object.entries(data.groups || {}).map(([key, f]) => [
      name(key), f.received.value, f.overdue.value, f.escalated.value, f.on_time_rate.value === null ? "—" : `${(f.on_time_rate.value * 100).toFixed(1)}%`]));
  show(h("h1", {}, "超期与督办"),
    h("h2", {}, `超期或已升级的在办件（${flagged.length}）`),
    table(["案件", "承办单位", "办理时限", "督办层级", "状态"], flagged.map((d) => [caseLink(d.case_id), deptName(d.department),
      fmtTime(d.due_at), d.escalation_level, d.overdue ? "已超期" : "升级督办"]), (i) => ({ class: flagged[i].overdue ? "overdue" : "" })),
    h("h2", {}, "按单位"), board("单位", byUnit, deptName),
    h("h2", {}, "按乡镇"), board("乡镇（街道）", byRegion, regionName));
};

// Revisit staff: today's revisit tasks, and recording a call or visit.
PAGES.revisits = async () => {
  const data = await api("GET", "/api/v1/rating/revisits?limit=100");
  show(h("h1", {}, "回访任务"),
    table(["案件", "方式", "承办单位", "创建时间", "操作"], data.items.map((t) => [
      caseLink(t.case_id), t.method === "onsite" ? "上门回访" : "电话回访", deptName(t.department), fmtTime(t.created_at),
      h("button", { type: "button", "data-task": t.task_id, onclick: async () => {
        const values = await askForm(`记录回访：${t.case_id}`, [{ name: "said", label: "企业反馈" },
          { name: "solved", label: "问题已实际解决", type: "checkbox" }, { name: "note", label: "备注" }], "保存回访记录");
        if (!values) return;
        if (!values.note) delete values.note;
        try {
          await api("POST", `/api/v1/rating/revisits/${encodeURIComponent(t.task_id)}/record`, values);
          await route();
          notice(`回访已记录：${t.case_id}`);
        } catch (err) { showError(err); }
      } }, "记录回访")])));
};

// Supervisor: referred cases with the case file, findings, closing.
PAGES.supervision = async (caseId, round) => {
  if (caseId) return supervisionCase(caseId, round);
  const data = await api("GET", "/api/v1/rating/supervisions?limit=100");
  show(h("h1", {}, "监督件（不满意移送）"),
    table(["案件", "轮次", "承办单位", "移送时间", "理由"], data.items.map((s) => [
      h("a", { href: `#/supervision/${encodeURIComponent(s.case_id)}/${s.round}`, class: "supervision-link" }, s.case_id),
      s.round, deptName(s.department), fmtTime(s.referred_at), s.reason || ""])));
};

async function supervisionCase(caseId, round) {
  const s = await api("GET", `/api/v1/rating/supervisions/${encodeURIComponent(caseId)}/${round}`);
  const act = (action, label, withFindings) => h("button", { type: "button", "data-supervise": action, onclick: async () => {
    const fields = [{ name: "note", label: "意见" }];
    if (withFindings) fields.push({ name: "finding", label: "问题认定", type: "select", options: Object.entries(s.findings_catalogue || {}).map(([code, name]) => ({ code, name })) });
    const values = await askForm(`${label}：${caseId}`, fields, label);
    if (!values) return;
    const body = { note: values.note, findings: values.finding ? [values.finding] : [] };
    try {
      await api("POST", `/api/v1/rating/supervisions/${encodeURIComponent(caseId)}/${round}/${action}`, body);
      await route();
      notice(`${label}已保存`);
    } catch (err) { showError(err); }
  } }, label);
  show(h("h1", {}, `监督件：${caseId}（第 ${round} 轮）`),
    h("p", {}, `状态：${s.state || ""}`),
    h("div", { class: "actions panel" }, act("findings", "问题认定", true), act("press", "督促整改"), act("close", "办结监督")),
    h("h2", {}, "案卷"), h("pre", { id: "case-file" }, JSON.stringify(s.case_file || s.case_file_at_referral, null, 2)),
    h("h2", {}, "监督记录"), table(["时间", "动作", "经办", "意见"], (s.actions || []).map((a) => [fmtTime(a.at), a.action || a.type || "", a.by || "", a.note || ""])),
    h("p", {}, caseLink(caseId, "查看案件全过程")));
}

// Everyone: case search and the case timeline.
PAGES.search = async () => {
  const q = sessionStorage.getItem("qhwy.console.q") || "";
  const input = h("input", { id: "search-q", value: q, placeholder: "受理编号、企业名称或问题内容", size: 36 });
  const results = h("div", { id: "search-results" });
  const run = async (e) => {
    if (e) e.preventDefault();
    sessionStorage.setItem("qhwy.console.q", input.value.trim());
    try {
      const data = await api("GET", `/api/v1/console/search?q=${encodeURIComponent(input.value.trim())}&limit=50`);
      results.replaceChildren(table(["编号", "企业", "问题", "承办单位", "属地", "受理时间", "最新进展"], data.items.map((c) => [
        caseLink(c.case_id, c.tracking_no || c.case_id), c.enterprise || "", (c.content || "").slice(0, 60), deptName(c.department),
        regionName(c.region), fmtTime(c.received_at), c.last_event ? c.last_event.replace("case.", "") : ""])));
    } catch (err) { showError(err); }
  };
  show(h("h1", {}, "案件查询"),
    h("form", { id: "search-form", onsubmit: run }, input, " ", h("button", { type: "submit", class: "primary", id: "search-button" }, "查询")), results);
  await run();
};

PAGES.case = async (caseId) => {
  const c = await api("GET", `/api/v1/console/cases/${encodeURIComponent(caseId)}/timeline`);
  show(h("h1", {}, `案件 ${c.tracking_no || c.case_id}`),
    h("div", { class: "panel" }, h("p", {}, h("b", {}, c.enterprise || "")), h("p", {}, c.content || ""),
      h("p", { class: "muted" }, `承办 ${deptName(c.department)} · 属地 ${regionName(c.region)} · 复杂度 ${complexityName(c.complexity)} · 时限 ${fmtTime(c.due_at)}`)),
    h("h2", {}, "全过程记录"),
    h("ol", { class: "timeline", id: "timeline" }, c.timeline.map((e) => h("li", { "data-type": e.type },
      h("b", {}, e.label), " ", h("span", { class: "muted" }, fmtTime(e.at)), " ",
      Object.entries(e.summary || {}).map(([k, v]) => h("span", { class: "tag" }, `${k}: ${Array.isArray(v) ? v.join(",") : v}`))))));
};

// Everyone: the figures and rankings from insight, and the case library.
const FIGURES = { received: "受理问题数", resolved: "已办结数", overdue: "超期件数", on_time_rate: "按期办结率",
  resolution_rate: "解决率", satisfaction_rate: "满意率", response_hours: "平均响应时长(小时)" };

PAGES.dashboard = async () => {
  const figures = await api("GET", "/api/v1/insight/figures?dimension=unit");
  const rankings = await api("GET", "/api/v1/insight/rankings").catch((e) => ({ error: e }));
  const figure = (key, f) => (f.value === null || f.value === undefined ? "—" : key.endsWith("_rate") ? `${(f.value * 100).toFixed(1)}%` : f.value);
  show(h("h1", {}, `评价与晾晒（${figures.period}）`),
    h("div", { class: "figures", id: "figures" }, Object.entries(FIGURES).filter(([k]) => figures.overall[k]).map(([k, label]) =>
      h("div", { class: "figure" }, label, h("b", {}, figure(k, figures.overall[k]))))),
    h("h2", {}, "晾晒排名"),
    rankings.error ? h("p", { class: "muted" }, rankings.error.message)
      : h("div", { class: "columns" }, ["positive", "negative"].map((side) => h("div", { class: "panel" },
        h("h2", {}, side === "positive" ? "红榜" : "黑榜"),
        (rankings[side] || []).map((r) => h("div", {}, h("b", {}, r.name),
          h("ol", {}, (r.entries || []).map((e) => h("li", {}, `${deptName(e.key) || regionName(e.key) || e.key}：${e.value}`)))))))));
};

PAGES.library = async () => {
  const input = h("input", { id: "library-q", placeholder: "关键词" });
  const list = h("div", { id: "library-results" });
  const run = async (e) => {
    if (e) e.preventDefault();
    const data = await api("GET", `/api/v1/insight/library?q=${encodeURIComponent(input.value.trim())}&limit=20`);
    list.replaceChildren(table(["案例", "承办单位", "做法"], data.items.map((x) => [
      x.case_id ? caseLink(x.case_id, x.title || x.case_id) : (x.title || ""), deptName(x.department), x.summary || x.solution || x.note || ""])));
  };
  show(h("h1", {}, "案例库"), h("form", { onsubmit: (e) => run(e).catch(showError) }, input, " ",
    h("button", { type: "submit" }, "检索")), list);
  await run();
};

// Administrator: the organisation file, checked before use, every check in the audit trail.
PAGES.admin = async () => {
  const [org, audit] = await Promise.all([api("GET", "/api/v1/console/org"), api("GET", "/api/v1/console/org/audit")]);
  const text = h("textarea", { id: "org-text", rows: 12, placeholder: "粘贴修改后的组织配置文件（YAML）" });
  const result = h("div", { id: "org-result" });
  const check = async () => {
    result.replaceChildren();
    try {
      const r = await api("POST", "/api/v1/console/org/check", { text: text.value, note: $("org-note").value });
      result.replaceChildren(h("p", { class: "notice" }, `校验通过，变更 ${r.changes.length} 项。${r.how_to_apply}`),
        table(["部分", "编码", "变更"], r.changes.map((c) => [c.section, c.code, c.change + (c.fields ? `（${c.fields.join(",")}）` : "")])));
    } catch (err) {
      result.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  show(h("h1", {}, "组织配置"), h("p", { class: "muted" }, `当前文件：${org.source}`),
    h("div", { class: "columns" },
      h("div", {}, h("h2", {}, `单位（${org.departments.length}）`), table(["编码", "名称"], org.departments.map((d) => [d.code, d.name]))),
      h("div", {}, h("h2", {}, `乡镇（${org.regions.length}）`), table(["编码", "名称"], org.regions.map((r) => [r.code, r.name])),
        h("h2", {}, "时限与督办层级"), table(["复杂度", "名称"], org.complexity.map((c) => [c.code, c.name])))),
    h("h2", {}, "校验修改"), text, h("label", {}, "说明 ", h("input", { id: "org-note", size: 40 })),
    h("button", { type: "button", class: "primary", id: "org-check", onclick: check }, "校验"), result,
    h("h2", {}, "变更记录"), table(["时间", "操作人", "结果", "变更", "说明", "文件"], audit.items.map((a) => [fmtTime(a.at), a.by,
      a.valid ? "通过" : "未通过", a.valid ? `${a.changes.length} 项` : (a.errors || []).map((e) => e.message).join("；"), a.note || "",
      h("button", { type: "button", onclick: () => downloadAudit(a.audit_id) }, "下载")])));
};

// Administrator: the working-day calendar's years, and a new year's State Council schedule checked before use.
PAGES.calendar = async () => {
  const [cal, audit] = await Promise.all([api("GET", "/api/v1/console/calendar"), api("GET", "/api/v1/console/calendar/audit")]);
  const text = h("textarea", { id: "year-text", rows: 12, placeholder: "year: 2027\nsource: 国务院办公厅关于2027年部分节假日安排的通知\nholidays:\n  - {from: 2027-01-01, to: 2027-01-03}\nworkdays:\n  - 2027-02-20" });
  const file = h("input", { type: "file", id: "year-file", accept: ".yaml,.yml,text/yaml", onchange: async (e) => {
    const f = e.target.files[0];
    if (f) text.value = await f.text();
  } });
  const result = h("div", { id: "year-result" });
  const check = async () => {
    result.replaceChildren();
    try {
      const r = await api("POST", "/api/v1/console/calendar/check", { text: text.value, note: $("year-note").value });
      const s = r.summary;
      result.replaceChildren(h("p", { class: "notice" }, `校验通过：${r.year} 年，节假日 ${s.holidays} 天，调休上班 ${s.workdays} 天`
        + (s.replaces ? `（替换现有来源：${s.replaces}）` : "（新增年份）") + `。${r.how_to_apply}`),
        table(["变更", "日期"], [["新增节假日", s.holidays_added.join("、")], ["取消节假日", s.holidays_removed.join("、")],
          ["新增调休上班", s.workdays_added.join("、")], ["取消调休上班", s.workdays_removed.join("、")]]));
    } catch (err) {
      result.replaceChildren(h("p", { class: "error" }, "校验未通过：" + err.message));
    }
  };
  show(h("h1", {}, "工作日历（法定节假日与调休）"),
    cal.missing.length ? h("p", { class: "error", id: "calendar-missing" }, `缺少年份：${cal.missing.join("、")}（这些年份暂按周一至周五计算工作日）`)
      : h("p", { class: "notice", id: "calendar-missing" }, "本年度和下一年度的节假日安排均已具备"),
    cal.broken.length ? h("p", { class: "error" }, "无法读取的文件：" + cal.broken.map((b) => `${b.file}（${b.message}）`).join("；")) : null,
    h("p", { class: "muted" }, `补充年份文件目录：${cal.directory}。${cal.how_to_apply}。`),
    h("div", { id: "calendar-years" }, table(["年份", "来源", "节假日天数", "调休上班天数"],
      cal.years.slice().reverse().map((y) => [y.year, y.source === "chinese_calendar" ? "chinese_calendar 程序包" : y.source, y.holidays, y.workdays]))),
    h("h2", {}, "上传或粘贴某年的国务院节假日安排（YAML）"), file, text,
    h("label", {}, "说明 ", h("input", { id: "year-note", size: 40 })),
    h("button", { type: "button", class: "primary", id: "year-check", onclick: check }, "校验"), result,
    h("h2", {}, "校验记录"), table(["时间", "操作人", "年份", "结果", "说明", "文件"], audit.items.map((a) => [fmtTime(a.at), a.by, a.year || "",
      a.valid ? `通过（节假日 ${a.summary.holidays} 天）` : (a.errors || []).map((e) => e.message).join("；"), a.note || "",
      h("button", { type: "button", onclick: () => downloadAudit(a.audit_id, "calendar", `${a.year || "holidays"}.yaml`) }, "下载")])));
};

// Administrator: the effective settings that steer the rules, read-only, each with the variable that changes it.
PAGES.settings = async () => {
  const data = await api("GET", "/api/v1/console/settings");
  const fmt = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
  show(h("h1", {}, "规则参数（只读）"), h("p", { class: "muted" }, data.how_to_change),
    h("div", { id: "settings-table" }, table(["服务", "参数", "当前值", "环境变量"], data.items.map((r) => [r.service, r.label, fmt(r.value), h("code", {}, r.env)]))));
};

// Administrator (and triage officers, by intake's rules): the liaison officers, kept by intake.
PAGES.officers = async () => {
  const data = await api("GET", "/api/v1/liaison/officers?limit=500");
  const units = [...(state.options.departments || []), ...(state.options.regions || [])];
  const edit = async (o) => {
    const values = await askForm(o ? `修改联络员：${o.name}` : "新增联络员", [
      ...(o ? [] : [{ name: "officer_id", label: "编号（字母、数字）", type: "line" }]),
      { name: "name", label: "姓名", type: "line", value: o ? o.name : "" },
      { name: "phone", label: "手机号", type: "line", value: o ? o.phone : "" },
      { name: "units", label: "所属单位编码（逗号分隔）", type: "line", value: o ? o.units.join(",") : "" },
      { name: "enterprises", label: o ? "联系企业（名称或信用代码，每行一个；留空则不变）" : "联系企业（名称或信用代码，每行一个）" }], "保存");
    if (!values) return;
    const id = o ? o.officer_id : values.officer_id;
    const body = { name: values.name, phone: values.phone, units: values.units.split(/[,，\s]+/).filter(Boolean),
      enterprises: values.enterprises ? values.enterprises.split(/\n+/).map((x) => x.trim()).filter(Boolean) : (o ? o.enterprises : []) };
    try {
      await api("PUT", `/api/v1/liaison/officers/${encodeURIComponent(id)}`, body);
      state.flash = `联络员已保存：${body.name}`;
      await route();
    } catch (err) { showError(err); }
  };
  show(h("h1", {}, `助企联络员（${data.items.length}）`),
    h("button", { type: "button", class: "primary", id: "officer-add", onclick: () => edit(null) }, "新增联络员"),
    h("div", { id: "officers-table" }, table(["编号", "姓名", "手机号", "所属单位", "联系企业数", "操作"], data.items.map((o) => [
      o.officer_id, o.name, o.phone, o.units.map((u) => nameOf(units, u)).join("、"), o.enterprises.length,
      h("button", { type: "button", "data-officer": o.officer_id, onclick: () => edit(o) }, "修改")]))));
};

async function downloadAudit(id, kind = "org", name = `org-${id}.yaml`) {
  const response = await fetch(`/api/v1/console/${kind}/audit/${id}/file`, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  const blob = new Blob([await response.text()], { type: "application/yaml" });
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  a.click();
}

// ------------------------------------------------------------------ wiring

$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", logout);
window.addEventListener("hashchange", route);
start();
