// What the adapter can do, read once; kernel variants are chosen from this record.

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface Caps {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  f16: boolean;
  subgroups: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  subgroupMatrix: SubgroupMatrixConfig[];
  timestamps: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
    minUniformBufferOffsetAlignment: number;
  };
}

const WANTED = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'] as const;

/** The optional features webtrain asks for, of those the adapter offers. */
export function wantedFeatures(adapter: GPUAdapter): GPUFeatureName[] {
  return WANTED.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
}

export function readCaps(adapter: GPUAdapter, device: GPUDevice): Caps {
  const info = adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
    subgroupMatrixConfigs?: SubgroupMatrixConfig[];
  };
  const l = device.limits;
  const has = (f: string) => device.features.has(f);
  return {
    adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    f16: has('shader-f16'),
    subgroups: has('subgroups'),
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    subgroupMatrix: has('chromium-experimental-subgroup-matrix')
      // Field by field: Dawn's config objects may expose them as accessors, which spreading drops.
      ? (info.subgroupMatrixConfigs ?? []).map((c) => ({
        componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K,
      }))
      : [],
    timestamps: has('timestamp-query'),
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    },
  };
}

/** Limits worth raising to the adapter's maximum (big models need big bindings). */
export function requiredLimits(adapter: GPUAdapter): Record<string, number> {
  const a = adapter.limits;
  return {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
}
