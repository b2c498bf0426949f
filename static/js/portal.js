// The portal's own behaviour beyond htmx. No inline scripts anywhere: the Content-Security-Policy
// allows scripts from the portal's own origin only.

// --- Customer pickers -----------------------------------------------------------------------------
// A search box lists customers as the person types (htmx GET /customers/picker/?q=...); choosing one
// fills the hidden id input and tells the form it changed, so a search form re-runs and a claim form
// knows its customer.

function pickerOf(element) {
  return element.closest("[data-picker]");
}

function closePicker(picker) {
  picker.querySelector(".picker-results").replaceChildren();
  picker.querySelector("[data-picker-name]").setAttribute("aria-expanded", "false");
}

// The chosen customer's terms, when they stop its devices enrolling, shown under the box before the
// person claims (the option carries the sentence).
function showTermsWarning(picker, text) {
  const warning = picker.querySelector("[data-picker-warning]");
  if (!warning) return;
  warning.textContent = text || "";
  warning.hidden = !text;
}

function choose(option) {
  const picker = pickerOf(option);
  const name = picker.querySelector("[data-picker-name]");
  const id = picker.querySelector("[data-picker-id]");
  name.value = option.dataset.name;
  name.dataset.chosen = option.dataset.name;
  id.value = option.dataset.id;
  closePicker(picker);
  showTermsWarning(picker, option.dataset.termsWarning);
  name.focus();
  id.dispatchEvent(new Event("change", { bubbles: true }));
}

// The picker's box has no name (it must not be submitted with its form): send what is typed as q.
document.addEventListener("htmx:configRequest", (event) => {
  const box = event.detail.elt;
  if (box.matches && box.matches("[data-picker-name]")) {
    event.detail.parameters = { q: box.value }; // the URL keeps its own query (own=on)
  }
});

// After a form's answer is swapped in, keyboard and screen-reader users land on what it says (the
// result of a claim, or why it failed) rather than at the top of the page.
document.addEventListener("htmx:afterSettle", (event) => {
  if (!event.target.querySelector) return;
  const said = event.target.querySelector("[data-focus-after-swap]");
  const wrong = event.target.querySelector("form [aria-invalid=true]");
  if (said) said.focus();
  else if (wrong && !event.target.matches(".picker-results")) wrong.focus();
});

document.addEventListener("htmx:afterSwap", (event) => {
  if (event.target.matches(".picker-results")) {
    const picker = pickerOf(event.target);
    const open = event.target.children.length > 0;
    picker.querySelector("[data-picker-name]").setAttribute("aria-expanded", open ? "true" : "false");
  }
});

document.addEventListener("click", (event) => {
  const option = event.target.closest(".picker-option");
  if (option) {
    choose(option);
    return;
  }
  // A click anywhere else closes every open list.
  document.querySelectorAll("[data-picker]").forEach((picker) => {
    if (!picker.contains(event.target)) closePicker(picker);
  });
});

// Typing something else than the chosen name forgets the choice (the form then takes an exact name
// typed, or asks to choose); an emptied box closes the list.
document.addEventListener("input", (event) => {
  const name = event.target.closest("[data-picker-name]");
  if (!name) return;
  const picker = pickerOf(name);
  const id = picker.querySelector("[data-picker-id]");
  if (name.value.trim() === "") closePicker(picker);
  if (id.value !== "" && name.value !== name.dataset.chosen) {
    id.value = "";
    name.dataset.chosen = "";
    showTermsWarning(picker, "");
    id.dispatchEvent(new Event("change", { bubbles: true }));
  }
});

// Focus leaving the picker (Tab, a click elsewhere) closes its list.
document.addEventListener("focusout", (event) => {
  const picker = event.target.closest && event.target.closest("[data-picker]");
  if (picker && !picker.contains(event.relatedTarget)) closePicker(picker);
});

