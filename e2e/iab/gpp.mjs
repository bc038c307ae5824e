// The IAB's own GPP library (`@iabgpp/cmpapi`, pinned), as the browser tests
// ask it, to check our encoder against an implementation nobody here wrote:
//
//   node gpp.mjs <node_modules> decode '["DBABLA~…", …]'   → the sections of each
//   node gpp.mjs <node_modules> encode '{"usnat": {…}}'    → the string
//
// Sections are named as the CMP API names them (usnat, usca), with their
// fields as the IAB's specifications spell them, and `Gpc` for the GPC
// sub-section.
import { createRequire } from "node:module";

const [modules, command, input] = process.argv.slice(2);
const { GppModel } = createRequire(`${modules}/`)("@iabgpp/cmpapi");

const commands = {
  decode: (strings) =>
    strings.map((gpp) => {
      const model = new GppModel(gpp);
      return Object.fromEntries(["usnat", "usca"].filter((name) => model.hasSection(name)).map((name) => [name, model.getSection(name)]));
    }),
  encode: (sections) => {
    const model = new GppModel();
    for (const [name, fields] of Object.entries(sections)) {
      for (const [field, value] of Object.entries(fields)) model.setFieldValue(name, field, value);
      // Without a `Gpc`, no sub-section (the library would add one).
      model.setFieldValue(name, "GpcSegmentIncluded", "Gpc" in fields);
    }
    return model.encode();
  },
};
process.stdout.write(JSON.stringify(commands[command](JSON.parse(input))));
