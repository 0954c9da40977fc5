// tasks.js — what the page knows about each task: the tokens to mark as boundaries by default,
// and the right answers of an input (recomputed from the text itself, so typed or edited inputs
// are checked as well as generated ones).

/** Default boundary markers (pieces) per task; the user can change them. */
export const TASK_MARKERS = {
  counting1: ['=', '++;'],
  counting3: ['=', '++;'],
  counting5: ['=', '++;'],
  flipflop: ['w'],
  selcopy: ['|'],
  text: ['\n'],
  topics: ['\n'],
  corpus: ['\n'],
  toy: ['.'],
};

/** One-line explanations shown beside the model picker. */
export const TASK_BLURBS = {
  counting1:
    'Counting: statements set (v = 0 ;) and increment (v ++;) variables among pass; fillers; after "print v" the model answers v\'s value.',
  counting3:
    'Counting with 3 variables: after "print v" the model answers how often v was incremented since it was set.',
  counting5:
    'Counting with 5 variables: after "print v" the model answers how often v was incremented since it was set.',
  flipflop:
    'Flip-flop: w/r/i instructions each followed by a bit; after every r the model must repeat the bit of the last w.',
  selcopy: 'Selective copy: after "|" the model copies the non-blank tokens in order, skipping the blanks "_".',
  text: 'Structured text: sections with titles "= = title = =" and paragraphs ending in a newline; the model predicts the next word.',
  topics:
    'Topic paragraphs: each paragraph draws its words from one hidden topic, and the pools overlap, so only the words of the current paragraph tell which; a head that counts paragraphs (gates on the newline) can attend to exactly them.',
  corpus:
    'Real text: a language model of the Python documentation (paragraphs are lines, sections start with "= title ="); it predicts the next word. Type any English text: one line per paragraph.',
  toy: 'Toy task.',
};

/** The text a corpus model opens on: our own prose in the corpus layout (a title line, a
 * paragraph a line, a section title), not from its training text. */
export const CORPUS_EXAMPLE = [
  '= Working with files =',
  'A file object is returned by the open function. The first argument is the name of the file, and the second argument is the mode, which describes how the file will be used. When the mode is omitted, the file is opened for reading in text mode.',
  'It is good practice to use the with statement when you work with file objects. The file is closed when the block ends, even if an exception is raised inside it, so you do not have to call the close method yourself.',
  '= = Reading lines = =',
  'To read the contents of a file, call the read method, which returns the whole file as a string. For a large file, it is better to loop over the file object: each iteration returns one line, and the memory used stays small.',
  'The readline method returns a single line from the file, with the newline character at its end. An empty string means that the end of the file has been reached, while a blank line is returned as a string that contains only a newline.',
  '= = Writing data = =',
  'The write method writes a string to the file and returns the number of characters written. Other types of objects must be converted to a string first, for example with the str function or with a format string.',
].join('\n');

/** What to look for in a model of each task, and the view that shows it (the page's model card). */
export const TASK_LOOK_FOR = {
  counting:
    'The page opens on the query after "print v", where the model answers. In a counting head the gates open on the printed variable’s statements, and its position p at the variable’s last "v = 0 ;" equals the answer: step back with ← through the program and watch p count the increments.',
  flipflop:
    'Pick a query right after an "r": a head that finds the last write has its gates open on the "w"s, so p = 1 at the last "w" and the position-only attention peaks there, however far back it is.',
  selcopy:
    'Pick a query after "|": a copying head counts the letters and not the blanks "_" (gates open on letters), so p tells which letter comes next.',
  paragraphs:
    'Open the Sequence view: a head that counts paragraphs opens its gates on ↵, and its position-only map shows blocks — every query attends to the keys since the last ↵. Compare it with the baseline’s map.',
};

/** The TASK_LOOK_FOR entry and the view for a task (undefined when the page knows nothing). */
export function lookFor(task) {
  if (/^counting\d$/.test(task)) return { text: TASK_LOOK_FOR.counting, view: 'query' };
  if (task === 'flipflop' || task === 'selcopy') return { text: TASK_LOOK_FOR[task], view: 'query' };
  if (task === 'text' || task === 'topics' || task === 'corpus')
    return { text: TASK_LOOK_FOR.paragraphs, view: 'sequence' };
  return undefined;
}

/** Language-model tasks score every next token (their measure is the per-token error); the others
 * score only their answers. */
export function isLanguageTask(task) {
  return task === 'text' || task === 'topics' || task === 'corpus' || task === 'toy';
}

/** Marker text as the user types it: pieces separated by spaces, "\n" for the newline. */
export function parseMarkers(s) {
  return String(s)
    .split(/\s+/)
    .filter(Boolean)
    .map((p) => (p === '\\n' ? '\n' : p));
}
export function formatMarkers(list) {
  return list.map((p) => (p === '\n' ? '\\n' : p)).join(' ');
}

/** A piece as shown on screen: the newline (with the blank lines the text tokenizer joins to it)
 * and blanks made visible. */
export function showPiece(p) {
  if (p.includes('\n') && !p.trim()) return '↵';
  if (p === '') return '∅';
  return p;
}

/**
 * The scored targets of an input: [{ t, expected }] where the model, reading pieces[0..t), should
 * predict `expected` (t == pieces.length means the token after the input). Tasks the page does
 * not know give []. `answerIncluded` marks targets whose answer is already in the text.
 */
export function targets(task, pieces) {
  const n = pieces.length;
  if (/^counting\d$/.test(task)) {
    // The last "print v": the value of v, replayed from the statements before it.
    const vals = {};
    let out = [];
    for (let t = 0; t < n; t++) {
      const p = pieces[t];
      if (p === 'print' && t + 1 < n) {
        const v = pieces[t + 1];
        out = v in vals ? [{ t: t + 2, expected: String(vals[v]) }] : [];
        break;
      }
      if (/^[a-z]$/.test(p) && pieces[t + 1] === '=' && /^\d+$/.test(pieces[t + 2] || ''))
        vals[p] = Number(pieces[t + 2]);
      else if (/^[a-z]$/.test(p) && pieces[t + 1] === '++;' && p in vals) vals[p] += 1;
    }
    return out;
  }
  if (task === 'flipflop') {
    const out = [];
    let last = null;
    for (let t = 0; t + 1 <= n; t++) {
      if (pieces[t] === 'w' && t + 1 < n) last = pieces[t + 1];
      if (pieces[t] === 'r' && last !== null) out.push({ t: t + 1, expected: last });
    }
    return out;
  }
  if (task === 'selcopy') {
    const bar = pieces.indexOf('|');
    if (bar < 0) return [];
    const keep = pieces.slice(0, bar).filter((p) => p !== '_');
    return keep.map((p, k) => ({ t: bar + 1 + k, expected: p })).filter((x) => x.t <= n);
  }
  if (isLanguageTask(task)) {
    const out = [];
    for (let t = 1; t < n; t++) out.push({ t, expected: pieces[t] });
    return out;
  }
  return [];
}

/** The query that shows the model answering: the token before the first scored target. */
export function defaultQuery(task, pieces) {
  const ts = targets(task, pieces);
  if (ts.length && !isLanguageTask(task)) return Math.min(ts[0].t - 1, pieces.length - 1);
  return Math.max(0, pieces.length - 1);
}
