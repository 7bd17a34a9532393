// The deployment page's live log: follows /ui/deployments/{id}/events (the session's
// cookie goes with it), adds each line, shows progress, and reloads the page for the
// result when the stream's "end" arrives. EventSource reconnects by itself, sending
// Last-Event-ID, so a dropped connection resumes where it stopped.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.stream || !window.EventSource) return;
  var progress = document.getElementById("progress-text");
  var status = document.getElementById("status");
  var empty = document.getElementById("log-empty");
  var steps = 0, done = 0;
  var source = new EventSource(log.dataset.stream, { withCredentials: true });

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function line(event) {
    var item = document.createElement("li");
    item.className = "level-" + event.level;
    item.dataset.seq = event.seq;
    var at = new Date(event.created_at);
    var time = document.createElement("time");
    time.dateTime = event.created_at;
    time.textContent = pad(at.getUTCHours()) + ":" + pad(at.getUTCMinutes()) + ":" + pad(at.getUTCSeconds());
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = event.kind;
    var msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = event.message;
    item.append(time, " ", kind, " ", msg);
    return item;
  }

  source.onmessage = function (message) {
    var event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    var last = log.lastElementChild;
    if (last && Number(last.dataset.seq) >= event.seq) return; // already shown
    var follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.appendChild(line(event));
    if (empty) { empty.remove(); empty = null; }
    if (follow) log.scrollTop = log.scrollHeight;
    if (event.kind === "engine.resource_step") steps += 1;
    if (event.kind === "engine.resource_done") done += 1;
    if (status && event.kind === "deployment.running") {
      status.firstElementChild.textContent = "running";
      status.firstElementChild.className = "badge status-running";
    }
    if (progress) {
      progress.textContent = (steps ? done + " of " + steps + " resources done · " : "") + event.message;
    }
  };
  source.addEventListener("end", function (message) {
    source.close();
    var result = "finished";
    try { result = JSON.parse(message.data).status; } catch (e) { /* keep the default */ }
    if (progress) progress.textContent = "Finished: " + result + ". Loading the result…";
    window.location.reload();
  });
})();
