/**
 * OpenAI request bodies → the core's completion params (main/api/completion-schemas.ts). Every refusal names the
 * field (OpenAI's `param`) and says what to send instead.
 */
import type { ChatCompleteParams, CompletionMessage, TextCompleteParams } from '../api/completion-schemas.js';
import type { GenerationSettings } from '../api/generation-schemas.js';
import type { PolicyConfig } from '../api/schemas.js';
import { toConfig } from '../policy/policy.js';
import { parsePolicy } from '../policy/policy-text.js';
import { errorCode } from '../shared/errors.js';
import { badRequest } from './openai-error.js';
import type { ChatCompletionRequest, CompletionRequest, OpenAiMessage } from './openai-schemas.js';

/** How the answer goes back, besides what the core is asked. */
export interface Delivery {
  stream: boolean;
  includeUsage: boolean;
  /** the model name to echo back */
  model: string | undefined;
}

/** What the request headers add: X-Perpetua-Session, X-Perpetua-Policy. */
export interface PerpetuaHeaders {
  session?: string;
  policy?: string;
}

/** The server's bounds on one answer. */
export interface RequestLimits {
  /** most tokens an answer may be asked for; also the length of one that asks for none */
  maxTokens: number;
}

export function chatParams(req: ChatCompletionRequest, headers: PerpetuaHeaders, limits: RequestLimits): { params: ChatCompleteParams; delivery: Delivery } {
  refuseUnsupported(req);
  if (req.tools?.length || req.functions?.length) throw badRequest('Tools (function calling) are not supported by Perpetua; send the conversation without "tools".', 'tools');
  if (req.tool_choice !== undefined && req.tool_choice !== 'none' && req.tool_choice !== null) throw badRequest('tool_choice is not supported (no tools); leave it out.', 'tool_choice');
  if (req.response_format && req.response_format.type !== 'text') {
    throw badRequest(`response_format "${req.response_format.type}" is not supported: Perpetua answers in plain text.`, 'response_format');
  }
  const messages = req.messages.map((m, i) => toMessage(m, i));
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  const params: ChatCompleteParams = {
    messages,
    ...(req.model ? { model: req.model } : {}),
    ...perpetuaFields(req, headers),
    generation: generation(req, maxTokens === null ? undefined : maxTokens, req.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens', limits),
  };
  return { params, delivery: delivery(req) };
}

export function textParams(req: CompletionRequest, headers: PerpetuaHeaders, limits: RequestLimits): { params: TextCompleteParams; delivery: Delivery } {
  refuseUnsupported(req);
  if (req.echo) throw badRequest('echo is not supported; leave it out.', 'echo');
  if (req.suffix) throw badRequest('suffix (fill in the middle) is not supported; leave it out.', 'suffix');
  if (req.best_of != null && req.best_of !== 1) throw badRequest('best_of must be 1: Perpetua writes one completion per request.', 'best_of');
  const prompt = Array.isArray(req.prompt) ? req.prompt : [req.prompt];
  if (prompt.length !== 1 || typeof prompt[0] !== 'string') {
    throw badRequest('prompt must be one string (several prompts, or token ids, are not supported).', 'prompt');
  }
  const params: TextCompleteParams = {
    prompt: prompt[0],
    ...(req.model ? { model: req.model } : {}),
    ...perpetuaFields(req, headers),
    generation: generation(req, req.max_tokens ?? undefined, 'max_tokens', limits),
  };
  delete params.session; // a text completion is not a chat
  return { params, delivery: delivery(req) };
}

type Shared = ChatCompletionRequest | CompletionRequest;

function refuseUnsupported(req: Shared): void {
  if (req.n != null && req.n !== 1) throw badRequest('n must be 1: Perpetua writes one answer per request (send the request again for another).', 'n');
  if (req.logprobs) throw badRequest('logprobs are not supported; leave them out.', 'logprobs');
  if (req.presence_penalty) throw badRequest('presence_penalty is not supported; use repetition_penalty (e.g. 1.1) instead.', 'presence_penalty');
  if (req.frequency_penalty) throw badRequest('frequency_penalty is not supported; use repetition_penalty (e.g. 1.1) instead.', 'frequency_penalty');
  if (req.logit_bias && Object.keys(req.logit_bias).length) throw badRequest('logit_bias is not supported; leave it out.', 'logit_bias');
}

function delivery(req: Shared): Delivery {
  return { stream: req.stream === true, includeUsage: req.stream_options?.include_usage === true, model: req.model };
}

/** The role and text of one message; other roles (tool, function) and non-text parts are refused. */
function toMessage(m: OpenAiMessage, i: number): CompletionMessage {
  const param = `messages[${i}]`;
  const role = m.role === 'developer' ? 'system' : m.role;
  if (role !== 'system' && role !== 'user' && role !== 'assistant') {
    throw badRequest(`${param}: role "${m.role}" is not supported (system, developer, user and assistant are).`, `${param}.role`);
  }
  if (m.tool_calls?.length) throw badRequest(`${param}: tool calls are not supported.`, `${param}.tool_calls`);
  if (m.content == null) return { role, content: '' };
  if (typeof m.content === 'string') return { role, content: m.content };
  const texts = m.content.map((part, j) => {
    if (part.type !== 'text' || typeof (part as { text?: unknown }).text !== 'string') {
      throw badRequest(`${param}.content[${j}]: "${part.type}" parts are not supported; Perpetua reads text.`, `${param}.content`);
    }
    return (part as { text: string }).text;
  });
  return { role, content: texts.join('\n') };
}

function perpetuaFields(req: Shared, headers: PerpetuaHeaders): { session?: string; policy?: PolicyConfig } {
  const session = req.perpetua?.session ?? headers.session;
  const policy = req.perpetua?.policy ?? headers.policy;
  return { ...(session ? { session } : {}), ...(policy !== undefined ? { policy: toPolicy(policy) } : {}) };
}

/** "sink:4:1020" (as the CLI writes it) or the API's policy object. */
function toPolicy(p: string | PolicyConfig): PolicyConfig {
  if (typeof p !== 'string') return p;
  try {
    return toConfig(parsePolicy(p));
  } catch (err) {
    if (errorCode(err) === 'invalid_input') throw badRequest((err as Error).message, 'perpetua.policy');
    throw err;
  }
}

/** Sampling and length as the chat's generation settings; OpenAI's ranges are checked here, the core's bounds there. */
function generation(req: Shared, maxTokens: number | undefined, maxParam: string, limits: RequestLimits): GenerationSettings {
  if (maxTokens !== undefined && (maxTokens < 1 || maxTokens > limits.maxTokens)) {
    throw badRequest(`${maxParam} must be between 1 and ${limits.maxTokens} on this server (perpetua serve --max-tokens).`, maxParam);
  }
  if (req.temperature != null && (req.temperature < 0 || req.temperature > 2)) throw badRequest('temperature must be between 0 and 2.', 'temperature');
  if (req.top_p != null && (req.top_p <= 0 || req.top_p > 1)) throw badRequest('top_p must be greater than 0 and at most 1.', 'top_p');
  const stop = req.stop == null ? undefined : (Array.isArray(req.stop) ? req.stop : [req.stop]).filter((s) => s.length > 0);
  const g: GenerationSettings = {
    maxTokens: maxTokens ?? limits.maxTokens,
    ...(req.temperature != null ? { temperature: req.temperature } : {}),
    ...(req.top_p != null ? { topP: req.top_p } : {}),
    ...(req.top_k != null ? { topK: req.top_k } : {}),
    ...(req.min_p != null ? { minP: req.min_p } : {}),
    ...(req.repetition_penalty != null ? { repetitionPenalty: req.repetition_penalty } : {}),
    // OpenAI's seeds are any 64-bit integer; the sampler's are 31-bit: the same seed still gives the same answer
    ...(req.seed != null ? { seed: ((req.seed % 2 ** 31) + 2 ** 31) % 2 ** 31 } : {}),
    ...(stop?.length ? { stop } : {}),
  };
  return g;
}
