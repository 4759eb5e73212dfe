import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import ort from 'onnxruntime-node';

/** Where a measurement ran, so a table can say it. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntime: string;
  /** 1-, 5- and 15-minute load averages when the run started: above the core count, other work shared the CPU */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    onnxruntime: `onnxruntime-node ${ort.env.versions?.node ?? 'unknown'}`,
    loadAverage: loadNow(),
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cores}-core ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, ${m.onnxruntime}`;
}

/** The 1-, 5- and 15-minute load averages, rounded. */
export function loadNow(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}
