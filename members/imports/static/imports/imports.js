/* The import's progress bar: polls the run's progress (JSON) every second and shows percent,
   rows per second and time left (texts come translated in the JSON); when the run is finished, reloads the page for the result.
   After a while without progress it offers the resume button (the job may have stopped).
   Without JavaScript the page refreshes itself (a meta refresh). */
"use strict";
(function () {
  const box = document.getElementById("import-progress");
  if (!box) {
    return;
  }
  const stallMs = 1000 * Number(box.dataset.stallSeconds || 60);
  const resume = document.getElementById("import-resume");
  const status = document.getElementById("import-status");
  const bar = box.querySelector("progress");
  const percent = box.querySelector(".progress-percent");
  const rows = box.querySelector(".progress-rows");
  const rate = box.querySelector(".progress-rate");
  const left = box.querySelector(".progress-left");
  let lastDone = null;
  let lastChange = Date.now();

  function render(p) {
    bar.value = p.percent;
    bar.textContent = p.percent + "%";
    percent.textContent = p.percent + "%";
    rows.textContent = p.rows_text || "";
    rate.textContent = p.rate_text || "";
    left.textContent = p.left_text || "";
    if (status) {
      status.textContent = p.status_label;
    }
  }

  async function tick() {
    try {
      const response = await fetch(box.dataset.url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const p = await response.json();
        render(p);
        if (p.finished) {
          window.location.reload();
          return;
        }
        if (p.rows_done !== lastDone) {
          lastDone = p.rows_done;
          lastChange = Date.now();
        } else if (resume && Date.now() - lastChange > stallMs) {
          resume.hidden = false;
        }
      }
    } catch (error) {
      // a network hiccup: the next tick tries again
    }
    window.setTimeout(tick, 1000);
  }

  window.setTimeout(tick, 1000);
})();
