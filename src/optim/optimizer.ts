// What every optimizer shares: parameter validation, the per-step gradient statistics pass
// (global norm, inf/nan detection, loss-scale update; all on the GPU), and state save/load.
//
// A step records, without waiting for the GPU:
//   1. one sum-of-squares dispatch per gradient into fixed partial slots (optim_gradstats.wgsl),
//   2. one finalize dispatch that writes the control words [t, norm, multiplier, skip, found_inf]
//      and updates the loss scale (optim_finalize.wgsl),
//   3. the optimizer's own kernels per parameter, which read t, the multiplier (1/scale times the clip
//      coefficient) and the skip flag from the control buffer.
// The learning rate goes in through the uniform parameters, so a schedule never recompiles a kernel.
import { type Gpu, type Param, f32 } from '../gpu/device.js';
import type { Spec } from '../gpu/specialise.js';
import { InputError, ShapeError } from '../errors.js';
import { mergeSpecs } from '../tensor/ops.js';
import { Tensor } from '../tensor/tensor.js';
import { FINALIZE, GRAD_SUMSQ, gradSpec, lowCopySpec, sumsqGroups, vec4Aligned } from './kernels.js';
import { DynamicLossScaler, SCALER_WORDS } from './loss_scaler.js';

export interface ParamSpec {
  /** Unique name; optimizer state is saved under it. */
  name: string;
  /** The f32 master weights (contiguous), updated in place. */
  param: Tensor;
  /** Whether weight decay applies (default: tensors of rank >= 2; biases and norm gains get none). */
  decay?: boolean;
  /** An f16 or bf16 tensor of the same shape that receives the updated weights in the same kernel. */
  lowPrecisionCopy?: Tensor;
}

/** Gradients by parameter name, or in the order the parameters were given. */
export type Grads = ReadonlyMap<string, Tensor> | readonly Tensor[];

export interface CommonOptions {
  /** Clip the global L2 norm of all gradients to this value (after loss-scale unscaling). */
  maxGradNorm?: number;
  /** Dynamic loss scaling: gradients arrive multiplied by its scale; steps with inf/nan are skipped.
   *  The optimizer updates the scale each step, so give each scaler to one optimizer only. */
  lossScaler?: DynamicLossScaler;
}

export interface ParamEntry {
  readonly name: string;
  readonly param: Tensor;
  readonly decay: boolean;
  readonly low?: Tensor;
}

/** Control words (f32): [t (applied updates), grad norm, grad multiplier, skip, found_inf, unused x3]. */
const CONTROL_WORDS = 8;

export abstract class Optimizer {
  readonly params: readonly ParamEntry[];
  readonly maxGradNorm?: number;
  readonly lossScaler?: DynamicLossScaler;
  /** The L2 norm of the last step's gradients (unscaled, before clipping): one f32 on the GPU. */
  readonly gradNorm: Tensor;
  /** 1 when the last step found inf/nan in a gradient, else 0 (one f32 on the GPU). */
  readonly foundInf: Tensor;
  protected readonly control: Tensor;
  /** Bound in place of optional state / copy buffers a kernel variant does not use. */
  protected readonly unusedState: Tensor;
  protected readonly unusedCopy: Tensor;
  private readonly unitScale: Tensor | null;
  private readonly partials: Tensor;
  private readonly partialBase: number[] = [];
  private steps = 0;

  protected constructor(readonly gpu: Gpu, params: readonly ParamSpec[], opts: CommonOptions, private readonly kind: string) {
    this.params = validateParams(gpu, params);
    if (opts.maxGradNorm !== undefined && !(opts.maxGradNorm > 0 && Number.isFinite(opts.maxGradNorm))) {
      throw new InputError(`maxGradNorm must be a positive number, got ${opts.maxGradNorm}`);
    }
    this.maxGradNorm = opts.maxGradNorm;
    this.lossScaler = opts.lossScaler;
    let slots = 0;
    for (const p of this.params) { this.partialBase.push(slots); slots += sumsqGroups(p.param.size); }
    this.partials = Tensor.empty(gpu, [slots, 2]);
    this.control = Tensor.zeros(gpu, [CONTROL_WORDS]);
    this.gradNorm = this.control.slice(0, 1, 2);
    this.foundInf = this.control.slice(0, 4, 5);
    this.unitScale = opts.lossScaler ? null : Tensor.from(gpu, [1, 0, 0, 0], [SCALER_WORDS]);
    this.unusedState = Tensor.zeros(gpu, [4]);
    this.unusedCopy = Tensor.zeros(gpu, [4]);
  }

