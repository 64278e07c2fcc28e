// "Steps to target" dashboard: TensorBoard imports this ES module in an iframe and calls render().
//
// It fetches ./runs and ./study?run=NAME from the plugin's backend (tfbsz/tb_plugin/plugin.py) and
// draws, for the selected studies: steps to result against batch size (log-log, with the
// perfect-scaling line, the fitted curve S_min (1 + B_crit / B) and the regimes), the best learning
// rate against batch size, a per-batch-size table and a per-trial table. No network access needed.

import {formatNumber, logLogChart} from './static/charts.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const REGIME_FILLS = {
  'perfect scaling': 'rgba(46, 160, 67, 0.10)',
  'diminishing returns': 'rgba(255, 193, 7, 0.13)',
  'beyond maximal useful batch size': 'rgba(220, 53, 69, 0.10)',
};
const MAX_TRIAL_ROWS = 3000;

const state = {runs: [], selected: new Set(), target: null, trialRun: null, studies: new Map()};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(new URL(path, import.meta.url));
  const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function colorOf(run) {
  return COLORS[state.runs.findIndex((r) => r.name === run) % COLORS.length];
}

function setStatus(text, ready = false) {
  const status = document.getElementById('tfbsz-status');
  status.textContent = text;
  status.dataset.state = ready ? 'ready' : 'loading';
}

function targetText(target) {
  if (!target) return 'no target';
  return `${target.metric} ${target.direction === 'max' ? '>' : '<'} ${formatNumber(target.threshold)}`;
}

export async function render() {
  document.head.append(el('link', {rel: 'stylesheet', href: new URL('./static/style.css', import.meta.url)}));
  const root = el('div', {id: 'tfbsz-root'});
  document.body.append(root);
  root.append(
    el('header', {},
      el('h1', {}, 'Steps to target vs batch size'),
      el('p', {class: 'tfbsz-lead'},
        'Fewest training steps to reach the target at each batch size, with each batch size tuned on its own ' +
        '(Shallue et al. 2018). Both axes are logarithmic.')),
    el('div', {id: 'tfbsz-status', 'data-state': 'loading'}, 'Loading studies…'),
    el('section', {id: 'tfbsz-controls'}),
    el('section', {id: 'tfbsz-results'}),
  );
  try {
    state.runs = (await getJson('./runs')).runs;
  } catch (err) {
    setStatus(`Could not list studies: ${err.message}`, true);
    return;
  }
  if (!state.runs.length) {
    setStatus('No tfbsz study under the logdir (a folder with tfbsz_study.json or a Shallue-layout tree).', true);
    return;
  }
  state.runs.slice(0, COLORS.length).forEach((r) => state.selected.add(r.name));
  state.trialRun = state.runs[0].name;
  renderControls();
  await refresh();
}

function renderControls() {
  const controls = document.getElementById('tfbsz-controls');
  controls.replaceChildren();
  const studies = el('fieldset', {class: 'tfbsz-runs'}, el('legend', {}, 'Studies'));
  for (const run of state.runs) {
    const box = el('input', {type: 'checkbox', value: run.name, onchange: (e) => {
      if (e.target.checked) state.selected.add(run.name); else state.selected.delete(run.name);
      refresh();
    }});
    box.checked = state.selected.has(run.name);
    const workload = [run.dataset, run.model, run.optimizer].filter(Boolean).join(' · ');
    studies.append(el('label', {class: 'tfbsz-run'}, box,
      el('span', {class: 'tfbsz-swatch', style: `background:${colorOf(run.name)}`}),
      el('span', {class: 'tfbsz-run-name'}, run.name),
      workload ? el('span', {class: 'tfbsz-muted'}, ` ${workload}`) : null));
  }
  const metric = el('input', {id: 'tfbsz-metric', type: 'text', size: 26, placeholder: 'val/classification_error'});
  const threshold = el('input', {id: 'tfbsz-threshold', type: 'text', size: 8, placeholder: '0.05'});
  const direction = el('select', {id: 'tfbsz-direction'},
    el('option', {value: 'min'}, '< (lower is better)'), el('option', {value: 'max'}, '> (higher is better)'));
  const form = el('form', {class: 'tfbsz-target', onsubmit: (e) => {
    e.preventDefault();
    state.target = {metric: metric.value.trim(), threshold: threshold.value.trim(), direction: direction.value};
    refresh();
  }},
  el('legend', {}, 'Target'),
  el('label', {}, 'metric ', metric), el('label', {}, ' threshold ', threshold), ' ', direction, ' ',
  el('button', {type: 'submit'}, 'Apply'), ' ',
  el('button', {type: 'button', onclick: () => { state.target = null; refresh(); }}, 'Use each study\u2019s target'));
  const reload = el('button', {type: 'button', id: 'tfbsz-reload', onclick: reloadRuns}, 'Reload studies');
  controls.append(studies, el('fieldset', {}, form), el('div', {class: 'tfbsz-reload'}, reload));
}

