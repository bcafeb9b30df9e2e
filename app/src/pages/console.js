// The console page: xterm.js (loaded just before) on the element
// #console, joined to the instance's serial line over a WebSocket.
// Keystrokes go as binary frames, output comes as binary frames; a text
// frame asks the guest to take the terminal's size.
(() => {
  const nonce = document.currentScript.nonce;
  // xterm.js adds <style> elements of its own; the page's policy admits
  // styles that carry its nonce.
  const create = document.createElement.bind(document);
  document.createElement = (tag, options) => {
    const element = create(tag, options);
    if (String(tag).toLowerCase() === "style") element.nonce = nonce;
    return element;
  };
  // It colours 24-bit text through style attributes, which the policy
  // refuses; the same declarations through the CSSOM are allowed.
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (name === "style") {
      this.style.cssText = value;
      return;
    }
    setAttribute.call(this, name, value);
  };
  const box = document.getElementById("console");
  const state = document.getElementById("console-state");
  // A serial line carries what its writers interleaved: a boot's kernel
  // and systemd cut each other's escape sequences, and the line opens with
  // the boot's log. xterm draws such bytes as best it can; it says so as a
  // warning here, while its own failures stay errors.
  const logger = {
    trace() {},
    debug() {},
    info() {},
    warn: (message, ...rest) => console.warn(message, ...rest),
    error: (message, ...rest) =>
      (String(message).startsWith("Parsing error") ? console.warn : console.error)(message, ...rest),
  };
  const term = new Terminal({ cols: 100, rows: 30, cursorBlink: true, scrollback: 5000, logger });
  term.open(box);
  // For tests and the curious: the terminal object.
  box.terminal = term;

  const url = new URL(box.dataset.socket, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  socket.onopen = () => {
    state.textContent = "Connected.";
    term.focus();
  };
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") term.write(new Uint8Array(event.data));
  };
  socket.onclose = (event) => {
    state.textContent = event.reason ? `Disconnected: ${event.reason}.` : "Disconnected.";
  };
  const send = (bytes) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(bytes);
  };
  term.onData((data) => send(encoder.encode(data)));
  // Copy on select, as terminals do (Ctrl+Shift+C is the browser's own);
  // paste is the browser's paste (Ctrl+Shift+V), which xterm.js types in.
  term.onSelectionChange(() => {
    if (term.hasSelection()) {
      navigator.clipboard?.writeText(term.getSelection()).catch(() => {
        state.textContent = "Selected; the browser did not allow copying it.";
      });
    }
  });
  term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
  // Leaving through the portal's own links swaps the page without
  // unloading it: the viewer leaves the line with it.
  const gone = new MutationObserver(() => {
    if (!document.contains(box)) {
      gone.disconnect();
      socket.close();
      term.dispose();
    }
  });
  gone.observe(document.body, { childList: true, subtree: true });
  document.getElementById("console-resize").addEventListener("click", () => {
    send(JSON.stringify({ resize: { rows: term.rows, cols: term.cols } }));
    term.focus();
  });
})();