  /** Calls of `step()` so far, skipped ones included (the trainer's step counter). */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * Records one update of every parameter from `grads` (nothing waits for the GPU). `lr` is this
   * step's learning rate, e.g. from a schedule; without it the optimizer's own `lr` applies.
   */
  step(grads: Grads, lr?: number): void {
    if (lr !== undefined && !(lr >= 0 && Number.isFinite(lr))) throw new InputError(`learning rate must be a finite number >= 0, got ${lr}`);
    this.checkStepLr(lr);
    const list = this.resolveGrads(grads);
    this.recordGradStats(list);
    list.forEach((g, i) => this.update(i, g, lr));
    this.steps++;
  }

  /**
   * The optimizer's state by name, for checkpoints: per-parameter state as `<kind>.<state>.<param>`,
   * the control words as `optim.control` (update count t, last norm) and the loss scaler's state as
   * `optim.loss_scaler`. The tensors belong to the optimizer: read them, do not dispose them.
   */
  stateTensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = { 'optim.control': this.control };
    if (this.lossScaler) out['optim.loss_scaler'] = this.lossScaler.state;
    this.params.forEach((p, i) => {
      for (const [state, t] of Object.entries(this.paramState(i))) out[`${this.kind}.${state}.${p.name}`] = t;
    });
    return out;
  }

  /**
   * Restores state written by `stateTensors()` (copied on the GPU; the caller keeps its tensors) and
   * the step count. Keys that are not this optimizer's are ignored, so a whole checkpoint can be passed.
   */
  loadState(tensors: Readonly<Record<string, Tensor>>, stepCount: number): void {
    if (!(Number.isInteger(stepCount) && stepCount >= 0)) throw new InputError(`step count must be an integer >= 0, got ${stepCount}`);
    const own = this.stateTensors();
    for (const [key, dst] of Object.entries(own)) {
      const src = tensors[key];
      if (!src) {
        throw new InputError(`optimizer state '${key}' is missing from the checkpoint; it was written by a different ` +
          'optimizer, model or loss-scaling setting. Resume with the same configuration, or start afresh.');
      }
      if (src.dtype !== 'f32' || src.shape.join() !== dst.shape.join() || !src.isContiguous) {
        throw new InputError(`optimizer state '${key}' is ${src.dtype} [${src.shape}] in the checkpoint, expected contiguous ` +
          `f32 [${dst.shape}]; the checkpoint does not match this model or optimizer`);
      }
    }
    for (const [key, dst] of Object.entries(own)) {
      const src = tensors[key];
      if (src.buffer === dst.buffer && src.offset === dst.offset) continue; // its own state handed back
      this.gpu.copy(src.buffer, src.offset * 4, dst.buffer, dst.offset * 4, dst.size * 4);
    }
    this.steps = stepCount;
  }

  dispose(): void {
    for (const t of Object.values(this.stateTensors())) if (t !== this.lossScaler?.state) t.dispose();
    [this.gradNorm, this.foundInf, this.partials, this.unusedState, this.unusedCopy].forEach((t) => t.dispose());
    this.unitScale?.dispose();
  }

  /** Rejects a step learning rate the optimizer cannot use (before anything is recorded). */
  protected checkStepLr(_lr: number | undefined): void {}

  /** Records the kernels that update parameter `index`. */
  protected abstract update(index: number, grad: Tensor, lr: number | undefined): void;

  /** Parameter `index`'s state tensors by state name (created by the subclass). */
  protected abstract paramState(index: number): Record<string, Tensor>;

  /** The spec for a per-parameter kernel: gradient storage, copy format, and the variant's own parts. */
  protected kernelSpec(index: number, grad: Tensor, own: Spec, withCopy = true): Spec {
    return mergeSpecs(gradSpec(grad.dtype), withCopy ? lowCopySpec(this.params[index].low?.dtype) : {}, own);
  }

  /** [n, param offset, grad offset, copy offset]: the leading uniform words of every update kernel. */
  protected offsets(index: number, grad: Tensor): Param[] {
    const p = this.params[index];
    return [p.param.size, p.param.offset, grad.offset, p.low?.offset ?? 0];
  }

  protected copyBuffer(index: number): GPUBuffer {
    return this.params[index].low?.buffer ?? this.unusedCopy.buffer;
  }

  private recordGradStats(grads: Tensor[]): void {
    const scalerState = this.lossScaler?.state ?? this.unitScale!;
    grads.forEach((g, i) => {
      const groups = sumsqGroups(g.size);
      const spec = mergeSpecs(gradSpec(g.dtype), vec4Aligned(g) ? { flags: ['VEC4'] } : {});
      this.gpu.dispatch(GRAD_SUMSQ, spec, [scalerState.buffer, g.buffer, this.partials.buffer],
        [g.size, g.offset, this.partialBase[i], groups], [groups]);
    });
    const s = this.lossScaler;
    this.gpu.dispatch(FINALIZE, s ? { flags: ['DYNAMIC'] } : {}, [this.partials.buffer, this.control.buffer, scalerState.buffer],
      [this.partials.shape[0], s?.growthInterval ?? 1, f32(this.maxGradNorm ?? 0), f32(s?.growthFactor ?? 1), f32(s?.backoffFactor ?? 1)], [1]);
  }

  private resolveGrads(grads: Grads): Tensor[] {
    let list: Tensor[];
    if (Array.isArray(grads)) {
      list = [...(grads as readonly Tensor[])];
      if (list.length !== this.params.length) {
        throw new ShapeError(`got ${list.length} gradients for ${this.params.length} parameters; pass one per parameter, in order`);
      }
    } else {
      const byName = grads as ReadonlyMap<string, Tensor>;
      const known = new Set(this.params.map((p) => p.name));
      for (const name of byName.keys()) if (!known.has(name)) throw new ShapeError(`gradient '${name}' matches no parameter of this optimizer`);
      list = this.params.map((p) => {
        const g = byName.get(p.name);
        if (!g) throw new ShapeError(`no gradient for parameter '${p.name}'`);
        return g;
      });
    }
    list.forEach((g, i) => {
      const p = this.params[i];
      if (g.shape.join() !== p.param.shape.join()) {
        throw new ShapeError(`gradient of '${p.name}' has shape [${g.shape}], the parameter has [${p.param.shape}]`);
      }
      if (!['f32', 'f16', 'bf16'].includes(g.dtype)) throw new ShapeError(`gradient of '${p.name}' is ${g.dtype}; use f32, f16 or bf16`);
      if (!g.isContiguous) throw new ShapeError(`gradient of '${p.name}' is a strided view; make it contiguous() first`);
    });
    return list;
  }
}