async function reloadRuns() {
  // TensorBoard's own reload button does not reach iframed plugins, hence this one.
  try {
    const runs = (await getJson('./runs')).runs;
    const known = new Set(state.runs.map((r) => r.name));
    state.runs = runs;
    for (const r of runs) if (!known.has(r.name) && state.selected.size < COLORS.length) state.selected.add(r.name);
  } catch (err) {
    setStatus(`Could not list studies: ${err.message}`, true);
    return;
  }
  renderControls();
  await refresh();
}

async function refresh() {
  const names = state.runs.map((r) => r.name).filter((n) => state.selected.has(n));
  setStatus(`Loading ${names.length} stud${names.length === 1 ? 'y' : 'ies'}…`);
  const results = await Promise.all(names.map(async (name) => {
    const params = new URLSearchParams({run: name});
    if (state.target) {
      params.set('metric', state.target.metric);
      params.set('threshold', state.target.threshold);
      params.set('direction', state.target.direction);
    }
    try {
      return {name, study: await getJson(`./study?${params}`)};
    } catch (err) {
      return {name, error: err.message};
    }
  }));
  state.studies = new Map(results.map((r) => [r.name, r]));
  renderResults(results);
  const failed = results.filter((r) => r.error);
  setStatus(failed.length ? `Shown ${results.length - failed.length} of ${results.length} studies.` :
    `Showing ${results.length} stud${results.length === 1 ? 'y' : 'ies'}.`, true);
}

function renderResults(results) {
  const section = document.getElementById('tfbsz-results');
  section.replaceChildren();
  const ok = results.filter((r) => r.study);
  for (const r of results.filter((x) => x.error)) {
    section.append(el('p', {class: 'tfbsz-error'}, `${r.name}: ${r.error}`));
  }
  if (!ok.length) return;
  section.append(el('div', {class: 'tfbsz-cards'}, ...ok.map((r) => fitCard(r.name, r.study))));
  section.append(el('div', {class: 'tfbsz-charts'},
    el('figure', {}, stepsChart(ok),
      el('figcaption', {}, 'Points: steps to result of the best trial per batch size. Dashed: perfect scaling ' +
        '(steps halve when the batch doubles): the fitted small-batch limit E_min / B (without a fit, through the smallest batch size). Dotted: fit S(B) = S_min (1 + B_crit / B). ' +
        (ok.some((r) => r.study.noise_scale) ? 'Dash-dotted: measured gradient noise scale B_simple. ' : '') +
        (shadedStudy(ok) ? `Shading: regimes of ${shadedStudy(ok).name}.` : ''))),
    el('figure', {}, learningRateChart(ok),
      el('figcaption', {}, 'Learning rate of the best trial per batch size. Grey: linear and square-root ' +
        'scaling from the smallest batch size.'))));
  section.append(el('h2', {}, 'Per batch size'), batchSizeTable(ok));
  section.append(trialSection(ok));
}

