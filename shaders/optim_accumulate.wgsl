// Gradient accumulation over micro-batches into an f32 accumulator:
//   dst[od + i] = dst[od + i] + alpha * grad[og + i]      (flag ASSIGN: dst[od + i] = alpha * grad[og + i])
// The gradient may be f32, f16 or bf16 (see optim_common.wgsl). One element per thread.
// Spec: alias G or flag G_BF16; flag ASSIGN.

struct Params { n: u32, od: u32, og: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let g = p.alpha * load_grad(p.og + i);
#if ASSIGN
  dst[p.od + i] = g;
#else
  dst[p.od + i] = dst[p.od + i] + g;
#endif
}
