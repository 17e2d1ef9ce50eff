// Reverse-mode autodiff over tensor ops: a tape of nodes, each holding the closure that
// maps the output's gradient to its inputs' gradients. Ops run eagerly (recorded into
// the GPU stream); `backward` walks the tape in reverse. Intermediate values and saved
// tensors belong to the tape and are released by `dispose()`.
import { Tensor } from './tensor.js';
import { add, cast } from './ops.js';

/** A value in the graph. Parameters are leaves with `requiresGrad`. */
export class Var {
  grad: Tensor | null = null;
  constructor(public value: Tensor, readonly requiresGrad = false, readonly name = '') {}
  get shape() { return this.value.shape; }
  get dtype() { return this.value.dtype; }
}

interface Node {
  out: Var;
  inputs: Var[];
  backward: (dOut: Tensor) => (Tensor | null)[];
  saved: Tensor[];
}

export class Tape {
  private nodes: Node[] = [];
  private owned: Var[] = [];
  /** Outputs of recorded nodes: values a gradient can flow back through. */
  private tracked = new Set<Var>();
  /** Turned off for evaluation and generation: ops then record nothing. */
  enabled = true;

  /**
   * Records an op: `value` is its output, `inputs` its differentiable inputs, `backward`
   * returns one gradient per input (null where none flows). `saved` are tensors kept for
   * backward and released with the tape.
   */
  record(value: Tensor, inputs: Var[], backward: Node['backward'], saved: Tensor[] = []): Var {
    const needs = this.enabled && inputs.some((v) => v.requiresGrad || this.tracked.has(v));
    const out = new Var(value, false);
    this.owned.push(out);
    if (needs) {
      this.nodes.push({ out, inputs, backward, saved });
      this.tracked.add(out);
    } else {
      saved.forEach((t) => t.dispose());
    }
    return out;
  }

  /**
   * Back-propagates from `root`, whose gradient is `seed` (for a scalar loss: 1, or the loss
   * scale). Gradients of leaves that require them accumulate into `leaf.grad`.
   */
  backward(root: Var, seed: Tensor): void {
    const grads = new Map<Var, Tensor>([[root, seed]]);
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      const g = grads.get(node.out);
      if (!g) continue;
      grads.delete(node.out);
      const gins = node.backward(g);
      g.dispose();
      node.inputs.forEach((input, k) => {
        const gi = gins[k];
        if (!gi) return;
        if (!input.requiresGrad && !this.tracked.has(input)) { gi.dispose(); return; }
        const prev = input.requiresGrad ? input.grad : grads.get(input);
        let next = gi;
        if (prev) {
          // Paths may deliver different precisions (an f16 GEMM and an f32 scatter): sum in f32.
          const [a, b] = prev.dtype === gi.dtype ? [prev, gi] : [cast(prev, 'f32'), cast(gi, 'f32')];
          next = add(a, b);
          for (const t of new Set([prev, gi, a, b])) t.dispose();
        }
        if (input.requiresGrad) input.grad = next;
        else grads.set(input, next);
      });
      node.saved.forEach((t) => t.dispose());
      node.saved = [];
    }
    for (const g of grads.values()) g.dispose();
    this.nodes = [];
  }

  /** Releases every intermediate value and saved tensor. */
  dispose(): void {
    for (const n of this.nodes) n.saved.forEach((t) => t.dispose());
    for (const v of this.owned) v.value.dispose();
    this.nodes = [];
    this.owned = [];
    this.tracked.clear();
  }
}

/** Frees and clears the gradients of parameters. */
export function zeroGrad(params: Iterable<Var>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}