function fitCard(name, study) {
  const a = study.analysis;
  const fit = a.fit;
  const interval = (iv) => (iv ? ` [${formatNumber(iv[0] ?? 0)}, ${iv[1] === null ? '∞' : formatNumber(iv[1])}]` : '');
  const lines = [
    el('div', {class: 'tfbsz-card-title'}, el('span', {class: 'tfbsz-swatch', style: `background:${colorOf(name)}`}), name),
    el('div', {class: 'tfbsz-muted'}, [study.study.dataset, study.study.model, study.study.optimizer].filter(Boolean).join(' · ')),
    el('div', {}, `Target: ${targetText(study.target)}`),
  ];
  if (fit) {
    const conf = fit.confidence ? ` (${Math.round(fit.confidence * 100)}% interval)` : '';
    lines.push(el('div', {class: 'tfbsz-fit'}, `B_crit ≈ ${formatNumber(fit.b_crit)}${interval(fit.b_crit_interval)}${conf}`));
    lines.push(el('div', {class: 'tfbsz-fit'}, `S_min ≈ ${formatNumber(fit.s_min)}${interval(fit.s_min_interval)} steps`));
  } else {
    lines.push(el('div', {class: 'tfbsz-muted'}, `No fit: ${a.fit_error}`));
  }
  const noise = study.noise_scale;
  if (noise) {
    // b_simple null: infinite (more than half of the values at the goal: signal below the noise)
    const shown = noise.b_simple === null ? '∞' : formatNumber(noise.b_simple);
    const ratio = fit && noise.b_simple !== null ? ` = ${formatNumber(noise.b_simple / fit.b_crit)} × B_crit` : (fit ? '' : ' (no B_crit to compare)');
    lines.push(el('div', {class: 'tfbsz-noise', 'data-b-simple': noise.b_simple ?? 'inf'},
      `B_simple ≈ ${shown}${interval(noise.interval)}${ratio}`));
    lines.push(el('div', {class: 'tfbsz-muted'},
      `Measured gradient noise scale at the goal: median over ${noise.trials} batch sizes' best trials of ${noise.column} ` +
      `(${noise.infinite} infinite; ${Math.round(noise.interval_coverage * 100)}% distribution-free interval).`));
  }
  const edges = study.batch_sizes.filter((b) => (b.at_search_edge || []).length);
  if (edges.length) {
    lines.push(el('div', {class: 'tfbsz-warning'},
      `⚠ Best trial at a search edge at batch size ${edges.map((b) => `${b.batch_size} (${b.at_search_edge.join(', ')})`).join('; ')}: ` +
      'widen the search range past that edge and re-run those batch sizes.'));
  }
  const reached = study.batch_sizes.filter((b) => b.steps_to_result !== null).length;
  lines.push(el('div', {class: 'tfbsz-muted'}, `${reached} of ${study.batch_sizes.length} batch sizes reached the target; ` +
    `${study.trials.length} trials.`));
  return el('div', {class: 'tfbsz-card', 'data-run': name}, ...lines);
}

function stepsChart(ok) {
  const series = [];
  const vlines = [];
  for (const {name, study} of ok) {
    const color = colorOf(name);
    const pts = study.batch_sizes.filter((b) => b.steps_to_result !== null).map((b) => [b.batch_size, b.steps_to_result]);
    series.push({name, color, points: pts, markers: true, width: 2.2});
    const a = study.analysis;
    if (a.perfect_scaling) series.push({name: `${name} perfect`, color, points: a.perfect_scaling.points, dash: '6 4', width: 1.4, legend: false});
    if (a.fitted_curve.length) series.push({name: `${name} fit`, color, points: a.fitted_curve, dash: '2 3', width: 1.6, legend: false});
    if (a.fit) vlines.push({x: a.fit.b_crit, color, label: `B_crit ${formatNumber(a.fit.b_crit)}`});
    if (study.noise_scale && study.noise_scale.b_simple !== null) {
      vlines.push({x: study.noise_scale.b_simple, color, dash: '8 3 2 3', class: 'tfbsz-noise-line', raise: 14,
        label: `B_simple ${formatNumber(study.noise_scale.b_simple)}`});
    }
  }
  series.push({name: 'perfect scaling', color: '#666', points: [], dash: '6 4', width: 1.4});
  if (ok.some((r) => r.study.analysis.fit)) series.push({name: 'fit S_min(1+B_crit/B)', color: '#666', points: [], dash: '2 3', width: 1.6});
  const measured = ok.flatMap((r) => r.study.batch_sizes.filter((b) => b.steps_to_result !== null).map((b) => [b.batch_size, b.steps_to_result]));
  const xs = ok.flatMap((r) => r.study.batch_sizes.map((b) => b.batch_size));
  const ys = measured.map((p) => p[1]);
  const bands = (shadedStudy(ok)?.study.analysis.regime_bands || []).map((b) => ({...b, label: b.name, fill: REGIME_FILLS[b.name] || 'rgba(0,0,0,0.05)'}));
  return logLogChart({
    id: 'tfbsz-steps-chart', title: 'Steps to result', xLabel: 'Batch size', yLabel: 'Steps to result',
    series, vlines, bands, xBase: 2,
    xDomain: xs.length ? [Math.min(...xs) / 1.4, Math.max(...xs) * 1.4] : null,
    yDomain: ys.length ? [Math.min(...ys) / 1.6, Math.max(...ys) * 1.6] : null,
  });
}

/** The study whose regimes shade the chart: the first ticked one that has regimes. */
function shadedStudy(ok) {
  return ok.find((r) => r.study.analysis.regime_bands.length) || null;
}

