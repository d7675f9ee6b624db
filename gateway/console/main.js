// The console's two views, chosen by the URL's fragment (#playground, #ops) so each can be
// bookmarked and the browser's back button works.

import { ops } from "./ops.js";
import { playground } from "./playground.js";

const views = {
  playground: document.getElementById("playground"),
  ops: document.getElementById("ops"),
};
playground(views.playground);
const opsView = ops(views.ops);

function current() {
  return location.hash === "#ops" ? "ops" : "playground";
}

function show() {
  const name = current();
  for (const [viewName, element] of Object.entries(views)) element.hidden = viewName !== name;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name === "ops") opsView.shown();
  else opsView.hidden();
  document.title = `Imagegate · ${name === "ops" ? "Operations" : "Playground"}`;
}

window.addEventListener("hashchange", () => {
  show();
  // Move focus to the new view's heading, as a page load would for a screen reader.
  const heading = views[current()].querySelector("h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
});
show();
