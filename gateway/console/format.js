// How the console shows money, ratios, durations and times.

/** "0.04" (the API's canonical USD string) -> "$0.04". */
export function usd(amount) {
  if (amount === null || amount === undefined) return "—";
  return `$${amount}`;
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  return `${(ratio * 100).toFixed(1)}%`;
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`;
}

export function milliseconds(value) {
  return value === null || value === undefined ? "—" : seconds(value / 1000);
}

export function clock(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleTimeString();
}

/** "60 per 1 minute: 2 of 60 used". */
export function windowUse(window) {
  return `${window.used} of ${window.limit} per ${window.window.replace(/^\d+ per /, "")}`;
}
