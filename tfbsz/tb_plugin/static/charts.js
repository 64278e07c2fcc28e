// Log-log line charts drawn as inline SVG, with no library (the dashboard must work offline).
//
// Example:
//   import {logLogChart} from './charts.js';
//   document.body.append(logLogChart({
//     id: 'demo', title: 'Steps to result', xLabel: 'Batch size', yLabel: 'Steps',
//     series: [{name: 'sgd', color: '#1f77b4', points: [[16, 800], [64, 220]], markers: true}],
//   }));

const SVG_NS = 'http://www.w3.org/2000/svg';
const MARGIN = {top: 36, right: 20, bottom: 52, left: 70};

export function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  if (text !== null) el.textContent = text;
  return el;
}

/** Short number labels: 1024 -> "1024", 12000 -> "12k", 0.0005 -> "5e-4". */
export function formatNumber(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return (v / 1e6).toPrecision(3).replace(/\.?0+$/, '') + 'M';
  if (a >= 1e4) return (v / 1e3).toPrecision(3).replace(/\.?0+$/, '') + 'k';
  if (a >= 1) return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, '');
  if (a >= 1e-3) return v.toPrecision(3).replace(/0+$/, '').replace(/\.$/, '');
  return v.toExponential(1).replace('.0e', 'e');
}

function logDomain(values, pad) {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  if (!pos.length) return [1, 10];
  let lo = Math.min(...pos);
  let hi = Math.max(...pos);
  if (lo === hi) { lo /= 2; hi *= 2; }
  return [lo / pad, hi * pad];
}

/** Tick values on a log axis: powers of `base`, plus 2x and 5x multiples on short decimal axes. */
export function logTicks(lo, hi, base) {
  const major = [];
  const minor = [];
  const kLo = Math.floor(Math.log(lo) / Math.log(base));
  const kHi = Math.ceil(Math.log(hi) / Math.log(base));
  for (let k = kLo; k <= kHi; k++) {
    const p = Math.pow(base, k);
    if (p >= lo && p <= hi) major.push(p);
    if (base === 10) {
      for (let m = 2; m <= 9; m++) {
        const v = m * p;
        if (v >= lo && v <= hi) minor.push(v);
      }
    }
  }
  if (base === 10 && major.length < 3) {
    // Two decades or less: label 2x and 5x too, so the axis still reads.
    for (const v of minor) if ([2, 5].includes(Math.round(v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9))))) major.push(v);
    major.sort((a, b) => a - b);
  }
  let labelled = major;
  while (labelled.length > 9) labelled = labelled.filter((_, i) => i % 2 === 0);
  return {major, labelled: new Set(labelled), minor};
}

/**
 * A log-log chart. `series`: [{name, color, points: [[x, y]], markers, dash, width, data}],
 * `bands`: [{from, to, label, fill}] shaded x ranges (null = open end),
 * `vlines`: [{x, label, color, dash?, class?, raise? (label lifted by that many px)}], `xBase`: 2 (batch sizes) or 10, `legendAt`: 'right' (default) or 'left'.
 */
