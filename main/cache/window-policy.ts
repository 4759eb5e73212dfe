import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { KvGeometry } from '../engine/layer-kv.js';
import { RollingCache } from './rolling-cache.js';
import type { KvEditor } from '../engine/layer-kv.js';

/** Keeps only the last L tokens (positions re-based inside the cache): cheap, but collapses once the first tokens go. */
export class WindowPolicy extends RollingCache {
  constructor(spec: PolicySpec, geometry: KvGeometry, rope: RopeSpec, editor?: KvEditor) {
    super({ ...spec, name: 'window', sink: 0, pinSystem: false }, geometry, rope, editor);
  }
}
