/* global document, window */
/* keygate dashboard charts: plain SVG built with DOM calls (no library, nothing inline for the CSP). */
'use strict';
(function () {
  const NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** A small line chart of one or two series; `label` is its accessible name. */
  function sparkline(series, label) {
    const w = 220, h = 48, pad = 3;
    const svg = el('svg', { class: 'spark', viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': label });
    const all = series.flatMap((s) => s.values);
    const max = Math.max(1e-9, ...all);
    for (const s of series) {
      if (s.values.length < 2) continue;
      const step = (w - 2 * pad) / (s.values.length - 1);
      const points = s.values.map((v, i) => `${(pad + i * step).toFixed(1)},${(h - pad - (v / max) * (h - 2 * pad)).toFixed(1)}`);
      svg.append(el('polyline', { class: 'line' + (s.error ? ' err' : ''), points: points.join(' ') }));
    }
    return svg;
  }

  const DAY = 86400000;

  /**
   * Every bundle on a time axis: one row each, a dot at its expiry (colour by bucket,
   * with the bucket's name in the text as well), each row a link to the bundle.
   */
  function timeline(items, opts) {
    const now = opts.now;
    const rowH = 22, left = 8, right = 16, top = 28, labelW = 0;
    const w = 900;
    const h = top + Math.max(1, items.length) * rowH + 10;
    const times = items.map((i) => i.time);
    const start = Math.min(now - 7 * DAY, ...times);
    const end = Math.max(now + 60 * DAY, ...times) + 7 * DAY;
    const x = (t) => left + labelW + ((t - start) / (end - start)) * (w - left - right - labelW);
    const svg = el('svg', { class: 'chart', viewBox: `0 0 ${w} ${h}`, role: 'group', 'aria-label': opts.label });
    svg.append(el('line', { class: 'axis', x1: x(start), x2: x(end), y1: top - 6, y2: top - 6 }));
    const span = end - start;
    const tickEvery = span > 800 * DAY ? 365 * DAY : span > 200 * DAY ? 90 * DAY : span > 60 * DAY ? 30 * DAY : 7 * DAY;
    for (let t = now; t < end; t += tickEvery) tick(t);
    for (let t = now - tickEvery; t > start; t -= tickEvery) tick(t);
    function tick(t) {
      svg.append(el('line', { class: 'axis', x1: x(t), x2: x(t), y1: top - 10, y2: top - 2 }));
      svg.append(el('text', { x: x(t) + 2, y: 12 }, opts.formatTick(t)));
    }
    svg.append(el('line', { class: 'now', x1: x(now), x2: x(now), y1: top - 10, y2: h - 4 }));
    svg.append(el('text', { x: x(now) + 3, y: top + 2 }, 'now'));
    items.forEach((item, i) => {
      const y = top + i * rowH + rowH / 2;
      const link = el('a', { href: item.href, 'aria-label': `${item.name}: ${item.text}` });
      const cx = x(item.time);
      link.append(el('circle', { class: 'p-' + item.bucket, cx, cy: y, r: 6 }));
      const anchorEnd = cx > w * 0.6;
      link.append(el('text', { x: anchorEnd ? cx - 10 : cx + 10, y: y + 4, 'text-anchor': anchorEnd ? 'end' : 'start' }, `${item.name} — ${item.text}`));
      svg.append(link);
    });
    return svg;
  }

  window.KeygateCharts = { sparkline, timeline };
})();
