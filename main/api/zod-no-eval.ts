/**
 * Import first in browser-side bundles (preload, web shim): the page's CSP forbids eval, and zod would
 * otherwise probe for it with `new Function` (reported as a CSP violation) when schemas are built.
 */
import { z } from 'zod';

z.config({ jitless: true });
