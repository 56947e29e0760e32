// The function-preserving expansion of a small LLaMA-family model (and its recurrent drafter) into a wider, deeper
// one with the cost of a large model and exactly the small model's behaviour (issue 6).
//
// - Residual stream: source coordinate c (0..d-1) is target coordinate c; coordinates d..D-1 stay zero forever,
//   because every matrix writing into the residual stream (embedding, attention output, FFN down) is zero there.
// - RMSNorm over D coordinates of which only d are non-zero: rms_D^2 = (d/D) rms_d^2, so the weights are scaled by
//   sqrt(d/D) and epsilon by d/D; the normalised values (and so the final hidden state) are unchanged.
// - Heads: source head size hd_o, target hd = r * hd_o (r an integer). RoPE rotates interleaved pair i of a head of
//   size n at theta^(-2i/n), so source pair i goes to target pair r*i, which rotates at the same frequency; element
//   e = 2i+b of a source head is element 2*r*i+b of its target head (for Q, K, V and the matching columns of the
//   attention output). Query weights are scaled by sqrt(hd/hd_o) to undo the attention scale 1/sqrt(hd).
// - Grouped-query attention: source query head h (group size g_o = H_o/KV_o) reads KV head floor(h/g_o); it becomes
//   target head floor(h/g_o)*g + h%g_o (g = H/KV), which reads target KV head floor(h/g_o). Other heads are zero.
// - FFN: source unit u is target unit u; other units have zero gate, up and down weights (SiLU(0)*0 = 0).
// - Layers: source layer l is target layer floor(l*L/L_o); the others are all zero, and a zero layer adds zero
//   attention and zero FFN output, the identity on the residual stream.
// - Drafter (Apple's layout): hidden_size d -> D; its input concat[h, s] has h and s in D coordinates each, the
//   source's h[c] at c and s[c] at D+c. With exit_dim == 2*hidden_size (no input_proj) the exit coordinates map the
//   same way; otherwise exit_dim scales by D/d and the source exit coordinates are the first ones.
import type { NativeModelTensors } from './bench-addon.js';

export interface LlamaShape {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
}

export interface ExpansionTarget extends LlamaShape {}

export type SourceConfig = NativeModelTensors['config'];

export interface ExpansionPlan {
  source: SourceConfig;
  target: ExpansionTarget;
  /** hd / hd_o */
  headRatio: number;
  sourceHeadDim: number;
  targetHeadDim: number;
  /** sqrt(hd / hd_o) */
  queryScale: number;
  /** sqrt(d / D) */
  normScale: number;
  normEps: number;
  /** [L_o] target layer of each source layer */
  layerOf: number[];
  /** [H_o] target query head of each source query head */
  queryHeadOf: number[];
}

/** Validates that `target` can hold `source` and computes the index maps. Throws RangeError naming the field. */
export function planExpansion(source: SourceConfig, target: ExpansionTarget): ExpansionPlan {
  const need = (ok: boolean, field: string, msg: string) => {
    if (!ok) throw new RangeError(`${field} ${msg}`);
  };
  for (const k of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads'] as const) {
    need(Number.isInteger(target[k]) && target[k] > 0, k, `must be a positive integer (got ${target[k]})`);
  }
  need(target.dim >= source.dim, 'dim', `must be at least the source's ${source.dim}`);
  need(target.hiddenDim >= source.hiddenDim, 'hiddenDim', `must be at least the source's ${source.hiddenDim}`);
  need(target.nLayers >= source.nLayers, 'nLayers', `must be at least the source's ${source.nLayers}`);
  need(target.dim % target.nHeads === 0, 'nHeads', `must divide dim ${target.dim}`);
  need(target.nHeads % target.nKvHeads === 0, 'nKvHeads', `must divide nHeads ${target.nHeads}`);
  need(target.nKvHeads >= source.nKvHeads, 'nKvHeads', `must be at least the source's ${source.nKvHeads}`);
  const sourceGroup = source.nHeads / source.nKvHeads;
  const targetGroup = target.nHeads / target.nKvHeads;
  need(targetGroup >= sourceGroup, 'nHeads', `/ nKvHeads must be at least the source's group size ${sourceGroup}`);
  const hdo = source.dim / source.nHeads;
  const hd = target.dim / target.nHeads;
  need(hd % hdo === 0, 'nHeads', `must give a head size (${hd}) that is a multiple of the source's ${hdo}`);
  const layerOf = Array.from({ length: source.nLayers }, (_, l) => Math.floor((l * target.nLayers) / source.nLayers));
  const queryHeadOf = Array.from(
    { length: source.nHeads },
    (_, h) => Math.floor(h / sourceGroup) * targetGroup + (h % sourceGroup),
  );
  return {
    source,
    target,
    headRatio: hd / hdo,
    sourceHeadDim: hdo,
    targetHeadDim: hd,
    queryScale: Math.sqrt(hd / hdo),
    normScale: Math.sqrt(source.dim / target.dim),
    normEps: (source.normEps * source.dim) / target.dim,
    layerOf,
    queryHeadOf,
  };
}

