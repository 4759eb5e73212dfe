import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from './cache-policy.js';
import type { KvGeometry } from './layer-kv.js';
import { RollingCache } from './rolling-cache.js';
import type { KvEditor } from './kv-editor.js';

/** Keeps only the last L tokens (positions re-based inside the cache): cheap, but collapses once the first tokens go. */
export class WindowPolicy extends RollingCache {
  constructor(spec: PolicySpec, geometry: KvGeometry, rope: RopeSpec, editor?: KvEditor) {
    super({ ...spec, name: 'window', sink: 0, pinSystem: false }, geometry, rope, editor);
  }
}