function validateParams(gpu: Gpu, params: readonly ParamSpec[]): ParamEntry[] {
  if (!params.length) throw new InputError('an optimizer needs at least one parameter');
  const seen = new Set<string>();
  return params.map(({ name, param, decay, lowPrecisionCopy: low }) => {
    if (!name) throw new InputError('every parameter needs a non-empty name');
    if (seen.has(name)) throw new InputError(`parameter name '${name}' appears twice`);
    seen.add(name);
    if (param.gpu !== gpu) throw new InputError(`parameter '${name}' lives on a different GPU device`);
    if (param.dtype !== 'f32') throw new ShapeError(`parameter '${name}' is ${param.dtype}; master weights must be f32`);
    if (!param.isContiguous) throw new ShapeError(`parameter '${name}' is a strided view; master weights must be contiguous`);
    if (param.size === 0) throw new ShapeError(`parameter '${name}' has no elements`);
    if (low) {
      if (low.dtype !== 'f16' && low.dtype !== 'bf16') throw new ShapeError(`low-precision copy of '${name}' is ${low.dtype}; use f16 or bf16`);
      if (low.shape.join() !== param.shape.join()) {
        throw new ShapeError(`low-precision copy of '${name}' has shape [${low.shape}], the parameter has [${param.shape}]`);
      }
      if (!low.isContiguous) throw new ShapeError(`low-precision copy of '${name}' must be contiguous`);
      if (low.dtype === 'bf16' && low.offset % 2) {
        throw new ShapeError(`bf16 copy of '${name}' starts at odd element offset ${low.offset}; bf16 pairs must start on a word`);
      }
    }
    return { name, param, decay: decay ?? param.rank >= 2, low };
  });
}

/** Checks a hyper-parameter and returns it. */
export function checkRange(name: string, value: number, lo: number, hi: number, hiInclusive = false): number {
  const ok = Number.isFinite(value) && value >= lo && (hiInclusive ? value <= hi : value < hi);
  if (!ok) throw new InputError(`${name} must be in [${lo}, ${hi}${hiInclusive ? ']' : ')'}, got ${value}`);
  return value;
}
