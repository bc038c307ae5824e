// Demo page only: shows who is signed in, as a shop's own header would.
const status = document.getElementById("demo-status");
const answer = await fetch("/demo/session").catch(() => null);
const session = answer && answer.ok ? await answer.json() : null;
if (session) {
  document.getElementById("demo-customer").value = session.customer;
  status.textContent = `Signed in as ${session.customer}.`;
} else {
  status.textContent = "Not signed in.";
}

// Where the emulated Adobe Privacy Service shows what it was told, when the
// demo tells it (the footer's link).
const told = await fetch("/demo/privacy-service").catch(() => null);
const privacy = told && told.ok ? await told.json() : null;
if (privacy?.log) {
  const link = document.getElementById("demo-privacy-log");
  link.href = privacy.log;
  link.closest("footer").hidden = false;
}
