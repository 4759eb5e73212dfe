export * from './limits.js';
export * from './schemas.js';
export * from './download-schemas.js';
export * from './methods.js';
export * from './envelope.js';
export * from './api-error.js';
export * from './api-client.js';
export type * from './perpetua-api.js';
