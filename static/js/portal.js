// Customer pickers: a search box lists customers (via htmx); choosing one fills the hidden id input
// and tells the form it changed, so a search form re-runs and a claim form knows its customer.
document.addEventListener("click", (event) => {
  const option = event.target.closest(".picker-option");
  if (!option) return;
  const picker = option.closest("[data-picker]");
  picker.querySelector("[data-picker-name]").value = option.dataset.name;
  const id = picker.querySelector("[data-picker-id]");
  id.value = option.dataset.id;
  picker.querySelector(".picker-results").replaceChildren();
  id.dispatchEvent(new Event("change", { bubbles: true }));
});

document.addEventListener("input", (event) => {
  const name = event.target.closest("[data-picker-name]");
  if (!name || name.value.trim() !== "") return;
  const picker = name.closest("[data-picker]");
  const id = picker.querySelector("[data-picker-id]");
  picker.querySelector(".picker-results").replaceChildren();
  if (id.value !== "") {
    id.value = "";
    id.dispatchEvent(new Event("change", { bubbles: true }));
  }
});
