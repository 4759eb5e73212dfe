// Lets plain tsc (TypeScript 7 has no svelte-check yet) type-check the .ts files that import components.
declare module '*.svelte' {
  import type { Component } from 'svelte';
  const component: Component<any, any, any>;
  export default component;
}
declare module '*.css';
