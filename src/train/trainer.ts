// The training loop, kept plain: sample a batch, run forward and backward on the tape,
// step the optimizer, and now and then log, evaluate and checkpoint. Only logging and
// evaluation read values back from the GPU; every other step is recorded and submitted.
import type { Gpu } from '../gpu/device.js';
import { Tape, Var, zeroGrad } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { add, cast } from '../tensor/ops.js';
import { platform } from '../platform/index.js';
import { FeatureMissingError } from '../errors.js';
import { Gpt, initParams } from '../models/gpt.js';
import { type GptConfig, flopsPerToken } from '../models/config.js';
import { type TokenSplits, checkSplits, evalBatch, randomBatch } from '../data/batches.js';
import { mixSeed } from '../tensor/random.js';
import type { TrainConfig } from './config.js';
import { learningRate, TrainOptimizer } from './optimizer.js';
import { listCheckpoints, loadLatestCheckpoint, saveCheckpoint } from './checkpoint.js';

export interface StepLog {
  step: number;
  loss: number;
  lr: number;
  tokens_per_s: number;
  grad_norm?: number;
  loss_scale?: number;
  elapsed_s: number;
}

export interface EvalLog {
  step: number;
  val_loss: number;
  val_ppl: number;
}

export interface TrainHooks {
  onLog?(log: StepLog): void;
  onEval?(log: EvalLog): void;
  onCheckpoint?(path: string): void;
}

export interface TrainResult {
  steps: number;
  lastLoss: number;
  bestValLoss: number;
  stoppedEarly: boolean;
  losses: number[];
}

/** The trainer's own state, saved with each checkpoint. */
interface LoopState {
  step: number;
  bestValLoss: number;
  evalsWithoutImprovement: number;
}

export class Trainer {
  readonly model: Gpt;
  readonly params = new Map<string, Var>();
  /** What the model computes with: the f32 masters, or f16 copies the optimizer keeps in step. */
  private compute = new Map<string, Var>();
  private opt!: TrainOptimizer;
  private state: LoopState = { step: 0, bestValLoss: Infinity, evalsWithoutImprovement: 0 };

  constructor(readonly gpu: Gpu, readonly cfg: TrainConfig, readonly modelConfig: GptConfig, readonly data: TokenSplits, readonly out: string | null,
    readonly extraMetadata: Record<string, string> = {}) {
    if (cfg.precision === 'f16' && !gpu.caps.f16) {
      throw new FeatureMissingError("precision f16 needs the adapter's 'shader-f16' feature, which it lacks; use --precision f32 or bf16");
    }
    checkSplits(data, cfg.seqLen);
    this.model = new Gpt(gpu, modelConfig);
  }

  /** Fresh weights from the seed, or the newest checkpoint in `out` when resuming. */
  async init(resume: boolean): Promise<void> {
    if (this.out) await platform().mkdirp(this.out);
    const specs = this.model.specs;
    let loaded: Map<string, Tensor> | null = null;
    if (resume && this.out && (await listCheckpoints(this.out)).length) {
      const ck = await loadLatestCheckpoint(this.gpu, this.out);
      loaded = ck.tensors;
      this.state = JSON.parse(ck.metadata.loop);
      this.state.bestValLoss = Number(this.state.bestValLoss ?? Infinity);
    }
    const host = loaded ? null : initParams(specs, this.cfg.seed);
    for (const s of specs) {
      const t = loaded ? loaded.get('model.' + s.name) : Tensor.from(this.gpu, host!.get(s.name)!, s.shape);
      if (!t) throw new Error(`checkpoint lacks model.${s.name}`);
      this.params.set(s.name, new Var(t, true, s.name));
    }
    // f16: every weight has an f16 copy (f16 activations, tensor-core GEMMs). bf16: the weight
    // matrices (embeddings included) have bf16 copies, so activations and their gradients are
    // bf16 too; norm weights and biases stay f32 (tiny, and outside the matrix products).
    // Arithmetic is f32 in both: kernels widen f16 and bf16 (GEMMs read bf16 directly; other
    // kernels through f32 copies, see viaF32).
    const lowDtype = (v: Var) => this.cfg.precision === 'f16' ? 'f16'
      : this.cfg.precision === 'bf16' && v.value.rank === 2 ? 'bf16' : null;
    for (const [name, v] of this.params) {
      const dt = lowDtype(v);
      this.compute.set(name, dt ? new Var(cast(v.value, dt), true, name) : v);
    }
    this.opt = new TrainOptimizer(this.gpu, this.cfg, specs.map((s) => ({
      name: s.name, param: this.params.get(s.name)!.value, decay: s.decay,
      lowPrecisionCopy: this.compute.get(s.name) !== this.params.get(s.name) ? this.compute.get(s.name)!.value : undefined,
    })));
    if (loaded) {
      const optState = new Map([...loaded].filter(([k]) => k.startsWith('optim.')).map(([k, v]) => [k.slice(6), v]));
      this.opt.loadState(optState, this.state.step);
      for (const [k, v] of loaded) if (!k.startsWith('model.')) v.dispose();
    }
  }