export function logLogChart(spec) {
  const width = spec.width || 620;
  const height = spec.height || 380;
  const xBase = spec.xBase || 2;
  const allPoints = spec.series.flatMap((s) => s.points);
  const extraX = (spec.vlines || []).map((v) => v.x);
  const [x0, x1] = spec.xDomain || logDomain(allPoints.map((p) => p[0]).concat(extraX), 1.4);
  const [y0, y1] = spec.yDomain || logDomain(allPoints.filter((p) => p[0] >= x0 && p[0] <= x1).map((p) => p[1]), 1.5);
  const pw = width - MARGIN.left - MARGIN.right;
  const ph = height - MARGIN.top - MARGIN.bottom;
  const sx = (x) => MARGIN.left + (Math.log(x / x0) / Math.log(x1 / x0)) * pw;
  const sy = (y) => MARGIN.top + ph - (Math.log(y / y0) / Math.log(y1 / y0)) * ph;
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

  const root = svg('svg', {id: spec.id, class: 'tfbsz-chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img'});
  root.append(svg('title', {}, spec.title));
  const clipId = `${spec.id}-clip`;
  const defs = svg('defs');
  const clip = svg('clipPath', {id: clipId});
  clip.append(svg('rect', {x: MARGIN.left, y: MARGIN.top, width: pw, height: ph}));
  defs.append(clip);
  root.append(defs);
  root.append(svg('text', {x: MARGIN.left, y: 20, class: 'tfbsz-chart-title'}, spec.title));

  // Regime bands (behind everything).
  const bandLayer = svg('g', {class: 'tfbsz-bands'});
  for (const band of spec.bands || []) {
    const a = band.from === null ? MARGIN.left : clamp(sx(band.from), MARGIN.left, MARGIN.left + pw);
    const b = band.to === null ? MARGIN.left + pw : clamp(sx(band.to), MARGIN.left, MARGIN.left + pw);
    if (b - a < 1) continue;
    bandLayer.append(svg('rect', {x: a, y: MARGIN.top, width: b - a, height: ph, fill: band.fill, class: 'tfbsz-band'}));
    const label = svg('text', {x: (a + b) / 2, y: MARGIN.top + 14, class: 'tfbsz-band-label', 'text-anchor': 'middle'}, band.label);
    bandLayer.append(label);
  }
  root.append(bandLayer);

  // Grid and ticks.
  const grid = svg('g', {class: 'tfbsz-grid'});
  const axes = svg('g', {class: 'tfbsz-axes'});
  const xt = logTicks(x0, x1, xBase);
  for (const v of xt.major) {
    const x = sx(v);
    grid.append(svg('line', {x1: x, x2: x, y1: MARGIN.top, y2: MARGIN.top + ph, class: 'tfbsz-grid-major'}));
    axes.append(svg('line', {x1: x, x2: x, y1: MARGIN.top + ph, y2: MARGIN.top + ph + 5, class: 'tfbsz-tick'}));
    if (xt.labelled.has(v)) {
      axes.append(svg('text', {x, y: MARGIN.top + ph + 18, 'text-anchor': 'middle', class: 'tfbsz-xtick'}, formatNumber(v)));
    }
  }
  const yt = logTicks(y0, y1, 10);
  for (const v of yt.minor) {
    if (yt.labelled.has(v)) continue;
    const y = sy(v);
    grid.append(svg('line', {x1: MARGIN.left, x2: MARGIN.left + pw, y1: y, y2: y, class: 'tfbsz-grid-minor'}));
  }
  for (const v of yt.major) {
    const y = sy(v);
    grid.append(svg('line', {x1: MARGIN.left, x2: MARGIN.left + pw, y1: y, y2: y, class: 'tfbsz-grid-major'}));
    axes.append(svg('line', {x1: MARGIN.left - 5, x2: MARGIN.left, y1: y, y2: y, class: 'tfbsz-tick'}));
    if (yt.labelled.has(v)) {
      axes.append(svg('text', {x: MARGIN.left - 8, y: y + 4, 'text-anchor': 'end', class: 'tfbsz-ytick'}, formatNumber(v)));
    }
  }
  root.append(grid);
  axes.append(svg('rect', {x: MARGIN.left, y: MARGIN.top, width: pw, height: ph, class: 'tfbsz-frame'}));
  axes.append(svg('text', {x: MARGIN.left + pw / 2, y: height - 10, 'text-anchor': 'middle', class: 'tfbsz-axis-label'}, spec.xLabel));
  const yl = svg('text', {x: 0, y: 0, 'text-anchor': 'middle', class: 'tfbsz-axis-label',
    transform: `translate(16 ${MARGIN.top + ph / 2}) rotate(-90)`}, spec.yLabel);
  axes.append(yl);
  root.append(axes);

  // Vertical markers (B_crit).
  const plot = svg('g', {'clip-path': `url(#${clipId})`});
  for (const v of spec.vlines || []) {
    if (!(v.x > x0 && v.x < x1)) continue;
    plot.append(svg('line', {x1: sx(v.x), x2: sx(v.x), y1: MARGIN.top, y2: MARGIN.top + ph, stroke: v.color,
      'stroke-dasharray': v.dash, class: v.class ? `tfbsz-vline ${v.class}` : 'tfbsz-vline', 'data-x': v.x}));
    root.append(svg('text', {x: sx(v.x) + 4, y: MARGIN.top + ph - 6 - (v.raise || 0), fill: v.color,
      class: 'tfbsz-vline-label'}, v.label));
  }

  // Series.
  for (const s of spec.series) {
    const pts = s.points.filter((p) => p[0] > 0 && p[1] > 0);
    if (pts.length > 1) {
      plot.append(svg('polyline', {
        points: pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' '),
        fill: 'none', stroke: s.color, 'stroke-width': s.width || 2, 'stroke-dasharray': s.dash || null,
        class: 'tfbsz-line', 'data-series': s.name,
      }));
    }
    if (s.markers) {
      for (const p of pts) {
        const c = svg('circle', {cx: sx(p[0]), cy: sy(p[1]), r: 4.5, fill: s.color, class: 'tfbsz-point',
          'data-series': s.name, 'data-x': p[0], 'data-y': p[1]});
        c.append(svg('title', {}, `${s.name}: ${spec.xLabel.toLowerCase()} ${formatNumber(p[0])}, ${spec.yLabel.toLowerCase()} ${formatNumber(p[1])}`));
        plot.append(c);
      }
    }
  }
  root.append(plot);

  // Legend, top right inside the plot.
  const entries = spec.series.filter((s) => s.legend !== false);
  if (entries.length) {
    const lw = 12 + Math.max(...entries.map((s) => s.name.length)) * 6.6 + 34;
    const lx = spec.legendAt === 'left' ? MARGIN.left + 6 : MARGIN.left + pw - lw - 6;
    const ly = MARGIN.top + 24;
    const legend = svg('g', {class: 'tfbsz-legend'});
    legend.append(svg('rect', {x: lx, y: ly, width: lw, height: entries.length * 18 + 8, class: 'tfbsz-legend-box'}));
    entries.forEach((s, i) => {
      const y = ly + 14 + i * 18;
      legend.append(svg('line', {x1: lx + 8, x2: lx + 30, y1: y - 4, y2: y - 4, stroke: s.color,
        'stroke-width': s.width || 2, 'stroke-dasharray': s.dash || null}));
      if (s.markers) legend.append(svg('circle', {cx: lx + 19, cy: y - 4, r: 3.5, fill: s.color}));
      legend.append(svg('text', {x: lx + 36, y, class: 'tfbsz-legend-text'}, s.name));
    });
    root.append(legend);
  }
  return root;
}
