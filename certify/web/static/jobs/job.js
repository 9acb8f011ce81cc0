// A background job's page: reads the job's state every second while it is queued or running and
// shows it; once it is done, goes to the page about its result (an import's page reloads
// instead, to say what the import did, with a link to that page). The page itself is the same
// when reloaded: every figure comes from the database.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.dataset.finished === "true") {
    return;
  }
  var english = document.documentElement.lang === "en";
  function show(id, text) {
    var node = document.getElementById(id);
    if (node) {
      node.textContent = text;
    }
  }
  function update(job) {
    var bar = document.getElementById("job-progress");
    bar.max = job.total || 1;
    bar.value = job.total ? job.done : 0;
    bar.textContent = job.percent + "%";
    show("job-count", job.done + " / " + job.total + " (" + job.percent + "%)");
    show("job-step", job.step || "—");
    var state = document.getElementById("job-state");
    state.textContent = english ? job.label_en : job.label_zh;
    state.className = "job-state-" + (job.interrupted ? "interrupted" : job.state);
    if (job.error) {
      show("job-error", job.error);
      document.getElementById("job-error").style.display = "";
    }
  }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (job) {
        update(job);
        if (job.state === "done" && job.leads_to && !job.stays) {
          window.location.assign(job.leads_to);
        } else if (job.finished || job.interrupted) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 500);
})();
