// GPT-2 style decoder: learned token and position embeddings, pre-LayerNorm blocks of
// causal self-attention and a GELU MLP, a final LayerNorm and an LM head tied to the
// token embedding. Weights are [in, out] so y = x W. Initialisation follows GPT-2:
// N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 L)), LayerNorm 1/0, biases 0.
import type { Gpu } from '../gpu/device.js';
import { Tape, Var } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { add, scale } from '../tensor/ops.js';
import { crossEntropy as crossEntropyForward, crossEntropyBackward } from '../nn/functional/cross_entropy.js';
import { Rng } from '../tensor/random.js';
import type { DType } from '../tensor/dtype.js';
import { matmul } from '../tensor/matmul.js';
import { attention, crossEntropy, dropout, embedding, gelu, KvCache, layerNorm, linear, paramGradDtype, computeDtype } from '../nn/ops.js';
import { AttentionMask } from '../nn/functional/attention.js';
import { ShapeError } from '../errors.js';
import { checkGptConfig, type GptConfig } from './config.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Weight decay applies to matrices, not to biases, norms or position embeddings. */
  decay: boolean;
  init: { kind: 'normal'; std: number } | { kind: 'ones' } | { kind: 'zeros' };
}

export function gptParamSpecs(c: GptConfig): ParamSpec[] {
  const C = c.nEmbd;
  const normal = (std: number) => ({ kind: 'normal' as const, std });
  const residualStd = 0.02 / Math.sqrt(2 * c.nLayer);
  const specs: ParamSpec[] = [
    { name: 'wte', shape: [c.vocabSize, C], decay: true, init: normal(0.02) },
    { name: 'wpe', shape: [c.blockSize, C], decay: false, init: normal(0.01) },
  ];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    specs.push(
      { name: p + 'ln_1.weight', shape: [C], decay: false, init: { kind: 'ones' } },
      { name: p + 'ln_1.bias', shape: [C], decay: false, init: { kind: 'zeros' } },
      { name: p + 'attn.c_attn.weight', shape: [C, 3 * C], decay: true, init: normal(0.02) },
      { name: p + 'attn.c_attn.bias', shape: [3 * C], decay: false, init: { kind: 'zeros' } },
      { name: p + 'attn.c_proj.weight', shape: [C, C], decay: true, init: normal(residualStd) },
      { name: p + 'attn.c_proj.bias', shape: [C], decay: false, init: { kind: 'zeros' } },
      { name: p + 'ln_2.weight', shape: [C], decay: false, init: { kind: 'ones' } },
      { name: p + 'ln_2.bias', shape: [C], decay: false, init: { kind: 'zeros' } },
      { name: p + 'mlp.c_fc.weight', shape: [C, 4 * C], decay: true, init: normal(0.02) },
      { name: p + 'mlp.c_fc.bias', shape: [4 * C], decay: false, init: { kind: 'zeros' } },
      { name: p + 'mlp.c_proj.weight', shape: [4 * C, C], decay: true, init: normal(residualStd) },
      { name: p + 'mlp.c_proj.bias', shape: [C], decay: false, init: { kind: 'zeros' } },
    );
  }
  specs.push(
    { name: 'ln_f.weight', shape: [C], decay: false, init: { kind: 'ones' } },
    { name: 'ln_f.bias', shape: [C], decay: false, init: { kind: 'zeros' } },
  );
  return specs;
}

/** Host values of freshly initialised parameters, in spec order (deterministic from `seed`). */
export function initParams(specs: ParamSpec[], seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    out.set(s.name, s.init.kind === 'normal' ? rng.normal(n, s.init.std) : new Float32Array(n).fill(s.init.kind === 'ones' ? 1 : 0));
  }
  return out;
}

export interface ForwardOptions {
  /** Per-layer KV caches for generation: ids are the next positions after what the caches hold. */
  cache?: KvCache[];
  /** Dropout seed and stream offset (distinct per step and micro-batch). */
  dropoutSeed?: number;
  dropoutOffset?: number;
}

export class Gpt {
  /** Rows of logits computed at once in the loss (default: what fits one storage binding, with room for the pool's size classes). */
  maxLogitRows?: number;

  constructor(readonly gpu: Gpu, readonly config: GptConfig) {
    checkGptConfig(config);
  }

  get specs(): ParamSpec[] { return gptParamSpecs(this.config); }