  get stepsDone(): number { return this.state.step; }

  async train(hooks: TrainHooks = {}): Promise<TrainResult> {
    const { cfg } = this;
    const B = cfg.batchSize, T = cfg.seqLen;
    const losses: number[] = [];
    let lastLoss = NaN;
    let stoppedEarly = false;
    let windowStart = performance.now();
    let windowTokens = 0;
    const t0 = performance.now();
    let lossSum: Tensor | null = null;
    let lossCount = 0;
    while (this.state.step < cfg.steps) {
      const { loss, lr } = this.step();
      lossSum = lossSum ? accumulate(lossSum, loss) : loss;
      lossCount++;
      windowTokens += B * T * cfg.gradAccum;
      const done = this.state.step;
      if (done % cfg.logEvery === 0 || done === cfg.steps) {
        lastLoss = (await lossSum!.item()) / lossCount / cfg.gradAccum;
        lossSum!.dispose();
        lossSum = null;
        lossCount = 0;
        losses.push(lastLoss);
        const now = performance.now();
        const log: StepLog = {
          step: done, loss: lastLoss, lr, tokens_per_s: windowTokens / ((now - windowStart) / 1000),
          elapsed_s: (now - t0) / 1000, ...(await this.opt.extraLogs()),
        };
        windowStart = now;
        windowTokens = 0;
        await this.appendMetrics(log);
        hooks.onLog?.(log);
      }
      if (cfg.evalEvery && (done % cfg.evalEvery === 0 || done === cfg.steps)) {
        const val = await this.evaluate();
        const log: EvalLog = { step: done, val_loss: val, val_ppl: Math.exp(val) };
        await this.appendMetrics(log);
        hooks.onEval?.(log);
        if (val < this.state.bestValLoss) {
          this.state.bestValLoss = val;
          this.state.evalsWithoutImprovement = 0;
        } else if (cfg.patience && ++this.state.evalsWithoutImprovement >= cfg.patience) {
          stoppedEarly = true;
        }
      }
      if (this.out && cfg.checkpointEvery && (done % cfg.checkpointEvery === 0 || done === cfg.steps || stoppedEarly)) {
        // Saved whether or not a hook listens (`?.` would skip evaluating the argument).
        const path = await this.checkpoint();
        hooks.onCheckpoint?.(path);
      }
      if (stoppedEarly) break;
    }
    lossSum?.dispose();
    return { steps: this.state.step, lastLoss, bestValLoss: this.state.bestValLoss, stoppedEarly, losses };
  }

  /**
   * Records one optimizer step (all micro-batches); nothing waits for the GPU. Returns the
   * step's summed micro-batch losses (a GPU scalar) and its learning rate.
   */
  step(): { loss: Tensor; lr: number } {
    const { cfg } = this;
    const step = this.state.step;
    const lr = learningRate(cfg, step);
    let sum: Tensor | null = null;
    for (let micro = 0; micro < cfg.gradAccum; micro++) {
      const batch = randomBatch(this.data.train, cfg.batchSize, cfg.seqLen, cfg.seed, step * cfg.gradAccum + micro);
      const loss = this.forwardBackward(this.compute, batch.inputs, batch.targets, mixSeed(cfg.seed ^ 0xd0d0, step), micro);
      sum = sum ? accumulate(sum, loss) : loss;
    }
    this.opt.step(this.gradients(this.compute), lr);
    zeroGrad(this.compute.values());
    this.state.step++;
    return { loss: sum!, lr };
  }

