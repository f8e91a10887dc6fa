// A small, safe subset of Markdown for message text: ```code blocks```, `code`, **bold**,
// *italic*, and http(s) links. The output is built from text nodes and a few fixed elements;
// nothing from a message ever becomes HTML.

import { h, linkify } from './dom.js';

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+?\*\*)|(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])/g;

function inline(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) frag.append(linkify(text.slice(last, m.index)));
    if (m[1]) frag.append(h('code.md-code', m[1].slice(1, -1)));
    else if (m[2]) frag.append(h('strong', inline(m[2].slice(2, -2))));
    else frag.append(h('em', inline(m[3])));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(linkify(text.slice(last)));
  return frag;
}

/** The message text as nodes; its textContent keeps every character outside the markers. */
export function renderRich(text) {
  const frag = document.createDocumentFragment();
  const parts = String(text).split(/```/);
  // an odd count of fences: the last one is unclosed, keep it as typed
  const closed = parts.length % 2 === 1;
  parts.forEach((part, i) => {
    const isCode = i % 2 === 1 && (closed || i < parts.length - 1);
    if (isCode) {
      const body = part.replace(/^[\w+-]*\n/, '').replace(/\n$/, '');
      frag.append(h('pre.md-pre', h('code', body)));
    } else {
      frag.append(inline(i % 2 === 1 ? `\`\`\`${part}` : part));
    }
  });
  return frag;
}
