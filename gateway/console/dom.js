// Building the page without HTML strings: elements, attributes and text nodes only, so the
// strict Content-Security-Policy (Trusted Types required) never has a sink to guard.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
}

function appendAll(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: h("p", {class: "note"}, "text", h("b", {}, "bold")). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  appendAll(element, children);
  return element;
}

/** An SVG element, the same way. */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  appendAll(element, children);
  return element;
}

/** Replace everything inside `element` with `children`. */
export function fill(element, ...children) {
  element.replaceChildren();
  appendAll(element, children);
  return element;
}

/** A table: headers, then rows of cells (strings or nodes). */
export function table(caption, headers, rows, emptyText = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "empty" }, emptyText);
  return h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) =>
        // data-label: on a phone each row stacks, every cell preceded by its header.
        h("td", { "data-label": headers[i] || null }, cell))))),
    ),
  );
}