  /** Mean validation loss over the fixed evaluation batches. */
  async evaluate(): Promise<number> {
    return validationLoss(this.model, this.compute, this.data.val, this.cfg);
  }

  /** Writes a checkpoint of the current state into `out`. */
  async checkpoint(): Promise<string> {
    const tensors = new Map<string, Tensor>();
    for (const [name, v] of this.params) tensors.set('model.' + name, v.value);
    for (const [name, t] of this.opt.stateTensors()) tensors.set('optim.' + name, t);
    const metadata = {
      ...this.extraMetadata,
      train_config: JSON.stringify(this.cfg),
      model_config: JSON.stringify(this.modelConfig),
      loop: JSON.stringify({ ...this.state, bestValLoss: String(this.state.bestValLoss) }),
    };
    return saveCheckpoint(this.out!, this.state.step, tensors, metadata, this.cfg.keepCheckpoints);
  }

  /** Model FLOPs of one optimizer step (for utilisation figures). */
  flopsPerStep(): number {
    return flopsPerToken(this.modelConfig, this.cfg.seqLen) * this.cfg.batchSize * this.cfg.seqLen * this.cfg.gradAccum;
  }

  private forwardBackward(compute: Map<string, Var>, inputs: Uint32Array, targets: Uint32Array, dropoutSeed: number, micro: number): Tensor {
    const { cfg } = this;
    const tape = new Tape();
    const ids = Tensor.from(this.gpu, inputs, [inputs.length], 'u32');
    const tg = Tensor.from(this.gpu, targets, [targets.length], 'u32');
    const loss = this.model.forward(tape, compute, ids, cfg.batchSize, cfg.seqLen, tg, { dropoutSeed, dropoutOffset: micro * 2 ** 28 });
    const kept = loss.value.ref();
    tape.backward(loss, this.opt.lossSeed(1 / cfg.gradAccum));
    tape.dispose();
    ids.dispose();
    tg.dispose();
    return kept;
  }

  private gradients(compute: Map<string, Var>): Map<string, Tensor> {
    const grads = new Map<string, Tensor>();
    for (const [name, v] of compute) {
      if (!v.grad) throw new Error(`parameter ${name} received no gradient`);
      grads.set(name, v.grad);
    }
    return grads;
  }

  private async appendMetrics(line: object): Promise<void> {
    if (this.out) await platform().appendFile(`${this.out}/metrics.jsonl`, JSON.stringify(line) + '\n');
  }

  dispose(): void {
    for (const [name, v] of this.compute) if (v !== this.params.get(name)) { v.value.dispose(); v.grad?.dispose(); }
    for (const v of this.params.values()) { v.value.dispose(); v.grad?.dispose(); }
    this.opt?.dispose();
  }
}

function accumulate(sum: Tensor, loss: Tensor): Tensor {
  const next = add(sum, loss);
  sum.dispose();
  loss.dispose();
  return next;
}

/**
 * Mean loss of `weights` over the fixed evaluation batches of `tokens` (cfg.evalBatches windows
 * of cfg.batchSize x cfg.seqLen, the same at every call): what training logs as val_loss.
 */
export async function validationLoss(model: Gpt, weights: Map<string, Var>, tokens: TokenSplits['val'],
  cfg: Pick<TrainConfig, 'batchSize' | 'seqLen' | 'evalBatches'>): Promise<number> {
  // Summed on the GPU and read once: a read per batch would wait for each batch in turn.
  let total: Tensor | null = null;
  for (let i = 0; i < cfg.evalBatches; i++) {
    const batch = evalBatch(tokens, cfg.batchSize, cfg.seqLen, i, cfg.evalBatches);
    const tape = new Tape();
    tape.enabled = false;
    const ids = Tensor.from(model.gpu, batch.inputs, [batch.inputs.length], 'u32');
    const tg = Tensor.from(model.gpu, batch.targets, [batch.targets.length], 'u32');
    const loss = model.forward(tape, weights, ids, cfg.batchSize, cfg.seqLen, tg);
    total = total ? accumulate(total, loss.value.ref()) : loss.value.ref();
    tape.dispose();
    ids.dispose();
    tg.dispose();
  }
  const sum = await total!.item();
  total!.dispose();
  return sum / cfg.evalBatches;
}
