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
  // A scanner types the code and presses Enter. Each scan becomes a row at once, "Checking…", and the
  // server answers with the row checked (rules and cache) for the customer and action chosen; every row
  // is checked again when either changes. A serial number takes the manufacturer and model typed beside
  // the scan box (the server keeps them only for a serial number). The rows travel, oldest first, in the
  // hidden "scanned" field, read as pasted text: one code per line, or CSV under the header
  // identifier,manufacturer,model once a row has a manufacturer or model. The list is kept in the tab's
  // sessionStorage, so a reload or a visit to another page loses nothing; a list that was sent is not
  // brought back to a new, empty form.
  const scanBox = document.getElementById("scan-code");
  const manufacturerBox = document.getElementById("scan-manufacturer");
  const modelBox = document.getElementById("scan-model");
  const list = document.getElementById("scan-list");
  const checkingRow = document.getElementById("scan-row-checking");
  const hidden = form.querySelector("input[name=scanned]");
  const count = document.getElementById("scan-count");
  const notice = document.getElementById("scan-notice");
  const clear = form.querySelector("[data-scan-clear]");
  const storageKey = `batch-scans:${location.pathname}`;

  // Newest first on screen; rows() gives them in the order they were scanned, as they are sent.
  const rows = () => Array.from(list.querySelectorAll("[data-code]")).reverse();
  const scanOf = (row) => ({
    code: row.dataset.code,
    manufacturer: row.dataset.manufacturer || "",
    model: row.dataset.model || "",
  });

  const csvCell = (value) => (/[",;\t]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
  const asText = (scans) => {
    if (scans.every((scan) => !scan.manufacturer && !scan.model && !/[",;\t]/.test(scan.code))) {
      return scans.map((scan) => scan.code).join("\n");
    }
    const lines = scans.map((scan) => [scan.code, scan.manufacturer, scan.model].map(csvCell).join(","));
    return ["identifier,manufacturer,model", ...lines].join("\n");
  };

  // The hidden field read back (a page that came back with errors): the inverse of asText.
  const cellsOf = (line) =>
    Array.from(line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g), ([, cell]) =>
      cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell,
    );
  const fromText = (text) => {
    const lines = text.split(/\r?\n/).filter((line) => line.trim());
    if (lines[0] !== "identifier,manufacturer,model") {
      return lines.map((line) => ({ code: line.trim(), manufacturer: "", model: "" }));
    }
    return lines.slice(1).map((line) => {
      const [code = "", manufacturer = "", model = ""] = cellsOf(line);
      return { code, manufacturer, model };
    });
  };

  const stored = () => {
    try {
      return JSON.parse(sessionStorage.getItem(storageKey)) || null;
    } catch {
      return null; // storage refused (privacy settings) or damaged: the list lives on the page only
    }
  };
  let sent = false; // the form was sent: a check answered after that must not bring the list back
  const store = () => {
    try {
      sessionStorage.setItem(
        storageKey,
        JSON.stringify({
          scans: rows().map(scanOf),
          manufacturer: manufacturerBox.value,
          model: modelBox.value,
          sent,
        }),
      );
    } catch {
      // as above
    }
  };

  const say = (sentence) => {
    notice.textContent = sentence;
    notice.hidden = !sentence;
  };

  const refresh = () => {
    const all = rows();
    all.forEach((row, index) => {
      row.querySelector("[data-scan-line]").textContent = index + 1;
    });
    hidden.value = asText(all.map(scanOf));
    const having = (status) => all.filter((row) => row.dataset.status === status).length;
    const checking = having("checking");
    count.textContent = all.length
      ? `${all.length} scanned: ${having("ready")} ready, ${having("error")} with a problem, ` +
        `${having("skip")} with nothing to do${checking ? `, ${checking} being checked` : ""}.`
      : "No device scanned yet.";
    clear.hidden = !all.length;
    store();
  };

  const flash = (row) => {
    row.classList.remove("scan-new");
    void row.offsetWidth; // restart the highlight
    row.classList.add("scan-new");
    row.scrollIntoView({ block: "nearest" });
  };

  // The row asks for its own check; its hx-sync drops an earlier answer still on its way.
  const check = (row) => {
    htmx.ajax("POST", scanBox.dataset.scanUrl, { source: row, target: row, swap: "outerHTML" });
  };

  // What a row's check sends: its own scan, and the customer and action chosen now (not the whole form).
  document.addEventListener("htmx:configRequest", (event) => {
    const row = event.detail.elt;
    if (!(row instanceof Element) || !list.contains(row)) return;
    const action = form.querySelector("input[name=action]:checked");
    event.detail.parameters = {
      ...scanOf(row),
      action: action ? action.value : "claim",
      customer: form.querySelector("input[name=customer]").value,
      any_owner: form.querySelector("input[name=any_owner]")?.checked ? "on" : "",
      from_customer: form.querySelector("input[name=from_customer]")?.value || "",
    };
  });

  const addRow = (scan) => {
    const row = checkingRow.content.firstElementChild.cloneNode(true);
    Object.assign(row.dataset, scan);
    row.querySelector("[data-scan-code]").textContent = scan.code;
    row.querySelector("[data-scan-device]").textContent = [scan.manufacturer, scan.model].filter(Boolean).join(" ");
    list.prepend(row);
    return row;
  };

  const scan = () => {
    const code = scanBox.value.trim();
    scanBox.value = "";
    if (!code) return;
    const scanned = { code, manufacturer: manufacturerBox.value.trim(), model: modelBox.value.trim() };
    const all = rows();
    const twin = all.find((row) => row.dataset.code === code);
    if (twin) {
      const line = all.indexOf(twin) + 1;
      flash(twin);
      if (twin.dataset.status === "error") {
        // Scanned again after a problem (a serial number's manufacturer typed since): check it again.
        Object.assign(twin.dataset, { manufacturer: scanned.manufacturer, model: scanned.model });
        say(`Scanned again (line ${line}): checked again.`);
        check(twin);
      } else {
        say(`Scanned already (line ${line}): each device once.`);
      }
      return;
    }
    say("");
    check(addRow(scanned));
    refresh();
  };

  scanBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      scan();
    }
  });
  // Enter in the manufacturer or model box goes back to scanning rather than sending the form.
  [manufacturerBox, modelBox].forEach((box) => {
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        scanBox.focus();
      }
    });
    box.addEventListener("input", () => store());
  });

  const drop = (row) => {
    htmx.trigger(row, "htmx:abort");
    row.remove();
  };

  list.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-scan-remove]");
    if (!remove) return;
    drop(remove.closest("[data-code]"));
    say("");
    refresh();
    scanBox.focus();
  });

  clear.addEventListener("click", () => {
    const all = rows();
    if (!window.confirm(`Remove all ${all.length} scanned devices from the list?`)) return;
    all.forEach(drop);
    say("");
    refresh();
    scanBox.focus();
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    if (list.contains(event.target)) refresh();
  });

  form.addEventListener("change", (event) => {
    if (event.target.name === "mode") showMode();
    if (["customer", "action", "any_owner", "from_customer"].includes(event.target.name)) rows().forEach(check);
  });
  form.addEventListener("submit", () => {
    sent = true;
    store();
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      sent = false; // back to this very page (the browser kept it): its list is being worked on again
      store();
    }
  });

  // A check that got no answer leaves its row unchecked; sending the list checks every row anyway.
  ["htmx:responseError", "htmx:sendError"].forEach((name) => {
    document.addEventListener(name, (event) => {
      const row = event.detail.elt;
      if (row instanceof Element && list.contains(row)) {
        row.querySelector(".scan-message").textContent =
          "Not checked: the portal did not answer. The row is checked with the others when you send the list.";
      }
    });
  });

  // --- Back to the page: the list as it was -------------------------------------------------------
  // A page that came back with errors holds the rows it was sent in the hidden field. A fresh form
  // takes the tab's stored list (a reload, a look at another page), unless that list was sent: then
  // the new form starts empty rather than offer the same devices twice.
  const earlier = stored();
  let restore = [];
  if (hidden.value.trim()) {
    restore = fromText(hidden.value);
  } else if (earlier && !earlier.sent && earlier.scans.length) {
    restore = earlier.scans;
    const scanMode = form.querySelector("input[name=mode][value=scan]");
    if (scanMode) scanMode.checked = true; // back to the scan list, whichever panel the browser kept
  }
  if (earlier) {
    manufacturerBox.value ||= earlier.manufacturer || "";
    modelBox.value ||= earlier.model || "";
  }
  showMode();
  restore.forEach((scanned) => check(addRow(scanned)));
  refresh();
})();
