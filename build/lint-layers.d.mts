export function cruiseRules(paths: string[], rules: unknown[], baseDir?: string): Promise<string[]>;
export function lintLayers(): Promise<string[]>;