// Keyboard: Down moves into the list, Up and Down move within it, Escape closes it and keeps what was
// typed, Tab leaves for the next field (the options are out of the Tab order), and Enter in the box
// picks the first customer listed rather than submitting the form around it (with no list open, it
// submits: the form takes an exact name typed).
document.addEventListener("keydown", (event) => {
  const picker = event.target.closest && event.target.closest("[data-picker]");
  if (!picker) return;
  const options = Array.from(picker.querySelectorAll(".picker-option"));
  const index = options.indexOf(event.target);
  if (event.key === "Escape") {
    event.preventDefault();
    closePicker(picker);
    picker.querySelector("[data-picker-name]").focus();
  } else if (event.key === "ArrowDown" && options.length) {
    event.preventDefault();
    options[Math.min(index + 1, options.length - 1)].focus();
  } else if (event.key === "ArrowUp" && index >= 0) {
    event.preventDefault();
    if (index === 0) picker.querySelector("[data-picker-name]").focus();
    else options[index - 1].focus();
  } else if (event.key === "Enter" && event.target.matches("[data-picker-name]") && options.length) {
    event.preventDefault();
    choose(options[0]);
  } else if (event.key === "Tab") {
    closePicker(picker);
  }
});

// --- Claim form: ChromeOS fields only for ChromeOS, metadata only for Android, the SIM-lock profile --
// only for a claim in SIM lock. Hidden groups are disabled too, so a value typed before switching is
// not sent.

function showDeviceTypeFields(form) {
  const checked = form.querySelector("input[name=device_type]:checked");
  const chromeOs = checked && checked.value === "chrome_os";
  const toggle = (selector, show) => {
    form.querySelectorAll(selector).forEach((group) => {
      group.hidden = !show;
      group.querySelectorAll("input, select, textarea").forEach((input) => {
        input.disabled = !show;
      });
    });
  };
  toggle("[data-chrome-only]", chromeOs);
  toggle("[data-android-only]", !chromeOs);
  const section = form.querySelector("input[name=section_type]:checked");
  toggle("[data-sim-lock-only]", Boolean(section) && section.value === "SECTION_TYPE_SIM_LOCK");
}

function setUpClaimForms(root) {
  root.querySelectorAll("[data-claim-form]").forEach(showDeviceTypeFields);
}

document.addEventListener("change", (event) => {
  if (event.target.name === "device_type" || event.target.name === "section_type") {
    const form = event.target.closest("[data-claim-form]");
    if (form) showDeviceTypeFields(form);
  }
});
document.addEventListener("DOMContentLoaded", () => setUpClaimForms(document));
document.addEventListener("htmx:load", (event) => setUpClaimForms(event.detail.elt.parentElement || document));

// --- Forms sent once -------------------------------------------------------------------------------
// A plain (non-htmx) form marked data-submit-once disables its buttons once sent, so a double click
// does not upload a file twice or confirm a job twice.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-submit-once]");
  if (!form) return;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "yes";
  // Disabled after the browser has collected the form's fields (a disabled button is not sent).
  setTimeout(() => form.querySelectorAll("button").forEach((button) => { button.disabled = true; }), 0);
});

// --- Device selection -----------------------------------------------------------------------------
// Ticking a whole page, or clearing the selection, answers with the selection bar, which says whether
// the boxes on the page are now all ticked or all clear (one box's own tick is already right).
document.addEventListener("htmx:afterSettle", () => {
  const bar = document.querySelector("#selection-bar[data-selection-ticks]");
  if (!bar) return;
  const ticked = bar.dataset.selectionTicks === "all";
  document.querySelectorAll("input.select-device").forEach((box) => {
    box.checked = ticked;
  });
  delete bar.dataset.selectionTicks;
});

// --- Notices ---------------------------------------------------------------------------------------
// Dismissing a notice removes it, and with it the focus: a keyboard user lands on the next notice's
// Dismiss button, or at the start of the page's content, rather than at the top of the document.
document.addEventListener("htmx:beforeSwap", (event) => {
  const notice = event.detail.target;
  if (!notice || !notice.matches || !notice.matches(".notice") || !notice.contains(document.activeElement)) return;
  const neighbour = notice.nextElementSibling || notice.previousElementSibling;
  const focus = neighbour ? neighbour.querySelector(".notice-dismiss") : document.getElementById("main");
  setTimeout(() => { if (focus) focus.focus(); }, 0);
});
