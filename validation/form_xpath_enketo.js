// Evaluate XPath expressions with Enketo's ODK XPath engine (openrosa-xpath-evaluator) in jsdom.
// Input (stdin, JSON): [{"expr": "...", "values": {"c": "100014", ...}, "context": "c"}, ...]
// Output (stdout, JSON): one result per case: a boolean, a number or a string (as the engine gives it).
// Run by validation/form_xpath_enketo.py; needs `npm install openrosa-xpath-evaluator jsdom` (see there).
const { JSDOM } = require('jsdom');
const w = new JSDOM('<!DOCTYPE html><html><body></body></html>').window;
for (const k of ['XPathEvaluator', 'XPathExpression', 'XPathResult', 'Node', 'Element', 'Document', 'Attr',
                 'Text', 'DOMParser', 'XMLDocument', 'NodeList', 'document']) { global[k] = w[k]; }
global.window = w;
const ev = require('openrosa-xpath-evaluator')();

const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(({ expr, values, context, type }) => {
  const body = Object.entries(values).map(([k, v]) => `<${k}>${v}</${k}>`).join('');
  const xml = new w.DOMParser().parseFromString(`<data>${body}</data>`, 'text/xml');
  const node = xml.getElementsByTagName(context)[0];
  const kind = { boolean: w.XPathResult.BOOLEAN_TYPE, number: w.XPathResult.NUMBER_TYPE }[type];
  const r = ev.evaluate(expr, node, null, kind, null);
  return type === 'boolean' ? r.booleanValue : r.numberValue;
});
process.stdout.write(JSON.stringify(out));
