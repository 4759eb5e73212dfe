import { Template } from '@huggingface/jinja';
import { TemplateError } from './template-error.js';
import { TemplateSandbox, type TemplateBudget } from './template-sandbox.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * Renders conversations with the model's own Jinja chat template (ChatSession feeds only what a turn adds).
 * Models without a template (plain story models) continue raw text. A template is untrusted input: it is parsed
 * here (a syntax error is a sentence at load) and rendered in a worker under a time, output and memory budget, so
 * nested loops or range(1e9) cost a refusal, not a frozen or aborted core.
 */
export class ChatTemplate {
  private readonly source: string | null;
  private readonly sandbox: TemplateSandbox;

  constructor(
    source: string | null,
    private readonly specials: { bos_token: string; eos_token: string },
    budget?: TemplateBudget,
  ) {
    if (source) {
      try {
        new Template(source);
      } catch (err) {
        // the parser's own SyntaxErrors say what is wrong; anything else it throws is a template it did not expect
        const why = err instanceof SyntaxError ? err.message.replace(/\.$/, '') : 'it is not valid Jinja (a block left open, or a construct Perpetua does not know)';
        throw new TemplateError('template_syntax', `The model's chat template cannot be read: ${why}.`);
      }
    }
    this.source = source || null;
    this.sandbox = new TemplateSandbox(budget);
  }

  get hasTemplate(): boolean {
    return this.source !== null;
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    if (!this.source) return messages.map((m) => m.content).join('');
    // plain data only crosses to the worker
    const plain = messages.map((m) => ({ role: m.role, content: m.content }));
    return this.sandbox.render(this.source, { messages: plain, add_generation_prompt: addGenerationPrompt, ...this.specials });
  }

  /** Ends the renderer's worker. */
  dispose(): void {
    this.sandbox.dispose();
  }
}
