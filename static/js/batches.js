// The new-batch page: show the panel of the chosen input (file, paste, scan), and scan mode.
// Without this script every panel shows and the form still works.

(() => {
  const form = document.querySelector("[data-batch-form]");
  if (!form) return;

  // --- One panel for the chosen way of giving devices ---------------------------------------------
  const panels = form.querySelectorAll("[data-mode-panel]");
  const showMode = () => {
    const checked = form.querySelector("input[name=mode]:checked");
    const mode = checked ? checked.value : "file";
    panels.forEach((panel) => {
      panel.hidden = panel.dataset.modePanel !== mode;
    });
    if (mode === "scan") scanBox.focus();
  };

  // --- Scan mode --------------------------------------------------------------------------------
  // A scanner types the code and presses Enter. Each code is checked at once by the server (rules and
  // cache) and added to the list with its status; the list's codes travel in the hidden "scanned" field.
  const scanBox = document.getElementById("scan-code");
  const list = document.getElementById("scan-list");
  const hidden = form.querySelector("input[name=scanned]");
  const count = document.getElementById("scan-count");

  const codes = () => Array.from(list.querySelectorAll("[data-code]"));
  const refresh = () => {
    const rows = codes();
    hidden.value = rows.map((row) => row.dataset.code).join("\n");
    const ready = rows.filter((row) => row.dataset.status === "ready").length;
    const problems = rows.filter((row) => row.dataset.status === "error").length;
    count.textContent = rows.length
      ? `${rows.length} scanned: ${ready} ready, ${problems} with a problem, ${rows.length - ready - problems} with nothing to do.`
      : "No device scanned yet.";
  };

  const scan = () => {
    const code = scanBox.value.trim();
    scanBox.value = "";
    if (!code) return;
    const existing = codes().find((row) => row.dataset.code === code);
    if (existing) {
      // Scanned twice: show the row again rather than adding it twice.
      existing.classList.remove("scan-new");
      void existing.offsetWidth; // restart the highlight
      existing.classList.add("scan-new", "scan-repeat");
      return;
    }
    const action = form.querySelector("input[name=action]:checked");
    const customer = form.querySelector("input[name=customer]");
    htmx.ajax("POST", scanBox.dataset.scanUrl, {
      source: scanBox,
      target: list,
      swap: "afterbegin",
      values: { code, action: action ? action.value : "claim", customer: customer.value },
    });
  };

  scanBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      scan();
    }
  });

  list.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-scan-remove]");
    if (!remove) return;
    remove.closest("[data-code]").remove();
    refresh();
    scanBox.focus();
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.target === list) {
      refresh();
      scanBox.focus(); // ready for the next scan
    }
  });

  form.addEventListener("change", (event) => {
    if (event.target.name === "mode") showMode();
  });
  showMode();
  // The page came back with errors: check the codes scanned before again, so none is lost.
  const earlier = hidden.value.split("\n").filter((code) => code.trim());
  refresh();
  earlier.forEach((code) => {
    scanBox.value = code;
    scan();
  });
})();
