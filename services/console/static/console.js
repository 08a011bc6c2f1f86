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

const b0 = (briefs, c) => briefs[c.case_id] || {};
const STATUS = { assigned: "待签收", accepted: "办理中", returned: "已退回", resolved: "已办结", closed: "已销号",
  reopened: "重新办理", awaiting: "待签收" };
// names, never codes: a code the organisation file does not name reads as unknown, a login id as a colleague
const nameOr = (list, code, unknown) => (code ? ((list || []).find((x) => x.code === String(code)) || {}).name || unknown : "");
const deptName = (code) => nameOr(state.options && state.options.departments, code, "（未知单位）");
const regionName = (code) => nameOr(state.options && state.options.regions, code, "（未知乡镇）");
const complexityName = (code) => nameOr(state.options && state.options.complexity, code, "");
const channelName = (code) => nameOr(state.options && state.options.channels, code, "其他渠道");
const levelName = (level) => nameOr(state.options && state.options.escalation_levels, level, level ? `第 ${level} 级` : "");
const unitName = (code) => (code ? nameOr([...(state.options.departments || []), ...(state.options.regions || [])], code, "（未知单位）") : "");
function personName(id) {
  if (!id) return "";
  const people = (state.options && state.options.people) || {};
  if (people[id]) return people[id];
  return ["sla", "system", "auto", "triage", "rating"].includes(id) ? "系统" : "其他工作人员";
}
const EVENT_NAMES = { "case.triaged": "研判", "case.assigned": "交办", "case.accepted": "签收", "case.returned": "退回",
  "case.resolved": "办结", "case.closed": "销号", "case.reopened": "重新办理", "case.urged": "催办", "case.supplemented": "补充说明" };
const SUPERVISION_STATES = { open: "监督中", referred: "已移送", pressed: "督促整改中", closed: "已办结", findings: "已认定问题",
  finding: "已认定问题" };
const SUPERVISION_ACTIONS = { finding: "问题认定", findings: "问题认定", pressed: "督促整改", press: "督促整改", closed: "办结监督",
  close: "办结监督", referred: "移送监督" };

// The lists of other services name cases by id only: the console's own read model gives what a person reads.
async function briefsOf(ids) {
  const unique = [...new Set(ids.filter(Boolean))];
  const out = {};
  for (let i = 0; i < unique.length; i += 100) {
    const data = await api("GET", `/api/v1/console/cases/brief?ids=${unique.slice(i, i + 100).map(encodeURIComponent).join(",")}`)
      .catch(() => ({ items: {} }));
    Object.assign(out, data.items || {});
  }
  return out;
}

const caseNo = (b) => (b && b.tracking_no) || "（编号待同步）";
const caseTitle = (b, fallback) => (b && b.title) || fallback || "";
// a list's first cells: the tracking number (a link to the case), the enterprise, the title or first words
const caseCells = (caseId, b, fallbackTitle) => [caseLink(caseId, caseNo(b)), (b && b.enterprise) || "", caseTitle(b, fallbackTitle)];

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
  $("banner").hidden = true;
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
  const banner = $("banner");
  banner.hidden = !state.me.banner;
  banner.textContent = state.me.banner ? state.me.banner.text : "";
  banner.className = state.me.banner ? `banner ${state.me.banner.level}` : "banner";
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
  const render = PAGES[page] || (page ? notFoundPage : PAGES[state.me.menu[0].page]);
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

async function notFoundPage() {
  show(h("h1", { id: "not-found" }, "页面不存在"), h("p", {}, "您访问的页面不存在，请从上方菜单进入。"));
}

function caseLink(caseId, text) {
  return h("a", { href: `#/case/${encodeURIComponent(caseId)}`, class: "case-link" }, text || caseId);
}

