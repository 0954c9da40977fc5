// interventions.js — "What if this token did not count?": gate interventions on the page's CoPE
// model. A list of { layer, head (-1: every head of the layer), key, value } that every trace of the
// input applies (the core's cope_trace_force_gates: g_ij of that key set to value for every query
// i >= key, before the positions are summed), written in the core's list syntax — the same as
// `cope trace --force-gate` and the URL's force= ("0:*:6=0,1:2:9=1").
import { gateList } from 'cope-wasm';
import { el, button, setOptions } from './dom.js';
import { showPiece } from './tasks.js';

// an item of the core's grammar (cope_gate_forces_parse); the core checks the ranges
const ITEM = /^(\d{1,9}):(\d{1,9}|\*):(\d{1,9})=(\d{1,8}(?:\.\d*)?)$/;
export const MAX_INTERVENTIONS = 64;

/** The list of a force= string: items that do not read are dropped (the page says so). */
export function parseForce(s) {
  const list = [],
    bad = [];
  for (const item of String(s ?? '')
    .split(',')
    .filter(Boolean)) {
    const m = ITEM.exec(item);
    if (m && list.length < MAX_INTERVENTIONS)
      list.push({
        layer: Number(m[1]),
        head: m[2] === '*' ? -1 : Number(m[2]),
        key: Number(m[3]),
        value: Number(m[4]),
      });
    else bad.push(item.slice(0, 24));
  }
  return { list, bad };
}

/** The list in the core's syntax (the wasm module's own writer). */
export function formatForce(list) {
  return gateList(list);
}

/**
 * The controls and the list, in root. onChange(list) is called after every change (the page
 * traces again); the list is set from outside with set().
 */
export class InterventionBox {
  constructor(root, { onChange }) {
    this.root = root;
    this.onChange = onChange;
    this.list = [];
    this.keySel = el('select', { id: 'force-key', 'aria-label': 'The key whose gate to force' });
    this.scopeSel = el('select', { id: 'force-scope', 'aria-label': 'Which heads' });
    this.list0 = button('to 0 (does not count)', () => this.add(0), { id: 'force-0' });
    this.list1 = button('to 1 (counts)', () => this.add(1), { id: 'force-1' });
    this.items = el('span', { class: 'force-list', id: 'force-list' });
    this.undo = button('Undo', () => this.set(this.list.slice(0, -1), true), { id: 'force-undo' });
    this.clear = button('Clear all', () => this.set([], true), { id: 'force-clear' });
    const row = el('div', { class: 'row' });
    row.append(
      el(
        'span',
        {
          'data-tip':
            'Set the gate g of one key to 0 or 1 for every query: the positions, the attention, the layers above and the prediction follow. The model is not changed; only this input is traced with the intervention.',
        },
        'What if a token did not count? Force the gate of key',
      ),
      this.keySel,
      this.scopeSel,
      this.list0,
      this.list1,
    );
    const listRow = el('div', { class: 'row' });
    listRow.append(this.items, this.undo, this.clear);
    root.append(row, listRow);
  }

  /** Fills the key and scope pickers for a run (its tokens) and the selected layer and head. */
  show(run, state) {
    const cope = run?.model.hasCope;
    this.root.hidden = !cope;
    if (!cope) return;
    const keep = Number(this.keySel.value);
    setOptions(
      this.keySel,
      run.pieces.map((p, j) => [j, `${j} ${showPiece(p)}`]),
      Number.isInteger(keep) && keep < run.T ? keep : Math.max(0, state.query - 1),
    );
    const scope = this.scopeSel.value || 'head';
    setOptions(
      this.scopeSel,
      [
        ['head', `in layer ${state.layer} head ${state.head}`],
        ['layer', `in every head of layer ${state.layer}`],
      ],
      scope,
    );
    this.state = state;
    this.pieces = run.pieces;
    this.drawList();
  }

  add(value) {
    const { layer, head } = this.state;
    const g = { layer, head: this.scopeSel.value === 'layer' ? -1 : head, key: Number(this.keySel.value), value };
    const rest = this.list.filter((x) => !(x.layer === g.layer && x.head === g.head && x.key === g.key));
    this.set([...rest, g].slice(-MAX_INTERVENTIONS), true);
  }

  /** Sets the list (notify: tell the page). */
  set(list, notify = false) {
    this.list = list;
    this.drawList();
    if (notify) this.onChange(list);
  }

  drawList() {
    this.items.textContent = '';
    this.items.append(
      el(
        'span',
        { class: 'caption' },
        this.list.length ? `Interventions (${this.list.length}): ` : 'No interventions.',
      ),
    );
    this.list.forEach((g, k) => {
      const piece = this.pieces?.[g.key];
      const chip = el('span', { class: 'force-chip', 'data-key': g.key });
      chip.append(
        `layer ${g.layer} · ${g.head < 0 ? 'every head' : `head ${g.head}`} · key ${g.key}${piece !== undefined ? ` ${JSON.stringify(showPiece(piece))}` : ''} → ${g.value} `,
        button(
          '✕',
          () =>
            this.set(
              this.list.filter((_, i) => i !== k),
              true,
            ),
          {
            class: 'link',
            'aria-label': `Remove the intervention on key ${g.key}`,
          },
        ),
      );
      this.items.append(chip);
    });
    this.undo.disabled = this.clear.disabled = !this.list.length;
  }
}
