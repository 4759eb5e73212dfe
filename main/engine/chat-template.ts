import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * Renders conversations with the model's own Jinja chat template (ChatSession feeds only what a turn adds).
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
}