// Unit handler: my unit's inbox, earliest deadline first (the API's order), with the handling actions.
PAGES.inbox = async () => {
  const data = await api("GET", "/api/v1/units/inbox?limit=100");
  const briefs = await briefsOf(data.items.map((c) => c.case_id));
  const mine = state.me.unit;
  const rows = data.items.map((c) => [
    ...caseCells(c.case_id, briefs[c.case_id]),
    c.department === mine || !mine ? "承办" : "协办",
    complexityName(c.complexity),
    fmtTime(c.due_at),
    h("span", { class: "time-left" }, fmtWorking(c.working_seconds_left)),
    STATUS[c.status] || (b0(briefs, c).status_name) || "办理中",
    h("span", { class: "actions" }, unitActions(c, briefs[c.case_id])),
  ]);
  show(h("h1", {}, "本单位待办（按办理时限排序）"),
    h("p", { class: "muted" }, "剩余时间按工作时间计算；协办件也在此列出。"),
    table(["受理编号", "企业", "问题", "承办/协办", "复杂度", "办理时限", "剩余工作时间", "状态", "操作"], rows,
      (i) => ({ class: data.items[i].overdue ? "overdue" : (data.items[i].working_seconds_left || 1e9) < 4 * 3600 ? "soon" : "",
        "data-case": data.items[i].case_id })));
};

