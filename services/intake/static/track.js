// The tracking page: tracking number + last four phone digits -> the case's progress as a timeline.
(function () {
  "use strict";
  var form = document.getElementById("track-form");
  var errorBox = document.getElementById("track-error");
  var params = new URLSearchParams(location.search);
  if (params.get("tracking_no")) document.getElementById("tracking_no").value = params.get("tracking_no");

  function show(item) {
    document.getElementById("case-tracking-no").textContent = item.tracking_no;
    document.getElementById("case-status").textContent = item.status_name;
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
    document.getElementById("case").hidden = false;
  }

  function query() {
    errorBox.textContent = "";
    var tracking = document.getElementById("tracking_no").value.trim();
    var last4 = document.getElementById("phone_last4").value.trim();
    if (!tracking || !/^\d{4}$/.test(last4)) { errorBox.textContent = "请填写查询编号和联系电话后四位"; return; }
    fetch("/api/v1/cases?tracking_no=" + encodeURIComponent(tracking) + "&phone_last4=" + encodeURIComponent(last4))
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); })
      .then(function (answer) {
        if (answer.status === 200) show(answer.data);
        else { document.getElementById("case").hidden = true; errorBox.textContent = answer.data.error || "查询失败"; }
      })
      .catch(function () { errorBox.textContent = "网络异常，请稍后再试"; });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); query(); });
})();
