// glossary.js — what every quantity on the page means, in one place: the strip's row headers, the
// charts' and maps' captions and the "what you are looking at" texts read it. Written for a reader
// who knows attention but not CoPE.

export const GLOSSARY = {
  gates:
    'Gate g_ij = sigmoid(q_i · k_j): how much key j counts for query i, between 0 and 1. A head chooses what to count by opening its gates (near 1) on some tokens only, such as statement ends or paragraph breaks.',
  positions:
    'Position p_ij = the sum of the gates g_ik for k = j … i: how many counted tokens lie between key j and the query (fractional). It stops at npos − 1, the size of the position table.',
  distance: 'Token distance i − j: the position a model without CoPE would use.',
  cope_logits:
    'CoPE logit c_ij: the query’s score for position p_ij, interpolated between the learned position embeddings at floor(p) and ceil(p). It is added to the content logit.',
  content_logits: 'Content logit s_ij = q_i · k_j / √d: the usual attention score from the tokens’ contents.',
  attn: 'Attention a_ij = softmax over the keys of s_ij + c_ij (+ the relative-position term): the weights the head averages the values with.',
  pos_attn:
    'Position-only attention: the softmax weights from the position terms alone (c_ij and any relative-position term), each row scaled so its maximum is 1 — the paper’s Figure 4. It shows where a head looks by position, whatever the contents.',
  crossings: 'Dashed vertical lines: where p_ij crosses an integer between neighbouring keys — one per counted token.',
  clamp: 'npos − 1: positions stop here; every key farther back, in counted tokens, reads the same position.',
  markers:
    'Boundary tokens (+ on the maps, orange column edges in the strip): the tokens you expect the head to count, such as "++;" or the paragraph break ↵. Change them in the toolbar.',
};

export const VIEW_INTROS = {
  query:
    'One query i (the highlighted token) of one head: for every earlier key j, its gate, its contextual position p_ij and the attention — the paper’s Figure 1. Step through the queries with ← → and watch p count only the tokens whose gates open.',
  sequence:
    'Every query at once, one head: rows are queries i, columns keys j — the paper’s Figure 4. A head that counts paragraphs or statements shows blocks: by position it attends to the keys since the last boundary. The grid below picks a head.',
  compare:
    'The same input and query through this CoPE model and its baseline (the same task, another position encoding): does the baseline attend to the same keys, and does it answer right?',
};
