// The submission form: options from /e/options.json, POST /api/v1/submissions, show the tracking number.
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  var errorBox = document.getElementById("form-error");
  var channel = "qrcode";
  var FIELD_NAMES = {"enterprise.name": "企业名称", "enterprise.uscc": "统一社会信用代码", "enterprise.contact_name": "联系人",
    "enterprise.contact_phone": "联系电话", "content": "问题描述", "title": "标题", "region_hint": "所在乡镇", "category": "问题类别"};

  fetch("/e/options.json").then(function (r) { return r.json(); }).then(function (options) {
    channel = options.channel;
    fill(document.getElementById("category"), options.categories);
    fill(document.getElementById("region"), options.regions);
  });

  function fill(select, items) {
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.code; option.textContent = item.name; select.appendChild(option);
    });
  }

  function value(id) { return document.getElementById(id).value.trim(); }

  // One Idempotency-Key per filled-in form: a retried send (a double click, a lost answer) answers the same case.
  var idempotencyKey = null;
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16); (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  form.addEventListener("input", function () { idempotencyKey = null; });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!idempotencyKey) idempotencyKey = newKey();
    errorBox.textContent = "";
    var missing = [];
    if (!value("enterprise_name")) missing.push("企业名称");
    if (!value("contact_phone")) missing.push("联系电话");
    if (!value("content")) missing.push("问题描述");
    if (missing.length) { errorBox.textContent = "请填写：" + missing.join("、"); return; }
    var body = {
      channel: channel,
      submitted_at: new Date().toISOString(),
      enterprise: {name: value("enterprise_name"), uscc: value("uscc") || null,
                   contact_name: value("contact_name") || null, contact_phone: value("contact_phone")},
      content: value("content"), title: value("title") || null,
      category: value("category") || null, region_hint: value("region") || null,
      reporter: {kind: "enterprise", name: value("contact_name") || null}
    };
    var button = document.getElementById("submit-button");
    button.disabled = true;
    fetch("/api/v1/submissions?strict=true", {method: "POST", headers: {"content-type": "application/json", "idempotency-key": idempotencyKey},
                                              body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); })
      .then(function (answer) {
        button.disabled = false;
        if (answer.status === 202) {
          form.hidden = true;
          document.getElementById("tracking-no").textContent = answer.data.tracking_no;
          // the signed link from the receipt opens the case without other proof: keep it to follow the case
          document.getElementById("track-link").href = answer.data.track_url;
          document.getElementById("result").hidden = false;
        } else if (answer.data.detail) {
          errorBox.textContent = answer.data.detail.map(function (d) {
            return (FIELD_NAMES[d.field] || d.field) + "：" + (d.message || "").split(": ").pop();
          }).join("；");
        } else {
          errorBox.textContent = answer.data.error || "提交失败，请稍后再试";
        }
      })
      .catch(function () { button.disabled = false; errorBox.textContent = "网络异常，请稍后再试"; });
  });
})();