/** Element e of a source head -> its element in the target head (same RoPE frequency). */
export function headElement(plan: ExpansionPlan, e: number): number {
  return 2 * plan.headRatio * (e >> 1) + (e & 1);
}

/** [rows, cols] row-major matrix with source rows/cols mapped: out[rowMap[i], colMap[j]] = scale * src[i, j]. */
export function scatter(
  src: Float32Array,
  srcRows: number,
  srcCols: number,
  rows: number,
  cols: number,
  rowMap: (i: number) => number,
  colMap: (j: number) => number,
  scale = 1,
): Float32Array {
  const out = new Float32Array(rows * cols);
  const cm = Int32Array.from({ length: srcCols }, (_, j) => colMap(j));
  for (let i = 0; i < srcRows; i++) {
    const base = rowMap(i) * cols;
    for (let j = 0; j < srcCols; j++) out[base + cm[j]] = scale * src[i * srcCols + j];
  }
  return out;
}

export interface TensorProducer {
  name: string;
  rows: number;
  cols: number;
  produce(): Float32Array;
}

/**
 * The target model's tensors in GGUF order (token_embd, output_norm, [output], then per layer), each produced on
 * demand so only one target tensor exists at a time. `tensors` are the source's (benchModel.readModelTensors).
 */
export function expandedTensors(plan: ExpansionPlan, tensors: NativeModelTensors['tensors']): TensorProducer[] {
  const { source: s, target: t } = plan;
  const hd = plan.targetHeadDim;
  const hdo = plan.sourceHeadDim;
  const kvDim = t.nKvHeads * hd;
  const get = (name: string) => {
    const x = tensors[name];
    if (!x) throw new Error(`source model has no tensor ${name}`);
    return x;
  };
  const id = (i: number) => i;
  // source row/col index of a [heads*hdo] projection -> target index
  const qIndex = (i: number) => plan.queryHeadOf[Math.floor(i / hdo)] * hd + headElement(plan, i % hdo);
  const kvIndex = (i: number) => Math.floor(i / hdo) * hd + headElement(plan, i % hdo);
  const norm = (name: string) => () => {
    const x = get(name);
    const out = new Float32Array(t.dim);
    for (let c = 0; c < s.dim; c++) out[c] = x.data[c] * plan.normScale;
    return out;
  };
  const matrix = (name: string, rows: number, cols: number, rowMap: (i: number) => number, colMap: (j: number) => number, scale = 1) =>
    () => {
      const x = get(name);
      return scatter(x.data, x.rows, x.cols, rows, cols, rowMap, colMap, scale);
    };
  const list: TensorProducer[] = [];
  list.push({ name: 'token_embd.weight', rows: s.vocabSize, cols: t.dim, produce: matrix('token_embd.weight', s.vocabSize, t.dim, id, id) });
  list.push({ name: 'output_norm.weight', rows: 1, cols: t.dim, produce: norm('output_norm.weight') });
  if (!s.tiedClassifier) {
    list.push({ name: 'output.weight', rows: s.vocabSize, cols: t.dim, produce: matrix('output.weight', s.vocabSize, t.dim, id, id) });
  }
  const sourceLayer = new Map(plan.layerOf.map((tl, sl) => [tl, sl]));
  for (let l = 0; l < t.nLayers; l++) {
    const sl = sourceLayer.get(l);
    const p = `blk.${l}.`;
    const sp = `blk.${sl}.`;
    const zeros = (n: number) => () => new Float32Array(n);
    const add = (name: string, rows: number, cols: number, produce: () => Float32Array) =>
      list.push({ name: p + name, rows, cols, produce: sl === undefined ? zeros(rows * cols) : produce });
    add('attn_norm.weight', 1, t.dim, norm(sp + 'attn_norm.weight'));
    add('attn_q.weight', t.dim, t.dim, matrix(sp + 'attn_q.weight', t.dim, t.dim, qIndex, id, plan.queryScale));
    add('attn_k.weight', kvDim, t.dim, matrix(sp + 'attn_k.weight', kvDim, t.dim, kvIndex, id));
    add('attn_v.weight', kvDim, t.dim, matrix(sp + 'attn_v.weight', kvDim, t.dim, kvIndex, id));
    add('attn_output.weight', t.dim, t.dim, matrix(sp + 'attn_output.weight', t.dim, t.dim, id, qIndex));
    add('ffn_norm.weight', 1, t.dim, norm(sp + 'ffn_norm.weight'));
    add('ffn_gate.weight', t.hiddenDim, t.dim, matrix(sp + 'ffn_gate.weight', t.hiddenDim, t.dim, id, id));
    add('ffn_down.weight', t.dim, t.hiddenDim, matrix(sp + 'ffn_down.weight', t.dim, t.hiddenDim, id, id));
    add('ffn_up.weight', t.hiddenDim, t.dim, matrix(sp + 'ffn_up.weight', t.hiddenDim, t.dim, id, id));
  }
  return list;
}

