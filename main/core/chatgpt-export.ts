import { MAX_MESSAGE_BYTES, utf8ByteLength } from '../api/limits.js';
import type { ImportSkipReason } from '../api/import-schemas.js';
import { chatTitle, place, type ImportedConversation, type ImportedMessage, type SkippedItems } from './imported-conversation.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * ChatGPT's `conversations.json`: an array of conversations, each a `mapping` of node id → { message, parent,
 * children } and the `current_node` it shows. The mapping is a tree (an edited question or a regenerated answer is a
 * second child), kept as it is: every path becomes a branch and the current node's path the active one. A node that
 * cannot be imported (an image, a tool call, a hidden message…) is left out and reported; its replies follow the
 * nearest message above it that was imported.
 */
export function readChatGptExport(data: unknown[], skipped: SkippedItems): ImportedConversation[] {
  const conversations: ImportedConversation[] = [];
  data.forEach((raw, i) => {
    const title = chatTitle(isObject(raw) ? raw.title : undefined);
    if (!isObject(raw) || !isObject(raw.mapping)) {
      skipped.add('malformed', `conversation ${i + 1}${isObject(raw) ? ` ${place(title)}` : ''}`);
      return;
    }
    const conversation = readConversation(title, raw.mapping, typeof raw.current_node === 'string' ? raw.current_node : null, skipped);
    if (conversation.messages.length) conversations.push(conversation);
    else skipped.add('no_messages', place(title));
  });
  return conversations;
}

/** What a node holds: a message to import, or why it is left out (null: a bare node, such as the tree's root). */
type NodeContent = { role: 'user' | 'assistant' | 'system'; text: string; createdAt: number | null; partsLeftOut: number } | ImportSkipReason | null;

function readConversation(title: string, mapping: Json, currentNode: string | null, skipped: SkippedItems): ImportedConversation {
  // the parent links are the tree; children are listed in the order the mapping lists them (the order they were written)
  const ids = Object.keys(mapping);
  const parentOf = new Map<string, string | null>();
  const childrenOf = new Map<string | null, string[]>();
  for (const id of ids) {
    const node = mapping[id];
    const parent = isObject(node) && typeof node.parent === 'string' && Object.hasOwn(mapping, node.parent) ? node.parent : null;
    parentOf.set(id, parent);
    const siblings = childrenOf.get(parent) ?? [];
    siblings.push(id);
    childrenOf.set(parent, siblings);
  }

  const messages: ImportedMessage[] = [];
  const imported = new Set<string>();
  let systemPrompt = '';
  const visited = new Set<string>();
  // depth first from the roots, with the nearest imported message above each node; an explicit stack, as a long chat is deep
  const stack: { id: string; above: string | null }[] = (childrenOf.get(null) ?? []).map((id) => ({ id, above: null })).reverse();
  while (stack.length) {
    const { id, above } = stack.pop()!;
    visited.add(id);
    const content = nodeContent(mapping[id]);
    let next = above;
    if (typeof content === 'string') {
      skipped.add(content, place(title, id));
    } else if (content?.role === 'system') {
      // a system message before any other one is the chat's system prompt; later ones cannot be placed
      if (above === null && !systemPrompt) systemPrompt = content.text;
      else skipped.add('system', place(title, id));
    } else if (content) {
      messages.push({ key: id, parent: above, role: content.role, text: content.text, state: 'done', createdAt: content.createdAt });
      imported.add(id);
      for (let k = 0; k < content.partsLeftOut; k++) skipped.add('not_text', place(title, id));
      next = id;
    }
    for (const child of [...(childrenOf.get(id) ?? [])].reverse()) stack.push({ id: child, above: next });
  }
  // nodes never reached from a root sit on a loop of parents
  for (const id of ids) if (!visited.has(id)) skipped.add('malformed', place(title, id));

  return { title, systemPrompt, generation: {}, messages, current: currentNode === null ? null : nearestImported(currentNode, parentOf, imported) };
}

/** The message shown for `node`: itself when imported, else the nearest imported message above it. */
function nearestImported(node: string, parentOf: Map<string, string | null>, imported: Set<string>): string | null {
  const seen = new Set<string>();
  for (let id: string | null | undefined = node; id && !seen.has(id); id = parentOf.get(id)) {
    if (imported.has(id)) return id;
    seen.add(id);
  }
  return null;
}

function nodeContent(node: unknown): NodeContent {
  if (!isObject(node)) return 'malformed';
  const message = node.message;
  if (message === null || message === undefined) return null;
  if (!isObject(message) || !isObject(message.author) || !isObject(message.content)) return 'malformed';
  const role = message.author.role;
  const metadata = isObject(message.metadata) ? message.metadata : {};
  if (role === 'tool') return 'tool';
  if (role !== 'user' && role !== 'assistant' && role !== 'system') return 'malformed';
  if (metadata.is_visually_hidden_from_conversation === true) return 'hidden';
  // an assistant message addressed to a tool (code, a search, an image request) is a call, not an answer
  if (typeof message.recipient === 'string' && message.recipient !== 'all') return 'tool';
  const type = message.content.content_type;
  if (type !== 'text' && type !== 'multimodal_text') return typeof type === 'string' ? 'not_text' : 'malformed';
  const parts = message.content.parts;
  if (!Array.isArray(parts)) return 'malformed';
  const texts = parts.filter((p): p is string => typeof p === 'string');
  const text = texts.join('\n').trim();
  const partsLeftOut = parts.length - texts.length;
  if (!text) return partsLeftOut ? 'not_text' : 'empty';
  if (utf8ByteLength(text) > MAX_MESSAGE_BYTES) return 'too_large';
  const created = message.create_time;
  const createdAt = typeof created === 'number' && Number.isFinite(created) && created > 0 ? Math.round(created * 1000) : null;
  return { role, text, createdAt, partsLeftOut };
}
