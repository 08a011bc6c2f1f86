// The /docs page: reads openapi.json (relative, so it works behind a path prefix) and lists every operation
// by tag, with its parameters, request body and responses. No framework, nothing fetched from elsewhere.
"use strict";
(function () {
  const main = document.getElementById("operations");
  const text = (s) => document.createTextNode(s == null ? "" : String(s));
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child instanceof Node ? child : text(child));
    return node;
  }
  function resolve(doc, value) {
    let seen = 0;
    while (value && value.$ref && seen++ < 10) {
      value = value.$ref.replace(/^#\//, "").split("/").reduce((o, k) => (o || {})[k], doc);
    }
    return value || {};
  }
  function schemaName(schema) {
    if (!schema) return "";
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.type === "array" && schema.items) return schemaName(schema.items) + "[]";
    return schema.type || "";
  }
  function table(headers, rows) {
    return el("table", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h))),
      ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))));
  }
  function operationBlock(doc, path, method, op) {
    const body = el("div", { class: "body" });
    if (op.description) body.append(el("p", {}, op.description));
    if (op["x-undescribed"]) body.append(el("p", { class: "undescribed" }, "此接口尚无说明"));
    const params = (op.parameters || []).map((p) => resolve(doc, p));
    if (params.length) {
      body.append(el("h4", {}, "参数"), table(["名称", "位置", "必填", "类型", "说明"], params.map((p) =>
        [p.name, p.in, p.required ? "是" : "否", schemaName(p.schema), p.description || ""])));
    }
    if (op.requestBody) {
      const rb = resolve(doc, op.requestBody);
      body.append(el("h4", {}, "请求体"), table(["类型", "结构"], Object.entries(rb.content || {}).map(([t, c]) =>
        [t, schemaName(c.schema)])));
    }
    const responses = Object.entries(op.responses || {}).map(([code, r]) => {
      const resp = resolve(doc, r);
      return [code, resp.description || "", Object.keys(resp.content || {}).join(", ")];
    });
    if (responses.length) body.append(el("h4", {}, "响应"), table(["状态码", "说明", "类型"], responses));
    const head = el("summary", {}, el("span", { class: "method " + method }, method),
      el("span", { class: "path" }, path), el("span", {}, op.summary || ""));
    const block = el("details", { "data-search": (method + " " + path + " " + (op.summary || "")).toLowerCase() },
      head, body);
    return block;
  }
  function render(doc) {
    document.getElementById("title").textContent = doc.info.title;
    document.title = doc.info.title;
    document.getElementById("description").textContent = doc.info.description || "";
    main.textContent = "";
    const groups = new Map();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const tag = (op.tags && op.tags[0]) || "其他";
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(operationBlock(doc, path, method, op));
      }
    }
    const described = new Map((doc.tags || []).map((t) => [t.name, t.description]));
    for (const [tag, blocks] of groups) {
      const section = el("section", {}, el("h2", {}, described.get(tag) ? tag + "：" + described.get(tag) : tag), ...blocks);
      main.append(section);
    }
  }
  document.getElementById("filter").addEventListener("input", (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const d of main.querySelectorAll("details")) d.hidden = q !== "" && !d.dataset.search.includes(q);
  });
  fetch("openapi.json").then((r) => r.json()).then(render).catch((err) => {
    main.textContent = "无法读取 openapi.json：" + err;
  });
})();
