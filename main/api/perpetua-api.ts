/**
 * The typed API of Perpetua, derived from the method table (methods.ts): no hand-kept twin to drift.
 * - `PerpetuaApi`: what the core implements (CoreService). A call takes its validated params and resolves to its
 *   result; a channel takes its params and an AbortSignal (the caller cancelled) and yields its packets.
 * - `PerpetuaClientBridge`: what the client offers: calls return promises, channels take a packet listener and
 *   return a `Channel` handle; `on()` listens to the few events that belong to no request. `PerpetuaBridge`
 *   (`window.perpetua`) adds what only the shell can do (ShellBridge).
 */
import type {
  CallName,
  ChannelName,
  EventName,
  EventOf,
  HandlerOf,
  PacketOf,
  ParamsOf,
  ResultOf,
  ValidParamsOf,
} from './methods.js';
import type { LocalServerRequest, LocalServerStatus } from './shell-protocol.js';

/** What a call resolves to: `undefined` results are plain `void`. */
type Answer<R> = [R] extends [undefined] ? void : R;
/** Methods whose params are optional may be called without them. */
type Args<P> = undefined extends P ? [params?: P] : [params: P];

/** One event as it travels: `{ event, payload }`, discriminated by name. */
export type PerpetuaEvent = { [K in EventName]: { event: K; payload: EventOf<K> } }[EventName];
export type PerpetuaEventListener = (e: PerpetuaEvent) => void;
export type PerpetuaEvents = { [K in EventName]: EventOf<K> };

export type PerpetuaApi = {
  [M in CallName as HandlerOf<M>]: (...args: Args<ValidParamsOf<M>>) => Promise<Answer<ResultOf<M>>>;
} & {
  [M in ChannelName as HandlerOf<M>]: (params: ValidParamsOf<M>, signal: AbortSignal) => AsyncIterable<PacketOf<M>>;
} & {
  /** Receive events; returns an unsubscribe function. Each router (connection) subscribes once. */
  subscribe(listener: PerpetuaEventListener): () => void;
};

/** A channel as the caller holds it. */
export interface Channel<P> {
  /** Stops the work; the channel still ends with its final packet ("stopped"). */
  cancel(): void;
  /** The final packet; rejects (ApiError) when the request was refused before it started, or the transport went away. */
  readonly closed: Promise<P>;
}

/** What the typed client offers: the API's methods and `on()`. */
export type PerpetuaClientBridge = {
  [M in CallName as HandlerOf<M>]: (...args: Args<ParamsOf<M>>) => Promise<Answer<ResultOf<M>>>;
} & {
  [M in ChannelName as HandlerOf<M>]: (params: ParamsOf<M>, onPacket: (packet: PacketOf<M>) => void) => Channel<PacketOf<M>>;
} & {
  on<K extends EventName>(event: K, listener: (payload: EventOf<K>) => void): () => void;
};

/** What only the shell (Electron main, or the web test host) can do for the page. */
export interface ShellBridge {
  /** Opens the system's folder picker; null when cancelled. */
  pickFolder(): Promise<string | null>;
  /** Opens the system's file picker for a conversations file to import; null when cancelled. */
  pickFile(): Promise<string | null>;
  /** The OS's preferred languages, most preferred first (Electron); absent where only the browser's are known. */
  readonly systemLanguages?: readonly string[];
  /** The OpenAI-compatible server's switch (the desktop app only: absent in the web test host). */
  localServer?(request: LocalServerRequest): Promise<LocalServerStatus>;
}

/** `window.perpetua` in the renderer. */
export type PerpetuaBridge = PerpetuaClientBridge & ShellBridge;
