import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * Renders conversations with the model's own Jinja chat template. Only the new part of a conversation is fed to
 * the model (the cache already holds the rest), so `renderTurn` returns the text the template adds for it.
 * Models without a template (plain story models) continue raw text.
 */
export class ChatTemplate {
  private readonly template: Template | null;

  constructor(
    source: string | null,
    private readonly specials: { bos_token: string; eos_token: string },
  ) {
    this.template = source ? new Template(source) : null;
  }

  get hasTemplate(): boolean {
    return this.template !== null;
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    if (!this.template) return messages.map((m) => m.content).join('');
    return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specials });
  }

  /** Text that `history + next` adds after `history` was rendered (the assistant's turn already streamed). */
  renderTurn(history: ChatMessage[], next: ChatMessage[], addGenerationPrompt: boolean): string {
    const before = history.length ? this.render(history, false) : '';
    const after = this.render([...history, ...next], addGenerationPrompt);
    if (after.startsWith(before)) return after.slice(before.length);
    // Templates that rewrite earlier turns (e.g. strip reasoning) cannot be diffed: feed the new turn alone.
    return this.render(next, addGenerationPrompt);
  }
}
