// Keys live only in this tab's session storage: gone when the tab closes, never in a
// cookie, never in local storage, never in a URL.

const PREFIX = "imagegate.console.key.";

export function loadKey(role) {
  try {
    return sessionStorage.getItem(PREFIX + role) || "";
  } catch {
    return "";
  }
}

export function saveKey(role, key) {
  try {
    sessionStorage.setItem(PREFIX + role, key);
  } catch {
    // Storage refused (private mode quota): the key still works until the page reloads.
  }
}

export function forgetKey(role) {
  try {
    sessionStorage.removeItem(PREFIX + role);
  } catch {
    // Nothing was stored.
  }
}
