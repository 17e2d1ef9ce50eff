// A plain f64 CPU reference of the GPT model (forward, backward) and AdamW, written for
// clarity, not speed: the GPU trainer must reproduce its losses step for step.
import type { GptConfig } from '../../src/models/config.js';

type P = Map<string, Float64Array>;

const GELU_C = Math.sqrt(2 / Math.PI);

function matmul(a: Float64Array, b: Float64Array, n: number, k: number, m: number, transB = false): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let l = 0; l < k; l++) s += a[i * k + l] * (transB ? b[j * k + l] : b[l * m + j]);
    out[i * m + j] = s;
  }
  return out;
}

/** dA = dY B^T (or dY B when transB), dB = A^T dY (or dY^T A). */
function matmulBack(dy: Float64Array, a: Float64Array, b: Float64Array, n: number, k: number, m: number, transB = false) {
  const da = new Float64Array(n * k), db = new Float64Array(k * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    const g = dy[i * m + j];
    if (g === 0) continue;
    for (let l = 0; l < k; l++) {
      const bi = transB ? j * k + l : l * m + j;
      da[i * k + l] += g * b[bi];
      db[bi] += g * a[i * k + l];
    }
  }
  return { da, db };
}

function layerNorm(x: Float64Array, w: Float64Array, b: Float64Array, n: number, c: number) {
  const y = new Float64Array(n * c), xhat = new Float64Array(n * c), rstd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mean = 0, v = 0;
    for (let j = 0; j < c; j++) mean += x[i * c + j];
    mean /= c;
    for (let j = 0; j < c; j++) v += (x[i * c + j] - mean) ** 2;
    rstd[i] = 1 / Math.sqrt(v / c + 1e-5);
    for (let j = 0; j < c; j++) {
      xhat[i * c + j] = (x[i * c + j] - mean) * rstd[i];
      y[i * c + j] = xhat[i * c + j] * w[j] + b[j];
    }
  }
  return { y, xhat, rstd };
}

function layerNormBack(dy: Float64Array, xhat: Float64Array, rstd: Float64Array, w: Float64Array, n: number, c: number) {
  const dx = new Float64Array(n * c), dw = new Float64Array(c), db = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    let s1 = 0, s2 = 0;
    for (let j = 0; j < c; j++) {
      const g = dy[i * c + j] * w[j];
      s1 += g; s2 += g * xhat[i * c + j];
      dw[j] += dy[i * c + j] * xhat[i * c + j];
      db[j] += dy[i * c + j];
    }
    for (let j = 0; j < c; j++) dx[i * c + j] = rstd[i] * (dy[i * c + j] * w[j] - s1 / c - xhat[i * c + j] * s2 / c);
  }
  return { dx, dw, db };
}

const addBias = (y: Float64Array, b: Float64Array, m: number) => { for (let i = 0; i < y.length; i++) y[i] += b[i % m]; return y; };
const colSum = (dy: Float64Array, m: number) => { const o = new Float64Array(m); for (let i = 0; i < dy.length; i++) o[i % m] += dy[i]; return o; };
const addInto = (a: Float64Array, b: Float64Array): Float64Array<ArrayBuffer> => { for (let i = 0; i < a.length; i++) a[i] += b[i]; return a as Float64Array<ArrayBuffer>; };

