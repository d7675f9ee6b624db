// The gateway's API as the console calls it: JSON envelope calls and the live status
// stream. EventSource cannot send an Authorization header, so the stream is read with
// fetch and parsed here (the text/event-stream format of the HTML standard).

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function headersFor(key, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function send(path, options) {
  try {
    return await fetch(path, { cache: "no-store", credentials: "omit", ...options });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "the gateway could not be reached");
  }
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: described by its status below.
  }
  const error = body && body.error ? body.error : {};
  return new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || `the gateway answered HTTP ${response.status}`,
    response.headers.get("Retry-After"),
  );
}

/** The `data` of a JSON envelope answer; throws ApiError for an error answer. */
export async function call(path, { key, method = "GET", body, signal } = {}) {
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  const response = await send(path, {
    method,
    headers: headersFor(key, extra),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const document = await response.json();
  return document.data;
}

function parseEvent(block) {
  const event = { event: "message", data: [], id: null };
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (!line || line.startsWith(":")) continue; // comments keep the connection open
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event.event = value;
    else if (field === "data") event.data.push(value);
    else if (field === "id") event.id = value;
  }
  return event.data.length ? { ...event, data: event.data.join("\n") } : null;
}

/** Server-sent events of `path`, one {event, data, id} at a time, until the stream ends. */
export async function* events(path, { key, lastEventId = null, signal } = {}) {
  const extra = { Accept: "text/event-stream" };
  if (lastEventId) extra["Last-Event-ID"] = lastEventId;
  const response = await send(path, { headers: headersFor(key, extra), signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
    buffer = blocks.pop();
    for (const block of blocks) {
      const event = parseEvent(block);
      if (event) yield event;
    }
  }
}
