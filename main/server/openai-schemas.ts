/**
 * OpenAI's request bodies for /v1/chat/completions and /v1/completions, as far as Perpetua serves them. Fields a
 * client commonly sends with a neutral value (n: 1, presence_penalty: 0, tool_choice: "none", user, metadata) are
 * accepted; a feature Perpetua does not have (several choices, tools, logprobs, JSON mode) is refused with a sentence
 * that names the field, never silently ignored. Unknown fields are dropped, as OpenAI's own server does.
 */
import { z } from 'zod';
import { PolicyConfigSchema } from '../api/schemas.js';

const TextPart = z.object({ type: z.literal('text'), text: z.string() });

/** A message's content: a string, or text parts (other parts, such as images, are refused). */
const Content = z.union([z.string(), z.array(z.union([TextPart, z.object({ type: z.string() }).passthrough()]))]).nullable().optional();

export const OpenAiMessageSchema = z
  .object({
    role: z.string(),
    content: Content,
    name: z.string().optional(),
    tool_calls: z.array(z.unknown()).optional(),
  })
  .passthrough();
export type OpenAiMessage = z.infer<typeof OpenAiMessageSchema>;

const Stop = z.union([z.string(), z.array(z.string())]).nullable().optional();

/** What both endpoints share: sampling, length, streaming, and Perpetua's extensions. */
const Common = {
  model: z.string().max(500).optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
  max_tokens: z.number().int().nullable().optional(),
  temperature: z.number().nullable().optional(),
  top_p: z.number().nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: Stop,
  n: z.number().int().nullable().optional(),
  presence_penalty: z.number().nullable().optional(),
  frequency_penalty: z.number().nullable().optional(),
  logit_bias: z.record(z.string(), z.number()).nullable().optional(),
  logprobs: z.union([z.boolean(), z.number()]).nullable().optional(),
  top_logprobs: z.number().nullable().optional(),
  user: z.string().optional(),
  // extensions, named as llama.cpp's and vLLM's servers name them
  top_k: z.number().int().nullable().optional(),
  min_p: z.number().nullable().optional(),
  repetition_penalty: z.number().nullable().optional(),
  /** Perpetua's own: which chat, which cache policy (also as the X-Perpetua-Session / X-Perpetua-Policy headers) */
  perpetua: z
    .object({ session: z.string().min(1).max(200).optional(), policy: z.union([z.string().max(100), PolicyConfigSchema]).optional() })
    .strict()
    .optional(),
};

export const ChatCompletionRequestSchema = z.object({
  ...Common,
  messages: z.array(OpenAiMessageSchema).min(1, 'messages is empty: send at least the user\'s message.'),
  max_completion_tokens: z.number().int().nullable().optional(),
  tools: z.array(z.unknown()).nullable().optional(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  functions: z.array(z.unknown()).nullable().optional(),
  response_format: z.object({ type: z.string() }).passthrough().nullable().optional(),
  metadata: z.unknown().optional(),
  store: z.boolean().nullable().optional(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

export const CompletionRequestSchema = z.object({
  ...Common,
  prompt: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
  echo: z.boolean().nullable().optional(),
  suffix: z.string().nullable().optional(),
  best_of: z.number().int().nullable().optional(),
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;
