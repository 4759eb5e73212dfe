import { statSync } from 'node:fs';

/** Largest metadata file read whole (the biggest tokenizer.json files are tens of MB). */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;

/**
 * Why `file` cannot be read whole as a file of at most `maxBytes`, or null when it can. Links are followed:
 * a link to /dev/zero or a FIFO would otherwise be read forever (or block until someone writes to it).
 */
export function unreadableReason(file: string, maxBytes: number): string | null {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code})`;
  }
  if (stat.isDirectory()) return 'is a folder, not a file';
  if (stat.isFIFO()) return 'is a pipe (FIFO), not a file';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'is a device, not a file';
  if (stat.isSocket()) return 'is a socket, not a file';
  if (stat.size > maxBytes) return `is ${mib(stat.size)}, more than the ${mib(maxBytes)} it may be`;
  return null;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
}
