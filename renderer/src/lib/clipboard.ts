/** Copy text; falls back to a hidden textarea where the async clipboard is unavailable. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'offscreen';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

/** What became of a save: written where the user chose, the dialog closed without saving, or handed to downloads. */
export type SaveOutcome = 'saved' | 'cancelled' | 'downloaded';

interface SaveFilePicker {
  (options: { suggestedName: string; types: { description: string; accept: Record<string, string[]> }[] }): Promise<{
    createWritable(): Promise<{ write(data: Blob): Promise<void>; close(): Promise<void> }>;
  }>;
}

/**
 * Save a text file through the native save dialog (File System Access API, in Electron and Chromium), so the
 * caller knows whether it was saved; where there is no such dialog, through the browser's download flow.
 */
export async function saveText(filename: string, text: string, type = 'text/markdown'): Promise<SaveOutcome> {
  const blob = new Blob([text], { type: `${type};charset=utf-8` });
  const picker = (window as unknown as { showSaveFilePicker?: SaveFilePicker }).showSaveFilePicker;
  if (!picker) {
    download(filename, blob);
    return 'downloaded';
  }
  let handle: Awaited<ReturnType<SaveFilePicker>>;
  try {
    const ext = filename.includes('.') ? filename.slice(filename.lastIndexOf('.')) : '.txt';
    handle = await picker.call(window, { suggestedName: filename, types: [{ description: 'Text', accept: { [type]: [ext] } }] });
  } catch (err) {
    if ((err as DOMException).name === 'AbortError') return 'cancelled';
    throw err;
  }
  const writable = await handle.createWritable();
  await writable.write(blob);
  await writable.close();
  return 'saved';
}

function download(filename: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function safeFilename(name: string): string {
  return (name.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ').trim() || 'chat').slice(0, 120);
}