/** Mean loss and gradients of every parameter for one batch. */
export function lossAndGrads(c: GptConfig, p: P, inputs: Uint32Array, targets: Uint32Array, B: number, T: number): { loss: number; grads: P } {
  const C = c.nEmbd, H = c.nHead, D = C / H, N = B * T, V = c.vocabSize;
  const g: P = new Map([...p].map(([k, v]) => [k, new Float64Array(v.length)]));
  const wte = p.get('wte')!, wpe = p.get('wpe')!;
  let x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let j = 0; j < C; j++) x[n * C + j] = wte[inputs[n] * C + j] + wpe[(n % T) * C + j];
  const tapes: (() => void)[] = [];
  let dx = new Float64Array(0);
  const scale = 1 / Math.sqrt(D);
  for (let l = 0; l < c.nLayer; l++) {
    const q = (s: string) => p.get(`h.${l}.${s}`)!;
    const gq = (s: string) => g.get(`h.${l}.${s}`)!;
    const xIn = x;
    const ln1 = layerNorm(xIn, q('ln_1.weight'), q('ln_1.bias'), N, C);
    const qkv = addBias(matmul(ln1.y, q('attn.c_attn.weight'), N, C, 3 * C), q('attn.c_attn.bias'), 3 * C);
    const at = (n: number, s: number, h: number, d: number) => qkv[n * 3 * C + s * C + h * D + d];
    const probs = new Float64Array(B * H * T * T);
    const att = new Float64Array(N * C);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
      const row = ((b * H + h) * T + i) * T;
      let mx = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += at(b * T + i, 0, h, d) * at(b * T + j, 1, h, d);
        probs[row + j] = s * scale;
        mx = Math.max(mx, probs[row + j]);
      }
      let z = 0;
      for (let j = 0; j <= i; j++) { probs[row + j] = Math.exp(probs[row + j] - mx); z += probs[row + j]; }
      for (let j = 0; j <= i; j++) probs[row + j] /= z;
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let j = 0; j <= i; j++) s += probs[row + j] * at(b * T + j, 2, h, d);
        att[(b * T + i) * C + h * D + d] = s;
      }
    }
    const x2 = addInto(addBias(matmul(att, q('attn.c_proj.weight'), N, C, C), q('attn.c_proj.bias'), C), xIn);
    const ln2 = layerNorm(x2, q('ln_2.weight'), q('ln_2.bias'), N, C);
    const pre = addBias(matmul(ln2.y, q('mlp.c_fc.weight'), N, C, 4 * C), q('mlp.c_fc.bias'), 4 * C);
    const act = pre.map((u) => 0.5 * u * (1 + Math.tanh(GELU_C * (u + 0.044715 * u ** 3))));
    x = addInto(addBias(matmul(act, q('mlp.c_proj.weight'), N, 4 * C, C), q('mlp.c_proj.bias'), C), x2);
    tapes.push(() => {
      // MLP
      const m2 = matmulBack(dx, act, q('mlp.c_proj.weight'), N, 4 * C, C);
      addInto(gq('mlp.c_proj.weight'), m2.db); addInto(gq('mlp.c_proj.bias'), colSum(dx, C));
      const dpre = m2.da.map((gv, i) => {
        const u = pre[i], t = Math.tanh(GELU_C * (u + 0.044715 * u ** 3));
        return gv * (0.5 * (1 + t) + 0.5 * u * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * u * u));
      });
      const m1 = matmulBack(dpre, ln2.y, q('mlp.c_fc.weight'), N, C, 4 * C);
      addInto(gq('mlp.c_fc.weight'), m1.db); addInto(gq('mlp.c_fc.bias'), colSum(dpre, 4 * C));
      const l2 = layerNormBack(m1.da, ln2.xhat, ln2.rstd, q('ln_2.weight'), N, C);
      addInto(gq('ln_2.weight'), l2.dw); addInto(gq('ln_2.bias'), l2.db);
      const dx2 = addInto(l2.dx, dx);
      // attention
      const pr = matmulBack(dx2, att, q('attn.c_proj.weight'), N, C, C);
      addInto(gq('attn.c_proj.weight'), pr.db); addInto(gq('attn.c_proj.bias'), colSum(dx2, C));
      const datt = pr.da;
      const dqkv = new Float64Array(N * 3 * C);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
        const row = ((b * H + h) * T + i) * T;
        const dp = new Float64Array(i + 1);
        let dot = 0;
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) {
            const go = datt[(b * T + i) * C + h * D + d];
            s += go * at(b * T + j, 2, h, d);
            dqkv[(b * T + j) * 3 * C + 2 * C + h * D + d] += probs[row + j] * go;
          }
          dp[j] = s;
          dot += s * probs[row + j];
        }
        for (let j = 0; j <= i; j++) {
          const ds = probs[row + j] * (dp[j] - dot) * scale;
          for (let d = 0; d < D; d++) {
            dqkv[(b * T + i) * 3 * C + h * D + d] += ds * at(b * T + j, 1, h, d);
            dqkv[(b * T + j) * 3 * C + C + h * D + d] += ds * at(b * T + i, 0, h, d);
          }
        }
      }
      const qk = matmulBack(dqkv, ln1.y, q('attn.c_attn.weight'), N, C, 3 * C);
      addInto(gq('attn.c_attn.weight'), qk.db); addInto(gq('attn.c_attn.bias'), colSum(dqkv, 3 * C));
      const l1 = layerNormBack(qk.da, ln1.xhat, ln1.rstd, q('ln_1.weight'), N, C);
      addInto(gq('ln_1.weight'), l1.dw); addInto(gq('ln_1.bias'), l1.db);
      dx = addInto(l1.dx, dx2);
    });
  }
  const lnf = layerNorm(x, p.get('ln_f.weight')!, p.get('ln_f.bias')!, N, C);
  const logits = matmul(lnf.y, wte, N, C, V, true);
  let loss = 0;
  const dlogits = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[n * V + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[n * V + v] - mx);
    loss += Math.log(z) + mx - logits[n * V + targets[n]];
    for (let v = 0; v < V; v++) dlogits[n * V + v] = (Math.exp(logits[n * V + v] - mx) / z - (v === targets[n] ? 1 : 0)) / N;
  }
  const head = matmulBack(dlogits, lnf.y, wte, N, C, V, true);
  addInto(g.get('wte')!, head.db);
  const lf = layerNormBack(head.da, lnf.xhat, lnf.rstd, p.get('ln_f.weight')!, N, C);
  addInto(g.get('ln_f.weight')!, lf.dw); addInto(g.get('ln_f.bias')!, lf.db);
  dx = lf.dx;
  for (let l = c.nLayer - 1; l >= 0; l--) tapes[l]();
  const gte = g.get('wte')!, gpe = g.get('wpe')!;
  for (let n = 0; n < N; n++) for (let j = 0; j < C; j++) {
    gte[inputs[n] * C + j] += dx[n * C + j];
    gpe[(n % T) * C + j] += dx[n * C + j];
  }
  return { loss: loss / N, grads: g };
}

export interface AdamW64 { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number }

/** One AdamW step with global-norm clipping (torch.optim.AdamW semantics). */
export function adamwStep(p: P, grads: P, m: P, v: P, t: number, o: AdamW64, decay: (name: string) => boolean): void {
  let sq = 0;
  for (const g of grads.values()) for (const x of g) sq += x * x;
  const norm = Math.sqrt(sq);
  const clip = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (norm + 1e-6)) : 1;
  for (const [name, w] of p) {
    const g = grads.get(name)!;
    if (!m.has(name)) { m.set(name, new Float64Array(w.length)); v.set(name, new Float64Array(w.length)); }
    const mm = m.get(name)!, vv = v.get(name)!;
    const wd = decay(name) ? o.weightDecay : 0;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] * clip;
      mm[i] = o.beta1 * mm[i] + (1 - o.beta1) * gi;
      vv[i] = o.beta2 * vv[i] + (1 - o.beta2) * gi * gi;
      const mh = mm[i] / (1 - o.beta1 ** t), vh = vv[i] / (1 - o.beta2 ** t);
      w[i] = w[i] * (1 - o.lr * wd) - o.lr * mh / (Math.sqrt(vh) + o.eps);
    }
  }
}
