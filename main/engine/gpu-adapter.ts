import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** The WebGPU adapter this machine offers, as Dawn (the WebGPU implementation onnxruntime bundles) sees it. */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  /** the driver's own words, e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)" or "NVIDIA H100 80GB HBM3" */
  description: string;
  /** a CPU implementation (Mesa's lavapipe, SwiftShader, WARP): WebGPU runs, but slower than the CPU provider */
  software: boolean;
  /** lanes per subgroup (attention kernels tile by it), where the adapter says */
  subgroupSize: number | null;
}

/** A sentence for people: "NVIDIA hopper (NVIDIA H100 …)", "software adapter: llvmpipe: Mesa …". */
export function describeAdapter(a: GpuAdapter): string {
  return a.software ? `software adapter: ${a.description}` : `${a.vendor} ${a.architecture} (${a.description})`.trim();
}

/**
 * Asks Dawn which adapter WebGPU would run on, without creating a device. Dawn prints warnings for some adapters
 * (lavapipe's limits) straight to the process's stderr, so under Node the question is asked in a child process whose
 * stderr is dropped; Electron's packaged binary cannot start itself as Node, and its stderr goes to the log anyway.
 * Null: no adapter (no driver, no GPU, an unsupported platform).
 */
export async function probeWebGpuAdapter(): Promise<GpuAdapter | null> {
  if (process.versions.electron) return requestAdapter();
  let dawn: string;
  try {
    dawn = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return null;
  }
  const script = `const { create } = await import(${JSON.stringify(dawn)});
const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = a && a.info;
process.stdout.write(JSON.stringify(i && { vendor: i.vendor, architecture: i.architecture, description: i.description, device: i.device,
  isFallbackAdapter: i.isFallbackAdapter, subgroupMinSize: i.subgroupMinSize }));`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, maxBuffer: 64 * 1024 }, (err, stdout) => {
      if (err) return resolve(null);
      try {
        resolve(parseAdapter(JSON.parse(stdout)));
      } catch {
        resolve(null);
      }
    });
  });
}

/** In this process: Dawn through the `webgpu` package (dawn.node). */
async function requestAdapter(): Promise<GpuAdapter | null> {
  try {
    const { create } = (await import('webgpu')) as { create: (flags: string[]) => { requestAdapter(o?: object): Promise<any> } };
    const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
    return adapter ? parseAdapter(adapter.info) : null;
  } catch {
    return null;
  }
}

function parseAdapter(info: any): GpuAdapter | null {
  if (!info || typeof info !== 'object') return null;
  const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : '');
  const architecture = text(info.architecture);
  const subgroup = Number(info.subgroupMinSize ?? info.subgroupSize);
  return {
    vendor: text(info.vendor),
    architecture,
    description: text(info.description) || text(info.device),
    software: info.isFallbackAdapter === true || info.software === true || architecture === 'software',
    subgroupSize: Number.isInteger(subgroup) && subgroup > 0 ? subgroup : null,
  };
}
