// The segment form: each condition row shows the value inputs of its field only, and the count
// of members (with a preview) follows the form as the operator edits it.
(function () {
  "use strict";
  const INPUTS = ["choice", "number", "days", "tier", "store", "tag", "text"];

  function fieldInputs() {
    const node = document.getElementById("segment-field-inputs");
    return node ? JSON.parse(node.textContent) : {};
  }

  function showInputs(row, inputs) {
    const field = row.querySelector("select[name$='-field']");
    if (!field) return;
    const wanted = inputs[field.value] || [];
    INPUTS.forEach(function (name) {
      const cell = row.querySelector(".field-" + name);
      if (cell) cell.style.visibility = wanted.includes(name) ? "visible" : "hidden";
    });
    const choice = row.querySelector("select[name$='-choice']");
    if (choice) {
      const label = field.options[field.selectedIndex] ? field.options[field.selectedIndex].text : "";
      choice.querySelectorAll("optgroup").forEach(function (group) {
        group.hidden = group.label !== label;
      });
      const selected = choice.options[choice.selectedIndex];
      if (selected && selected.parentElement.tagName === "OPTGROUP" && selected.parentElement.hidden) {
        choice.value = "";
      }
    }
  }

  function rows(form) {
    return form.querySelectorAll("tr.form-row, tr[id^='conditions-']");
  }

  function text(template) {
    return template ? template.innerHTML : "";
  }

  function start() {
    const panel = document.getElementById("segment-count");
    const form = document.querySelector("form[method='post'][id$='_form']") || document.querySelector("#content form");
    if (!panel || !form) return;
    const inputs = fieldInputs();
    const count = panel.querySelector("[data-count]");
    const state = panel.querySelector("[data-state]");
    const error = panel.querySelector("[data-error]");
    const table = panel.querySelector("[data-preview]");
    const note = panel.querySelector("[data-preview-note]");
    let timer = null;
    let sequence = 0;
    let pending = null;

    function refresh() {
      const mine = ++sequence;
      if (pending) pending.abort(); // a count of an older form is of no use
      pending = new AbortController();
      state.textContent = text(panel.querySelector("template[data-counting]"));
      fetch(panel.dataset.url, {
        method: "POST", body: new FormData(form), credentials: "same-origin", signal: pending.signal,
      })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          if (mine !== sequence) return;
          state.textContent = "";
          error.hidden = !data.error;
          error.textContent = data.error || "";
          if (data.error) return;
          count.textContent = data.count.toLocaleString();
          const body = table.querySelector("tbody");
          body.replaceChildren();
          data.members.forEach(function (m) {
            const tr = document.createElement("tr");
            [m.member, m.tier, m.city, m.joined].forEach(function (value) {
              const td = document.createElement("td");
              td.textContent = value;
              tr.appendChild(td);
            });
            body.appendChild(tr);
          });
          table.hidden = note.hidden = data.members.length === 0;
        })
        .catch(function (failure) {
          if (failure.name === "AbortError") return;
          if (mine === sequence) state.textContent = text(panel.querySelector("template[data-failed]"));
        });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 500);
    }

    rows(form).forEach(function (row) { showInputs(row, inputs); });
    form.addEventListener("change", function (event) {
      const row = event.target.closest("tr");
      if (row) showInputs(row, inputs);
      later();
    });
    form.addEventListener("input", later);
    // a row added with "Add another" arrives empty: give it its inputs
    document.addEventListener("formset:added", function (event) {
      const row = event.target.closest ? event.target.closest("tr") || event.target : event.target;
      showInputs(row, inputs);
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
