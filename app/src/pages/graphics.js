// The graphics page: noVNC's RFB client (an ES module, loaded from the
// address in #screen's data-rfb) on #screen, joined to the guest's
// display over the portal's WebSocket, which carries RFB unchanged.
const box = document.getElementById("screen");
const state = document.getElementById("graphics-state");
const { default: RFB } = await import(box.dataset.rfb);

const url = new URL(box.dataset.socket, location.href);
url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
// Shared: another viewer's connection stays.
const rfb = new RFB(box, url.href, { shared: true });
rfb.focusOnClick = true;
// The guest's screen scaled to the box, whatever mode the guest set.
rfb.scaleViewport = true;
// For tests and the curious: the client.
box.rfb = rfb;

rfb.addEventListener("connect", () => {
  state.textContent = "Connected.";
  rfb.focus();
});
rfb.addEventListener("disconnect", (event) => {
  state.textContent = event.detail.clean ? "Disconnected." : "The connection was lost.";
});
// QEMU's display asks for no password (only the portal can reach it);
// should one ever ask, say so rather than hang.
rfb.addEventListener("credentialsrequired", () => {
  state.textContent = "The display asks for credentials, which the portal does not have.";
  rfb.disconnect();
});
rfb.addEventListener("securityfailure", (event) => {
  state.textContent = `The display refused the connection: ${event.detail.reason || event.detail.status}.`;
});

document.getElementById("graphics-cad").addEventListener("click", () => {
  rfb.sendCtrlAltDel();
  rfb.focus();
});

// Leaving through the portal's own links swaps the page without
// unloading it: the viewer leaves the display with it.
const gone = new MutationObserver(() => {
  if (!document.contains(box)) {
    gone.disconnect();
    rfb.disconnect();
  }
});
gone.observe(document.body, { childList: true, subtree: true });
