// Errors a user can act on. Every error webtrain raises on purpose is a WebtrainError,
// whose message says what went wrong and what to do; the CLI prints it without a stack.

export class WebtrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad user input: a config value, a flag, a file's content. */
export class InputError extends WebtrainError {}
/** Tensor shapes or dtypes that do not fit an op. */
export class ShapeError extends WebtrainError {}
/** No WebGPU adapter, or one that lacks a feature the request needs. */
export class NoAdapterError extends WebtrainError {}
export class FeatureMissingError extends WebtrainError {}
/** A kernel's WGSL failed to compile (a bug in webtrain: please report it). */
export class ShaderCompileError extends WebtrainError {}
/** WebGPU validation failed (a bug in webtrain, or a limit exceeded). */
export class GpuValidationError extends WebtrainError {}
export class OutOfMemoryError extends WebtrainError {}
export class DeviceLostError extends WebtrainError {}
/** A file (checkpoint, shard, tokenizer, ARPA) is corrupt or not what it claims. */
export class CorruptFileError extends WebtrainError {}
