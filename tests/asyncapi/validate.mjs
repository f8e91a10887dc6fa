// Parses an AsyncAPI document with @asyncapi/parser (the parser AsyncAPI's own tools use) and
// prints every diagnostic; exits non-zero on any error or warning.
//
//   node validate.mjs FILE
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const file = process.argv[2];
const text = readFileSync(file, "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text, { source: file });
const names = { 0: "error", 1: "warning", 2: "info", 3: "hint" };
for (const d of diagnostics) {
  console.log(`${names[d.severity]} ${d.code}: ${d.message} at ${d.path.join(".")}`);
}
const bad = diagnostics.filter(
  (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
);
if (!document || bad.length > 0) {
  console.error(`asyncapi: ${bad.length} errors/warnings; the document is ${document ? "parsed" : "refused"}`);
  process.exit(1);
}
const messages = document.allMessages().length;
const operations = document.allOperations().length;
console.log(`asyncapi: valid AsyncAPI ${document.version()}: ${operations} operations, ${messages} messages`);
