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
