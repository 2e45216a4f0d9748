// The desk's one script. It never builds HTML from data: text goes in with textContent, pictures with
// the app's own URLs, and every change is a POST carrying the page's desk token (see pipeline/desk/guard.py).
"use strict";

(function () {
  const token = document.querySelector('meta[name="desk-token"]')?.content || "";
  const page = document.body.dataset.page;

  async function send(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method === "POST") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-Desk-Token"] = token;
      options.body = JSON.stringify(body || {});
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      return { status: 0, body: { error: "The desk cannot be reached: " + error.message } };
    }
    let answer = {};
    try {
      answer = await response.json();
    } catch (error) {
      answer = { error: "Unexpected answer (" + response.status + ")" };
    }
    return { status: response.status, body: answer };
  }

  function say(element, text, failed) {
    if (!element) return;
    element.textContent = text;
    element.classList.toggle("failed", Boolean(failed));
  }

  // A picture that cannot be shown (not decoded, erased) becomes words instead of a broken image.
  function noPicture(image) {
    const words = document.createElement("div");
    words.className = "no-photo";
    words.textContent = "no picture";
    image.replaceWith(words);
  }
  document.querySelectorAll("img.thumb, img.crop").forEach((image) => {
    if (image.complete && image.naturalWidth === 0 && image.getAttribute("src")) noPicture(image);
    else image.addEventListener("error", () => noPicture(image), { once: true });
  });

  // --- admin actions ----------------------------------------------------------------------------------
  document.querySelectorAll("button[data-action]").forEach((button) => {
    const outcome = button.parentElement.querySelector(".outcome");
    const action = button.dataset.action;
    if (!["replay", "reprocess", "forget"].includes(action)) return;
    button.addEventListener("click", async () => {
      let path, body, done;
      if (action === "replay") {
        [path, body] = ["/desk/admin/replay", {}];
        done = (b) => "Replayed: " + Object.entries(b.replayed || {}).map(([s, n]) => s + " " + n).join(", ");
      } else if (action === "reprocess") {
        [path, body] = ["/desk/admin/reprocess", { batch: button.dataset.batch }];
        done = (b) => "Queued " + b.queued + ", up to date " + b.up_to_date;
      } else {
        const sure = window.confirm("Erase " + button.dataset.name + " everywhere: its picture, faces, matches " +
          "and decisions? This cannot be undone.");
        if (!sure) return;
        [path, body] = ["/desk/admin/forget", { image_id: button.dataset.image }];
        done = () => "Erased.";
      }
      button.disabled = true;
      const result = await send("POST", path, body);
      button.disabled = false;
      if (result.status >= 200 && result.status < 300) {
        say(outcome, done(result.body), false);
        if (action === "forget") window.location.assign("/");
      } else {
        say(outcome, result.body.error || "Refused (" + result.status + ")", true);
      }
    });
  });

  // --- batches: live progress -------------------------------------------------------------------------
  if (page === "batches" && document.getElementById("batches")) {
    const offset = document.body.dataset.offset || "0";
    const fields = ["images", "complete", "failed", "processing"];
    async function refresh() {
      const result = await send("GET", "/desk/batches.json?offset=" + encodeURIComponent(offset));
      let busy = false;
      if (result.status === 200) {
        const shown = new Set([...document.querySelectorAll("tr[data-batch]")].map((row) => row.dataset.batch));
        const listed = result.body.items.map((item) => item.batch_id);
        if (listed.length !== shown.size || listed.some((batch) => !shown.has(batch))) {
          window.location.reload(); // a new batch: the page lays itself out again
          return;
        }
        for (const item of result.body.items) {
          const row = [...document.querySelectorAll("tr[data-batch]")].find((r) => r.dataset.batch === item.batch_id);
          for (const field of fields) row.querySelector('[data-field="' + field + '"]').textContent = item[field];
          const bar = row.querySelector("progress");
          bar.max = item.images;
          bar.value = item.complete + item.failed;
          bar.textContent = bar.value + " of " + item.images;
          row.querySelector('[data-field="steps"]').textContent = item.steps
            ? Object.entries(item.steps).map(([step, counts]) => step + " " + (counts.ok || 0)).join(", ") || "none run yet"
            : "finished: every image complete or failed";
          const time = row.querySelector('[data-field="last_update"]');
          if (item.last_update) time.textContent = item.last_update.slice(0, 19).replace("T", " ") + " UTC";
          busy = busy || item.processing > 0;
        }
      }
      window.setTimeout(refresh, busy ? 3000 : 15000);
    }
    window.setTimeout(refresh, 3000);
  }

  // --- review: one pair at a time, y / n / s ------------------------------------------------------------
  if (page === "review") {
    const pair = document.getElementById("pair");
    const outcome = document.getElementById("review-outcome");
    const emptyQueue = document.getElementById("queue-empty");
    const note = document.getElementById("review-note");
    const batch = document.body.dataset.batch;
    let skipped = Number(document.body.dataset.offset || "0");
    let busy = false;

    function show(next) {
      if (!next) {
        pair.hidden = true;
        emptyQueue.hidden = false;
        return;
      }
      pair.dataset.face = next.face_id;
      pair.dataset.matched = next.matched_face_id;
      document.getElementById("confidence").textContent = next.confidence_text;
      next.sides.forEach((side, index) => {
        const box = pair.querySelectorAll(".side")[index];
        box.querySelector("img.crop").src = side.crop_url;
        const whole = box.querySelector("img.whole");
        if (side.photo_url) whole.src = side.photo_url;
        const svg = box.querySelector("svg");
        svg.setAttribute("viewBox", "0 0 " + (side.width || 1) + " " + (side.height || 1));
        const rect = svg.querySelector("rect");
        const r = side.rectangle || { left: 0, top: 0, width: 0, height: 0 };
        rect.setAttribute("x", r.left);
        rect.setAttribute("y", r.top);
        rect.setAttribute("width", r.width);
        rect.setAttribute("height", r.height);
        const link = box.querySelector("a.file");
        link.textContent = side.name;
        if (side.image_url) link.href = side.image_url;
      });
      if (note) note.value = "";
      pair.hidden = false;
      emptyQueue.hidden = true;
    }

    async function loadNext() {
      const query = "?offset=" + skipped + (batch ? "&batch=" + encodeURIComponent(batch) : "");
      const result = await send("GET", "/desk/review/next.json" + query);
      if (result.status !== 200) {
        say(outcome, result.body.error || "Could not load the next pair", true);
        return;
      }
      show(result.body.pair);
    }

    async function decide(decision) {
      if (busy || pair.hidden || document.body.dataset.canDecide !== "true") return;
      busy = true;
      try {
        if (decision === "skip") {
          skipped += 1;
          say(outcome, "Skipped.", false);
        } else {
          const body = { face_id: pair.dataset.face, matched_face_id: pair.dataset.matched, decision };
          if (note && note.value.trim()) body.note = note.value.trim();
          const result = await send("POST", "/desk/reviews", body);
          if (result.status !== 200) {
            say(outcome, result.body.error || "Refused (" + result.status + ")", true);
            return;
          }
          say(outcome, decision === "confirm" ? "Confirmed: same person." : "Rejected: not the same person.", false);
        }
        await loadNext();
      } finally {
        busy = false;
      }
    }

    pair.querySelectorAll("button[data-decision]").forEach((button) => {
      button.addEventListener("click", () => decide(button.dataset.decision));
    });
    document.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
      const decision = { y: "confirm", n: "reject", s: "skip" }[event.key.toLowerCase()];
      if (decision) {
        event.preventDefault();
        decide(decision);
      }
    });
  }

  // --- a person: label, move a face out, merge --------------------------------------------------------
  if (page === "person") {
    const person = document.body.dataset.person;
    const outcome = document.getElementById("person-outcome");
    const change = (body) => send("POST", "/desk/persons/" + encodeURIComponent(person), body);
    async function changeAndReload(body) {
      const result = await change(body);
      if (result.status === 200) window.location.reload();
      else say(outcome, result.body.error || "Refused (" + result.status + ")", true);
    }
    const labelForm = document.querySelector("form.person-label");
    if (labelForm) {
      labelForm.addEventListener("submit", (event) => {
        event.preventDefault();
        changeAndReload({ label: labelForm.elements.label.value });
      });
      labelForm.querySelector('[data-action="clear-label"]').addEventListener("click", () => {
        changeAndReload({ clear_label: true });
      });
    }
    const mergeForm = document.querySelector("form.person-merge");
    if (mergeForm) {
      mergeForm.addEventListener("submit", (event) => {
        event.preventDefault();
        changeAndReload({ merge: mergeForm.elements.merge.value.trim() });
      });
    }
    document.querySelectorAll('button[data-action="move-out"]').forEach((button) => {
      button.addEventListener("click", async () => {
        button.disabled = true;
        const result = await change({ move_out: button.dataset.face });
        if (result.status === 200) {
          button.closest("li").remove();
          say(outcome, "Moved out: that face now stands apart from this person.", false);
        } else {
          button.disabled = false;
          say(outcome, result.body.error || "Refused (" + result.status + ")", true);
        }
      });
    });
  }
})();
