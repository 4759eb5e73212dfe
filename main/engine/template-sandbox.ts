import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { TemplateError } from './template-error.js';

/** What a chat template may spend on one render. */
export interface TemplateBudget {
  /** wall-clock time for one render */
  ms: number;
  /** characters of output */
  maxChars: number;
  /** items one range() may make (nested loops are stopped by the time, one huge list by this) */
  maxRange: number;
  /** the worker's heap */
  heapMb: number;
}

export const DEFAULT_TEMPLATE_BUDGET: TemplateBudget = { ms: 2000, maxChars: 4 * 2 ** 20, maxRange: 100_000, heapMb: 256 };

/** Time a fresh worker may take to start (a loaded machine; never charged to the render). */
const START_MS = 30_000;

/**
 * The worker: the same Jinja interpreter, with range() bounded (one range(1e9) would grow an array until V8 aborts the
 * whole process, which no heap limit catches) and every result measured before it is sent back. CommonJS run from a
 * string, so it needs no TypeScript loader and does not depend on the main thread, which waits for it.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { port, flag, maxChars, maxRange } = workerData;
let Environment, Template;
try {
  ({ Environment, Template } = require(workerData.jinja));
} catch (e) {
  Atomics.store(flag, 1, 2); // could not start: said at once, not after the start timeout
  Atomics.notify(flag, 1);
  throw e;
}
function range(start, stop, step = 1) {
  if (stop === undefined) { stop = start; start = 0; }
  if (step === 0) throw new Error('range() step must not be zero');
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (!(count <= maxRange)) throw Object.assign(new Error('range() of ' + count + ' items is more than the ' + maxRange + ' a chat template may make'), { overBudget: true });
  const out = [];
  for (let i = 0; i < count; i++) out.push(start + i * step);
  return out;
}
const set = Environment.prototype.set;
Environment.prototype.set = function (name, value) { return set.call(this, name, name === 'range' ? range : value); };
const parsed = new Map();
port.on('message', ({ source, context }) => {
  let reply;
  try {
    let t = parsed.get(source);
    if (!t) { t = new Template(source); parsed.set(source, t); }
    const text = t.render(context);
    reply = typeof text !== 'string' ? { error: 'render', message: 'the template gave no text' }
      : text.length > maxChars ? { error: 'size', chars: text.length } : { text };
  } catch (e) {
    // RangeError: a string or list past what V8 can hold, which only a runaway template makes
    reply = { error: e && (e.overBudget || e instanceof RangeError) ? 'budget' : 'render', message: String((e && e.message) || e) };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
Atomics.store(flag, 1, 1);
Atomics.notify(flag, 1);
`;

type Reply = { text: string } | { error: 'size'; chars: number } | { error: 'render' | 'budget'; message: string };

/**
 * Renders chat templates in a worker thread under a time, output and memory budget, synchronously for the caller: the
 * calling thread posts the job and waits on a shared flag with a deadline. A template that runs past it (nested loops)
 * or exhausts the worker's heap costs at most `ms`; the worker is terminated and the next render starts a new one.
 */
export class TemplateSandbox {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private flag: Int32Array | null = null;

  constructor(private readonly budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET) {}

  render(source: string, context: Record<string, unknown>): string {
    const { port, flag } = this.started();
    Atomics.store(flag, 0, 0);
    port.postMessage({ source, context });
    waitOn(flag, 0, this.budget.ms);
    const reply = receiveMessageOnPort(port)?.message as Reply | undefined;
    if (!reply) {
      this.dispose(); // still running, or its heap ran out: either way it is gone
      throw new TemplateError(
        'template_budget',
        `The model's chat template did not finish within ${this.budget.ms / 1000} s (or needed more than ${this.budget.heapMb} MB), so it was stopped; this model's template cannot be used.`,
      );
    }
    if ('text' in reply) return reply.text;
    if (reply.error === 'size') {
      throw new TemplateError('template_budget', `The model's chat template made ${reply.chars} characters, more than the ${this.budget.maxChars} a turn may have, so it was stopped.`);
    }
    if (reply.error === 'budget') throw new TemplateError('template_budget', `The model's chat template was stopped: ${reply.message}.`);
    throw new TemplateError('template_refused', `The model's chat template could not render this conversation: ${reply.message}`);
  }

  /** Ends the worker (a later render starts another). */
  dispose(): void {
    void this.worker?.terminate();
    this.port?.close();
    this.worker = this.port = this.flag = null;
  }

  private started(): { port: MessagePort; flag: Int32Array } {
    if (this.worker && this.port && this.flag) return { port: this.port, flag: this.flag };
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const { port1, port2 } = new MessageChannel();
    const jinja = createRequire(import.meta.url).resolve('@huggingface/jinja');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { jinja, port: port2, flag, maxChars: this.budget.maxChars, maxRange: this.budget.maxRange },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: this.budget.heapMb, maxYoungGenerationSizeMb: 32 },
    });
    worker.unref(); // an idle renderer never keeps the process alive
    worker.on('error', () => {}); // an exhausted heap ends it; the render that caused it reports the sentence
    if (!waitOn(flag, 1, START_MS) || Atomics.load(flag, 1) !== 1) {
      void worker.terminate();
      throw new TemplateError('template_budget', `The chat template renderer could not start (within ${START_MS / 1000} s); restart Perpetua.`);
    }
    this.worker = worker;
    this.port = port1;
    this.flag = flag;
    return { port: port1, flag };
  }
}

/**
 * Waits until `flag[index]` leaves 0 or `ms` pass; false on time-out. Atomics.wait where the thread may block (Node,
 * Electron's utility process); a spin on the flag where a runtime forbids it, so the budget holds either way.
 */
function waitOn(flag: Int32Array, index: number, ms: number): boolean {
  try {
    return Atomics.wait(flag, index, 0, ms) !== 'timed-out' || Atomics.load(flag, index) !== 0;
  } catch {
    const end = performance.now() + ms;
    while (Atomics.load(flag, index) === 0) if (performance.now() > end) return false;
    return true;
  }
}