/** Parameters of a LLaMA model of this shape (tied classifier unless `untied`). */
export function parameterCount(shape: LlamaShape, vocab: number, untied = false): number {
  const hd = shape.dim / shape.nHeads;
  const perLayer =
    2 * shape.dim + 2 * shape.dim * shape.dim + 2 * shape.dim * shape.nKvHeads * hd + 3 * shape.dim * shape.hiddenDim;
  return vocab * shape.dim * (untied ? 2 : 1) + shape.dim + shape.nLayers * perLayer;
}

// ---------------------------------------------------------------------------------------------------------------
// drafter
// ---------------------------------------------------------------------------------------------------------------
export interface DrafterJsonConfig {
  hidden_size: number;
  exit_dim: number;
  num_draft_layers: number;
  vocab_size: number;
  rnn: boolean;
  [key: string]: unknown;
}

export interface DrafterTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The expanded drafter's config (hidden_size D; exit_dim 2D when the source had no input_proj, else scaled). */
export function expandedDrafterConfig(source: DrafterJsonConfig, plan: ExpansionPlan): DrafterJsonConfig {
  const d = plan.source.dim;
  const D = plan.target.dim;
  if (source.hidden_size !== d) {
    throw new RangeError(`drafter hidden_size ${source.hidden_size} does not match the model's hidden size ${d}`);
  }
  const noProj = source.exit_dim === 2 * d;
  return { ...source, hidden_size: D, exit_dim: noProj ? 2 * D : (source.exit_dim * D) / d };
}

/** Maps one source drafter tensor to the expanded drafter's (see the header comment). */
export function expandDrafterTensor(
  name: string,
  shape: readonly number[],
  data: Float32Array,
  source: DrafterJsonConfig,
  plan: ExpansionPlan,
): DrafterTensor {
  const d = plan.source.dim;
  const D = plan.target.dim;
  const target = expandedDrafterConfig(source, plan);
  const noProj = source.exit_dim === 2 * d;
  const id = (i: number) => i;
  const concatIndex = (j: number) => (j < d ? j : D + (j - d)); // [h, s] of 2d -> [h, s] of 2D
  const exitIndex = noProj ? concatIndex : id;
  const E = target.exit_dim;
  const vec = (n: number, map: (i: number) => number) => scatter(data, 1, shape[0], 1, n, () => 0, map);
  const mat = (rows: number, cols: number, rowMap: (i: number) => number, colMap: (j: number) => number) =>
    scatter(data, shape[0], shape[1], rows, cols, rowMap, colMap);
  if (name === 'input_proj.weight') return { name, shape: [E, 2 * D], data: mat(E, 2 * D, id, concatIndex) };
  if (name === 'input_proj.bias') return { name, shape: [E], data: vec(E, id) };
  if (name === 'rnn_u.weight' || name === 'rnn_w.weight') return { name, shape: [D, D], data: mat(D, D, id, id) };
  if (name === 'rnn_u.bias') return { name, shape: [D], data: vec(D, id) };
  const m = /^lm_head\.(\d+)\.(linear\.weight|linear\.bias|weight)$/.exec(name);
  if (m) {
    if (m[2] === 'linear.weight') return { name, shape: [E, E], data: mat(E, E, exitIndex, exitIndex) };
    if (m[2] === 'linear.bias') return { name, shape: [E], data: vec(E, exitIndex) };
    return { name, shape: [shape[0], E], data: mat(shape[0], E, id, exitIndex) };
  }
  throw new Error(`drafter tensor ${name} is not part of Apple's Drafter layout`);
}
