import { describe, expect, it } from 'vitest';
import { languagesSwitch, parseLanguagesSwitch } from './shell-protocol.js';

describe('the OS languages switch (shell → preload)', () => {
  it('round-trips the OS list in order', () => {
    const argv = ['/electron', '--type=renderer', languagesSwitch(['zh-Hans-CN', 'zh-TW', 'en-US'])];
    expect(parseLanguagesSwitch(argv)).toEqual(['zh-Hans-CN', 'zh-TW', 'en-US']);
  });

  it('drops anything that is not a language tag, and reads nothing without the switch', () => {
    expect(languagesSwitch(['en', 'x;rm -rf', '', 'de-DE'])).toBe('--perpetua-languages=en,de-DE');
    expect(parseLanguagesSwitch(['--perpetua-languages=en,<script>,ja-JP'])).toEqual(['en', 'ja-JP']);
    expect(parseLanguagesSwitch(['--type=renderer'])).toEqual([]);
  });
});
