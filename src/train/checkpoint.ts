// Checkpoints: one safetensors file per saved step holding the f32 master weights
// ("model.*"), the optimizer state ("optim.*") and, as metadata, the step, configs and
// training state. Each file is written to a temporary name and renamed, so a kill at
// any moment leaves the previous checkpoint intact. Should a newest file still be unreadable
// (a disk that lied about the sync, a copy cut short), loading falls back to the one before.
import { platform } from '../platform/index.js';
import { CorruptFileError, InputError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';
import { decodeSafetensors, encodeSafetensors, type StDType, type StTensor } from './safetensors.js';

const NAME = /^ckpt-(\d{8})\.safetensors$/;
/** Temporary files of writes that a kill interrupted (see platform().writeFileAtomic). */
const STALE_TEMP = /^ckpt-\d{8}\.safetensors\.tmp-/;
const ST: Partial<Record<DType, StDType>> = { f32: 'F32', u32: 'U32', i32: 'I32' };

export interface CheckpointData {
  step: number;
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export function checkpointPath(dir: string, step: number): string {
  return `${dir}/ckpt-${String(step).padStart(8, '0')}.safetensors`;
}

/** Writes tensors (f32/u32/i32; others are widened to f32) and metadata atomically; keeps the newest `keep`. */
export async function saveCheckpoint(dir: string, step: number, tensors: Map<string, Tensor>, metadata: Record<string, string>, keep = 2): Promise<string> {
  const out: Record<string, StTensor> = {};
  for (const [name, t] of tensors) {
    const values = await t.toArray();
    const dtype = ST[t.dtype] ?? 'F32';
    const data = dtype === 'F32' && !(values instanceof Float32Array) ? new Float32Array(values) : values;
    out[name] = { dtype, shape: [...t.shape], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  const path = checkpointPath(dir, step);
  await platform().mkdirp(dir);
  await platform().writeFileAtomic(path, encodeSafetensors(out, { ...metadata, step: String(step), format: 'webtrain-checkpoint/1' }));
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await platform().remove(checkpointPath(dir, old));
  for (const f of await platform().listDir(dir)) if (STALE_TEMP.test(f)) await platform().remove(`${dir}/${f}`);
  return path;
}

/** Steps of the checkpoints in `dir`, oldest first. */
export async function listCheckpoints(dir: string): Promise<number[]> {
  if (!(await platform().exists(dir))) return [];
  return (await platform().listDir(dir)).map((f) => NAME.exec(f)).filter((m) => m).map((m) => Number(m![1])).sort((a, b) => a - b);
}

type Warn = (message: string) => void;

/**
 * Reads the newest readable checkpoint of `dir` (host side). A corrupt newer file is skipped
 * with a warning naming it; if none is readable, the CorruptFileError lists every file's problem.
 */
async function readNewest(dir: string, warn: Warn): Promise<HostCheckpoint> {
  const steps = await listCheckpoints(dir);
  if (!steps.length) throw new InputError(`no checkpoint (ckpt-*.safetensors) in ${dir}; train first with --out ${dir}`);
  const problems: string[] = [];
  for (const step of [...steps].reverse()) {
    try {
      const ck = await readCheckpointFile(checkpointPath(dir, step));
      if (problems.length) warn(`webtrain: skipped unreadable checkpoint(s): ${problems.join('; ')}; using step ${step}`);
      return ck;
    } catch (e) {
      if (!(e instanceof CorruptFileError)) throw e;
      problems.push(e.message);
    }
  }
  throw new CorruptFileError(`no readable checkpoint in ${dir}: ${problems.join('; ')}`);
}

/** Loads the newest readable checkpoint of `dir` onto the GPU (see readNewest). */
export async function loadLatestCheckpoint(gpu: Gpu, dir: string, warn: Warn = console.warn): Promise<CheckpointData> {
  return upload(gpu, await readNewest(dir, warn));
}

/** The metadata (step, configs) of the newest readable checkpoint, without touching the GPU. */
export async function latestCheckpointMetadata(dir: string, warn: Warn = console.warn): Promise<Record<string, string>> {
  return (await readNewest(dir, warn)).metadata;
}

export async function loadCheckpoint(gpu: Gpu, path: string): Promise<CheckpointData> {
  return upload(gpu, await readCheckpointFile(path));
}

interface HostCheckpoint {
  tensors: Record<string, StTensor>;
  metadata: Record<string, string>;
}

async function readCheckpointFile(path: string): Promise<HostCheckpoint> {
  const { tensors, metadata } = decodeSafetensors(await platform().readFile(path), path);
  if (metadata.format !== 'webtrain-checkpoint/1') {
    throw new CorruptFileError(`${path} is not a webtrain checkpoint (format '${metadata.format ?? 'missing'}')`);
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32' && t.dtype !== 'U32' && t.dtype !== 'I32') throw new CorruptFileError(`${path}: tensor ${name} has unsupported dtype ${t.dtype}`);
  }
  return { tensors, metadata };
}

function upload(gpu: Gpu, { tensors, metadata }: HostCheckpoint): CheckpointData {
  const out = new Map<string, Tensor>();
  for (const [name, t] of Object.entries(tensors)) {
    const buf = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
    const values = t.dtype === 'U32' ? new Uint32Array(buf) : t.dtype === 'I32' ? new Int32Array(buf) : new Float32Array(buf);
    out.set(name, Tensor.from(gpu, values, t.shape, t.dtype === 'U32' ? 'u32' : t.dtype === 'I32' ? 'i32' : 'f32'));
  }
  return { step: Number(metadata.step), tensors: out, metadata };
}
