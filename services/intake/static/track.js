// The tracking page: a proof of the enterprise (tracking number + last four phone digits, or + a one-time code sent
// to the contact phone, or the signed link from the receipt) -> the case's progress as a timeline. Every proof
// answers a token that the page uses for its next calls (rating), so the digits are sent once.
(function () {
  "use strict";
  var form = document.getElementById("track-form");
  var errorBox = document.getElementById("track-error");
  var params = new URLSearchParams(location.search);
  if (params.get("tracking_no")) document.getElementById("tracking_no").value = params.get("tracking_no");

  function show(item) {
    document.getElementById("case-tracking-no").textContent = item.tracking_no;
    document.getElementById("case-status").textContent = item.status_name;
    var due = document.getElementById("case-due");
    due.textContent = (item.unit_name ? "承办单位：" + item.unit_name + "　" : "") +
      (item.due_at ? "办理时限：" + item.due_at.replace("T", " ").slice(0, 16) : "");
    var list = document.getElementById("timeline");
    list.innerHTML = "";
    item.timeline.forEach(function (step) {
      var li = document.createElement("li");
      li.className = step.done ? "done" : "todo";
      li.dataset.step = step.step;
      var name = document.createElement("div"); name.className = "step"; name.textContent = step.name; li.appendChild(name);
      if (step.at) { var at = document.createElement("div"); at.className = "at"; at.textContent = step.at.replace("T", " ").slice(0, 16); li.appendChild(at); }
      if (step.detail) { var d = document.createElement("div"); d.className = "detail"; d.textContent = step.detail; li.appendChild(d); }
      list.appendChild(li);
    });
    if (item.closed_reason) due.textContent += "　" + item.closed_reason;
    document.getElementById("supplement").hidden = !item.awaiting_detail;
    document.getElementById("case").hidden = false;
  }

  // 补充说明: a case screened as unclear waits for the enterprise's detail (case.supplemented)
  var supplementForm = document.getElementById("supplement");
  supplementForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("supplement-error");
    var content = document.getElementById("supplement-content").value.trim();
    if (!content) { box.textContent = "请填写补充内容"; return; }
    var button = document.getElementById("supplement-button"); button.disabled = true;
    fetch("/api/v1/cases/supplements", {method: "POST", headers: {"content-type": "application/json"},
                                        body: JSON.stringify({token: proof.token, content: content})})
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); })
      .then(function (answer) {
        button.disabled = false;
        box.textContent = answer.data.message || answer.data.error || "";
        if (answer.status === 202) supplementForm.hidden = true;
      })
      .catch(function () { button.disabled = false; box.textContent = "网络异常，请稍后再试"; });
  });

  // Rating (served by the rating service): a resolved case awaiting a rating shows the levels and a comment box;
  // the tracking number and the last four phone digits the enterprise just gave are its proof.
  var ratingForm = document.getElementById("rating");
  var ratingDone = document.getElementById("rating-done");
  var ratingError = document.getElementById("rating-error");
  var proof = null;
  var shownFor = null;  // the resolution the form is drawn for

  function showRating(status) {
    ratingForm.hidden = true; ratingDone.hidden = true;
    if (status.rating) {
      shownFor = null;
      ratingDone.textContent = "您已评价：" + status.rating.name + "。感谢您的评价！";
      ratingDone.hidden = false;
      return;
    }
    if (!status.awaiting) { shownFor = null; return; }
    var key = status.round + ":" + (proof && proof.tracking);
    if (shownFor === key) { ratingForm.hidden = false; return; }  // asked again: keep what was chosen
    shownFor = key;
    document.getElementById("rating-title").textContent =
      status.rectification ? "请对整改情况进行评价" : "请对办理结果进行评价";
    var box = document.getElementById("rating-levels");
    box.innerHTML = "";
    status.levels.forEach(function (level) {
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "radio"; input.name = "level"; input.value = level.code; input.id = "level-" + level.code;
      label.appendChild(input); label.appendChild(document.createTextNode(level.name));
      box.appendChild(label);
    });
    ratingForm.hidden = false;
  }

  function loadRating() {
    fetch("/api/v1/rating/status?token=" + encodeURIComponent(proof.token))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (status) { if (status) showRating(status); else { ratingForm.hidden = true; ratingDone.hidden = true; } })
      .catch(function () { ratingForm.hidden = true; });
  }

  function rate() {
    ratingError.textContent = "";
    var chosen = ratingForm.querySelector('input[name="level"]:checked');
    if (!chosen) { ratingError.textContent = "请选择评价等级"; return; }
    var button = document.getElementById("rating-button");
    button.disabled = true;
    var comment = document.getElementById("rating-comment").value.trim();
    fetch("/api/v1/rating/tracked-ratings", {
      method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({token: proof.token, level: chosen.value, comment: comment || null})
    })
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); })
      .then(function (answer) {
        button.disabled = false;
        if (answer.status === 201) {
          ratingForm.hidden = true;
          ratingDone.textContent = "您的评价：" + answer.data.name + "。" + (answer.data.satisfied
            ? "感谢您的评价，承办单位已收到。"
            : "感谢您的评价。您的“不满意”评价已报送县纪委县监委跟踪监督，承办单位将限期整改，工作人员将上门回访。");
          ratingDone.hidden = false;
        } else ratingError.textContent = answer.data.error || "评价提交失败";
      })
      .catch(function () { button.disabled = false; ratingError.textContent = "网络异常，请稍后再试"; });
  }

  ratingForm.addEventListener("change", function () { ratingError.textContent = ""; });
  ratingForm.addEventListener("submit", function (event) { event.preventDefault(); rate(); });

  function ask(query) {
    errorBox.textContent = "";
    fetch("/api/v1/cases?" + query)
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); })
      .then(function (answer) {
        if (answer.status === 200) {
          document.getElementById("tracking_no").value = answer.data.tracking_no;
          show(answer.data);
          proof = {token: answer.data.proof_token, tracking: answer.data.tracking_no};
          loadRating();
        } else {
          document.getElementById("case").hidden = true; ratingForm.hidden = true; ratingDone.hidden = true;
          errorBox.textContent = answer.data.error || "查询失败";
        }
      })
      .catch(function () { errorBox.textContent = "网络异常，请稍后再试"; });
  }

  function query() {
    var tracking = document.getElementById("tracking_no").value.trim();
    var last4 = document.getElementById("phone_last4").value.trim();
    var code = document.getElementById("code").value.trim();
    if (!tracking || !(/^\d{4}$/.test(last4) || /^\d{6}$/.test(code))) {
      errorBox.textContent = "请填写查询编号，以及联系电话后四位或短信验证码"; return;
    }
    ask("tracking_no=" + encodeURIComponent(tracking) +
        (code ? "&code=" + encodeURIComponent(code) : "&phone_last4=" + encodeURIComponent(last4)));
  }

  // A one-time code to the contact phone: the real enterprise gets in even while someone guesses digits.
  document.getElementById("code-button").addEventListener("click", function () {
    var tracking = document.getElementById("tracking_no").value.trim();
    if (!tracking) { errorBox.textContent = "请先填写查询编号"; return; }
    var button = this; button.disabled = true;
    fetch("/api/v1/cases/codes", {method: "POST", headers: {"content-type": "application/json"},
                                  body: JSON.stringify({tracking_no: tracking})})
      .then(function (r) { return r.json(); })
      .then(function (data) { errorBox.textContent = data.message || data.error || ""; })
      .catch(function () { errorBox.textContent = "网络异常，请稍后再试"; })
      .then(function () { setTimeout(function () { button.disabled = false; }, 60000); });
  });

  if (params.get("token")) ask("token=" + encodeURIComponent(params.get("token")));  // the receipt's link

  form.addEventListener("submit", function (event) { event.preventDefault(); query(); });
})();
