import { probeWebGpuAdapter, type GpuAdapter } from '../engine/gpu-adapter.js';

/**
 * The adapter the GPU suite runs on. There must be one: `./build/setup.sh` (as root) installs Mesa's software Vulkan
 * driver where the machine has no GPU, and CI runs it, so a missing adapter is a failure, never a skip.
 */
export async function requireWebGpuAdapter(): Promise<GpuAdapter> {
  const adapter = await probeWebGpuAdapter();
  if (!adapter) {
    throw new Error(
      'The GPU suite found no WebGPU adapter. Run ./build/setup.sh as root (it installs libvulkan1 and Mesa 25 from bookworm-backports), or install a GPU driver.',
    );
  }
  return adapter;
}
