// The order page follows its order's status over Server-Sent Events: the stream sends the
// events after those the page was rendered with, as they happen, and ends with `event: end`.
(() => {
  "use strict";
  const root = document.getElementById("order");
  if (!root || !("EventSource" in window)) return;
  const status = document.getElementById("status");
  const timeline = document.getElementById("timeline");
  const live = document.getElementById("live");
  const paymentError = document.getElementById("payment-error");

  const source = new EventSource(root.dataset.eventsUrl);
  live.dataset.state = "connecting";
  source.onopen = () => { live.dataset.state = "open"; };
  source.onerror = () => {
    // the browser reconnects by itself (sending Last-Event-ID) unless the stream is closed
    live.dataset.state = source.readyState === EventSource.CLOSED ? "off" : "reconnecting";
  };

  source.addEventListener("status", (message) => {
    const event = JSON.parse(message.data);
    status.textContent = event.label;
    status.dataset.status = event.status;
    status.className = `status status-${event.status}`;
    if (!timeline.querySelector(`[data-event-id="${event.id}"]`)) {
      const item = document.createElement("li");
      item.dataset.eventId = event.id;
      item.dataset.status = event.status;
      const label = document.createElement("strong");
      label.textContent = event.label;
      const text = document.createElement("span");
      text.textContent = event.message;
      item.append(label, " ", text);
      timeline.append(item);
    }
    if (event.status === "payment_failed") {
      document.getElementById("payment-message").textContent = event.message;
      paymentError.hidden = false;
    }
  });

  source.addEventListener("end", () => {
    source.close();
    live.dataset.state = "done";
  });
})();
