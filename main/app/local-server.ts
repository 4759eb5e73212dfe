/**
 * The app's switch for the OpenAI-compatible server: on 127.0.0.1 only (a network bind is for `perpetua serve
 * --host`, with its key), its port and optional key kept in `<userData>/local-server.json`, started again with the app
 * when it was on. Electron-free: it is given the core's API and a file.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { PerpetuaClientBridge } from '../api/perpetua-api.js';
import type { LocalServerRequest, LocalServerStatus } from '../api/shell-protocol.js';
import { startOpenAiServer, type OpenAiServer } from '../server/openai-server.js';

const SettingsSchema = z.object({ enabled: z.boolean(), port: z.number().int().min(1).max(65535), apiKey: z.string().min(1).nullable() });
type Settings = z.infer<typeof SettingsSchema>;

const DEFAULTS: Settings = { enabled: false, port: 1234, apiKey: null };
const HOST = '127.0.0.1';

export class LocalServer {
  private settings: Settings;
  private server: OpenAiServer | null = null;
  private error: string | null = null;
  /** one change at a time: a second click waits for the first to finish */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    /** the core's API, connected on first use */
    private readonly api: () => PerpetuaClientBridge,
    private readonly settingsFile: string,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.settings = readSettings(settingsFile);
  }

  /** Starts the server when it was on at the last run. */
  async restore(): Promise<LocalServerStatus> {
    return this.serialized(async () => {
      if (this.settings.enabled) await this.start();
      return this.status();
    });
  }

  handle(request: LocalServerRequest): Promise<LocalServerStatus> {
    if (request.action === 'status') return Promise.resolve(this.status());
    return this.serialized(async () => {
      await this.stop();
      this.settings = { enabled: request.enabled, port: request.port, apiKey: request.apiKey };
      writeSettings(this.settingsFile, this.settings);
      if (this.settings.enabled) await this.start();
      return this.status();
    });
  }

  status(): LocalServerStatus {
    const { enabled, port, apiKey } = this.settings;
    return {
      enabled,
      running: this.server !== null,
      port,
      apiKey,
      baseUrl: `http://${HOST}:${port}/v1`,
      requestsSeen: this.server?.requestsSeen ?? 0,
      error: this.error,
    };
  }

  close(): Promise<void> {
    return this.serialized(() => this.stop());
  }

  private async start(): Promise<void> {
    try {
      this.server = await startOpenAiServer({
        api: this.api(),
        host: HOST,
        port: this.settings.port,
        apiKey: this.settings.apiKey ?? undefined,
        maxBodyBytes: 32 * 1024 * 1024,
        maxTokens: 2048,
        parallel: 2,
        queued: 16,
        log: this.log,
      });
      this.error = null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      this.error = code === 'EADDRINUSE' ? `Port ${this.settings.port} is taken by another program; choose another.` : `The server could not start: ${(err as Error).message}`;
    }
  }

  private async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    this.error = null;
    await s?.close();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.busy.then(work, work);
    this.busy = next.catch(() => {});
    return next;
  }
}

function readSettings(file: string): Settings {
  try {
    return SettingsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return { ...DEFAULTS }; // none yet, or unreadable: off
  }
}

function writeSettings(file: string, s: Settings): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(s), { mode: 0o600 }); // it may hold the key
  renameSync(`${file}.tmp`, file);
}
