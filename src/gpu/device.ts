// The GPU: adapter and device acquisition, capabilities, pipeline cache, buffer pool
// and the scheduler that records every kernel of a step into one command buffer.
import { platform } from '../platform/index.js';
import {
  DeviceLostError, FeatureMissingError, GpuValidationError, NoAdapterError, OutOfMemoryError, ShaderCompileError,
} from '../errors.js';
import { type Caps, readCaps, requiredLimits, wantedFeatures } from './caps.js';
import { type Spec, specialise, specKey } from './specialise.js';
import { BufferPool } from './pool.js';

/** A kernel: a WGSL template and its name (for messages, caches and profiles). */
export interface Kernel {
  name: string;
  source: string;
}

/** A uniform parameter: a plain number is u32; wrap floats and signed ints. */
export type Param = number | { f32: number } | { i32: number };
export const f32 = (v: number): Param => ({ f32: v });
export const i32 = (v: number): Param => ({ i32: v });

interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  storageBindings: number;
  /** Distinguishes pipelines in bind-group cache keys. */
  id: number;
}

/**
 * Bind groups are cached by pipeline and buffers: creating one cost about 13 us of host time per
 * dispatch, and training records the same combinations step after step. Past this many entries
 * the cache starts over.
 */
const BIND_GROUP_CACHE = 20000;

const UNIFORM_SLOT = 256;
const ARENA_SLOTS = 4096;

export interface Profile {
  /** Nanoseconds per kernel name, summed over dispatches, and dispatch counts. */
  ns: Map<string, number>;
  count: Map<string, number>;
}

export class Gpu {
  readonly caps: Caps;
  readonly pool: BufferPool;
  private pipelines = new Map<string, Pipeline>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: GPUBuffer;
  private arenaCpu = new ArrayBuffer(UNIFORM_SLOT * ARENA_SLOTS);
  private arenaU32 = new Uint32Array(this.arenaCpu);
  private arenaF32 = new Float32Array(this.arenaCpu);
  private arenaI32 = new Int32Array(this.arenaCpu);
  private slots = 0;
  private pendingError: Error | null = null;
  private compileChecks: Promise<void>[] = [];
  private lost = false;
  private profiler: { query: GPUQuerySet; resolve: GPUBuffer; names: string[]; profile: Profile } | null = null;
  dispatches = 0;

  private constructor(readonly device: GPUDevice, adapter: GPUAdapter) {
    this.caps = readCaps(adapter, device);
    this.pool = new BufferPool(device, (size) => this.checkAllocation(size), () => this.bindGroups.clear());
    this.arena = device.createBuffer({ size: this.arenaCpu.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.pendingError ??= e instanceof GPUOutOfMemoryError
        ? new OutOfMemoryError(`GPU out of memory: ${e.message}. Use a smaller batch size, sequence length or model.`)
        : new GpuValidationError(`WebGPU validation failed: ${e.message}`);
    });
    void device.lost.then((info) => {
      this.lost = true;
      if (info.reason !== 'destroyed') {
        this.pendingError ??= new DeviceLostError(
          `the GPU device was lost (${info.message || info.reason}). The driver may have reset after a long kernel or ` +
          'memory exhaustion; restart, and resume from the last checkpoint with --resume.');
      }
    });
  }