function learningRateChart(ok) {
  const series = [];
  let reference = null;
  for (const {name, study} of ok) {
    const pts = study.batch_sizes.filter((b) => b.best_learning_rate !== null && b.best_learning_rate > 0)
      .map((b) => [b.batch_size, b.best_learning_rate]);
    series.push({name, color: colorOf(name), points: pts, markers: true, width: 2.2});
    if (!reference && pts.length) reference = {pts, xs: study.batch_sizes.map((b) => b.batch_size)};
  }
  if (reference) {
    const [b0, lr0] = reference.pts[0];
    const bMax = Math.max(...reference.xs);
    series.push({name: 'linear scaling', color: '#888', points: [[b0, lr0], [bMax, lr0 * bMax / b0]], dash: '6 4', width: 1.2});
    series.push({name: 'sqrt scaling', color: '#bbb', points: [[b0, lr0], [bMax, lr0 * Math.sqrt(bMax / b0)]], dash: '2 3', width: 1.2});
  }
  const xs = ok.flatMap((r) => r.study.batch_sizes.map((b) => b.batch_size));
  const ys = series.filter((s) => s.markers).flatMap((s) => s.points.map((p) => p[1]));
  return logLogChart({
    id: 'tfbsz-lr-chart', title: 'Best learning rate', xLabel: 'Batch size', yLabel: 'Learning rate',
    series, xBase: 2, width: 460, legendAt: 'left',
    xDomain: xs.length ? [Math.min(...xs) / 1.4, Math.max(...xs) * 1.4] : null,
    yDomain: ys.length ? [Math.min(...ys) / 2, Math.max(...ys) * 2] : null,
  });
}

function table(id, headers, rows) {
  return el('table', {id, class: 'tfbsz-table'},
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows));
}

function batchSizeTable(ok) {
  const rows = [];
  for (const {name, study} of ok) {
    for (const b of study.batch_sizes) {
      rows.push(el('tr', {'data-run': name, 'data-batch-size': b.batch_size},
        el('td', {}, el('span', {class: 'tfbsz-swatch', style: `background:${colorOf(name)}`}), name),
        el('td', {class: 'num'}, b.batch_size),
        el('td', {class: 'num'}, (b.steps_to_result === null ? 'not reached' : `${b.steps_to_result}`) +
          ((b.at_search_edge || []).length ? ` ⚠ edge: ${b.at_search_edge.join(', ')}` : '')),
        el('td', {class: 'num'}, b.best_trial ?? '–'),
        el('td', {class: 'num'}, formatNumber(b.best_learning_rate)),
        el('td', {class: 'num'}, b.trials),
        el('td', {class: 'num'}, `${b.reached} / ${b.missed} / ${b.diverged}`),
        el('td', {}, b.regime ?? '–'),
        el('td', {class: 'num tfbsz-noise-cell'}, formatNumber(b.noise_scale))));
    }
  }
  return table('tfbsz-batch-table',
    ['Study', 'Batch size', 'Steps to result', 'Best trial', 'Best learning rate', 'Trials', 'Reached / missed / diverged', 'Regime',
      'Noise scale'],
    rows);
}

function trialSection(ok) {
  if (!ok.some((r) => r.name === state.trialRun)) state.trialRun = ok[0].name;
  const select = el('select', {id: 'tfbsz-trial-run', onchange: (e) => {
    state.trialRun = e.target.value;
    document.getElementById('tfbsz-trials').replaceWith(trialSection([...state.studies.values()].filter((r) => r.study)));
  }}, ...ok.map((r) => el('option', {value: r.name}, r.name)));
  select.value = state.trialRun;
  const study = ok.find((r) => r.name === state.trialRun).study;
  const params = study.parameter_names;
  const trials = study.trials.slice(0, MAX_TRIAL_ROWS);
  const rows = trials.map((t) => el('tr', {'data-batch-size': t.batch_size, class: `tfbsz-outcome-${t.outcome || 'unknown'}`},
    el('td', {class: 'num'}, t.batch_size),
    el('td', {class: 'num'}, t.trial_id),
    el('td', {}, t.status),
    el('td', {}, t.outcome ?? '–'),
    el('td', {class: 'num'}, t.steps),
    el('td', {class: 'num'}, t.steps_to_target ?? '–'),
    ...params.map((p) => el('td', {class: 'num'}, typeof t.parameters[p] === 'number' ? formatNumber(t.parameters[p]) : (t.parameters[p] ?? '–')))));
  const note = study.trials.length > MAX_TRIAL_ROWS ? el('p', {class: 'tfbsz-muted'}, `First ${MAX_TRIAL_ROWS} of ${study.trials.length} trials.`) : null;
  return el('div', {id: 'tfbsz-trials'},
    el('h2', {}, 'Trials of ', select),
    table('tfbsz-trial-table', ['Batch size', 'Trial', 'Status', 'Outcome', 'Steps', 'Steps to target', ...params], rows),
    note);
}
