import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { KvGeometry } from '../engine/layer-kv.js';
import { RollingCache } from './rolling-cache.js';
import type { KvEditor } from '../engine/layer-kv.js';

/** StreamingLLM: the first S "attention sink" tokens stay forever next to the last L tokens. */
export class SinkPolicy extends RollingCache {
  constructor(spec: PolicySpec, geometry: KvGeometry, rope: RopeSpec, editor?: KvEditor) {
    if (spec.sink < 0) throw new RangeError('The sink count cannot be negative.');
    super({ ...spec, name: 'sink' }, geometry, rope, editor);
  }
}