function unitActions(c, b) {
  const no = caseNo(b);
  const act = (action, label, ask) => h("button", { type: "button", "data-action": action, onclick: async () => {
    let body = {};
    if (ask) {
      const values = await askForm(`${label}：${no}`, ask, label);
      if (!values) return;
      body = values;
      if (body.follow_up_at !== undefined) body.follow_up_at = body.follow_up_at ? [body.follow_up_at] : [];
      if (body.solution === "") delete body.solution;
    }
    try {
      await api("POST", `/api/v1/units/cases/${encodeURIComponent(c.case_id)}/${action}`, body);
      await route();
      notice(`${label}成功：${no}`);
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
  const briefs = await briefsOf(data.items.map((c) => c.case_id));
  show(h("h1", {}, "问题清单（复杂件跟踪至销号）"),
    table(["受理编号", "企业", "问题", "承办单位", "解决方案", "跟踪日期", "办结时间"], data.items.map((c) => [
      ...caseCells(c.case_id, briefs[c.case_id]), deptName(c.department), c.solution || "", (c.follow_up_at || []).join("、"), fmtTime(c.resolved_at)])));
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
  const dupBrief = p.duplicate_of ? (await briefsOf([p.duplicate_of]))[p.duplicate_of] : null;
  const dupNo = p.duplicate_of ? ((dupBrief && dupBrief.tracking_no) || p.duplicate_of) : "";
  const conf = p.confidence || {};
  const proposal = h("div", { class: "panel", id: "proposal" }, h("h2", {}, "自动研判建议"),
    table(["项目", "建议", "置信度"], [
      ["筛查", nameOr(state.options.screening, p.screening, ""), conf.screening ?? ""],
      ["承办单位", deptName(p.department), conf.department ?? ""],
      ["协办单位", (p.co_departments || []).map(deptName).join("、"), ""],
      ["属地", regionName(p.region), conf.region ?? ""],
      ["复杂度", complexityName(p.complexity), conf.complexity ?? ""],
    ]), p.reason ? h("p", {}, p.reason) : null,
    p.duplicate_of ? h("p", {}, "疑似重复：", caseLink(p.duplicate_of, caseNo(dupBrief)), dupBrief ? ` ${dupBrief.enterprise || ""} ${dupBrief.title || ""}` : "") : null);
  const similar = h("div", { class: "panel", id: "similar" }, h("h2", {}, "相似或重复案件"), h("p", { class: "muted" }, "查询中……"));
  const decide = (action, label, ask) => h("button", { type: "button", "data-decision": action, class: action === "accept" ? "primary" : "",
    onclick: async () => {
      let body = { action };
      if (ask) {
        const values = await askForm(`${label}：${c.tracking_no || c.case_id}`, ask, label);
        if (!values) return;
        Object.assign(body, values);
        if (body.duplicate_of && /^QH\d{13}$/i.test(body.duplicate_of)) {  // a tracking number: the case it names
          const found = await api("GET", `/api/v1/console/search?q=${encodeURIComponent(body.duplicate_of)}&limit=1`);
          if (!found.items.length) return showError(new Error(`未找到受理编号为 ${body.duplicate_of} 的案件`));
          body.duplicate_of = found.items[0].case_id;
        }
      }
      try {
        await api("POST", `/api/v1/triage/cases/${encodeURIComponent(caseId)}/claim`);
        const result = await api("POST", `/api/v1/triage/cases/${encodeURIComponent(caseId)}/decision`, body);
        const done = (result.events || []).map((t) => EVENT_NAMES[t]).filter(Boolean);
        state.flash = `已${label}：${c.tracking_no || "该案件"}` + (done.length ? `（${[...new Set(done)].join("、")}）` : "");
        location.hash = "#/triage";
      } catch (err) { showError(err); }
    } }, label);
  show(
    h("h1", {}, `研判：${c.tracking_no || c.case_id}`),
    c.returned ? h("p", { class: "error" }, `承办单位退回：${deptName(c.returned.department)}，理由：${c.returned.reason}`) : null,
    h("div", { class: "columns" },
      h("div", { class: "panel" }, h("h2", {}, "企业反映"), h("p", {}, c.enterprise || ""), h("p", { id: "case-content" }, c.content || ""),
        h("p", { class: "muted" }, `渠道 ${channelName(c.channel)} · 受理 ${fmtTime(c.registered_at)}`)),
      proposal, similar),
    h("div", { class: "actions panel" },
      decide("accept", "采纳建议"),
      decide("reroute", "改派", [{ name: "department", label: "承办单位", type: "select", options: state.options.departments },
        { name: "reason", label: "改派理由" }]),
      decide("duplicate", "标为重复", [{ name: "duplicate_of", label: "重复的案件（受理编号）", type: "line", value: dupNo },
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

// 催办: 营商办, a leader or the administrator reminds the unit now (sla publishes case.reminded, kind "urged")
function urgeButton(caseId, brief) {
  const no = caseNo(brief);
  return h("button", { type: "button", "data-urge": caseId, onclick: async () => {
    const values = await askForm(`催办：${no}`, [{ name: "note", label: "催办事项（选填）" }], "催办");
    if (!values) return;
    try {
      await api("POST", `/api/v1/units/cases/${encodeURIComponent(caseId)}/urge`, values.note ? { note: values.note } : {});
      notice(`已催办：${no}`);
    } catch (err) { showError(err); }
  } }, "催办");
}

// Leader: escalated and overdue cases, boards by unit and by township.
PAGES.boards = async () => {
  const [deadlines, byUnit, byRegion] = await Promise.all([
    api("GET", "/api/v1/sla/deadlines?flagged=true&limit=200"),
    api("GET", "/api/v1/insight/figures?dimension=unit").catch((e) => ({ error: e })),
    api("GET", "/api/v1/insight/figures?dimension=region").catch((e) => ({ error: e })),
  ]);
  const flagged = deadlines.items.filter((d) => d.overdue || d.escalation_level >= 2);
  const briefs = await briefsOf(flagged.map((d) => d.case_id));
  const board = (title, data, name) => data.error ? h("p", { class: "error" }, data.error.message)
    : table([title, "受理", "超期件数", "提级督办", "按期办结率"], Object.entries(data.groups || {}).map(([key, f]) => [
      name(key) || "（未分配）", f.received.value, f.overdue.value, f.escalated.value, f.on_time_rate.value === null ? "—" : `${(f.on_time_rate.value * 100).toFixed(1)}%`]));
  show(h("h1", {}, "超期与督办"),
    h("h2", {}, `超期或已升级的在办件（${flagged.length}）`),
    table(["受理编号", "企业", "问题", "承办单位", "办理时限", "督办层级", "状态", "操作"], flagged.map((d) => [...caseCells(d.case_id, briefs[d.case_id]),
      deptName(d.department), fmtTime(d.due_at), levelName(d.escalation_level), d.overdue ? "已超期" : "升级督办",
      urgeButton(d.case_id, briefs[d.case_id])]), (i) => ({ class: flagged[i].overdue ? "overdue" : "" })),
    h("h2", {}, "按单位"), board("单位", byUnit, deptName),
    h("h2", {}, "按乡镇"), board("乡镇（街道）", byRegion, regionName));
};

// Revisit staff: today's revisit tasks, and recording a call or visit.
PAGES.revisits = async () => {
  const data = await api("GET", "/api/v1/rating/revisits?limit=100");
  const briefs = await briefsOf(data.items.map((t) => t.case_id));
  show(h("h1", {}, "回访任务"),
    table(["受理编号", "企业", "问题", "方式", "承办单位", "创建时间", "操作"], data.items.map((t) => [
      ...caseCells(t.case_id, briefs[t.case_id]), t.method === "onsite" ? "上门回访" : "电话回访", deptName(t.department), fmtTime(t.created_at),
      h("button", { type: "button", "data-task": t.task_id, onclick: async () => {
        const values = await askForm(`记录回访：${caseNo(briefs[t.case_id])}`, [{ name: "said", label: "企业反馈" },
          { name: "solved", label: "问题已实际解决", type: "checkbox" }, { name: "note", label: "备注" }], "保存回访记录");
        if (!values) return;
        if (!values.note) delete values.note;
        try {
          await api("POST", `/api/v1/rating/revisits/${encodeURIComponent(t.task_id)}/record`, values);
          await route();
          notice(`回访已记录：${caseNo(briefs[t.case_id])}`);
        } catch (err) { showError(err); }
      } }, "记录回访")])));
};

// Supervisor: referred cases with the case file, findings, closing.
PAGES.supervision = async (caseId, round) => {
  if (caseId) return supervisionCase(caseId, round);
  const data = await api("GET", "/api/v1/rating/supervisions?limit=100");
  const briefs = await briefsOf(data.items.map((s) => s.case_id));
  show(h("h1", {}, "监督件（不满意移送）"),
    table(["受理编号", "企业", "问题", "轮次", "承办单位", "移送时间", "理由"], data.items.map((s) => [
      h("a", { href: `#/supervision/${encodeURIComponent(s.case_id)}/${s.round}`, class: "supervision-link" }, caseNo(briefs[s.case_id])),
      (briefs[s.case_id] || {}).enterprise || "", caseTitle(briefs[s.case_id]),
      `第 ${s.round} 轮`, deptName(s.department), fmtTime(s.referred_at), s.reason || ""])));
};

async function supervisionCase(caseId, round) {
  const s = await api("GET", `/api/v1/rating/supervisions/${encodeURIComponent(caseId)}/${round}`);
  const b = (await briefsOf([caseId]))[caseId];
  const record = await api("GET", `/api/v1/console/cases/${encodeURIComponent(caseId)}/timeline`).catch(() => null);
  const act = (action, label, withFindings) => h("button", { type: "button", "data-supervise": action, onclick: async () => {
    const fields = [{ name: "note", label: "意见" }];
    if (withFindings) fields.push({ name: "finding", label: "问题认定", type: "select", options: Object.entries(s.findings_catalogue || {}).map(([code, name]) => ({ code, name })) });
    const values = await askForm(`${label}：${caseNo(b)}`, fields, label);
    if (!values) return;
    const body = { note: values.note, findings: values.finding ? [values.finding] : [] };
    try {
      await api("POST", `/api/v1/rating/supervisions/${encodeURIComponent(caseId)}/${round}/${action}`, body);
      await route();
      notice(`${label}已保存`);
    } catch (err) { showError(err); }
  } }, label);
  show(h("h1", {}, `监督件：${caseNo(b)}（第 ${round} 轮）`),
    b ? h("p", {}, h("b", {}, b.enterprise || ""), " ", b.title || "") : null,
    h("p", {}, `状态：${SUPERVISION_STATES[s.state] || "监督中"}`),
    h("div", { class: "actions panel" }, act("findings", "问题认定", true), act("press", "督促整改"), act("close", "办结监督")),
    h("h2", {}, "案卷（办理全过程）"), h("div", { id: "case-file" }, record ? timelineList(record.timeline) : h("p", { class: "muted" }, "暂无数据")),
    h("h2", {}, "监督记录"), table(["时间", "动作", "经办", "意见"], (s.actions || []).map((a) => [fmtTime(a.at),
      SUPERVISION_ACTIONS[a.action || a.type] || "监督", personName(a.by), a.note || ""])),
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
      results.replaceChildren(table(["受理编号", "企业", "问题", "承办单位", "属地", "受理时间", "状态"], data.items.map((c) => [
        caseLink(c.case_id, caseNo(c)), c.enterprise || "", (c.title || c.content || "").slice(0, 60), deptName(c.department),
        regionName(c.region), fmtTime(c.received_at), c.status_name || ""])));
    } catch (err) { showError(err); }
  };
  show(h("h1", {}, "案件查询"),
    h("form", { id: "search-form", onsubmit: run }, input, " ", h("button", { type: "submit", class: "primary", id: "search-button" }, "查询")), results);
  await run();
};

PAGES.case = async (caseId) => {
  const c = await api("GET", `/api/v1/console/cases/${encodeURIComponent(caseId)}/timeline`);
  show(h("h1", {}, `案件 ${caseNo(c)}`),
    h("div", { class: "panel", id: "case-header" }, h("p", {}, h("b", {}, c.enterprise || "")), c.title ? h("p", {}, h("b", {}, c.title)) : null,
      h("p", {}, c.content || ""),
      h("p", {}, "状态：", h("b", { id: "case-status" }, c.status_name || ""), " · 办理时限：",
        h("b", { id: "case-due", class: c.overdue ? "error" : "" }, c.due_at ? fmtTime(c.due_at) + (c.overdue ? "（已超期）" : "") : "暂无（待交办）")),
      h("p", { class: "muted" }, `承办 ${deptName(c.department) || "待定"} · 属地 ${regionName(c.region) || "待定"} · 复杂度 ${complexityName(c.complexity) || "待定"}`)),
    h("h2", {}, "全过程记录"), timelineList(c.timeline));
};

function timelineList(entries) {
  return h("ol", { class: "timeline", id: "timeline" }, (entries || []).map((e) => h("li", { "data-type": e.type },
    h("b", {}, e.label), " ", h("span", { class: "muted" }, fmtTime(e.at)), " ",
    (e.details || []).map((d) => h("span", { class: "tag" }, `${d.label}：${d.text}`)))));
}

// Everyone: the figures and rankings from insight, and the case library.
const FIGURES = { received: "受理问题数", resolved: "已办结数", overdue: "超期件数", on_time_rate: "按期办结率",
  resolution_rate: "解决率", satisfaction_rate: "满意率", response_hours: "平均响应时长(小时)" };

// ECharts (Apache-2.0), shipped with the console (static/echarts.min.js), loaded the first time a chart is drawn
let echartsLoading = null;
function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!echartsLoading) {
    echartsLoading = new Promise((resolve, reject) => {
      const script = h("script", { src: "/console/static/echarts.min.js" });
      script.addEventListener("load", () => resolve(window.echarts));
      script.addEventListener("error", () => { echartsLoading = null; reject(new Error("图表组件加载失败")); });
      document.head.append(script);
    });
  }
  return echartsLoading;
}

// units as docs/metrics.md defines them: cases received and now resolved; on-time resolutions and satisfied ratings
// (a reopened case can have been resolved on time once and not be resolved now)
const CHART_SERIES = [["received", "受理（件）"], ["resolved", "已办结（件）"], ["on_time", "按期办结（次）"],
  ["satisfied", "满意评价（次）"]];
// the four counts a chart shows, from insight's figures of a set of cases
const chartCounts = (f) => ({ received: (f.received || {}).value || 0, resolved: (f.resolved || {}).value || 0,
  on_time: (f.on_time_rate || {}).hits || 0, satisfied: (f.satisfaction_rate || {}).hits || 0 });
const weekName = (p) => String(p).replace(/^(\d{4})-W0?(\d+)$/, "$1年第$2周");

// A bar chart of the four counts per category; "暂无数据" when there is nothing to show.
function chart(id, title, categories, counts) {
  const box = h("div", { class: "chart", id, "data-title": title });
  const empty = !categories.length || counts.every((c) => CHART_SERIES.every(([k]) => !c[k]));
  const panel = h("div", { class: "panel chart-panel" }, h("h2", {}, title), box);
  if (empty) {
    box.classList.add("chart-empty");
    box.append(document.createTextNode("暂无数据"));
    box.dataset.empty = "true";
    return { panel, draw: async () => {} };
  }
  const draw = async () => {
    const echarts = await loadECharts();
    const instance = echarts.init(box, null, { renderer: "svg" });
    instance.setOption({
      animation: false, color: ["#5470c6", "#91cc75", "#fac858", "#ee6666"],
      tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 40, right: 16, top: 36, bottom: categories.length > 6 ? 70 : 30 },
      xAxis: { type: "category", data: categories, axisLabel: { interval: 0, rotate: categories.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: CHART_SERIES.map(([key, name]) => ({ name, type: "bar", data: counts.map((c) => c[key]) })),
    });
    window.addEventListener("resize", () => instance.resize());
  };
  return { panel, draw };
}

PAGES.dashboard = async () => {
  const [figures, rankings, trend, weekUnits, weekRegions] = await Promise.all([
    api("GET", "/api/v1/insight/figures?dimension=unit"),
    api("GET", "/api/v1/insight/rankings").catch((e) => ({ error: e })),
    api("GET", "/api/v1/insight/trend?kind=week&periods=8").catch(() => ({ items: [] })),
    api("GET", "/api/v1/insight/figures?kind=week&dimension=unit").catch(() => ({ groups: {} })),
    api("GET", "/api/v1/insight/figures?kind=week&dimension=region").catch(() => ({ groups: {} })),
  ]);
  const byGroup = (data, name) => {
    const entries = Object.entries(data.groups || {});
    return [entries.map(([key]) => name(key) || "（未分配）"), entries.map(([, f]) => chartCounts(f))];
  };
  const charts = [
    chart("chart-weeks", "每周受理、办结、按期办结、满意（近 8 周）", (trend.items || []).map((i) => weekName(i.period)),
      (trend.items || []).map((i) => chartCounts(i.figures || {}))),
    chart("chart-units", `按单位（${weekName(weekUnits.period || "本周")}）`, ...byGroup(weekUnits, deptName)),
    chart("chart-regions", `按乡镇（街道）（${weekName(weekRegions.period || "本周")}）`, ...byGroup(weekRegions, regionName)),
  ];
  const figure = (key, f) => (f.value === null || f.value === undefined ? "—" : key.endsWith("_rate") ? `${(f.value * 100).toFixed(1)}%` : f.value);
  show(h("h1", {}, `评价与晾晒（${String(figures.period).replace(/^(\d{4})-(\d{2})$/, "$1年$2月")}）`),
    h("div", { class: "figures", id: "figures" }, Object.entries(FIGURES).filter(([k]) => figures.overall[k]).map(([k, label]) =>
      h("div", { class: "figure" }, label, h("b", {}, figure(k, figures.overall[k]))))),
    h("h2", {}, "趋势与分布"), h("div", { class: "charts", id: "charts" }, charts.map((c) => c.panel)),
    h("h2", {}, "晾晒排名"),
    rankings.error ? h("p", { class: "muted" }, rankings.error.message)
      : h("div", { class: "columns" }, ["positive", "negative"].map((side) => h("div", { class: "panel" },
        h("h2", {}, side === "positive" ? "红榜" : "黑榜"),
        (rankings[side] || []).map((r) => h("div", {}, h("b", {}, r.name),
          h("ol", {}, (r.entries || []).map((e) => h("li", {}, `${unitName(e.key)}：${e.value}`)))))))));
  for (const c of charts) await c.draw();
};

PAGES.library = async () => {
  const input = h("input", { id: "library-q", placeholder: "关键词" });
  const list = h("div", { id: "library-results" });
  const run = async (e) => {
    if (e) e.preventDefault();
    const data = await api("GET", `/api/v1/insight/library?q=${encodeURIComponent(input.value.trim())}&limit=20`);
    const briefs = await briefsOf(data.items.map((x) => x.case_id));
    list.replaceChildren(table(["案例", "承办单位", "做法"], data.items.map((x) => [
      x.case_id ? caseLink(x.case_id, x.title || caseTitle(briefs[x.case_id], caseNo(briefs[x.case_id]))) : (x.title || ""),
      deptName(x.department), x.summary || x.solution || x.note || ""])));
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
        table(["部分", "项目", "变更"], (r.changes_text || []).map((c) => [c.section, c.item, c.change])));
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
    h("h2", {}, "变更记录"), table(["时间", "操作人", "结果", "变更", "说明", "文件"], audit.items.map((a) => [fmtTime(a.at), a.by_name || personName(a.by),
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
        + (s.replaces ? `（替换现有来源：${sourceName(s.replaces)}）` : "（新增年份）") + `。${r.how_to_apply}`),
        table(["变更", "日期"], [["新增节假日", s.holidays_added.join("、")], ["取消节假日", s.holidays_removed.join("、")],
          ["新增调休上班", s.workdays_added.join("、")], ["取消调休上班", s.workdays_removed.join("、")]]),
        applyButton(r.audit_id, r.year));
    } catch (err) {
      result.replaceChildren(h("p", { class: "error" }, "校验未通过：" + err.message));
    }
  };
  const applyButton = (auditId, year) => h("button", { type: "button", class: "primary", "data-apply": auditId, onclick: async () => {
    try {
      const r = await api("POST", "/api/v1/console/calendar/apply", { audit_id: auditId, note: $("year-note") ? $("year-note").value : "" });
      state.flash = r.message;
      await start();  // the header's banner too
    } catch (err) { showError(err); }
  } }, `应用 ${year} 年安排`);
  const ny = cal.next_year || {};
  show(h("h1", {}, "工作日历（法定节假日与调休）"),
    cal.missing.length ? h("p", { class: "error", id: "calendar-missing" }, `缺少年份：${cal.missing.join("、")}（这些年份暂按周一至周五计算工作日）`
      + (ny.known ? "" : `；距 ${ny.year} 年 1 月 1 日还有 ${ny.days_left} 天`))
      : h("p", { class: "notice", id: "calendar-missing" }, "本年度和下一年度的节假日安排均已具备"),
    cal.broken.length ? h("p", { class: "error" }, "无法读取的文件：" + cal.broken.map((b) => `${b.file}（${b.message}）`).join("；")) : null,
    h("p", { class: "muted" }, `${cal.how_to_apply}。工作日历文件：${cal.calendar_file}；另可放置年份文件的目录：${cal.directory}。`),
    h("div", { id: "calendar-years" }, table(["年份", "来源", "节假日天数", "调休上班天数", "应用"],
      cal.years.slice().reverse().map((y) => [y.year, sourceName(y.source), y.holidays, y.workdays,
        y.applied_by ? `${y.applied_by} 于 ${fmtTime(y.applied_at)} 在工作台应用` : ""]))),
    h("h2", {}, "上传或粘贴某年的国务院节假日安排（YAML）"), file, text,
    h("label", {}, "说明 ", h("input", { id: "year-note", size: 40 })),
    h("button", { type: "button", class: "primary", id: "year-check", onclick: check }, "校验"), result,
    h("h2", {}, "校验与应用记录"), h("div", { id: "calendar-audit" }, table(["时间", "操作人", "操作", "年份", "结果", "说明", "文件"], audit.items.map((a) => [
      fmtTime(a.at), a.by_name || personName(a.by), a.action === "apply" ? "应用" : "校验", a.year || "",
      a.action === "apply" ? "已应用，各服务自动生效" : a.valid ? `通过（节假日 ${a.summary.holidays} 天）` : (a.errors || []).map((e) => e.message).join("；"),
      a.note || "",
      h("span", {}, h("button", { type: "button", onclick: () => downloadAudit(a.audit_id, "calendar", `${a.year || "holidays"}.yaml`) }, "下载"),
        a.action !== "apply" && a.valid ? applyButton(a.audit_id, a.year) : null)]))));
};

function sourceName(source) {
  if (!source) return "";
  return source === "chinese_calendar" ? "chinese_calendar 程序包（国务院已公布年份）" : source;
}

// Administrator: the effective settings that steer the rules, read-only, each with the variable that changes it.
PAGES.settings = async () => {
  const data = await api("GET", "/api/v1/console/settings");
  const fmt = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
  show(h("h1", {}, "规则参数（只读）"), h("p", { class: "muted" }, data.how_to_change),
    h("div", { id: "settings-table" }, table(["服务", "参数", "当前值", "环境变量"], data.items.map((r) => [r.service_name || "其他", r.label, fmt(r.value), h("code", {}, r.env)]))));
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
      { name: "units", label: "所属单位（单位或乡镇名称，用顿号或逗号分隔）", type: "line", value: o ? o.units.map(unitName).join("、") : "" },
      { name: "enterprises", label: o ? "联系企业（名称或信用代码，每行一个；留空则不变）" : "联系企业（名称或信用代码，每行一个）" }], "保存");
    if (!values) return;
    const id = o ? o.officer_id : values.officer_id;
    const unknown = [];
    const codes = values.units.split(/[,，、\s]+/).filter(Boolean).map((word) => {
      const found = units.find((u) => u.name === word || u.code === word);
      if (!found) unknown.push(word);
      return found ? found.code : word;
    });
    if (unknown.length) return showError(new Error(`组织配置中没有这些单位：${unknown.join("、")}`));
    const body = { name: values.name, phone: values.phone, units: codes,
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
      o.officer_id, o.name, o.phone, o.units.map(unitName).join("、"), o.enterprises.length,
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