  /**
   * Runs the model on ids [B, T] (u32, flattened). With targets, returns the mean loss;
   * otherwise the logits [B*T, vocab]. `w` maps parameter names to the Vars to compute with
   * (f32 masters, or their f16 copies in mixed precision).
   */
  forward(tape: Tape, w: Map<string, Var>, ids: Tensor, B: number, T: number, targets?: Tensor, opts: ForwardOptions = {}): Var {
    const c = this.config;
    const H = c.nHead;
    const start = opts.cache?.[0].length ?? 0;
    if (start + T > c.blockSize) throw new ShapeError(`sequence length ${start + T} exceeds the model's block size ${c.blockSize}`);
    if (ids.size !== B * T) throw new ShapeError(`ids hold ${ids.size} tokens, expected B*T = ${B * T}`);
    const p = (name: string) => w.get(name)!;
    const mask = AttentionMask.causal();
    let dropStream = opts.dropoutOffset ?? 0;
    const drop = (x: Var) => dropout(tape, x, c.dropout, opts.dropoutSeed ?? 0, (dropStream += x.value.size));

    const ids2 = ids.reshape([B, T]);
    const positions = start ? new Var(p('wpe').value.slice(0, start, start + T)) : p('wpe');
    let x = embedding(tape, p('wte'), positions, ids2);
    ids2.dispose();
    if (positions !== p('wpe')) positions.value.dispose();
    x = drop(x);
    for (let l = 0; l < c.nLayer; l++) {
      const q = (n: string) => p(`h.${l}.${n}`);
      const h1 = layerNorm(tape, x, q('ln_1.weight'), q('ln_1.bias'));
      const qkv = linear(tape, h1, q('attn.c_attn.weight'), q('attn.c_attn.bias'));
      const merged = attention(tape, qkv, B, T, H, mask, opts.cache?.[l]);
      x = linear(tape, drop(merged), q('attn.c_proj.weight'), q('attn.c_proj.bias'), x);
      const h2 = layerNorm(tape, x, q('ln_2.weight'), q('ln_2.bias'));
      const f = gelu(tape, linear(tape, h2, q('mlp.c_fc.weight'), q('mlp.c_fc.bias')));
      x = linear(tape, f, q('mlp.c_proj.weight'), q('mlp.c_proj.bias'), x);
      x = drop(x);
    }
    const hf = layerNorm(tape, x, p('ln_f.weight'), p('ln_f.bias'));
    // bf16 logits are widened to an f32 copy for the loss, so they take 4 bytes too.
    const logitBytes = c.vocabSize * (hf.value.dtype === 'f16' ? 2 : 4);
    const rows = this.maxLogitRows ?? Math.max(1, Math.floor((this.gpu.caps.limits.maxStorageBufferBindingSize * 0.85) / logitBytes));
    return targets ? lmHeadLoss(tape, hf, p('wte'), targets, rows) : lmHead(tape, hf, p('wte'));
  }

  /** Empty KV caches for generating up to `maxLen` positions (f32 for bf16 weights: what attention reads). */
  newCache(maxLen: number, dtype: DType): KvCache[] {
    const c = this.config;
    return Array.from({ length: c.nLayer }, () => new KvCache(this.gpu, c.nHead, Math.min(maxLen, c.blockSize), c.nEmbd / c.nHead, computeDtype(dtype)));
  }
}

/**
 * Mean cross-entropy of the LM head. When the logits [N, V] would not fit one storage
 * binding (GPT-2's vocabulary at B*T = 16k rows in f32 is 3.3 GB), rows go in chunks,
 * each chunk's logits and softmax gradient living in a buffer of its own.
 */
function lmHeadLoss(tape: Tape, x: Var, wte: Var, targets: Tensor, maxRows: number): Var {
  const [N] = x.value.shape;
  const gpu = x.value.gpu;
  if (N <= maxRows) return crossEntropy(tape, lmHead(tape, x, wte), targets);
  const chunks: { rows: number; logits: Tensor; lse: Tensor; count: Tensor; x: Tensor; t: Tensor }[] = [];
  let total: Tensor | null = null;
  for (let r = 0; r < N; r += maxRows) {
    const rows = Math.min(maxRows, N - r);
    const xc = x.value.slice(0, r, r + rows);
    const tc = targets.slice(0, r, r + rows);
    const logits = matmul(xc, wte.value, { transB: true });
    const { loss, rowLoss, lse, count } = crossEntropyForward(logits, tc);
    rowLoss.dispose();
    const part = scale(loss, rows / N);
    loss.dispose();
    const next: Tensor = total ? add(total, part) : part.ref();
    total?.dispose();
    part.dispose();
    total = next;
    chunks.push({ rows, logits, lse, count, x: xc, t: tc });
  }
  const saved = chunks.flatMap((c) => [c.logits, c.lse, c.count, c.x, c.t]);
  return tape.record(total!, [x, wte], (dloss) => {
    const dx = Tensor.empty(gpu, x.value.shape, x.value.dtype);
    const dwte = Tensor.empty(gpu, wte.value.shape, paramGradDtype(wte.value));
    let r = 0;
    chunks.forEach((c, i) => {
      const dl = scale(dloss, c.rows / N);
      const dlogits = crossEntropyBackward(c.logits, c.t, { lse: c.lse, count: c.count }, dl, { inPlace: true });
      dl.dispose();
      const dxRows = dx.slice(0, r, r + c.rows);
      matmul(dlogits, wte.value, { c: dxRows });
      matmul(dlogits, c.x, { transA: true, c: dwte, beta: i === 0 ? 0 : 1 });
      dxRows.dispose();
      dlogits.dispose();
      r += c.rows;
    });
    return [dx, dwte];
  }, saved);
}

/** logits = x wte^T, x [N, C], wte [V, C]. */
function lmHead(tape: Tape, x: Var, wte: Var): Var {
  const logits = matmul(x.value, wte.value, { transB: true });
  const saved = [x.value.ref(), wte.value.ref()];
  return tape.record(logits, [x, wte], (dy) => {
    const [xs, ws] = saved;
    return [matmul(dy, ws), matmul(dy, xs, { transA: true, outDtype: paramGradDtype(ws) })];
  }, saved);
}