  /** Opens the default adapter; `require` lists features the caller cannot run without. */
  static async create(opts: { require?: ('shader-f16' | 'subgroups')[]; powerPreference?: GPUPowerPreference } = {}): Promise<Gpu> {
    const gpu = await platform().gpu();
    if (!gpu) throw new NoAdapterError(`WebGPU is not available. ${platform().noAdapterHint()}`);
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) throw new NoAdapterError(`no WebGPU adapter found. ${platform().noAdapterHint()}`);
    for (const f of opts.require ?? []) {
      if (!adapter.features.has(f)) {
        throw new FeatureMissingError(`the adapter (${adapter.info.vendor} ${adapter.info.architecture}) lacks '${f}', ` +
          'which this request needs; use f32 precision, or a GPU/driver that offers it.');
      }
    }
    const device = await adapter.requestDevice({ requiredFeatures: wantedFeatures(adapter), requiredLimits: requiredLimits(adapter) });
    return new Gpu(device, adapter);
  }

  // ---- pipelines -----------------------------------------------------------------------

  /** The compiled pipeline for a kernel variant, built once and cached by name + spec. */
  pipeline(kernel: Kernel, spec: Spec = {}): Pipeline {
    const key = kernel.name + specKey(spec);
    let p = this.pipelines.get(key);
    if (p) return p;
    const code = specialise(kernel.source, spec);
    const device = this.device;
    const entries = bindingLayout(code);
    const layout = device.createBindGroupLayout({ entries });
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: kernel.name });
    const pipeline = device.createComputePipeline({
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
      label: kernel.name,
    });
    this.compileChecks.push(device.popErrorScope().then(async (err) => {
      if (!err) return;
      const info = await module.getCompilationInfo();
      const prelude = code.split('\n').length - kernel.source.split('\n').length;
      const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `  line ${m.lineNum - prelude}: ${m.message}`);
      // The compile error is the cause; validation errors of dispatches using the pipeline follow from it.
      if (this.pendingError && !(this.pendingError instanceof GpuValidationError)) return;
      this.pendingError = new ShaderCompileError(
        `kernel '${kernel.name}' (${specKey(spec)}) failed to compile; this is a webtrain bug, please report it:\n` +
        (msgs.length ? msgs.join('\n') : err.message));
    }));
    p = { pipeline, layout, storageBindings: entries.length - 1, id: this.pipelines.size };
    this.pipelines.set(key, p);
    return p;
  }

  // ---- scheduling ----------------------------------------------------------------------

  /**
   * Records one dispatch. Binding 0 is the kernel's uniform `params`; storage buffers
   * follow in binding order. Nothing reaches the GPU until `flush()` or a read.
   * `profileAs` names the dispatch in profiles (default: the kernel's name), e.g. with its shape.
   */
  dispatch(kernel: Kernel, spec: Spec, buffers: GPUBuffer[], params: Param[], workgroups: [number, number?, number?], profileAs?: string): void {
    this.throwPending();
    const p = this.pipeline(kernel, spec);
    if (buffers.length !== p.storageBindings) {
      throw new Error(`kernel '${kernel.name}' takes ${p.storageBindings} buffers, got ${buffers.length}`);
    }
    const max = this.caps.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    if (x > max || y > max || z > max) {
      throw new GpuValidationError(`kernel '${kernel.name}' needs ${x}x${y}x${z} workgroups, over the adapter's ${max} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.slots === ARENA_SLOTS) this.flush();
    const slot = this.slots++;
    const base = (slot * UNIFORM_SLOT) / 4;
    params.forEach((v, i) => {
      if (typeof v === 'number') this.arenaU32[base + i] = v;
      else if ('f32' in v) this.arenaF32[base + i] = v.f32;
      else this.arenaI32[base + i] = v.i32;
    });
    const bindGroup = this.bindGroup(p, buffers);
    const pass = this.computePass(profileAs ?? kernel.name);
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, bindGroup, [slot * UNIFORM_SLOT]);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    if (this.profiler) this.endPass();
  }

  private bindGroup(p: Pipeline, buffers: GPUBuffer[]): GPUBindGroup {
    let key = `${p.id}`;
    for (const b of buffers) {
      let id = this.bufferIds.get(b);
      if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
      key += `,${id}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.clear();
      group = this.device.createBindGroup({
        layout: p.layout,
        entries: [
          { binding: 0, resource: { buffer: this.arena, offset: 0, size: UNIFORM_SLOT } },
          ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
        ],
      });
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /** Records a buffer-to-buffer copy in stream order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.throwPending();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Zeroes bytes of a buffer, in stream order. */
  clear(dst: GPUBuffer, offset = 0, bytes = dst.size - offset): void {
    this.throwPending();
    this.endPass();
    this.commandEncoder().clearBuffer(dst, offset, bytes);
  }

  /** Writes host data into a buffer, ordered after all work recorded so far. */
  write(dst: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.throwPending();
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(dst, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    this.throwPending();
    if (!this.encoder) return;
    this.endPass();
    if (this.slots) this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu, 0, this.slots * UNIFORM_SLOT);
    if (this.profiler) this.resolveProfile();
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.slots = 0;
  }

  /** Copies bytes back to the host (the one place the CPU waits for the GPU). */
  async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.copy(src, offset, staging, 0, size);
    this.flush();
    try {
      await keepAlive(staging.mapAsync(GPUMapMode.READ));
    } catch (e) {
      this.throwPending();
      throw e;
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.destroy();
    this.throwPending();
    if (this.profiler) await this.collectProfile();
    return out;
  }

  /** Waits until the GPU has finished all submitted work (for timing). */
  async sync(): Promise<void> {
    this.flush();
    await keepAlive(this.device.queue.onSubmittedWorkDone());
    this.throwPending();
    if (this.profiler) await this.collectProfile();
  }

  // ---- profiling -----------------------------------------------------------------------

  /** Times every dispatch with timestamp queries until `stopProfile()`; costs one pass per kernel. */
  startProfile(): void {
    if (!this.caps.timestamps) throw new FeatureMissingError("profiling needs the adapter's 'timestamp-query' feature");
    this.flush();
    const count = 2 * 2048;
    this.profiler = {
      query: this.device.createQuerySet({ type: 'timestamp', count }),
      resolve: this.device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      names: [],
      profile: { ns: new Map(), count: new Map() },
    };
  }

  async stopProfile(): Promise<Profile> {
    await this.sync();
    const p = this.profiler!;
    this.profiler = null;
    p.query.destroy();
    p.resolve.destroy();
    return p.profile;
  }

  private pendingTimes: { buf: GPUBuffer; names: string[] }[] = [];

  private resolveProfile(): void {
    const p = this.profiler!;
    if (!p.names.length) return;
    const n = p.names.length * 2;
    const enc = this.encoder!;
    enc.resolveQuerySet(p.query, 0, n, p.resolve, 0);
    const buf = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(p.resolve, 0, buf, 0, n * 8);
    this.pendingTimes.push({ buf, names: p.names });
    p.names = [];
  }

  private async collectProfile(): Promise<void> {
    const p = this.profiler;
    const pending = this.pendingTimes;
    this.pendingTimes = [];
    for (const { buf, names } of pending) {
      await keepAlive(buf.mapAsync(GPUMapMode.READ));
      const t = new BigInt64Array(buf.getMappedRange());
      names.forEach((name, i) => {
        if (!p) return;
        const ns = Number(t[2 * i + 1] - t[2 * i]);
        p.profile.ns.set(name, (p.profile.ns.get(name) ?? 0) + Math.max(0, ns));
        p.profile.count.set(name, (p.profile.count.get(name) ?? 0) + 1);
      });
      buf.destroy();
    }
  }

  // ---- internals -----------------------------------------------------------------------

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private computePass(name: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const p = this.profiler;
    if (p && p.names.length * 2 >= 2 * 2048) this.flush();
    let timestampWrites: GPUComputePassTimestampWrites | undefined;
    if (p) {
      const i = p.names.length;
      p.names.push(name);
      timestampWrites = { querySet: p.query, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
    }
    this.pass = this.commandEncoder().beginComputePass({ timestampWrites });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private checkAllocation(bytes: number): void {
    const max = Math.min(this.caps.limits.maxBufferSize, this.caps.limits.maxStorageBufferBindingSize);
    if (bytes > max) {
      throw new OutOfMemoryError(`a buffer of ${(bytes / 2 ** 20).toFixed(1)} MiB exceeds this adapter's largest ` +
        `storage binding (${(max / 2 ** 20).toFixed(1)} MiB); use a smaller batch, sequence length or vocabulary.`);
    }
  }

  private throwPending(): void {
    if (this.pendingError) {
      const e = this.pendingError;
      this.pendingError = null;
      throw e;
    }
    if (this.lost) throw new DeviceLostError('the GPU device was destroyed or lost; create a new Gpu');
  }

  /** Waits for asynchronous error reports (compile, validation) and throws the first. */
  async check(): Promise<void> {
    this.flush();
    await keepAlive(this.device.queue.onSubmittedWorkDone());
    await Promise.all(this.compileChecks.splice(0));
    await new Promise((r) => setTimeout(r, 0));
    this.throwPending();
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.device.destroy();
  }
}

/**
 * Waits for a GPU promise while holding a timer: Dawn's Node binding does not keep the
 * event loop alive, so a long kernel could otherwise let the process exit mid-wait.
 */
async function keepAlive<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 1000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

/** Derives the bind group layout from the kernel's own declarations. */
function bindingLayout(code: string): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [];
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage)(?:\s*,\s*(read|read_write))?>/g;
  for (const m of code.matchAll(re)) {
    const binding = Number(m[1]);
    const buffer: GPUBufferBindingLayout = m[2] === 'uniform'
      ? { type: 'uniform', hasDynamicOffset: true }
      : { type: m[3] === 'read_write' ? 'storage' : 'read-only-storage' };
    entries.push({ binding, visibility: GPUShaderStage.COMPUTE, buffer });
  }
  entries.sort((a, b) => a.binding - b.binding);
  entries.forEach((e, i) => {
    if (e.binding !== i) throw new Error(`kernel bindings must be 0..n without gaps (found ${e.binding} at ${i})`);
  });
  if (entries[0]?.buffer?.type !== 'uniform') throw new Error('kernel binding 0 must be the uniform params');
  return entries;
}
