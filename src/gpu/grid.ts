// Workgroup counts for 1-D work larger than one grid dimension allows (65535):
// kernels compute their flat index as gid.x + gid.y * num_workgroups.x * size.
export function grid1d(items: number, perWorkgroup = 256, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(items / perWorkgroup);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
