import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { PerpetuaError } from './errors.js';

/**
 * A file that a folder of untrusted files (a model folder) names, refused before a byte is read: it must resolve
 * (links followed) to a regular file inside the folder (or, for a Hugging Face cache snapshot, its repo's blobs) and
 * hold at most `maxBytes`. The check is made on the open
 * descriptor (opened non-blocking, so a FIFO cannot stall the open), so a file swapped after the check is still
 * caught. The message names the file and says why, ready to follow "The <name> in <folder> ".
 */
export class FolderFileError extends PerpetuaError {
  override readonly code = 'model_unusable';
  constructor(
    /** the file as the folder names it */
    readonly file: string,
    /** why it cannot be read, e.g. "is a pipe (FIFO), not a file" */
    readonly reason: string,
  ) {
    super(`${file} ${reason}`);
  }
}

/** Where a checked file lives and how large it is. */
export interface FolderFile {
  path: string;
  size: number;
}

/** The real path of `file` (relative to `folder`, or absolute) after the checks above; throws FolderFileError. */
export function checkFolderFile(folder: string, file: string, maxBytes: number): FolderFile {
  const fd = openFolderFile(folder, file, maxBytes);
  try {
    return { path: fd.path, size: fd.size };
  } finally {
    closeSync(fd.fd);
  }
}

/** The whole of a checked file. */
export function readFolderFile(folder: string, file: string, maxBytes: number): Buffer {
  const f = openFolderFile(folder, file, maxBytes);
  try {
    const buf = Buffer.alloc(f.size);
    let at = 0;
    while (at < f.size) {
      const n = readSync(f.fd, buf, at, f.size - at, at);
      if (n === 0) break; // shrank since fstat: what is there is all there is
      at += n;
    }
    return buf.subarray(0, at);
  } finally {
    closeSync(f.fd);
  }
}

/** An open descriptor of a checked file; the caller closes it. */
export function openFolderFile(folder: string, file: string, maxBytes: number): FolderFile & { fd: number } {
  const root = realOf(folder, file, 'folder');
  const path = realOf(isAbsolute(file) ? file : resolve(folder, file), file, 'file');
  if (!allowedRoots(root).some((r) => isInside(r, path))) {
    throw new FolderFileError(file, `leads outside the folder (to ${path})`);
  }
  // O_NONBLOCK inside: opening a FIFO for reading would otherwise wait for a writer
  const { fd, size } = openRegularFile(path, maxBytes, file);
  return { fd, path, size };
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * Where a folder's files may live: inside it, and for a snapshot of the Hugging Face cache
 * (`models--org--name/snapshots/<commit>/`, whose files are links into the repo's `blobs/`) that repo's blobs too.
 */
function allowedRoots(root: string): string[] {
  // the snapshot may be the folder itself or hold it (an onnx/ subfolder checking its external data)
  for (let dir = root, up = 0; up < 4 && dirname(dir) !== dir; dir = dirname(dir), up++) {
    const snapshots = dirname(dir);
    const repo = dirname(snapshots);
    if (basename(snapshots) === 'snapshots' && basename(repo).startsWith('models--')) return [root, join(repo, 'blobs')];
  }
  return [root];
}

/** Why a file of this kind and size cannot be read whole, or null when it can. */
export function notRegularReason(stat: Stats, maxBytes: number): string | null {
  if (stat.isDirectory()) return 'is a folder, not a file';
  if (stat.isFIFO()) return 'is a pipe (FIFO), not a file';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'is a device, not a file';
  if (stat.isSocket()) return 'is a socket, not a file';
  if (!stat.isFile()) return 'is not a regular file';
  if (stat.size > maxBytes) return `is ${sizeText(stat.size)}, more than the ${sizeText(maxBytes)} it may be`;
  return null;
}

/** A descriptor of a regular file (not checked for its place), opened without blocking on a FIFO. */
export function openRegularFile(path: string, maxBytes = Number.MAX_SAFE_INTEGER, name = path): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new FolderFileError(name, errnoReason(err));
  }
  const stat = fstatSync(fd);
  const reason = notRegularReason(stat, maxBytes);
  if (reason) {
    closeSync(fd);
    throw new FolderFileError(name, reason);
  }
  return { fd, size: stat.size };
}

function realOf(path: string, file: string, what: 'folder' | 'file'): string {
  try {
    return realpathSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (what === 'folder') throw new FolderFileError(file, `cannot be read: its folder ${errnoReason(err)}`);
    throw new FolderFileError(file, code === 'ENOENT' ? 'does not exist (or is a link to nothing)' : errnoReason(err));
  }
}

function errnoReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  if (code === 'ELOOP') return 'is a loop of links';
  if (code === 'ENXIO') return 'is a socket or device, not a file';
  return `cannot be read (${code ?? 'unknown reason'})`;
}

export function sizeText(bytes: number): string {
  if (bytes < 2 ** 20) return `${Math.ceil(bytes / 1024)} KiB`;
  return `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
}
