// Buffer pool with size classes. Buffers are released explicitly and reused by later
// allocations of the same class; released buffers may still be read by encoded but
// unsubmitted work, which is safe because reuse is ordered after it in the same queue.

const USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

/** Rounds up to a class: powers of two below 1 MiB, then steps of 1/8 of a power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** Math.floor(Math.log2(b)) / 8;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Bytes in buffers handed out, and in all buffers the pool holds. */
  inUse = 0;
  held = 0;
  peak = 0;

  /** onTrim runs before idle buffers are destroyed (so that nothing still refers to them). */
  constructor(private device: GPUDevice, private onCreate: (size: number) => void, private onTrim: () => void = () => {}) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const buf = this.free.get(size)?.pop() ?? this.create(size);
    this.inUse += size;
    this.peak = Math.max(this.peak, this.inUse);
    return buf;
  }

  release(buf: GPUBuffer): void {
    this.inUse -= buf.size;
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    list.push(buf);
  }

  /** Frees every idle buffer (after an out-of-memory error, or when asked). */
  trim(): void {
    this.onTrim();
    for (const list of this.free.values()) for (const b of list) { this.held -= b.size; b.destroy(); }
    this.free.clear();
  }

  private create(size: number): GPUBuffer {
    this.onCreate(size);
    const buf = this.device.createBuffer({ size, usage: USAGE });
    this.held += size;
    return buf;
  }
}
