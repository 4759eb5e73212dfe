import { describe, expect, it } from 'vitest';
import type { MenuItemConstructorOptions } from 'electron';
import { appMenuTemplate } from './app-menu.js';

const names = (items: MenuItemConstructorOptions[]) => items.map((i) => i.role ?? i.label);
const submenu = (items: MenuItemConstructorOptions[], name: string) =>
  (items.find((i) => (i.role ?? i.label) === name)?.submenu ?? []) as MenuItemConstructorOptions[];
const roles = (items: MenuItemConstructorOptions[]) => items.filter((i) => i.visible !== false).map((i) => i.role ?? i.label ?? i.type);

describe('application menu', () => {
  it('macOS: app menu first, then File, Edit, View, Window, Help', () => {
    const t = appMenuTemplate({ platform: 'darwin', development: false, showDataFolder: () => {} });
    expect(names(t)).toEqual(['appMenu', 'fileMenu', 'editMenu', 'View', 'windowMenu', 'help']);
    expect(roles(submenu(t, 'help'))).toEqual(['Show Data Folder']); // About lives in the app menu
  });

  for (const platform of ['win32', 'linux'] as const) {
    it(`${platform}: File, Edit, View, Window, Help with About, and no app menu`, () => {
      const t = appMenuTemplate({ platform, development: false, showDataFolder: () => {} });
      expect(names(t)).toEqual(['fileMenu', 'editMenu', 'View', 'windowMenu', 'help']);
      expect(roles(submenu(t, 'help'))).toEqual(['Show Data Folder', 'separator', 'about']);
    });
  }

  it('View zooms everywhere (Ctrl/Cmd = as well as +); Reload and DevTools only in development', () => {
    for (const platform of ['darwin', 'win32', 'linux'] as const) {
      const packaged = submenu(appMenuTemplate({ platform, development: false, showDataFolder: () => {} }), 'View');
      expect(roles(packaged)).toEqual(['resetZoom', 'zoomIn', 'zoomOut', 'separator', 'togglefullscreen']);
      expect(packaged.find((i) => i.accelerator === 'CommandOrControl+=')?.role).toBe('zoomIn');
      const dev = submenu(appMenuTemplate({ platform, development: true, showDataFolder: () => {} }), 'View');
      expect(roles(dev).slice(0, 3)).toEqual(['reload', 'forceReload', 'toggleDevTools']);
    }
  });

  it('Help › Show Data Folder calls back', () => {
    let shown = 0;
    const t = appMenuTemplate({ platform: 'linux', development: false, showDataFolder: () => shown++ });
    (submenu(t, 'help')[0].click as () => void)();
    expect(shown).toBe(1);
  });
});
