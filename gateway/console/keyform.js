// The key form both views open with: a labelled password field, kept in session storage.

import { h } from "./dom.js";
import { forgetKey, loadKey, saveKey } from "./keys.js";

/**
 * A form for the `role` key ("tenant" or "admin"). `onKey(key)` runs when a key is set
 * (also at once for a key already in this tab's session storage), `onForget()` after
 * "Forget key".
 */
export function keyForm({ role, label, hint, onKey, onForget }) {
  const id = `${role}-key`;
  const input = h("input", {
    id,
    name: id,
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": `${id}-hint`,
  });
  const form = h(
    "form",
    { class: "key-form", "aria-label": `Set the ${label.toLowerCase()}` },
    h("label", { for: id }, label),
    h("div", { class: "row" }, input, h("button", { type: "submit" }, "Use key"),
      h("button", { type: "button", class: "secondary", onclick: forget }, "Forget key")),
    h("p", { id: `${id}-hint`, class: "hint" }, hint),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    saveKey(role, key);
    onKey(key);
  });
  function forget() {
    forgetKey(role);
    input.value = "";
    onForget();
    input.focus();
  }
  const stored = loadKey(role);
  if (stored) {
    input.value = stored;
    queueMicrotask(() => onKey(stored));
  }
  return form;
}
