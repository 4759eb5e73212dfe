/**
 * The application menu, following each platform's conventions: on macOS the app menu first and Window with
 * its standard items; on Windows and Linux File (Quit), Edit, View, Window, Help. View has the zoom items
 * everywhere; Reload and DevTools only in development (a packaged window has no DevTools).
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface AppMenuOptions {
  platform: NodeJS.Platform;
  /** Running from a checkout (not packaged). */
  development: boolean;
  /** Help › Show Data Folder. */
  showDataFolder(): void;
}

export function appMenuTemplate(o: AppMenuOptions): MenuItemConstructorOptions[] {
  const mac = o.platform === 'darwin';
  const view: MenuItemConstructorOptions[] = [
    ...(o.development ? ([{ role: 'reload' }, { role: 'forceReload' }, { role: 'toggleDevTools' }, { type: 'separator' }] as const) : []),
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    // Ctrl/Cmd + '=' zooms in as well: '+' needs Shift on most layouts.
    { role: 'zoomIn', accelerator: 'CommandOrControl+=', visible: false },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  const help: MenuItemConstructorOptions[] = [
    { label: 'Show Data Folder', click: () => o.showDataFolder() },
    ...(mac ? [] : ([{ type: 'separator' }, { role: 'about' }] as const)),
  ];
  return [
    ...(mac ? ([{ role: 'appMenu' }] as const) : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    { label: 'View', submenu: view },
    { role: 'windowMenu' },
    { role: 'help', submenu: help },
  ];
}
