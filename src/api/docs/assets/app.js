/* global document, window, fetch */
/*
 * keygate's API reference page: fetches /v1/openapi.json and renders every
 * operation, grouped by tag, with its parameters, request body and responses.
 * The DOM is built with createElement/textContent only (the page's CSP forbids
 * inline code, and nothing from the document is ever parsed as HTML).
 */
'use strict';

(function () {
  const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
  const MAX_DEPTH = 5;

  /** h('tag.class', {attr: value}, child, ...): strings become text nodes, null/false are skipped. */
  function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag);
    if (classes.length) el.className = classes.join(' ');
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  const slug = (s) => String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

  /** The small Markdown subset the document uses: paragraphs, "- " lists, `code`, **bold**. */
  function markdown(text) {
    const out = h('div.md');
    if (!text) return out;
    for (const block of String(text).trim().split(/\n\s*\n/)) {
      const lines = block.split('\n');
      if (lines.every((l) => /^\s*- /.test(l) || /^\s{2,}\S/.test(l))) {
        const ul = h('ul');
        for (const l of lines) {
          if (/^\s*- /.test(l)) ul.append(h('li', null, inline(l.replace(/^\s*- /, ''))));
          else if (ul.lastChild) ul.lastChild.append(' ', ...inline(l.trim()));
        }
        out.append(ul);
      } else {
        out.append(h('p', null, inline(lines.join(' '))));
      }
    }
    return out;
  }

  function inline(text) {
    const parts = [];
    const re = /`([^`]+)`|\*\*([^*]+)\*\*/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) parts.push(text.slice(last, m.index));
      parts.push(m[1] !== undefined ? h('code', null, m[1]) : h('strong', null, m[2]));
      last = re.lastIndex;
    }
    if (last < text.length) parts.push(text.slice(last));
    return parts;
  }

  function resolver(doc) {
    return function resolve(node) {
      let name = null;
      let seen = 0;
      while (node && typeof node.$ref === 'string' && seen++ < 20) {
        const ref = node.$ref;
        if (!ref.startsWith('#/')) break;
        name = ref.split('/').pop();
        const { $ref: _ignored, ...siblings } = node;
        const target = ref.slice(2).split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
        node = Object.assign({}, target, siblings);
      }
      return { node: node || {}, name };
    };
  }

  function typeLabel(schema, name) {
    if (schema.const !== undefined) return 'const ' + JSON.stringify(schema.const);
    let t = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
    if (!t && schema.properties) t = 'object';
    if (!t && (schema.oneOf || schema.anyOf)) t = 'one of';
    if (!t) t = 'any';
    if (t === 'array' && schema.items) {
      const items = schema.items.$ref ? schema.items.$ref.split('/').pop() : typeLabel(schema.items);
      t = 'array of ' + items;
    }
    const extra = [];
    if (schema.format) extra.push(schema.format);
    if (schema.contentEncoding) extra.push(schema.contentEncoding);
    let label = t + (extra.length ? ' (' + extra.join(', ') + ')' : '');
    if (name && t === 'object') label = name;
    return label;
  }

  function constraints(schema) {
    const c = [];
    if (schema.enum) c.push('one of: ' + schema.enum.map((v) => JSON.stringify(v)).join(', '));
    if (schema.pattern) c.push('pattern ' + schema.pattern);
    if (schema.minLength !== undefined || schema.maxLength !== undefined) {
      c.push('length ' + (schema.minLength ?? 0) + '–' + (schema.maxLength ?? '∞'));
    }
    if (schema.minimum !== undefined) c.push('≥ ' + schema.minimum);
    if (schema.maximum !== undefined) c.push('≤ ' + schema.maximum);
    if (schema.default !== undefined) c.push('default ' + JSON.stringify(schema.default));
    return c.length ? h('span.constraints', null, c.join(' · ')) : null;
  }

  /** A schema as a tree of fields: name, type, required, description, nested objects. */
  function schemaView(resolve, raw, depth) {
    const { node: s, name } = resolve(raw);
    const box = h('div.schema');
    if (depth > MAX_DEPTH) return box;
    const alternatives = s.oneOf || s.anyOf;
    if (alternatives) {
      box.append(h('div.alt-title', null, s.oneOf ? 'One of:' : 'Any of:'));
      for (const alt of alternatives) box.append(schemaView(resolve, alt, depth + 1));
      return box;
    }
    const props = s.properties || {};
    const keys = Object.keys(props);
    if (keys.length) {
      const required = new Set(s.required || []);
      const list = h('dl.fields');
      for (const key of keys) {
        const { node: p, name: pName } = resolve(props[key]);
        list.append(
          h('dt', null, h('code.field', null, key), required.has(key) ? h('span.req', { title: 'required' }, 'required') : null, h('span.type', null, typeLabel(p, pName))),
          h('dd', null, p.description ? markdown(p.description) : null, constraints(p), nested(resolve, p, depth)),
        );
      }
      box.append(list);
    } else {
      box.append(h('div.scalar', null, h('span.type', null, typeLabel(s, name)), constraints(s)));
      if (s.description && depth > 0) box.append(markdown(s.description));
      const more = nested(resolve, s, depth);
      if (more) box.append(more);
    }
    if (s.additionalProperties && typeof s.additionalProperties === 'object' && !keys.length) {
      const { node: v, name: vName } = resolve(s.additionalProperties);
      box.append(h('div.scalar', null, 'map: name → ', h('span.type', null, typeLabel(v, vName))));
    }
    return box;
  }

  function nested(resolve, s, depth) {
    if (s.type === 'array' && s.items) {
      const { node: items } = resolve(s.items);
      if (items.properties || items.oneOf || items.anyOf) return schemaView(resolve, s.items, depth + 1);
    }
    if (s.properties || s.oneOf || s.anyOf) {
      return schemaView(resolve, { properties: s.properties, required: s.required, oneOf: s.oneOf, anyOf: s.anyOf }, depth + 1);
    }
    return null;
  }

  function contentView(resolve, content, full) {
    const out = h('div.content');
    for (const [type, media] of Object.entries(content || {})) {
      const schema = media.schema ? resolve(media.schema) : null;
      const label = schema ? typeLabel(schema.node, schema.name) : '';
      out.append(h('div.media', null, h('code.mime', null, type), label ? h('span.type', null, label) : null));
      const item = media['x-keygate-item-schema'];
      if (item) {
        out.append(h('div.note', null, 'Each line:'));
        out.append(schemaView(resolve, item, 1));
      } else if (full && schema && (schema.node.properties || schema.node.items || schema.node.oneOf || schema.node.anyOf)) {
        out.append(schemaView(resolve, media.schema, 1));
      }
    }
    return out;
  }

  function compactContent(resolve, content) {
    return h('span.media-inline', null, Object.entries(content).map(([type, media]) => {
      const schema = media.schema ? resolve(media.schema) : null;
      return h('span', null, h('code.mime', null, type), schema ? h('span.type', null, typeLabel(schema.node, schema.name)) : null);
    }));
  }

  function securityLabel(doc, op) {
    const sec = op.security || doc.security || [];
    if (!sec.length || sec.some((alt) => !Object.keys(alt).length)) return { text: 'public', cls: 'public' };
    const names = sec.map((alt) => Object.keys(alt).map((n) => {
      const scheme = (doc.components.securitySchemes || {})[n] || {};
      if (scheme.type === 'mutualTLS') return 'client certificate';
      if (scheme.type === 'http' && scheme.scheme === 'bearer') return 'bearer token';
      if (scheme.type === 'apiKey') return scheme.name;
      return n;
    }).join(' + '));
    return { text: names.join(' or '), cls: 'auth' };
  }

  function parametersView(resolve, params) {
    if (!params.length) return null;
    const rows = params.map((raw) => {
      const { node: p } = resolve(raw);
      const { node: s, name } = resolve(p.schema || {});
      return h('tr', null,
        h('td', null, h('code.field', null, p.name), p.required ? h('span.req', null, 'required') : null),
        h('td', null, p.in),
        h('td', null, h('span.type', null, typeLabel(s, name)), constraints(s)),
        h('td', null, markdown(p.description || s.description || '')));
    });
    return h('section.block', null, h('h4', null, 'Parameters'),
      h('table.params', null, h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'In'), h('th', null, 'Type'), h('th', null, 'Description'))), h('tbody', null, rows)));
  }

  function responsesView(resolve, responses) {
    const list = h('div.responses');
    const codes = Object.keys(responses || {}).sort();
    for (const code of codes) {
      const { node: r } = resolve(responses[code]);
      const cls = 'code c' + code.charAt(0);
      // Successes show their schema in full; failures all share the small error shape.
      const success = code.charAt(0) === '2';
      const head = h('div.response-head', null, h('span', { class: cls }, code), markdown(r.description || ''));
      if (!success && r.content) head.append(compactContent(resolve, r.content));
      list.append(h('div.response', null,
        head,
        r.headers ? h('div.note.headers', null, 'Headers: ', Object.keys(r.headers).flatMap((n, i) => [i ? ', ' : '', h('code', null, n)])) : null,
        success && r.content ? contentView(resolve, r.content, true) : null));
    }
    return h('section.block', null, h('h4', null, 'Responses'), list);
  }

  function operationView(doc, resolve, path, method, item, op) {
    const sec = securityLabel(doc, op);
    const params = [...(item.parameters || []), ...(op.parameters || [])];
    const id = 'op-' + (op.operationId || slug(method + ' ' + path));
    const details = h('details.op.m-' + method, { id, 'data-method': method.toUpperCase(), 'data-path': path },
      h('summary', null,
        h('span.method', null, method.toUpperCase()),
        h('code.path', null, path),
        h('span.summary', null, op.summary || ''),
        op['x-keygate-planned'] ? h('span.badge.planned', { title: 'documented, not served yet' }, 'planned') : null,
        h('span.badge.' + sec.cls, null, sec.text)),
      h('div.op-body', null,
        op.description ? markdown(op.description) : null,
        parametersView(resolve, params),
        op.requestBody ? h('section.block', null, h('h4', null, 'Request body', op.requestBody.required ? '' : ' (optional)'), contentView(resolve, resolve(op.requestBody).node.content, true)) : null,
        responsesView(resolve, op.responses)));
    return details;
  }

  function groupOperations(doc) {
    const byTag = new Map();
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || 'Other';
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push({ path, method, item, op });
      }
    }
    const groups = (doc['x-tagGroups'] || []).map((g) => ({ name: g.name, tags: g.tags.filter((t) => byTag.has(t)) }));
    const grouped = new Set(groups.flatMap((g) => g.tags));
    const rest = [...byTag.keys()].filter((t) => !grouped.has(t));
    if (rest.length) groups.push({ name: groups.length ? 'More' : '', tags: rest });
    return { byTag, groups: groups.filter((g) => g.tags.length) };
  }

  function render(doc) {
    const resolve = resolver(doc);
    const content = document.getElementById('content');
    const nav = document.getElementById('nav');
    const tagInfo = new Map((doc.tags || []).map((t) => [t.name, t]));
    const { byTag, groups } = groupOperations(doc);
    const info = doc.info || {};
    document.title = (info.title || 'API') + ' ' + (info.version || '') + ' — API reference';

    content.replaceChildren(h('section.intro', { id: 'top' },
      h('h1', null, info.title || 'API', h('span.version', null, info.version || '')),
      info.summary ? h('p.lead', null, info.summary) : null,
      markdown(info.description),
      h('p.note', null, 'OpenAPI ' + doc.openapi + ' · ', h('a', { href: '/v1/openapi.json' }, 'download the document'))));
    nav.replaceChildren();

    for (const group of groups) {
      if (group.name) nav.append(h('div.nav-group', null, group.name));
      const groupSection = h('div.group', null, group.name ? h('h2.group-title', null, group.name) : null);
      for (const tag of group.tags) {
        const ops = byTag.get(tag);
        const tagId = 'tag-' + slug(tag);
        const section = h('section.tag', { id: tagId }, h('h3', null, tag), markdown((tagInfo.get(tag) || {}).description));
        const links = h('ul.nav-ops');
        for (const { path, method, item, op } of ops) {
          const view = operationView(doc, resolve, path, method, item, op);
          section.append(view);
          links.append(h('li', { 'data-for': view.id }, h('a', { href: '#' + view.id }, h('span.method.small.m-' + method, null, method.toUpperCase()), h('span.nav-path', null, path))));
        }
        nav.append(h('div.nav-tag', { 'data-for': tagId }, h('a.nav-tag-link', { href: '#' + tagId }, tag, h('span.count', null, String(ops.length))), links));
        groupSection.append(section);
      }
      content.append(groupSection);
    }
    wireTools();
    openFromHash();
  }

  function openFromHash() {
    const id = decodeURIComponent(window.location.hash.slice(1));
    const el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') {
      el.open = true;
      el.scrollIntoView({ block: 'start' });
    }
  }

  function wireTools() {
    const all = () => document.querySelectorAll('details.op');
    document.getElementById('expand').addEventListener('click', () => all().forEach((d) => { d.open = true; }));
    document.getElementById('collapse').addEventListener('click', () => all().forEach((d) => { d.open = false; }));
    document.getElementById('filter').addEventListener('input', (e) => applyFilter(e.target.value));
    window.addEventListener('hashchange', openFromHash);
  }

  function applyFilter(query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    for (const op of document.querySelectorAll('details.op')) {
      const text = (op.dataset.method + ' ' + op.dataset.path + ' ' + op.querySelector('.summary').textContent).toLowerCase();
      const hidden = !words.every((w) => text.includes(w));
      op.hidden = hidden;
      const link = document.querySelector('[data-for="' + op.id + '"]');
      if (link) link.hidden = hidden;
    }
    for (const tag of document.querySelectorAll('section.tag')) {
      const empty = !tag.querySelector('details.op:not([hidden])');
      tag.hidden = empty;
      const link = document.querySelector('[data-for="' + tag.id + '"]');
      if (link) link.hidden = empty;
    }
  }

  function fail(err) {
    document.getElementById('content').replaceChildren(
      h('p.notice.error', null, 'Could not load the API description: ' + err.message + '. The document itself is at ', h('a', { href: '/v1/openapi.json' }, '/v1/openapi.json'), '.'));
  }

  fetch('/v1/openapi.json', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status))))
    .then(render)
    .catch(fail);
})();
