// The reports page. Without this script the filters still work (choose "Custom range" to use the
// dates, then Show); with it, a date typed makes the range custom at once, and Print prints.

(() => {
  // Capture phase: runs before htmx sends the form on the same change event.
  document.addEventListener(
    "change",
    (event) => {
      const form = event.target.closest("[data-report-filters]");
      if (!form) return;
      if (event.target.name === "start" || event.target.name === "end") {
        form.elements.preset.value = "custom";
      }
    },
    true,
  );

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) window.print();
  });

  // "Find in this table": rows whose text holds what is typed (any case) stay, the others hide.
  document.addEventListener("input", (event) => {
    const box = event.target.closest("[data-table-find]");
    if (!box) return;
    const table = document.querySelector(`table[data-table="${box.dataset.tableFind}"]`);
    if (!table) return;
    const wanted = box.value.trim().toLocaleLowerCase();
    table.querySelectorAll("tbody tr").forEach((row) => {
      row.hidden = wanted !== "" && !row.textContent.toLocaleLowerCase().includes(wanted);
    });
  });
})();
